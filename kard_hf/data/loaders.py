"""Loaders from the original dataset formats into :class:`MCQExample` lists.

A source is a file (``.jsonl``; ``.json``: an array of objects, or one object a line as the released
KARD ``train.json`` files are; ``.csv``; ``.parquet``), a folder (a ``save_to_disk`` dataset, or data
files laid out as in a Hub repository) or a Hub dataset id. Its rows are read in a *format*
(docs/data-format.md lists the fields of each):

- ``kard``: ``sent1`` (+ ``sent2``), ``ending0..endingN``, integer ``label`` (medqa_usmle_hf, OpenBookQA
  and StrategyQA as the KARD authors released them).
- ``strategyqa``: ``qid``, ``question``, boolean ``answer`` (the original JSON, ChilleD/StrategyQA).
- ``medqa``: ``question``, ``options`` {A: ..., B: ...}, ``answer_idx`` letter (GBaker/MedQA-USMLE-4-options).
- ``openbookqa``: ``id``, ``question_stem``, ``choices`` {text, label}, ``answerKey`` (allenai/openbookqa).
- ``columns`` (older names ``jsonl``, ``csv``, ``datasets``): any columns, named by a :class:`ColumnMapping`.
- ``auto`` picks one from the first row's fields.

Every field a format reads is checked (type, no gaps in the options); fields it does not read are
ignored, by rule. A bad row is a :class:`DataError` naming the file, the row and the field.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError
from ..fileio import iter_jsonl, read_json
from ..hub.repo import hub_failure, looks_like_a_local_path
from .schema import LETTERS, MCQExample, check_unique_ids, validate_example

NAMED_FORMATS = ("kard", "strategyqa", "medqa", "openbookqa")
GENERIC_NAMES = ("columns", "jsonl", "csv", "datasets")
FORMATS = ("auto",) + NAMED_FORMATS + GENERIC_NAMES
HUB_CONFIGS = {"openbookqa": "main"}  # the config a Hub dataset in this format is read from unless one is named
_ENDING = re.compile(r"ending(\d+)$")


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns hold what, for the ``columns`` format.

    ``options`` names one list-valued column; ``option_columns`` several scalar ones (used when set).
    ``id`` and ``answer`` left as ``None`` mean the ``id`` / ``answer`` column when the rows have one
    (else row numbers / unlabeled questions); a column named explicitly must exist.
    ``rationale`` (any format) names a column of free-text rationales, a string or a list of strings.
    """

    id: str | None = None
    question: str = "question"
    options: str = "options"
    option_columns: tuple[str, ...] = ()
    answer: str | None = None
    rationale: str | None = None

    @property
    def is_generic(self) -> bool:
        """Whether it names anything besides the rationale column (only the ``columns`` format reads that)."""
        return dataclasses.replace(self, rationale=None) != ColumnMapping()


def _type_name(types) -> str:
    names = {str: "text", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}
    return " or ".join(names.get(t, t.__name__) for t in (types if isinstance(types, tuple) else (types,)))


class _Row:
    """One record and where it is, with typed field access that fails naming the file, row and field."""

    def __init__(self, obj: dict, file, row: str):
        self.obj, self.file, self.row = obj, file, row

    def fail(self, message: str, field: str):
        raise DataError(message, file=self.file, row=self.row, field=field)

    def check(self, value, types, field: str):
        types = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            self.fail(f"expected {_type_name(types)}, got {type(value).__name__} {value!r:.60}", field)
        return value

    def get(self, key: str, types, *, required: bool = True):
        """The field's value; absent or null is an error when ``required``, else ``None``."""
        value = self.obj.get(key)
        if value is None:
            if required:
                self.fail("missing field", key)
            return None
        return self.check(value, types, key)

    def example_id(self, key: str, index: int, *, required: bool = False) -> str:
        """The id field, else (when not ``required`` and the row has no such field) the 0-based row number."""
        if key in self.obj and self.obj[key] is None:
            self.fail("the id is null", key)
        value = self.get(key, (str, int), required=required)
        return str(index) if value is None else str(value)

    def rationales(self, mapping: ColumnMapping) -> list[str]:
        if not mapping.rationale:
            return []
        value = self.get(mapping.rationale, (str, list))
        for i, text in enumerate([value] if isinstance(value, str) else value):
            self.check(text, str, f"{mapping.rationale}[{i}]")
        return [value] if isinstance(value, str) else list(value)


def _from_kard(r: _Row, index: int, mapping: ColumnMapping) -> MCQExample:
    stem = r.get("sent1", str)
    sent2 = r.get("sent2", str, required=False)
    if sent2 and sent2.strip():
        stem = f"{stem} {sent2}"
    numbers = sorted(int(m.group(1)) for key in r.obj if (m := _ENDING.match(key)))
    if not numbers:
        r.fail("missing field", "ending0")
    gap = next((i for i, n in enumerate(numbers) if i != n), None)
    if gap is not None:
        r.fail(f"ending{gap} is missing but ending{numbers[-1]} is there: options are ending0..endingN without gaps",
               f"ending{gap}")
    options = [r.get(f"ending{i}", str) for i in numbers]
    label = r.get("label", int)
    if not -1 <= label < len(options):
        r.fail(f"the label {label} is not an option index 0..{len(options) - 1} (or -1: unlabeled)", "label")
    answer = None if label == -1 else label  # -1: unlabeled, as in the SWAG-style files
    return MCQExample(r.example_id("id", index), stem, options, answer, r.rationales(mapping))


def _from_strategyqa(r: _Row, index: int, mapping: ColumnMapping) -> MCQExample:
    answer = r.get("answer", bool, required=False)  # the official test set has no answers
    return MCQExample(r.example_id("qid", index, required=True), r.get("question", str), ["yes", "no"],
                      None if answer is None else (0 if answer else 1), r.rationales(mapping))


def _from_medqa(r: _Row, index: int, mapping: ColumnMapping) -> MCQExample:
    given = r.get("options", dict)
    for key in given:
        if key not in LETTERS:
            r.fail(f"option keys are the letters A-{LETTERS[-1]}, got {key!r}", "options")
    options = list(itertools.takewhile(lambda v: v is not None, (given.get(letter) for letter in LETTERS)))
    later = [letter for letter in LETTERS[len(options):] if given.get(letter) is not None]
    if later:  # a struct column pads missing letters with null at the end; a hole before a letter is a gap
        missing = LETTERS[len(options)]
        r.fail(f"option {missing} is missing but option {later[-1]} is there", f"options.{missing}")
    for letter, option in zip(LETTERS, options):
        r.check(option, str, f"options.{letter}")
    letter = r.get("answer_idx", str)
    if letter not in LETTERS[:len(options)]:
        r.fail(f"{letter!r} is not one of the option letters {LETTERS[:len(options)]}", "answer_idx")
    answer = LETTERS.index(letter)
    text = r.get("answer", str, required=False)
    if text is not None and text.strip() != options[answer].strip():
        r.fail(f"the answer text {text!r} is not option {letter} ({options[answer]!r})", "answer")
    return MCQExample(r.example_id("id", index), r.get("question", str), options, answer, r.rationales(mapping))


def _from_openbookqa(r: _Row, index: int, mapping: ColumnMapping) -> MCQExample:
    choices = r.get("choices", dict)
    texts, labels = (r.check(choices.get(key), list, f"choices.{key}") for key in ("text", "label"))
    for i, (text, label) in enumerate(zip(texts, labels)):
        r.check(text, str, f"choices.text[{i}]")
        r.check(label, str, f"choices.label[{i}]")
    if len(texts) != len(labels) or labels != list(LETTERS[:len(labels)]):
        r.fail(f"expected the labels {list(LETTERS[:len(texts)])} for {len(texts)} choices, got {labels}",
               "choices.label")
    key = r.get("answerKey", str)
    if key not in labels:
        r.fail(f"{key!r} is not one of the choice labels {labels}", "answerKey")
    return MCQExample(r.example_id("id", index, required=True), r.get("question_stem", str), list(texts),
                      labels.index(key), r.rationales(mapping))


def _answer_index(value, options: list[str], r: _Row, field: str) -> int:
    """Turn an index, letter, boolean or option text into a 0-based option index (ambiguity is an error)."""
    stripped = [o.strip() for o in options]
    if isinstance(value, bool):
        lowered = [o.lower() for o in stripped]
        if {"yes", "no"} <= set(lowered):
            return lowered.index("yes" if value else "no")
        r.fail("a true/false answer needs 'yes' and 'no' options", field)
    if isinstance(value, int):
        index = value
    elif isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            index = int(text)
        elif len(text) == 1 and text.upper() in LETTERS:
            index = LETTERS.index(text.upper())
        elif text in stripped:
            index = stripped.index(text)
        else:
            r.fail(f"cannot read the answer {value!r} as an option index, letter or option text", field)
        if text in stripped and stripped.index(text) != index:
            r.fail(f"the answer {value!r} is ambiguous: option {LETTERS[stripped.index(text)]}'s text, or the "
                   f"index/letter of option {LETTERS[index] if 0 <= index < len(LETTERS) else index}", field)
    else:
        r.fail(f"cannot read the answer {value!r} as an option index, letter or option text", field)
    if not 0 <= index < len(options):
        r.fail(f"the label {value!r} is not an option index 0..{len(options) - 1}", field)
    return index


def _column_parser(first: dict, mapping: ColumnMapping, file, first_row: str):
    """The parser of the ``columns`` format, after checking that every column it names is in the first row."""
    named = [mapping.question, *(mapping.option_columns or [mapping.options]), mapping.id, mapping.answer,
             mapping.rationale]
    for column in filter(None, named):
        if column not in first:
            raise DataError(f"no column {column!r}; the rows have {', '.join(map(repr, first)) or 'no columns'}",
                            file=file, row=first_row, field=column)
    id_column = mapping.id or ("id" if "id" in first else None)
    answer_column = mapping.answer or ("answer" if "answer" in first else None)

    def parse(r: _Row, index: int, _mapping) -> MCQExample:
        if mapping.option_columns:
            options = [r.get(column, str) for column in mapping.option_columns]
        else:
            options = r.get(mapping.options, (list, str))
            if isinstance(options, str):  # CSV cells hold a JSON list
                try:
                    options = json.loads(options)
                except json.JSONDecodeError:
                    r.fail("expected a JSON list of options", mapping.options)
                r.check(options, list, mapping.options)
            for i, option in enumerate(options):
                r.check(option, str, f"{mapping.options}[{i}]")
        answer = None
        if answer_column:
            if answer_column not in r.obj:
                r.fail("missing field (null or empty for an unlabeled question)", answer_column)
            value = r.obj[answer_column]
            answer = None if value in (None, "") else _answer_index(value, options, r, answer_column)
        example_id = r.example_id(id_column, index, required=True) if id_column else str(index)
        return MCQExample(example_id, r.get(mapping.question, str), list(options), answer, r.rationales(mapping))

    return parse


_PARSERS = {"kard": _from_kard, "strategyqa": _from_strategyqa, "medqa": _from_medqa, "openbookqa": _from_openbookqa}


def detect_format(first: dict) -> str:
    """The format whose fields the first row has (``columns`` when none fits)."""
    if "sent1" in first:
        return "kard"
    if "question_stem" in first and "choices" in first:
        return "openbookqa"
    if "answer_idx" in first and isinstance(first.get("options"), dict):
        return "medqa"
    if "qid" in first and "question" in first and "options" not in first:
        return "strategyqa"
    return "columns"


def _default_columns(first: dict, rationale: str | None) -> ColumnMapping:
    """The canonical columns (:func:`examples_to_dataset`) when a row has them, else the generic ones."""
    if "stem" in first:
        return ColumnMapping(question="stem", rationale=rationale or ("rationales" if "rationales" in first else None))
    return ColumnMapping(rationale=rationale)


def parse_rows(rows, format: str = "auto", *, columns: ColumnMapping | None = None, file=None) -> list[MCQExample]:
    """Validated examples from ``(row label, dict)`` pairs in ``format``; ids must be unique."""
    fmt = "columns" if format in GENERIC_NAMES else format
    if fmt not in ("auto",) + NAMED_FORMATS + ("columns",):
        raise ConfigError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}", field="dataset_format")
    if columns is not None and columns.is_generic:
        if fmt == "auto":
            fmt = "columns"
        elif fmt != "columns":
            raise ConfigError(f"column options (question/options/answer/id columns) apply to the 'columns' format, "
                              f"not {fmt!r}, which has fixed fields", file=file, field="dataset_format")
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return []
    first_row, first_obj = first
    if fmt == "auto":
        fmt = detect_format(first_obj)
    if fmt == "columns":
        mapping = columns if columns is not None and columns.is_generic else _default_columns(
            first_obj, columns.rationale if columns else None)
        parse = _column_parser(first_obj, mapping, file, first_row)
    else:
        mapping, parse = columns or ColumnMapping(), _PARSERS[fmt]
    examples, labels = [], []
    for index, (row, obj) in enumerate(itertools.chain([first], rows)):
        examples.append(validate_example(parse(_Row(obj, file, row), index, mapping), file=file, row=row))
        labels.append(row)
    check_unique_ids(examples, file=file, rows=labels)
    return examples


def _json_rows(path: Path):
    """A ``.json`` file: an array of objects, or one object a line (the released KARD ``train.json``)."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if head.startswith(b"{"):
        yield from iter_jsonl(path)
        return
    records = read_json(path)
    if not isinstance(records, list):
        raise DataError("expected a JSON array of objects, or one JSON object a line", file=path)
    for index, obj in enumerate(records):
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=path, row=f"item {index}")
        yield f"item {index}", obj


def _csv_rows(path: Path):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            reader.fieldnames  # reads the header, which may span lines too
            end = reader.line_num
            for obj in reader:
                start, end = end + 1, reader.line_num  # a quoted cell may span several lines
                yield f"line {start}", obj
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 (byte {e.start})", file=path) from None


def _parquet_rows(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        records = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"not a readable Parquet file: {e}", file=path) from None
    for index, obj in enumerate(records):
        yield f"row {index}", obj


_FILE_READERS = {".jsonl": iter_jsonl, ".json": _json_rows, ".csv": _csv_rows, ".parquet": _parquet_rows}


def is_hub_id(path_or_id) -> bool:
    """``owner/name`` that is no local path (the rule of :func:`kard_hf.hub.looks_like_a_local_path`)."""
    text = str(path_or_id)
    return not Path(text).exists() and text.count("/") == 1 and not looks_like_a_local_path(text)


def open_dataset(path_or_id: str, config: str | None = None, *, split: str | None = None):
    """A ``DatasetDict`` (or one split): a ``save_to_disk`` folder, a folder of data files or a Hub id.

    Folders of data files and Hub repositories are read by the ``datasets`` library's own builders
    (JSON, Parquet, CSV; no loading script), honouring the configs of their README.
    """
    import datasets

    path = Path(path_or_id)
    try:
        if path.is_dir() and any((path / name).is_file() for name in ("dataset_dict.json", "state.json")):
            loaded = datasets.load_from_disk(str(path))
        elif path.is_dir() or is_hub_id(path_or_id):
            loaded = datasets.load_dataset(str(path_or_id), config, split=split)
        else:
            raise DataError("no such file or folder (expected a file, a dataset folder or a Hub id like owner/name)",
                            file=path)
    except DataError:
        raise
    except Exception as e:  # the datasets library raises many types for "not found / offline / no such config"
        raise DataError(f"cannot load the dataset: {hub_failure(e) if not path.exists() else e}",
                        file=path_or_id) from None
    if split is not None and isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DataError(f"no split {split!r}; it has {', '.join(loaded)}", file=path_or_id)
        loaded = loaded[split]
    return loaded


def load_dataset_split(path_or_id: str, split: str, config: str | None = None):
    """A ``datasets.Dataset``: one split of a ``save_to_disk`` folder, a folder of data files, or a Hub dataset."""
    return open_dataset(path_or_id, config, split=split)


def _dataset_rows(dataset):
    return ((f"row {index}", obj) for index, obj in enumerate(dataset))


def _config_for(format: str, config: str | None) -> str | None:
    return config if config is not None else HUB_CONFIGS.get(format)


def load_mcq(path: str | Path, format: str = "auto", *, split: str = "train", columns: ColumnMapping | None = None,
             config: str | None = None) -> list[MCQExample]:
    """Load and validate every question of a file, a folder or (one ``split`` of) a Hub dataset.

    Raises :class:`DataError` naming the file, row and field of the first bad row (a missing field,
    a field of the wrong type, a gap in the options, a label outside them, an empty option, bad
    UTF-8 or JSON, a duplicate id).
    """
    path = Path(path)
    reader = _FILE_READERS.get(path.suffix.lower())
    if reader is not None:
        if not path.is_file():
            raise DataError("file not found", file=path)
        rows = reader(path)
    elif path.is_file():
        raise DataError(f"cannot read {path.suffix or 'files without a suffix'}; expected one of "
                        f"{', '.join(_FILE_READERS)}, a dataset folder or a Hub id", file=path)
    else:
        rows = _dataset_rows(load_dataset_split(str(path), split, _config_for(format, config)))
    return parse_rows(rows, format, columns=columns, file=path)


def load_mcq_splits(path_or_id: str, format: str = "auto", *, columns: ColumnMapping | None = None,
                    config: str | None = None) -> dict[str, list[MCQExample]]:
    """Every split of a dataset folder or Hub dataset, each loaded as :func:`load_mcq` loads one."""
    dataset_dict = open_dataset(path_or_id, _config_for(format, config))
    return {split: parse_rows(_dataset_rows(dataset), format, columns=columns, file=path_or_id)
            for split, dataset in dataset_dict.items()}


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
