"""Loaders from the original dataset formats into :class:`MCQExample` lists.

Formats (``format=``):

- ``kard``: one JSON object a line with ``sent1`` (stem, ``sent2`` appended when present),
  ``ending0..endingN`` and a 0-based ``label``: medqa_usmle_hf, OpenBookQA and the KARD-style
  StrategyQA files. The id is the ``id`` field, else the 0-based row number.
- ``strategyqa``: the original StrategyQA JSON array (``qid``, ``question``, ``answer: true/false``),
  turned into the options ``yes`` / ``no``.
- ``jsonl``, ``csv``, ``datasets`` (a ``save_to_disk`` folder or a Hub id): any columns, named by a
  :class:`ColumnMapping`. The answer may be an index, a letter, a boolean (yes/no) or the option text.
- ``auto`` picks one of the above from the path and the first row.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..fileio import iter_jsonl, read_json
from ..hub import refuse_missing_local_path
from .schema import LETTERS, MCQExample, check_unique_ids, validate_example

FORMATS = ("auto", "kard", "strategyqa", "jsonl", "csv", "datasets")


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns hold what, for the generic formats.

    ``options`` names one list-valued column; ``option_columns`` several scalar ones (used when set).
    """

    id: str = "id"
    question: str = "question"
    options: str = "options"
    option_columns: tuple[str, ...] = ()
    answer: str = "answer"
    rationale: str | None = None


def _require(obj: dict, key: str, file, row: str):
    if key not in obj or obj[key] is None:
        raise DataError("missing field", file=file, row=row, field=key)
    return obj[key]


def _answer_index(value, options: list[str], file, row: str, field: str) -> int:
    """Turn an index, letter, boolean or option text into a 0-based option index."""
    if isinstance(value, bool):
        lowered = [o.strip().lower() for o in options]
        if {"yes", "no"} <= set(lowered):
            return lowered.index("yes" if value else "no")
        raise DataError("a true/false answer needs 'yes' and 'no' options", file=file, row=row, field=field)
    if isinstance(value, int):
        index = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        index = int(value)
    elif isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in LETTERS:
        index = LETTERS.index(value.strip().upper())
    elif isinstance(value, str) and value.strip() in [o.strip() for o in options]:
        index = [o.strip() for o in options].index(value.strip())
    else:
        raise DataError(f"cannot read the answer {value!r} as an option index, letter or option text",
                        file=file, row=row, field=field)
    if not 0 <= index < len(options):
        raise DataError(f"the label {value!r} is not an option index 0..{len(options) - 1}", file=file, row=row, field=field)
    return index


def _rationales(obj: dict, mapping: ColumnMapping, file, row: str) -> list[str]:
    if not mapping.rationale:
        return []
    value = _require(obj, mapping.rationale, file, row)
    return [value] if isinstance(value, str) else list(value)


def _from_kard(obj: dict, index: int, file, row: str, mapping: ColumnMapping) -> MCQExample:
    stem = _require(obj, "sent1", file, row)
    if isinstance(obj.get("sent2"), str) and obj["sent2"].strip():
        stem = f"{stem} {obj['sent2']}"
    options, i = [], 0
    while f"ending{i}" in obj:
        options.append(obj[f"ending{i}"])
        i += 1
    if not options:
        raise DataError("missing field", file=file, row=row, field="ending0")
    label = _require(obj, "label", file, row)
    answer = _answer_index(label, options, file, row, "label") if label != -1 else None
    return MCQExample(str(obj.get("id", index)), stem, options, answer, _rationales(obj, mapping, file, row))


def _from_strategyqa(obj: dict, index: int, file, row: str, mapping: ColumnMapping) -> MCQExample:
    answer = obj.get("answer")
    if answer is not None and not isinstance(answer, bool):
        raise DataError(f"expected true or false, got {answer!r}", file=file, row=row, field="answer")
    return MCQExample(str(_require(obj, "qid", file, row)), _require(obj, "question", file, row), ["yes", "no"],
                      None if answer is None else (0 if answer else 1), _rationales(obj, mapping, file, row))


def _from_columns(obj: dict, index: int, file, row: str, mapping: ColumnMapping) -> MCQExample:
    if mapping.option_columns:
        options = [_require(obj, column, file, row) for column in mapping.option_columns]
    else:
        options = _require(obj, mapping.options, file, row)
        if isinstance(options, str):  # CSV cells hold a JSON list
            try:
                options = json.loads(options)
            except json.JSONDecodeError:
                raise DataError("expected a JSON list of options", file=file, row=row, field=mapping.options) from None
        if not isinstance(options, list):
            raise DataError("expected a list of options", file=file, row=row, field=mapping.options)
    answer_value = obj.get(mapping.answer)
    answer = None if answer_value in (None, "") else _answer_index(answer_value, options, file, row, mapping.answer)
    example_id = obj.get(mapping.id, index)
    return MCQExample(str(example_id), _require(obj, mapping.question, file, row), list(options), answer,
                      _rationales(obj, mapping, file, row))


def _detect_format(path: Path) -> str:
    if path.is_dir():
        return "datasets"
    if path.suffix == ".csv":
        return "csv"
    if path.suffix == ".json":
        return "strategyqa"
    if path.suffix == ".jsonl":
        for _, obj in iter_jsonl(path):
            return "kard" if "sent1" in obj else "jsonl"
        return "jsonl"
    if not path.exists() and "/" in str(path) and not str(path).startswith((".", "/")):
        return "datasets"  # a Hub id
    raise DataError("cannot tell the format from the name; pass format=kard|strategyqa|jsonl|csv|datasets", file=path)


def _rows(path: Path, fmt: str, split: str):
    """Yield (index, "row label", dict) for every record of ``path`` in format ``fmt``."""
    if fmt in ("kard", "jsonl"):
        for index, (row, obj) in enumerate(iter_jsonl(path)):
            yield index, row, obj
    elif fmt == "strategyqa":
        records = read_json(path)
        if not isinstance(records, list):
            raise DataError("expected a JSON array of questions", file=path)
        for index, obj in enumerate(records):
            if not isinstance(obj, dict):
                raise DataError("expected a JSON object", file=path, row=f"item {index}")
            yield index, f"item {index}", obj
    elif fmt == "csv":
        try:
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                reader.fieldnames  # reads the header, which may span lines too
                end = reader.line_num
                for index, obj in enumerate(reader):
                    start, end = end + 1, reader.line_num  # a quoted cell may span several lines
                    yield index, f"line {start}", obj
        except UnicodeDecodeError as e:
            raise DataError(f"not valid UTF-8 (byte {e.start})", file=path) from None
    elif fmt == "datasets":
        dataset = load_dataset_split(str(path), split)
        for index, obj in enumerate(dataset):
            yield index, f"row {index}", obj
    else:
        raise DataError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", file=path)


def load_dataset_split(path_or_id: str, split: str):
    """A ``datasets.Dataset``: one split of a ``save_to_disk`` folder, or of a Hub dataset."""
    import datasets

    if Path(path_or_id).is_dir():
        loaded = datasets.load_from_disk(path_or_id)
    else:
        refuse_missing_local_path(path_or_id, what="dataset")
        try:
            loaded = datasets.load_dataset(path_or_id, split=split)
        except Exception as e:  # the datasets library raises many types for "not found / offline"
            raise DataError(f"cannot load the dataset: {e}", file=path_or_id) from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DataError(f"no split {split!r}; it has {', '.join(loaded)}", file=path_or_id)
        loaded = loaded[split]
    return loaded


def _default_columns(obj: dict) -> ColumnMapping:
    """The canonical columns (:func:`examples_to_dataset`) when a row has them, else the generic ones."""
    if "stem" in obj:
        return ColumnMapping(question="stem", rationale="rationales" if "rationales" in obj else None)
    return ColumnMapping()


_PARSERS = {"kard": _from_kard, "strategyqa": _from_strategyqa, "jsonl": _from_columns, "csv": _from_columns,
            "datasets": _from_columns}


def load_mcq(path: str | Path, format: str = "auto", *, split: str = "train",
             columns: ColumnMapping | None = None) -> list[MCQExample]:
    """Load and validate every question of a file, folder or Hub dataset.

    Raises :class:`DataError` naming the file, row and field of the first bad row (a missing
    field, a label outside the options, an empty option, bad UTF-8 or JSON, a duplicate id).
    """
    path = Path(path)
    fmt = _detect_format(path) if format == "auto" else format
    if fmt not in _PARSERS:
        raise DataError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", file=path)
    parse = _PARSERS[fmt]
    examples, rows = [], []
    for index, row, obj in _rows(path, fmt, split):
        example = parse(obj, index, path, row, columns or _default_columns(obj))
        examples.append(validate_example(example, file=path, row=row))
        rows.append(row)
    check_unique_ids(examples, file=path, rows=rows)
    return examples


def examples_to_dataset(examples: list[MCQExample]):
    """The canonical ``datasets.Dataset`` of questions: id, stem, options, answer, rationales."""
    import datasets

    features = datasets.Features({
        "id": datasets.Value("string"),
        "stem": datasets.Value("string"),
        "options": datasets.Sequence(datasets.Value("string")),
        "answer": datasets.Value("int64"),
        "rationales": datasets.Sequence(datasets.Value("string")),
    })
    return datasets.Dataset.from_list([e.to_dict() for e in examples], features=features)
