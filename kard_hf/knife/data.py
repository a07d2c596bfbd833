"""Rows KNIFE trains and evaluates on: ``id, stem, options, answer, rationale`` (one rationale per row).

Two sources: the processed DatasetDict of ``kard-hf augment`` (train rows carry one teacher
rationale each; eval rows the first of their ``rationales``, if any), or any question file
:func:`kard_hf.data.load_mcq` reads, with human free-text rationales in a column (StrategyQA's
``facts``): a list-valued cell is one rationale whose sentences are joined with spaces.
"""

from __future__ import annotations

from ..data import ColumnMapping, load_mcq
from ..data.processed import TRAIN_SPLIT, first_rationale, rationale_column, require_columns
from ..data.store import load_dataset_dict
from ..errors import DataError

ROW_COLUMNS = ("id", "stem", "options", "answer", "rationale")


def _from_processed(path: str, split: str):
    dataset_dict, _ = load_dataset_dict(path)
    if split not in dataset_dict:
        raise DataError(f"no split {split!r}; it has {', '.join(dataset_dict)}", file=path)
    dataset = dataset_dict[split]
    column = rationale_column(split)
    require_columns(dataset, ("id", "stem", "options", "answer"), file=path, split=split, purpose="by KNIFE")
    if column not in dataset.column_names:
        return dataset.select_columns(["id", "stem", "options", "answer"]).map(lambda row: {"rationale": ""})
    if column != "rationale":
        dataset = dataset.map(lambda row: {"rationale": first_rationale(row[column])})
    return dataset.select_columns(list(ROW_COLUMNS))


def _from_questions(path: str, split: str, fmt: str, rationale_column: str | None):
    import datasets

    columns = ColumnMapping(rationale=rationale_column) if rationale_column else None
    examples = load_mcq(path, format=fmt, split=split, columns=columns)
    return datasets.Dataset.from_list([{"id": e.id, "stem": e.stem, "options": e.options, "answer": e.answer,
                                        "rationale": " ".join(r.strip() for r in e.rationales)} for e in examples])


def load_knife_rows(path: str, *, split: str = TRAIN_SPLIT, dataset_format: str = "processed",
                    rationale_column: str | None = None, require_rationale: bool = False):
    """A ``datasets.Dataset`` with :data:`ROW_COLUMNS`; ``require_rationale`` makes an empty rationale an error."""
    if dataset_format == "processed":
        if rationale_column:
            raise DataError("rationale_column applies to question files, not to a processed dataset "
                            "(its rationales are in the 'rationale' column)", file=path, field=rationale_column)
        rows = _from_processed(path, split)
    else:
        rows = _from_questions(path, split, dataset_format, rationale_column)
    if require_rationale:
        for index, rationale in enumerate(rows["rationale"]):
            if not rationale.strip():
                raise DataError("the KNIFE teacher needs a rationale for every training question", file=path,
                                row=f"row {index}", field=rationale_column or "rationale")
    return rows
