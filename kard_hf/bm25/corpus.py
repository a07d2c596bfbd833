"""Read a passage corpus (JSONL, CSV, DPR-style TSV, or a ``datasets`` source) into validated rows."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..data.loaders import load_dataset_split
from ..errors import KnowledgeBaseError
from ..fileio import iter_jsonl

CORPUS_FORMATS = ("auto", "jsonl", "csv", "tsv", "datasets")


@dataclass(frozen=True)
class CorpusColumns:
    """Column names of a corpus; ``title`` may be absent from the data."""

    id: str = "id"
    text: str = "text"
    title: str = "title"


def _records(path: Path, fmt: str, split: str) -> Iterator[tuple[str, dict]]:
    if fmt == "jsonl":
        yield from iter_jsonl(path)
    elif fmt in ("csv", "tsv"):
        csv.field_size_limit(sys.maxsize)
        try:
            with open(path, newline="", encoding="utf-8") as f:
                for index, obj in enumerate(csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ",")):
                    yield f"line {index + 2}", obj
        except UnicodeDecodeError as e:
            raise KnowledgeBaseError(f"not valid UTF-8 (byte {e.start})", file=path) from None
    else:
        for index, obj in enumerate(load_dataset_split(str(path), split)):
            yield f"row {index}", obj


def _detect(path: Path) -> str:
    if path.is_dir() or (not path.exists() and "/" in str(path) and not str(path).startswith((".", "/"))):
        return "datasets"
    suffixes = {".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv"}
    if path.suffix in suffixes:
        return suffixes[path.suffix]
    raise KnowledgeBaseError("cannot tell the corpus format from the name; pass --corpus_format jsonl|csv|tsv|datasets",
                             file=path)


def iter_corpus(path: str | Path, format: str = "auto", *, columns: CorpusColumns = CorpusColumns(),
                split: str = "train") -> Iterator[tuple[str, str, str, str]]:
    """``(row, id, title, text)`` for each passage, read lazily and validated (ids are not yet checked
    for duplicates: that needs the whole corpus). A missing id or text or an empty text raises
    :class:`KnowledgeBaseError` naming the file, row and field; so does a missing file."""
    path = Path(path)
    fmt = _detect(path) if format == "auto" else format
    if fmt not in CORPUS_FORMATS[1:]:
        raise KnowledgeBaseError(f"unknown corpus format {fmt!r}; expected one of {', '.join(CORPUS_FORMATS)}", file=path)
    if fmt != "datasets" and not path.is_file():
        raise KnowledgeBaseError("corpus file not found", file=path)
    empty = True
    for row, obj in _records(path, fmt, split):
        for name in (columns.id, columns.text):
            if obj.get(name) in (None, ""):
                raise KnowledgeBaseError("missing or empty field", file=path, row=row, field=name)
        text = obj[columns.text]
        if not isinstance(text, str) or not text.strip():
            raise KnowledgeBaseError("the passage text is empty", file=path, row=row, field=columns.text)
        empty = False
        yield row, str(obj[columns.id]), str(obj.get(columns.title) or ""), text
    if empty:
        raise KnowledgeBaseError("the corpus has no passages", file=path)


def read_corpus(path: str | Path, format: str = "auto", *, columns: CorpusColumns = CorpusColumns(),
                split: str = "train") -> dict[str, list[str]]:
    """``{"id": [...], "title": [...], "text": [...]}`` for every passage, validated, in memory.

    Errors as :func:`iter_corpus`, plus a duplicate id (naming both rows). For a corpus too large
    for memory, ``kard-hf build-kb`` streams it with :func:`iter_corpus` instead.
    """
    passages: dict[str, list[str]] = {"id": [], "title": [], "text": []}
    first_row: dict[str, str] = {}
    for row, passage_id, title, text in iter_corpus(path, format, columns=columns, split=split):
        if passage_id in first_row:
            raise KnowledgeBaseError(f"duplicate passage id {passage_id!r} (first at {first_row[passage_id]})",
                                     file=Path(path), row=row, field=columns.id)
        first_row[passage_id] = row
        passages["id"].append(passage_id)
        passages["title"].append(title)
        passages["text"].append(text)
    return passages
