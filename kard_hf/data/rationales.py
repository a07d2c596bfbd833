"""Import teacher rationales and match them to their questions.

Two sources: the released KARD rationale folders (one ``<key>.json`` per question, each
``{"choices": [{"message": {"content": ...}}, ...]}`` as the chat-completions API returns it), and
JSONL with ``id`` plus ``rationale`` (one) or ``rationales`` (a list); several lines may share an id
and other fields are ignored.

The one matching rule (:func:`match_rationales`): a key made only of ASCII digits (``[0-9]+``) is a
0-based row number, the question at that row of the split's questions (the released
``generate_explanations.py`` names its files ``str(row).zfill(5) + ".json"``: ``00000.json`` is row 0);
any other key (``²``, an Arabic-Indic ``٠``) is a question id and matches exactly. Two keys naming one
row (``00001`` and ``1``) are an error naming both.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError
from ..fileio import iter_jsonl, read_json
from .schema import MCQExample

ROW_KEY = re.compile(r"[0-9]+")


def _texts(value, file, row: str, field: str) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
        raise DataError("expected non-empty rationale text", file=file, row=row, field=field)
    return texts


def read_released_rationales(directory: str | Path) -> dict[str, list[str]]:
    """``{file stem: [rationale, ...]}`` from a folder of chat-completions JSON files (every ``*.json``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError("rationale folder not found", file=directory)
    rationales = {}
    for path in sorted(directory.glob("*.json")):
        response = read_json(path)
        choices = response.get("choices") if isinstance(response, dict) else None
        if not isinstance(choices, list) or not choices:
            raise DataError("expected a non-empty 'choices' list", file=path, field="choices")
        texts = []
        for i, choice in enumerate(choices):
            content = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
            texts += _texts(content, path, f"choice {i}", "choices[].message.content")
        rationales[path.stem] = texts
    if not rationales:
        raise DataError("no *.json rationale files", file=directory)
    return rationales


def read_rationale_jsonl(path: str | Path) -> dict[str, list[str]]:
    """``{id: [rationale, ...]}`` from JSONL rows with ``id`` and ``rationale`` or ``rationales``."""
    rationales: dict[str, list[str]] = {}
    for row, obj in iter_jsonl(path):
        if obj.get("id") is None:
            raise DataError("missing field", file=path, row=row, field="id")
        present = [key for key in ("rationale", "rationales") if key in obj]
        if len(present) != 1:
            message = "expected one of 'rationale' (text) or 'rationales' (a list)" if present else "missing field"
            raise DataError(message, file=path, row=row, field="rationale")
        field = present[0]
        rationales.setdefault(str(obj["id"]), []).extend(_texts(obj[field], path, row, field))
    return rationales


def read_rationales(path: str | Path) -> dict[str, list[str]]:
    """Read a released rationale folder or a rationale JSONL file: ``{key: [rationale, ...]}``."""
    return read_released_rationales(path) if Path(path).is_dir() else read_rationale_jsonl(path)


def match_rationales(examples: list[MCQExample], rationales: dict[str, list[str]], *,
                     source=None) -> dict[str, list[str]]:
    """``{question id: [rationale, ...]}``: each key matched by the rule of this module's docstring.

    A key that names no question, or a digit key that is another question's id (the questions have
    digit ids that are not their row numbers), is an error: nothing is dropped or attached by guess.
    """
    position = {example.id: row for row, example in enumerate(examples)}
    matched: dict[str, list[str]] = {}
    unknown, ambiguous, row_keys = [], [], {}
    for key, texts in rationales.items():
        if ROW_KEY.fullmatch(key):
            row = int(key)
            if key in position and position[key] != row:
                ambiguous.append(key)
                continue
            if row in row_keys:
                raise DataError(f"rationales {row_keys[row]!r} and {key!r} both name row {row}; keep one",
                                file=source, field="id")
            row_keys[row] = key
            question_id = examples[row].id if row < len(examples) else None
        else:
            question_id = key if key in position else None
        if question_id is None:
            unknown.append(key)
        else:
            matched.setdefault(question_id, []).extend(texts)
    for keys, what in ((unknown, "question(s) not in the dataset"),
                       (ambiguous, "digit key(s) that are both a row number and the id of a question at another row")):
        if keys:
            shown = ", ".join(map(repr, sorted(keys)[:5])) + (" ..." if len(keys) > 5 else "")
            rule = " (a key of ASCII digits 0-9 is a 0-based row number, any other key a question id)" if keys is unknown else ""
            raise DataError(f"rationales for {len(keys)} {what}: {shown}{rule}", file=source, field="id")
    return {example.id: matched[example.id] for example in examples if example.id in matched}


def attach_rationales(examples: list[MCQExample], rationales: dict[str, list[str]], *, source=None) -> list[MCQExample]:
    """Add rationales to the questions they belong to (:func:`match_rationales`), unfiltered."""
    by_id = {example.id: example for example in examples}
    for question_id, texts in match_rationales(examples, rationales, source=source).items():
        by_id[question_id].rationales.extend(texts)
    return examples
