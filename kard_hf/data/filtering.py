"""Keep a teacher rationale only if it leads to the gold answer (METHOD.md, step 1).

One filter for every rationale source: the samples of ``kard-hf rationales`` and the rationales
``kard-hf augment`` imports (released KARD folders, JSONL) both go through :func:`filter_rationales`.
Two judges: :class:`AnswerFilter` parses the answer out of the rationale
(:func:`kard_hf.data.extract_answer`); :class:`VerifierFilter` asks a language model (seq2seq or
causal) which letter follows "So, the answer is (" after the rationale with its own conclusion
removed, as the released KARD code did with Flan-T5. :class:`NoFilter` keeps every non-empty one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Sequence

from ..data import LETTERS, MCQExample, extract_answer, format_question
from ..errors import ConfigError

_CONCLUSION = re.compile(r"\s*so,?\s+the\s+answer\s+is[^\n]*$", re.IGNORECASE)
VERIFIER_CUE = " So, the answer is ("


class AnswerFilter:
    """Keeps a rationale whose parsed answer is the gold one (none of an unlabeled question: nothing to check)."""

    def judge(self, pairs: Sequence[tuple[MCQExample, str]]) -> list[bool]:
        return [example.answer is not None and extract_answer(text, len(example.options)) == example.answer
                for example, text in pairs]

    def describe(self) -> dict:
        return {"kind": "answer"}


class NoFilter:
    """Keeps every non-empty rationale."""

    def judge(self, pairs: Sequence[tuple[MCQExample, str]]) -> list[bool]:
        return [True for _ in pairs]

    def describe(self) -> dict:
        return {"kind": "none"}


class VerifierFilter:
    """Keeps a rationale when the verifier's most likely letter after it is the gold one.

    The verifier reads ``question + rationale (its conclusion cut) + " So, the answer is ("`` and
    each option letter is scored by its log-likelihood as the continuation.
    """

    def __init__(self, model_name_or_path: str, *, batch_size: int = 8, max_input_tokens: int = 1024,
                 device: str | None = None):
        import torch

        from ..lm import load_prompted_lm

        self.model_name = str(model_name_or_path)
        self.lm, self.tokenizer = load_prompted_lm(model_name_or_path, purpose="verifier")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.lm.to(self.device)
        self.batch_size, self.max_input_tokens = batch_size, max_input_tokens

    def describe(self) -> dict:
        return {"kind": "verifier", "model": self.model_name}

    def judge(self, pairs: Sequence[tuple[MCQExample, str]]) -> list[bool]:
        queries = []  # (pair index, letter index, prefix)
        for index, (example, text) in enumerate(pairs):
            prefix = f"{format_question(example.stem, example.options)}\n{_CONCLUSION.sub('', text)}{VERIFIER_CUE}"
            queries += [(index, letter, prefix) for letter in range(len(example.options))]
        scores = []
        for start in range(0, len(queries), self.batch_size):
            batch = queries[start:start + self.batch_size]
            scores += self._continuation_logprobs([q[2] for q in batch], [LETTERS[q[1]] for q in batch])
        best: dict[int, tuple[float, int]] = {}
        for (index, letter, _), score in zip(queries, scores):
            if index not in best or score > best[index][0]:
                best[index] = (score, letter)
        return [example.answer is not None and best[i][1] == example.answer for i, (example, _) in enumerate(pairs)]

    def _continuation_logprobs(self, prefixes: list[str], continuations: list[str]) -> list[float]:
        """log P(continuation | prefix) for each pair, batched with dynamic padding."""
        import torch

        tok, pad = self.tokenizer, self.tokenizer.pad_token_id
        conts = [tok(c, add_special_tokens=False)["input_ids"] for c in continuations]
        with torch.no_grad():
            if self.lm.config.is_encoder_decoder:
                enc = tok(prefixes, return_tensors="pt", padding=True, truncation=True,
                          max_length=self.max_input_tokens).to(self.device)
                width = max(map(len, conts))
                labels = torch.tensor([c + [-100] * (width - len(c)) for c in conts], device=self.device)
                logits = self.lm(**enc, labels=labels).logits
                targets, mask = labels.clamp(min=0), labels != -100
            else:
                rows = [tok(p)["input_ids"][-(self.max_input_tokens - len(c)):] + c for p, c in zip(prefixes, conts)]
                width = max(map(len, rows))
                ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
                attention = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=self.device)
                logits = self.lm(input_ids=ids, attention_mask=attention).logits[:, :-1]
                targets = ids[:, 1:]
                mask = torch.zeros_like(targets, dtype=torch.bool)
                for i, (r, c) in enumerate(zip(rows, conts)):
                    mask[i, len(r) - len(c) - 1:len(r) - 1] = True
            logprobs = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            return (logprobs * mask).sum(dim=1).tolist()


def make_filter(kind: str, verifier_model: str | None = None, *, batch_size: int = 8):
    """The judge named ``kind`` (``answer``, ``verifier`` or ``none``)."""
    if kind == "answer":
        return AnswerFilter()
    if kind == "none":
        return NoFilter()
    if kind == "verifier":
        if not verifier_model:
            raise ConfigError("filter 'verifier' needs --verifier_model", field="verifier_model")
        return VerifierFilter(verifier_model, batch_size=batch_size)
    raise ConfigError(f"unknown filter {kind!r}; expected answer, verifier or none", field="filter")


@dataclass
class FilterCounts:
    """How many rationales the filter kept and dropped, and which questions were left with none."""

    kept: int = 0
    dropped: int = 0
    questions_without_rationale_ids: list[str] = field(default_factory=list)

    @property
    def questions_without_rationale(self) -> int:
        return len(self.questions_without_rationale_ids)

    def to_dict(self) -> dict:
        return {"kept": self.kept, "dropped": self.dropped,
                "questions_without_rationale": self.questions_without_rationale,
                "questions_without_rationale_ids": list(self.questions_without_rationale_ids)}


def filter_rationales(examples: list[MCQExample], samples: dict[str, list[str]],
                      judge) -> tuple[list[MCQExample], FilterCounts]:
    """Examples whose ``rationales`` are the kept samples (empty texts are always dropped), and the counts.

    Questions absent from ``samples`` keep their rationales as they are.
    """
    pairs = [(e, text.strip()) for e in examples for text in samples.get(e.id, []) if text.strip()]
    verdicts = iter(judge.judge(pairs)) if pairs else iter(())
    counts = FilterCounts(dropped=sum(1 for e in examples for text in samples.get(e.id, []) if not text.strip()))
    kept_by_id: dict[str, list[str]] = {e.id: [] for e in examples}
    for (example, text), keep in zip(pairs, verdicts):
        if keep:
            kept_by_id[example.id].append(text)
        counts.kept += keep
        counts.dropped += not keep
    counts.questions_without_rationale_ids = [e.id for e in examples if e.id in samples and not kept_by_id[e.id]]
    return [replace(e, rationales=kept_by_id[e.id]) if e.id in samples else e for e in examples], counts
