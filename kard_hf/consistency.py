"""The check that a knowledge base belongs with a student (docs/reliability.md).

A student records the fingerprint of the knowledge base it was trained with; ``predict`` and
``evaluate`` refuse one that differs. (A processed dataset's own record is checked by
:meth:`kard_hf.knowledge.KnowledgeBase.check_augmented`.)
"""

from __future__ import annotations

from .errors import KnowledgeBaseError


def check_student_knowledge_base(kb, spec, student) -> None:
    """Refuse ``kb`` when ``student`` records having been trained with another knowledge base."""
    trained = getattr(spec, "knowledge_base_fingerprint", None)
    if kb is not None and trained and trained != kb.fingerprint:
        raise KnowledgeBaseError(f"its fingerprint {kb.fingerprint[:12]} differs from the {trained[:12]} of the "
                                 f"knowledge base the student {student} was trained with", field="knowledge_base")
