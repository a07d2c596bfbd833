"""The one spec file of every kard_hf artifact: ``kard_hf.json``, whose ``kind`` says what the folder holds.

Students, KNIFE teachers and students, rerankers, knowledge bases, processed and rationale datasets each
save ``kard_hf.json`` beside their files: what a loader needs (a student's prompt layout, a knowledge base's
index format and fingerprint, a dataset's teacher and retrieval record), the ``hub_id`` it was pushed to,
and its ``kind`` (one of :data:`KINDS`). :func:`write_spec` writes it, :func:`read_spec` reads it.

Artifacts saved by earlier kard_hf versions used four names (:data:`OLD_NAMES`; datasets already used
``kard_hf.json``, without a kind). They still load: :func:`read_spec` reads the old name, tells the kind
from it, and says so in one line, once per folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DataError
from ..fileio import read_json, write_json

logger = logging.getLogger(__name__)

SPEC_NAME = "kard_hf.json"
KINDS = ("student", "knife-teacher", "knife-student", "reranker", "knowledge-base", "processed-dataset",
         "rationale-dataset")
STUDENT_KINDS = ("student", "knife-teacher", "knife-student")  # a StudentSpec: what inference rebuilds inputs from
# The earlier names, and the kind a spec of that name has when it records none.
OLD_NAMES = {
    "kard_hf_student.json": lambda spec: {"knife-teacher": "knife-teacher", "knife": "knife-student"}.get(
        spec.get("method"), "student"),
    "kard_hf_model.json": lambda spec: None,  # always recorded its kind (reranker, knife-teacher, knife-student)
    "kard_hf_kb.json": lambda spec: "knowledge-base",
}
_warned: set[Path] = set()


def dataset_kind(manifest: dict) -> str:
    """The kind of a dataset manifest that names none (saved before kinds were, or built by hand): only a processed
    dataset records a knowledge base."""
    return "processed-dataset" if "knowledge_base" in manifest else "rationale-dataset"


def spec_file(folder: str | Path) -> Path | None:
    """The spec file of the artifact in ``folder`` (``kard_hf.json``, else an old name), or None."""
    folder = Path(folder)
    for name in (SPEC_NAME, *OLD_NAMES):
        if (folder / name).is_file():
            return folder / name
    return None


def read_spec(folder: str | Path) -> dict | None:
    """The spec of the artifact saved in ``folder`` with its ``kind``, or None when the folder holds none.

    A spec under an old name (:data:`OLD_NAMES`) is read with a one-line deprecation warning, once per folder.
    """
    path = spec_file(folder)
    if path is None:
        return None
    spec = read_json(path)
    if not isinstance(spec, dict):
        raise DataError("not a kard_hf spec (a JSON object)", file=path)
    if path.name != SPEC_NAME:
        if path.parent.resolve() not in _warned:
            _warned.add(path.parent.resolve())
            logger.warning("%s: %s is an old spec-file name (now %s, with a kind); it still loads, and saving "
                           "the artifact again renames it", path.parent, path.name, SPEC_NAME)
        kind = spec.get("kind") or OLD_NAMES[path.name](spec)
    else:
        kind = spec.get("kind") or dataset_kind(spec)
    return {**spec, "kind": kind}


def write_spec(folder: str | Path, spec: dict) -> None:
    """Write ``spec`` (with its ``kind`` first) as ``folder/kard_hf.json``, atomically; remove the old names there."""
    if spec.get("kind") not in KINDS:
        raise ValueError(f"a kard_hf spec needs a kind among {', '.join(KINDS)}, got {spec.get('kind')!r}")
    folder = Path(folder)
    write_json(folder / SPEC_NAME, {"kind": spec["kind"], **spec})
    for name in OLD_NAMES:  # a folder saved again (a resumed run's output) keeps one spec, not a stale second one
        (folder / name).unlink(missing_ok=True)
