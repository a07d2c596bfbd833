"""The checks that the artifacts a command combines belong together (docs/reliability.md).

A processed dataset records the knowledge base it was augmented with (its corpus fingerprint and
BM25 parameters); a student records the fingerprint of the knowledge base it was trained with.
A command that reads a knowledge base next to either refuses one that differs: same corpus with
other BM25 parameters included, since retrieval (and the reranker's targets) would then differ
from what the dataset holds.
"""

from __future__ import annotations

import dataclasses

from .errors import KnowledgeBaseError


def check_knowledge_base(kb, manifest: dict, dataset) -> None:
    """Refuse ``kb`` unless it is the one ``dataset`` (with its ``manifest``) was augmented with."""
    kb.check_augmented(manifest, dataset)
    recorded = (manifest.get("knowledge_base") or {}).get("parameters") or {}
    actual = dataclasses.asdict(kb.parameters)
    differ = [name for name, value in recorded.items() if name in actual and actual[name] != value]
    if differ:
        said = ", ".join(f"{name}={actual[name]!r} (the dataset's: {recorded[name]!r})" for name in differ)
        raise KnowledgeBaseError(f"same corpus but other BM25 parameters than the dataset {dataset} was augmented "
                                 f"with: {said}; rebuild it with those parameters", field="knowledge_base")


def check_student_knowledge_base(kb, spec, student) -> None:
    """Refuse ``kb`` when ``student`` records having been trained with another knowledge base."""
    trained = getattr(spec, "knowledge_base_fingerprint", None)
    if kb is not None and trained and trained != kb.fingerprint:
        raise KnowledgeBaseError(f"its fingerprint {kb.fingerprint[:12]} differs from the {trained[:12]} of the "
                                 f"knowledge base the student {student} was trained with", field="knowledge_base")
