"""Import teacher rationales and attach them to questions.

Two sources: the released KARD rationale files (a folder with one ``{question id}.json`` per
question, each ``{"choices": [{"message": {"content": ...}}, ...]}``, as the chat-completions API
returns them), and JSONL with ``id`` plus ``rationale`` (one) or ``rationales`` (a list); several
lines may share an id.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..fileio import iter_jsonl, read_json
from .schema import MCQExample


def _texts(value, file, row: str, field: str) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
        raise DataError("expected non-empty rationale text", file=file, row=row, field=field)
    return texts


def read_released_rationales(directory: str | Path) -> dict[str, list[str]]:
    """``{question id: [rationale, ...]}`` from a folder of chat-completions JSON files."""
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
    """``{question id: [rationale, ...]}`` from JSONL rows with ``id`` and ``rationale`` or ``rationales``."""
    rationales: dict[str, list[str]] = {}
    for row, obj in iter_jsonl(path):
        if "id" not in obj:
            raise DataError("missing field", file=path, row=row, field="id")
        field = "rationales" if "rationales" in obj else "rationale"
        if field not in obj:
            raise DataError("missing field", file=path, row=row, field="rationale")
        rationales.setdefault(str(obj["id"]), []).extend(_texts(obj[field], path, row, field))
    return rationales


def read_rationales(path: str | Path) -> dict[str, list[str]]:
    """Read a released rationale folder or a rationale JSONL file."""
    return read_released_rationales(path) if Path(path).is_dir() else read_rationale_jsonl(path)


def attach_rationales(examples: list[MCQExample], rationales: dict[str, list[str]], *, source=None) -> list[MCQExample]:
    """Add rationales to the questions they belong to; a rationale for an unknown question is an error."""
    by_id = {example.id: example for example in examples}
    unknown = sorted(set(rationales) - set(by_id))
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise DataError(f"rationales for {len(unknown)} question(s) not in the dataset: {shown}", file=source, field="id")
    for question_id, texts in rationales.items():
        by_id[question_id].rationales.extend(texts)
    return examples
