"""KARD at test time: retrieve → rerank → generate → vote, batched (METHOD.md step 5).

:class:`KARDPipeline` loads a student (a full model or a peft LoRA adapter, from a folder or the
Hub), optionally a reranker and a knowledge base, and answers batches of questions. Inputs are
built by the student's own collator from its saved :class:`~kard_hf.distill.spec.StudentSpec`, so
the prompt at test time is the prompt it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from tqdm.auto import tqdm

from ..data.formatting import format_question
from ..data.schema import LETTERS, MCQExample
from ..distill.collator import StudentDataCollator
from ..distill.spec import StudentSpec
from ..errors import ConfigError
from ..hub import resolve_folder
from ..lm import load_lm
from .metrics import vote

RETRIEVAL_MODES = ("none", "bm25", "reranker", "oracle")


@dataclass(frozen=True)
class Decoding:
    """Greedy decoding, or self-consistency: ``num_samples`` sampled rationales and a majority vote."""

    strategy: str = "sample"
    num_samples: int = 5
    top_k: int = 50
    top_p: float = 0.95
    temperature: float = 1.0
    max_new_tokens: int = 256

    def __post_init__(self):
        if self.strategy not in ("greedy", "sample"):
            raise ConfigError(f"unknown decoding {self.strategy!r}; expected greedy or sample", field="decoding")
        if self.num_samples < 1 or self.max_new_tokens < 1:
            raise ConfigError("num_samples and max_new_tokens must be at least 1", field="num_samples")

    def generate_kwargs(self) -> dict:
        if self.strategy == "greedy":
            return {"do_sample": False, "num_beams": 1, "max_new_tokens": self.max_new_tokens}
        return {"do_sample": True, "top_k": self.top_k, "top_p": self.top_p, "temperature": self.temperature,
                "num_return_sequences": self.num_samples, "max_new_tokens": self.max_new_tokens}


@dataclass
class Prediction:
    """One answered question: what the student read, wrote and chose. The chosen option and the gold one are
    each given as a 0-based ``index`` and as a ``letter`` (A, B...), the letters ``votes`` is keyed by; None
    when no sample gave an answer (or the question has no gold answer)."""

    id: str
    passages: list[str]
    passage_ids: list[str]
    generations: list[str]
    votes: dict[str, int]
    index: int | None
    gold_index: int | None

    @property
    def letter(self) -> str | None:
        return None if self.index is None else LETTERS[self.index]

    @property
    def gold_letter(self) -> str | None:
        return None if self.gold_index is None else LETTERS[self.gold_index]

    def to_dict(self) -> dict:
        return {"id": self.id, "passage_ids": self.passage_ids, "passages": self.passages,
                "rationales": self.generations, "votes": self.votes, "letter": self.letter, "index": self.index,
                "gold_letter": self.gold_letter, "gold_index": self.gold_index,
                "correct": self.gold_index is not None and self.index == self.gold_index}


@dataclass
class Retrieved:
    """Passages (and their ids) chosen for each question."""

    texts: list[list[str]] = field(default_factory=list)
    ids: list[list[str]] = field(default_factory=list)


class Pipeline(Protocol):
    """What ``kard-hf evaluate`` and ``predict`` need of a student: its spec, what it reads, and answers.

    :class:`KARDPipeline` (ft / rd / kard students) and :class:`~kard_hf.knife.KnifePipeline` implement it.
    """

    spec: StudentSpec
    retrieval: str
    num_passages: int
    knowledge_base: object | None
    reads_rationale: bool  # reads each question's teacher rationale (a KNIFE teacher)

    def __call__(self, examples: list[MCQExample], *, candidates: Retrieved | None = None,
                 silver: Retrieved | None = None, decoding: Decoding = ..., seed: int = 0,
                 show_progress: bool = False) -> list[Prediction]: ...


def load_trained_student(path_or_id: str | Path):
    """``(model, tokenizer, spec)`` for a student folder or Hub id; a LoRA adapter is loaded onto its base and merged."""
    folder = resolve_folder(path_or_id, what="student")
    spec = StudentSpec.load(folder)
    model, tokenizer = load_lm(folder, purpose="student", merge_adapter=True)
    return model.eval(), tokenizer, spec


def load_pipeline(student: str | Path, *, batch_size: int = 16, **kwargs) -> Pipeline:
    """The pipeline of a student folder or Hub id, chosen by its ``model_type`` (AutoConfig knows kard_hf's)."""
    from transformers import AutoConfig

    from .. import auto  # noqa: F401  (AutoConfig learns kard_hf's model types)
    from ..knife.modeling import KNIFE_MODEL_TYPES

    folder = resolve_folder(student, what="student")
    if AutoConfig.from_pretrained(folder).model_type in KNIFE_MODEL_TYPES:
        from ..knife.pipeline import KnifePipeline

        return KnifePipeline.from_pretrained(folder, batch_size=batch_size, **kwargs)
    return KARDPipeline.from_pretrained(folder, batch_size=batch_size, **kwargs)


class KARDPipeline:
    """Answer multiple-choice questions with a distilled student, optionally reading retrieved knowledge.

    Retrieval modes: ``none`` (FT and RD students), ``bm25`` (the top ``num_passages`` BM25
    candidates by question), ``reranker`` (the candidates reordered by the reranker), ``oracle``
    (the "silver" passages retrieved with the teacher's rationale). Candidates come with the
    questions (a processed dataset) or are retrieved from ``knowledge_base``.
    """

    reads_rationale = False

    def __init__(self, model, tokenizer, spec: StudentSpec, *, reranker=None, knowledge_base=None,
                 retrieval: str | None = None, num_passages: int | None = None, candidates: int = 100,
                 batch_size: int = 16):
        self.model, self.tokenizer, self.spec = model, tokenizer, spec
        self.reranker, self.knowledge_base = reranker, knowledge_base
        self.retrieval = retrieval or ("bm25" if spec.method == "kard" else "none")
        self.num_passages = num_passages or spec.num_passages
        self.candidates, self.batch_size = candidates, batch_size
        if self.retrieval not in RETRIEVAL_MODES:
            raise ConfigError(f"unknown retrieval {self.retrieval!r}; expected one of {', '.join(RETRIEVAL_MODES)}",
                              field="retrieval")
        if (spec.method == "kard") != (self.retrieval != "none"):
            raise ConfigError(f"a {spec.method} student " + ("needs passages: retrieval must not be 'none'"
                              if spec.method == "kard" else "reads no passages: retrieval must be 'none'"),
                              field="retrieval")
        if self.retrieval == "reranker" and reranker is None:
            raise ConfigError("retrieval 'reranker' needs a reranker", field="reranker")
        if self.num_passages < 1 or batch_size < 1:
            raise ConfigError("num_passages and batch_size must be at least 1", field="num_passages")
        self.collator = StudentDataCollator(tokenizer, method=spec.method, decoder_only=not model.config.is_encoder_decoder,
                                            template=spec.template, num_passages=self.num_passages,
                                            max_source_length=spec.max_source_length,
                                            max_target_length=spec.max_target_length)

    @classmethod
    def from_pretrained(cls, student: str | Path, *, reranker: str | Path | None = None,
                        knowledge_base: str | Path | None = None, **kwargs) -> "KARDPipeline":
        """Load the student, and the reranker and knowledge base when given (folders or Hub ids)."""
        model, tokenizer, spec = load_trained_student(student)
        if reranker is not None:
            from ..reranker import Reranker

            reranker = Reranker.from_pretrained(reranker)
        if knowledge_base is not None:
            from ..knowledge import KnowledgeBase

            knowledge_base = KnowledgeBase.from_pretrained(knowledge_base)
        return cls(model, tokenizer, spec, reranker=reranker, knowledge_base=knowledge_base, **kwargs)

    # -- retrieval --------------------------------------------------------------------------
    def retrieve(self, questions: list[str], candidates: Retrieved | None = None,
                 silver: Retrieved | None = None) -> Retrieved | None:
        """The passages each question's student input shows (``None`` without retrieval)."""
        k = self.num_passages
        if self.retrieval == "none":
            return None
        if self.retrieval == "oracle":
            if silver is None:
                raise ConfigError("retrieval 'oracle' needs silver passages (a processed eval split with rationales)",
                                  field="retrieval")
            pool = silver
        elif candidates is not None:
            pool = candidates
        elif self.knowledge_base is not None:
            found = self.knowledge_base.search(questions, k=self.candidates if self.retrieval == "reranker" else k)
            pool = Retrieved(found.texts, found.ids)
        else:
            raise ConfigError("no candidates: give a processed dataset with candidates or a knowledge base",
                              field="knowledge_base")
        short = next((i for i, texts in enumerate(pool.texts) if len(texts) < k), None)
        if short is not None:
            raise ConfigError(f"num_passages={k} but question {short} has only {len(pool.texts[short])} "
                              f"{'silver passages' if self.retrieval == 'oracle' else 'candidates'}",
                              field="num_passages")
        if self.retrieval == "reranker":
            reranked = self.reranker.rerank(questions, pool.texts, top_k=k, candidate_ids=pool.ids)
            return Retrieved(reranked.texts, reranked.ids)
        return Retrieved([texts[:k] for texts in pool.texts], [ids[:k] for ids in pool.ids])

    # -- generation -------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, questions: list[str], passages: list[list[str]] | None, decoding: Decoding, *,
                 show_progress: bool = False) -> list[list[str]]:
        """Generations for each question (``num_samples`` of them when sampling), in batches of similar length.

        Questions are generated in order of prompt length, so that a batch pads little, and returned in
        their original order.
        """
        if self.spec.method == "ft":  # the answer letter alone: a few tokens, greedy
            decoding = Decoding("greedy", max_new_tokens=min(decoding.max_new_tokens, 8))
        kwargs = decoding.generate_kwargs()
        per_question = kwargs.get("num_return_sequences", 1)
        prompts = self.collator.encode_prompts(questions, passages)
        order = sorted(range(len(questions)), key=lambda i: len(prompts[i]))
        outputs: list[list[str]] = [[] for _ in questions]
        batches = [order[start:start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        for rows in tqdm(batches, disable=not show_progress, desc="generating", unit="batch"):
            batch = {key: value.to(self.model.device)
                     for key, value in self.collator.pad_prompts([prompts[i] for i in rows]).items()}
            tokens = self.model.generate(**batch, pad_token_id=self.tokenizer.pad_token_id, **kwargs)
            if not self.model.config.is_encoder_decoder:
                tokens = tokens[:, batch["input_ids"].shape[1]:]
            texts = self.tokenizer.batch_decode(tokens, skip_special_tokens=True)
            for n, i in enumerate(rows):
                outputs[i] = texts[n * per_question:(n + 1) * per_question]
        return outputs

    def __call__(self, examples: list[MCQExample], *, candidates: Retrieved | None = None,
                 silver: Retrieved | None = None, decoding: Decoding = Decoding(), seed: int = 0,
                 show_progress: bool = False) -> list[Prediction]:
        """Answer ``examples``: retrieve for all, generate in batches, vote (deterministic for ``seed``)."""
        if not examples:
            raise ConfigError("no questions to answer")
        torch.manual_seed(seed)
        questions = [format_question(e.stem, e.options) for e in examples]
        retrieved = self.retrieve(questions, candidates, silver)
        shown = None if retrieved is None else retrieved.texts
        predictions = []
        for i, (example, generations) in enumerate(zip(examples, self.generate(questions, shown, decoding,
                                                                                show_progress=show_progress))):
            result = vote(generations, len(example.options))
            predictions.append(Prediction(example.id, [] if shown is None else shown[i],
                                          [] if retrieved is None else retrieved.ids[i], generations,
                                          {LETTERS[a]: n for a, n in result.counts.items()}, result.answer,
                                          example.answer))
        return predictions
