"""KARD at test time: retrieve → rerank → generate → vote, batched (METHOD.md step 5).

:class:`KARDPipeline` loads a student (a full model or a peft LoRA adapter, from a folder or the
Hub), optionally a reranker and a knowledge base, and answers batches of questions. Inputs are
built by the student's own collator from its saved :class:`~kard_hf.distill.spec.StudentSpec`, so
the prompt at test time is the prompt it was trained on.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data.formatting import format_question
from ..data.processed import RETRIEVAL_MODES
from ..data.schema import LETTERS, MCQExample
from ..distill.collator import StudentDataCollator
from ..distill.spec import StudentSpec
from ..errors import ConfigError
from ..hub import resolve_folder
from ..lm import load_lm
from .base import Decoding, Pipeline, Prediction, Retrieved
from .metrics import vote


def load_trained_student(path_or_id: str | Path):
    """``(model, tokenizer, spec)`` for a student folder or Hub id; a LoRA adapter is loaded onto its base and merged."""
    folder = resolve_folder(path_or_id, what="student")
    spec = StudentSpec.load(folder)
    model, tokenizer = load_lm(folder, purpose="student", merge_adapter=True)
    return model.eval(), tokenizer, spec


def load_pipeline(student: str | Path, *, batch_size: int = 16, **kwargs) -> Pipeline:
    """The pipeline of a student folder or Hub id, chosen by its ``model_type`` (AutoConfig knows kard_hf's)."""
    from transformers import AutoConfig

    from ..knife.modeling import KNIFE_MODEL_TYPES

    folder = resolve_folder(student, what="student")
    if AutoConfig.from_pretrained(folder).model_type in KNIFE_MODEL_TYPES:
        from .knife import KnifePipeline

        return KnifePipeline.from_pretrained(folder, batch_size=batch_size, **kwargs)
    return KARDPipeline.from_pretrained(folder, batch_size=batch_size, **kwargs)


def load_retrieval(reranker: str | Path | None, knowledge_base: str | Path | None) -> dict:
    """``{"reranker": ..., "knowledge_base": ...}`` loaded from folders or Hub ids (``None`` stays ``None``)."""
    if reranker is not None:
        from ..reranker import Reranker

        reranker = Reranker.from_pretrained(reranker)
    if knowledge_base is not None:
        from ..knowledge import KnowledgeBase

        knowledge_base = KnowledgeBase.from_pretrained(knowledge_base)
    return {"reranker": reranker, "knowledge_base": knowledge_base}


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
                                            max_target_length=spec.max_target_length, chat=spec.chat_format)

    @classmethod
    def from_pretrained(cls, student: str | Path, *, reranker: str | Path | None = None,
                        knowledge_base: str | Path | None = None, **kwargs) -> "KARDPipeline":
        """Load the student, and the reranker and knowledge base when given (folders or Hub ids)."""
        model, tokenizer, spec = load_trained_student(student)
        return cls(model, tokenizer, spec, **load_retrieval(reranker, knowledge_base), **kwargs)

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
        """Generations for each question (``num_samples`` of them when sampling); ``ft`` students answer greedily."""
        if self.spec.method == "ft":  # the answer letter alone: a few tokens, greedy
            decoding = Decoding("greedy", max_new_tokens=min(decoding.max_new_tokens, 8))
        return self.generate_from_ids(self.collator.encode_prompts(questions, passages), decoding,
                                      show_progress=show_progress)

    def generate_from_ids(self, prompts: list[list[int]], decoding: Decoding, *,
                          show_progress: bool = False) -> list[list[str]]:
        """Generations for prompt token ids from the collator (a served student sends them to its endpoint).

        Prompts are generated in order of length, so that a batch pads little, and returned in their original order.
        """
        kwargs = decoding.generate_kwargs()
        per_question = kwargs.get("num_return_sequences", 1)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        outputs: list[list[str]] = [[] for _ in prompts]
        batches = [order[start:start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        for rows in tqdm(batches, disable=not show_progress, desc="generating", unit="batch"):
            batch = {key: value.to(self.model.device)
                     for key, value in self.collator.pad_prompts([prompts[i] for i in rows]).items()}
            tokens = self.model.generate(**batch, pad_token_id=self.tokenizer.pad_token_id,
                                         eos_token_id=self.collator.stop_token_ids, **kwargs)
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
