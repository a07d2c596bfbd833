"""Read a passage corpus (JSONL, CSV, DPR-style TSV, or a ``datasets`` source) into validated rows.

Read exactly, or refused naming the line: a TSV as DPR writes it (tab-separated, no quoting, as many
fields on every line as in the header), a CSV with strict quoting (a quote that is never closed, or
that swallows the lines after it, is an error) and no missing or extra field. A UTF-8 BOM is skipped.
An id is a non-blank string or an integer, a title a string.
"""

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


def _delimited(path: Path, fmt: str) -> Iterator[tuple[str, dict]]:
    """The rows of a CSV or TSV file as ``("line N", {header: field})``, every row checked against the header."""
    csv.field_size_limit(sys.maxsize)
    dialect = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {"delimiter": ",", "strict": True}
    line = 0  # the last line read
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, **dialect)
            header, line = next(reader, []), reader.line_num
            for fields in reader:
                row, line = f"line {line + 1}", reader.line_num
                if len(fields) != len(header):
                    swallowed = " (a quote left open swallows the lines after it?)" if "\n" in "".join(fields) else ""
                    raise KnowledgeBaseError(f"{len(fields)} fields where the header has {len(header)}{swallowed}",
                                             file=path, row=row)
                yield row, dict(zip(header, fields))
    except csv.Error as e:
        raise KnowledgeBaseError(f"malformed {fmt.upper()} ({e}): a quote is not closed, or is followed by text",
                                 file=path, row=f"line {line + 1}") from None
    except UnicodeDecodeError as e:
        raise KnowledgeBaseError(f"not valid UTF-8 (byte {e.start})", file=path) from None


def _records(path: Path, fmt: str, split: str) -> Iterator[tuple[str, dict]]:
    if fmt == "jsonl":
        yield from iter_jsonl(path)
    elif fmt in ("csv", "tsv"):
        yield from _delimited(path, fmt)
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
        text, passage_id, title = obj[columns.text], obj[columns.id], obj.get(columns.title)
        if not isinstance(text, str) or not text.strip():
            raise KnowledgeBaseError("the passage text is empty", file=path, row=row, field=columns.text)
        if isinstance(passage_id, bool) or not isinstance(passage_id, str | int) or not str(passage_id).strip():
            raise KnowledgeBaseError(f"an id must be a non-blank string or an integer, got {passage_id!r}",
                                     file=path, row=row, field=columns.id)
        if title is not None and not isinstance(title, str):
            raise KnowledgeBaseError(f"a title must be a string, got {type(title).__name__}", file=path, row=row,
                                     field=columns.title)
        empty = False
        yield row, str(passage_id), title or "", text
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
