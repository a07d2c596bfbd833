"""A KNIFE student behind :class:`kard_hf.inference.Pipeline`, so ``kard-hf evaluate`` and ``predict`` serve it."""

from __future__ import annotations

from pathlib import Path

from ..data.schema import LETTERS, MCQExample
from ..distill.spec import StudentSpec
from ..errors import ConfigError
from .base import Prediction
from ..knife.predict import load_knife_model, predict_choices

RETRIEVAL_OPTIONS = ("reranker", "knowledge_base", "retrieval", "num_passages")


class KnifePipeline:
    """A KNIFE student reads neither passages nor rationales and scores each (question, option) pair, so
    retrieval is ``none`` and the one "generation" is the chosen letter. A KNIFE teacher (``--method
    knife-teacher``) also reads each question's first teacher rationale: an upper bound, not a test-time
    method. Inputs are cut to the budgets it was trained with (``spec``)."""

    retrieval, num_passages, knowledge_base = "none", 0, None

    def __init__(self, model, tokenizer, spec: StudentSpec, *, batch_size: int = 16):
        self.model, self.tokenizer, self.spec, self.batch_size = model, tokenizer, spec, batch_size
        self.reads_rationale = spec.method == "knife-teacher"

    @classmethod
    def from_pretrained(cls, student: str | Path, *, batch_size: int = 16, **retrieval) -> "KnifePipeline":
        """Load a ``--method knife`` student or ``knife-teacher`` (folder or Hub id); retrieval options are refused."""
        if any(retrieval.get(name) for name in RETRIEVAL_OPTIONS):
            raise ConfigError("a KNIFE student reads no passages: drop reranker, knowledge_base, retrieval and "
                              "num_passages", field="student")
        model, tokenizer = load_knife_model(student)
        return cls(model, tokenizer, StudentSpec.load(model.name_or_path), batch_size=batch_size)

    def __call__(self, examples: list[MCQExample], *, show_progress: bool = False, **_) -> list[Prediction]:
        if not examples:
            raise ConfigError("no questions to answer")
        if self.reads_rationale and not all(e.rationales for e in examples):
            missing = next(e.id for e in examples if not e.rationales)
            raise ConfigError(f"the KNIFE teacher reads each question's rationale; question {missing!r} has none")
        choices = predict_choices(self.model, self.tokenizer, [(e.stem, e.options) for e in examples],
                                  self.batch_size, max_task_length=self.spec.max_source_length,
                                  rationales=[e.rationales[0] for e in examples] if self.reads_rationale else None,
                                  max_rationale_length=self.spec.max_rationale_length, progress=show_progress)
        return [Prediction(e.id, [], [], [LETTERS[c]], {LETTERS[c]: 1}, c, e.answer) for e, c in zip(examples, choices)]
