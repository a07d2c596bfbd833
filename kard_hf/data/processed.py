"""Columns of the processed dataset that ``kard-hf augment`` writes and every trainer and evaluator reads.

It is saved with :func:`kard_hf.data.store.save_dataset_dict` (a ``kard_hf.json`` manifest
records the KB fingerprint, retrieval settings and teacher). Columns are documented in
docs/data-format.md; the constants below are the single source of truth for them.
"""

from __future__ import annotations

from ..errors import DataError

QUESTION_COLUMNS = ("id", "stem", "options", "answer", "question")
# One train row per (question, rationale) pair; passages were retrieved with the rationale as the query.
TRAIN_COLUMNS = QUESTION_COLUMNS + ("rationale_index", "rationale", "target", "passages", "passage_ids", "passage_scores")
# One eval row per question; candidates were retrieved with the question, silver passages with its first rationale.
EVAL_COLUMNS = QUESTION_COLUMNS + ("rationales", "candidates", "candidate_ids", "candidate_scores", "silver_passages",
                                   "silver_ids")
TRAIN_SPLIT = "train"


def columns_for(split: str) -> tuple[str, ...]:
    return TRAIN_COLUMNS if split == TRAIN_SPLIT else EVAL_COLUMNS


def rationale_column(split: str) -> str:
    """Where a split keeps its teacher rationale: ``rationale`` on train rows, the list ``rationales`` on eval rows."""
    return "rationale" if split == TRAIN_SPLIT else "rationales"


def first_rationale(value) -> str:
    """A row's rationale from :func:`rationale_column`'s cell: the train text, or the first eval rationale ("" if none)."""
    return value if isinstance(value, str) else (value[0] if value else "")


def require_columns(dataset, required, *, file=None, split: str | None = None, purpose: str = "") -> None:
    """Raise :class:`DataError` naming the missing columns of one split."""
    missing = [column for column in required if column not in dataset.column_names]
    if missing:
        why = f" (needed {purpose})" if purpose else ""
        raise DataError(f"split {split!r} lacks column(s) {', '.join(missing)}{why}; was it made by 'kard-hf augment'?",
                        file=file, field=missing[0])


def features_for(split: str):
    """The Arrow features of a processed split, so that empty lists and unlabeled answers keep their types."""
    import datasets

    string, strings, floats = datasets.Value("string"), datasets.List(datasets.Value("string")), datasets.List(
        datasets.Value("float32"))
    types = {"id": string, "stem": string, "options": strings, "answer": datasets.Value("int64"), "question": string,
             "rationale_index": datasets.Value("int64"), "rationale": string, "target": string, "passages": strings,
             "passage_ids": strings, "passage_scores": floats, "rationales": strings, "candidates": strings,
             "candidate_ids": strings, "candidate_scores": floats, "silver_passages": strings, "silver_ids": strings}
    return datasets.Features({column: types[column] for column in columns_for(split)})
