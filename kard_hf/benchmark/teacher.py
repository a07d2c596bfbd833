"""The benchmark's teacher: writes chain-of-thought rationales that cite the facts a question needs.

It plays the part of the LLM in KARD step 1 and goes through the very same pipeline
(:func:`kard_hf.teacher.sampling.sample_rationales`: cache, filter, manifest). It reads the question
and the gold letter from its prompt, recalls the province's country as an LLM would recall a fact,
and samples one of several phrasings. Like a real teacher it is sometimes wrong (``error_rate``):
those rationales reach a wrong letter and the answer filter drops them.
"""

from __future__ import annotations

import hashlib
import random
import re

from ..data.schema import LETTERS
from ..errors import TeacherError
from ..teacher.base import Completion, SamplingParams, Teacher
from ..teacher.prompts import load_prompt
from .generator import QUESTION_TEMPLATES
from .world import load_world

PROMPT = load_prompt("zero-shot")
FACT_SENTENCES = (
    "{province} is an administrative region of {country}, in {region}.",
    "The province of {province} is one of the administrative divisions of {country}, a country of {region}.",
    "{province} belongs to {country}, which lies in {region}.",
)
WRONG_SENTENCE = "{province} sounds like a place in {country}."


def rationale(country: str, fact: str, options: dict[str, str], letter: str) -> str:
    """A chain of thought: the recalled country, each option checked against it up to the one that
    matches, the answer, and the fact that backs it.

    The order is what a small student can learn on a CPU budget (docs/quickstart.md, "The student"):
    checking the options in turn spells out which letter the country has, a step a bare "the answer is
    (D)" leaves to the student, and the checks are only learnt when they come right after the country,
    at the start of the text (after a fact sentence they stayed near chance).
    """
    checks = []
    for option_letter, option in options.items():
        checks.append(f"({option_letter}) {option}: {'yes' if option_letter == letter else 'no'}.")
        if option_letter == letter:
            break
    return f"{country}. {' '.join(checks)} So, the answer is ({letter}). {fact}"


_PROMPT = re.compile(r"Question: (?P<question>.*)\nCorrect answer: \((?P<letter>[A-H])\)\nExplanation:\s*$", re.S)
_STEMS = [re.compile(re.escape(t).replace(re.escape("{province}"), "(?P<province>.+?)") + r"(?= A\. )")
          for t in QUESTION_TEMPLATES]
_OPTIONS = re.compile(r"(?:^| )([A-H])\. (.*?)(?= [A-H]\. |$)")


class BenchmarkTeacher(Teacher):
    """A rule-based teacher for the bundled benchmark, deterministic for a prompt and a seed."""

    kind = "programmatic"
    model = "kard_hf-benchmark-teacher"

    def __init__(self, error_rate: float = 0.12):
        self.error_rate = error_rate
        provinces, _ = load_world()
        self.country_of = {province.name: province.country for province in provinces}

    def complete(self, prompt: str, n: int, sampling: SamplingParams) -> Completion:
        match = _PROMPT.search(prompt)
        if not match:
            raise TeacherError("--teacher benchmark needs --prompt benchmark (its prompt ends 'Question: ...\\n"
                               "Correct answer: (X)\\nExplanation:')")
        question, gold = match["question"], match["letter"]
        province = next((m["province"] for m in (s.match(question) for s in _STEMS) if m), None)
        if province not in self.country_of or " A. " not in question:
            raise TeacherError(f"--teacher benchmark answers only the bundled benchmark's questions (kard-hf "
                               f"quickstart), not {question[:60]!r}...; use an endpoint or a local model")
        options = dict(_OPTIONS.findall(question[question.index(" A. "):]))
        country = self.country_of[province]
        seed = f"{sampling.seed}\x1f{prompt}".encode()
        rng = random.Random(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))
        texts = []
        for _ in range(n):
            if rng.random() < self.error_rate:
                letter = rng.choice([letter for letter in options if letter != gold])
                named = options[letter]
                fact = WRONG_SENTENCE.format(province=province, country=named)
            else:
                letter, named = gold, country.name
                fact = rng.choice(FACT_SENTENCES).format(province=province, country=named, region=country.subregion)
            texts.append(rationale(named, fact, options, letter))
        return Completion(texts)

    def describe(self) -> dict:
        return {**super().describe(), "error_rate": self.error_rate}
