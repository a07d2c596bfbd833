"""Collators: (question, choice) pairs → (B, C, L) tensors, dynamically padded.

Each pair's task input is ``"question: {stem} choice: {option}"``, tokenized with its special
tokens (T5: a closing ``</s>``). The teacher appends ``"rationale: {rationale}"``, tokenized
separately, AFTER the task input, so the task input's tokens sit at the same positions in the
teacher's and the student's sequences; ``bottleneck_mask`` marks them. The two parts are cut to
their own budgets, so a long rationale never pushes the task input out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ModelError

Tokenized = list[list[tuple[list[int], int]]]  # per question, per choice: (token ids, task-input length)


def task_text(stem: str, option: str) -> str:
    return f"question: {stem.strip()} choice: {option.strip()}"


def rationale_text(rationale: str) -> str:
    return f"rationale: {rationale.strip()}"


@dataclass
class KnifeCollator:
    """Batches rows (``stem``, ``options``, optional ``answer`` and ``rationale``) into model inputs.

    ``with_rationale``: append the rationale (the teacher's input). ``bottleneck``: also return
    ``bottleneck_mask`` so the decoder sees only the task input. Questions with fewer options than
    the batch's widest get padding choices (one pad token, masked out by ``choice_mask``).
    """

    tokenizer: Any
    with_rationale: bool = False
    bottleneck: bool = True
    max_task_length: int = 256
    max_rationale_length: int = 256

    def tokenize(self, rows: list[dict]) -> Tokenized:
        pairs = [task_text(row["stem"], option) for row in rows for option in row["options"]]
        task_ids = self.tokenizer(pairs, truncation=True, max_length=self.max_task_length)["input_ids"]
        if self.with_rationale:  # a row's rationale is the same for all its choices: tokenized once per row
            texts = [rationale_text(row.get("rationale") or "") for row in rows]
            once = self.tokenizer(texts, truncation=True, max_length=self.max_rationale_length)["input_ids"]
            extra = [ids for ids, row in zip(once, rows) for _ in row["options"]]
        else:
            extra = [[] for _ in pairs]
        flat = [(task + more, len(task)) for task, more in zip(task_ids, extra)]
        tokenized, start = [], 0
        for row in rows:
            tokenized.append(flat[start:start + len(row["options"])])
            start += len(row["options"])
        return tokenized

    def pad(self, tokenized: Tokenized) -> dict[str, torch.Tensor]:
        batch, choices = len(tokenized), max(len(pairs) for pairs in tokenized)
        length = max(len(ids) for pairs in tokenized for ids, _ in pairs)
        input_ids = torch.full((batch, choices, length), self.tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((batch, choices, length), dtype=torch.long)
        bottleneck_mask = torch.zeros((batch, choices, length), dtype=torch.long)
        choice_mask = torch.zeros((batch, choices), dtype=torch.bool)
        attention_mask[:, :, 0] = bottleneck_mask[:, :, 0] = 1  # padding choices attend to one pad token
        for b, pairs in enumerate(tokenized):
            for c, (ids, task_length) in enumerate(pairs):
                input_ids[b, c, :len(ids)] = torch.tensor(ids, dtype=torch.long)
                attention_mask[b, c, :len(ids)] = 1
                bottleneck_mask[b, c, :task_length] = 1
                choice_mask[b, c] = True
        batch_inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "choice_mask": choice_mask}
        if self.with_rationale and self.bottleneck:
            batch_inputs["bottleneck_mask"] = bottleneck_mask
        return batch_inputs

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.pad(self.tokenize(rows))
        return with_labels(batch, rows)


def with_labels(batch: dict, rows: list[dict]) -> dict:
    """Add ``labels`` (gold choice indices) when every row has an answer."""
    if all(row.get("answer") is not None for row in rows):
        batch["labels"] = torch.tensor([row["answer"] for row in rows], dtype=torch.long)
    return batch


def check_aligned(student: Tokenized, teacher: Tokenized, rows: list[dict]) -> None:
    """Raise :class:`ModelError` unless each pair's teacher task input is token for token the student's input."""
    for row, student_pairs, teacher_pairs in zip(rows, student, teacher):
        for choice, ((student_ids, _), (teacher_ids, task_length)) in enumerate(zip(student_pairs, teacher_pairs)):
            if teacher_ids[:task_length] != student_ids:
                raise ModelError(
                    f"the teacher's and the student's tokenizers split the task input of question {row.get('id')!r} "
                    f"(choice {choice}) differently ({task_length} vs {len(student_ids)} tokens), so KD-In has no "
                    "position-to-position match; use a student of the teacher's family with the same vocabulary")


@dataclass
class KnifeDistillationCollator:
    """The student's batch plus the teacher's (keys prefixed ``teacher_``), checked to align position by position."""

    student: KnifeCollator
    teacher: KnifeCollator

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        student_tokens, teacher_tokens = self.student.tokenize(rows), self.teacher.tokenize(rows)
        check_aligned(student_tokens, teacher_tokens, rows)
        batch = self.student.pad(student_tokens)
        batch.update({f"teacher_{key}": value for key, value in self.teacher.pad(teacher_tokens).items()})
        if "row_index" in rows[0]:  # the key of the trainer's teacher cache
            batch["row_index"] = torch.tensor([row["row_index"] for row in rows], dtype=torch.long)
        return with_labels(batch, rows)
