"""Question strings, student prompt templates, targets and answer extraction (METHOD.md §1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .schema import LETTERS


def format_question(stem: str, options: list[str]) -> str:
    """``"{stem} A. {o0} B. {o1} ..."``, the question string of the KARD paper (2 to 8 options)."""
    return " ".join([stem.strip()] + [f"{LETTERS[i]}. {option.strip()}" for i, option in enumerate(options)])


def format_target(rationale: str, answer_letter: str) -> str:
    """The distillation target: the rationale, a newline, then ``Answer: X``."""
    return f"{rationale.strip()}\nAnswer: {answer_letter}"


@dataclass(frozen=True)
class PromptTemplate:
    """How a student's input is laid out.

    The input is ``instruction + question + [knowledge_prefix + passages] + suffix``: the
    collator may cut the passages to fit a token budget but never the question or the suffix.
    """

    instruction: str = "Answer the following question by reasoning step by step."
    question_prefix: str = "\nQuestion: "
    knowledge_prefix: str = "\nKnowledge: "
    passage_separator: str = " "
    suffix: str = "\nExplanation:"
    answer_suffix: str = "\nAnswer:"

    def head(self, question: str) -> str:
        """Everything before the passages."""
        return f"{self.instruction}{self.question_prefix}{question}"

    def render(self, question: str, passages: list[str] | None = None, *, answer_only: bool = False) -> str:
        """The full input. ``passages=None`` (RD, FT) leaves the knowledge block out; ``answer_only`` (FT) asks for the letter."""
        knowledge = f"{self.knowledge_prefix}{self.passage_separator.join(passages)}" if passages is not None else ""
        return self.head(question) + knowledge + (self.answer_suffix if answer_only else self.suffix)


_ANSWER_PATTERNS = [
    re.compile(r"Answer\s*:\s*\(?([A-H])\)?(?![A-Za-z])"),
    re.compile(r"answer is\s*:?\s*\(?([A-H])\)?(?![A-Za-z])", re.IGNORECASE),
]
_LONE_LETTER = re.compile(r"(?<![A-Za-z'])\(?([A-H])\)?(?![A-Za-z'])")


def extract_answer(text: str, num_options: int) -> int | None:
    """The option index a generated text answers, or ``None`` if it gives no usable answer.

    Looks for the last ``Answer: X``, then the last ``the answer is (X)``, then falls back to
    the last standalone capital letter (an article ``A`` followed by a word is not a letter).
    Letters beyond the number of options do not count.
    """
    valid = LETTERS[:num_options]
    for pattern in _ANSWER_PATTERNS:
        matches = [m.group(1).upper() for m in pattern.finditer(text)]
        matches = [m for m in matches if m in valid]
        if matches:
            return valid.index(matches[-1])
    for match in reversed(list(_LONE_LETTER.finditer(text))):
        letter = match.group(1)
        followed_by_word = re.match(r"\s+[a-z]", text[match.end():]) is not None
        if letter in valid and not (letter == "A" and followed_by_word and "(" not in match.group(0)):
            return valid.index(letter)
    return None
