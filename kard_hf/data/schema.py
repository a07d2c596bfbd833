"""The multiple-choice example every loader produces and every later step consumes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable

from ..errors import DataError

LETTERS = "ABCDEFGH"
MIN_OPTIONS, MAX_OPTIONS = 2, len(LETTERS)


@dataclass
class MCQExample:
    """One multiple-choice question.

    ``answer`` is the 0-based index of the gold option (``None`` for unlabeled questions);
    ``rationales`` holds teacher or human free-text rationales, possibly several per question.
    """

    id: str
    stem: str
    options: list[str]
    answer: int | None
    rationales: list[str] = field(default_factory=list)

    @property
    def answer_letter(self) -> str | None:
        return None if self.answer is None else LETTERS[self.answer]

    def to_dict(self) -> dict:
        return asdict(self)


def validate_example(example: MCQExample, *, file=None, row: str | None = None) -> MCQExample:
    """Check one example; raise :class:`DataError` naming the file, row and field at fault."""

    def fail(message: str, field_name: str):
        raise DataError(message, file=file, row=row, field=field_name)

    if not isinstance(example.id, str) or not example.id.strip():
        fail("the question id is empty", "id")
    if not isinstance(example.stem, str) or not example.stem.strip():
        fail("the question text is empty", "stem")
    if not isinstance(example.options, list) or not MIN_OPTIONS <= len(example.options) <= MAX_OPTIONS:
        count = len(example.options) if isinstance(example.options, list) else "no"
        fail(f"expected {MIN_OPTIONS} to {MAX_OPTIONS} options, got {count}", "options")
    for i, option in enumerate(example.options):
        if not isinstance(option, str) or not option.strip():
            fail(f"option {LETTERS[i]} is empty", f"options[{i}]")
    if example.answer is not None and (
        isinstance(example.answer, bool) or not isinstance(example.answer, int)
        or not 0 <= example.answer < len(example.options)
    ):
        fail(f"the label {example.answer!r} is not an option index 0..{len(example.options) - 1}", "answer")
    if not all(isinstance(r, str) and r.strip() for r in example.rationales):
        fail("a rationale is empty or not text", "rationales")
    return example


def check_unique_ids(examples: Iterable[MCQExample], *, file=None, rows: list[str] | None = None) -> None:
    """Raise :class:`DataError` on the first id that occurs twice; ``rows`` labels each example's place
    in ``file`` ("line 7" in text files), default "row N" (0-based, as in ``dataset[N]``)."""
    seen: dict[str, str] = {}
    for index, example in enumerate(examples):
        row = rows[index] if rows is not None else f"row {index}"
        if example.id in seen:
            raise DataError(f"duplicate question id {example.id!r} (first seen at {seen[example.id]})",
                            file=file, row=row, field="id")
        seen[example.id] = row
