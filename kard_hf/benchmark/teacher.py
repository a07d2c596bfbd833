"""The benchmark's teacher: writes chain-of-thought rationales that cite the facts a question needs.

It plays the part of the LLM in KARD step 1 and goes through the very same pipeline
(:func:`kard_hf.teacher.pipeline.sample_rationales`: cache, filter, manifest). It reads the question
and the gold letter from its prompt, recalls the province's country as an LLM would recall a fact,
and samples one of several phrasings. Like a real teacher it is sometimes wrong (``error_rate``):
those rationales reach a wrong letter and the answer filter drops them.
"""

from __future__ import annotations

import hashlib
import random
import re

from ..data.schema import LETTERS
from ..teacher.base import Completion, SamplingParams, Teacher
from ..teacher.prompts import load_prompt
from .generator import QUESTION_TEMPLATES
from .world import load_world

PROMPT = load_prompt("benchmark")
RATIONALE_TEMPLATES = (
    "{province} is an administrative region of {country}, in {region}. Option ({letter}) is {country}. "
    "So, the answer is ({letter}).",
    "The province of {province} is one of the administrative divisions of {country}, a country of {region}. "
    "So, the answer is ({letter}).",
    "{province} belongs to {country}, which lies in {region}. Among the options, {country} is ({letter}). "
    "So, the answer is ({letter}).",
)
WRONG_TEMPLATE = "{province} sounds like a place in {country}. So, the answer is ({letter})."
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
            raise ValueError("not a benchmark prompt (expected 'Question: ...\\nCorrect answer: (X)\\nExplanation:')")
        question, gold = match["question"], match["letter"]
        province = next(m["province"] for m in (s.match(question) for s in _STEMS) if m)
        options = dict(_OPTIONS.findall(question[question.index(" A. "):]))
        country = self.country_of[province]
        seed = f"{sampling.seed}\x1f{prompt}".encode()
        rng = random.Random(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))
        texts = []
        for _ in range(n):
            if rng.random() < self.error_rate:
                letter = rng.choice([letter for letter in options if letter != gold])
                texts.append(WRONG_TEMPLATE.format(province=province, country=options[letter], letter=letter))
            else:
                texts.append(rng.choice(RATIONALE_TEMPLATES).format(province=province, country=country.name,
                                                                    region=country.subregion, letter=gold))
        return Completion(texts)

    def describe(self) -> dict:
        return {**super().describe(), "error_rate": self.error_rate}
