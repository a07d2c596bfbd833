"""Inference: rerank many questions' candidate passages, each passage encoded once (cached by id).

The :class:`Reranker` bundles the model and its tokenizer; it is also the artifact that is saved,
loaded and pushed to the Hub (weights, tokenizer and a model card in one folder).
"""

from __future__ import annotations

import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import DataError
from ..fileio import atomic_path
from ..hub import model_card, push_folder, resolve_folder, save_card_and_spec
from .modeling import KardRerankerModel, late_interaction_scores

RERANKER_SPEC = {"kind": "reranker"}  # what kard_hf.json says of a reranker, from the trainer or the façade


def reranker_card(config, *, model_name: str, base_model=None, dataset=None, training: dict | None = None,
                  metrics=None, repo_id: str | None = None, is_adapter: bool = False):
    """The reranker's :class:`~huggingface_hub.ModelCard` (hub_cards/reranker.md.j2); ``training`` holds the
    RerankerTrainingArguments the card reports, ``dataset`` the processed dataset trained on."""
    return model_card("reranker", model_name=model_name, base_model=base_model, datasets=[dataset],
                      library_name="peft" if is_adapter else "kard_hf", tags=["kard", "reranker", "colbert", "retrieval"],
                      config=config, training=training, metrics=metrics, is_adapter=is_adapter,
                      repo_id=repo_id or "<this repo id or a local folder>")


@dataclass
class RerankResults:
    """Per question, best first: passage ids, texts, scores and positions in the given candidate list."""

    ids: list[list[str]]
    texts: list[list[str]]
    scores: list[list[float]]
    indices: list[list[int]]


class Reranker:
    """A trained :class:`KardRerankerModel` with its tokenizer, ready to score and rerank.

    Passage encodings are kept in an LRU cache of ``cache_size`` passages keyed by passage id (by text
    when no ids are given), so a passage that is a candidate of many questions is encoded once.
    """

    def __init__(self, model: KardRerankerModel, tokenizer, *, batch_size: int = 32, query_max_length: int = 256,
                 passage_max_length: int = 256, cache_size: int = 20_000, device: str | torch.device | None = None,
                 show_progress: bool = False):
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.cache_size, self.show_progress = batch_size, cache_size, show_progress
        self.query_max_length, self.passage_max_length = query_max_length, passage_max_length
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, *, revision: str | None = None, **kwargs) -> "Reranker":
        """Load a folder written by :meth:`save_pretrained` (or ``kard-hf train-reranker``) or a Hub id."""
        from transformers import AutoTokenizer

        folder = resolve_folder(path_or_id, what="reranker", revision=revision)
        model = KardRerankerModel.from_pretrained(folder)
        if kwargs.get("device") is not None:
            model = model.to(kwargs["device"])
        return cls(model.eval(), AutoTokenizer.from_pretrained(folder), **kwargs)

    def save_pretrained(self, path: str | Path, *, repo_id: str | None = None, **card_context) -> Path:
        """Write weights, tokenizer, card (see :func:`reranker_card`) and spec to ``path``, atomically."""
        with atomic_path(path) as tmp:
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            card = reranker_card(self.model.config, model_name=(repo_id or Path(path).name).split("/")[-1],
                                 repo_id=repo_id, **card_context)
            save_card_and_spec(tmp, card, RERANKER_SPEC, hub_id=repo_id)
        return Path(path)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, revision: str | None = None,
                    **card_context) -> str:
        """Save (with card and spec) and upload to ``repo_id``; the token comes from HF_TOKEN or the login cache."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(Path(tmp) / "reranker", repo_id=repo_id, **card_context)
            return push_folder(folder, repo_id, private=private, revision=revision)

    def _tokenize(self, texts: list[str], max_length: int) -> dict:
        encoded = self.tokenizer(texts, truncation=True, max_length=max_length, padding="longest", return_tensors="pt")
        return {key: value.to(self.device) for key, value in encoded.items() if key in ("input_ids", "attention_mask")}

    def _encode(self, texts: list[str], max_length: int) -> list[torch.Tensor]:
        """Token embeddings of each text without its padding, ``[length, D]`` each."""
        encoded = self._tokenize(texts, max_length)
        embeddings = self.model.encode(encoded["input_ids"], encoded["attention_mask"])
        lengths = encoded["attention_mask"].sum(dim=1).tolist()
        return [embedding[:length] for embedding, length in zip(embeddings, lengths)]

    def _encode_passages(self, keys: list[str], texts: list[str]) -> None:
        """Encode the passages not yet cached, longest first so that batches pad little."""
        missing = {key: text for key, text in zip(keys, texts) if key not in self._cache}
        order = sorted(missing, key=lambda key: len(missing[key]), reverse=True)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for key, embedding in zip(chunk, self._encode([missing[key] for key in chunk], self.passage_max_length)):
                self._cache[key] = embedding
        for key in keys:
            self._cache.move_to_end(key)
        while len(self._cache) > max(self.cache_size, len(set(keys))):
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        """Forget every cached passage encoding (``evaluate`` does, per chunk: an encoding computed in another
        batch may differ in its last bits, so a chunk's scores would depend on what was reranked before)."""
        self._cache.clear()

    @staticmethod
    def _check(questions, candidates, candidate_ids) -> list[list[str]]:
        if len(questions) != len(candidates) or (candidate_ids is not None and len(candidate_ids) != len(candidates)):
            raise DataError("questions, candidates and candidate_ids must have one entry per question")
        for number, texts in enumerate(candidates):
            if not texts:
                raise DataError("no candidate passages to rerank", row=f"question {number}", field="candidates")
            if candidate_ids is not None and len(candidate_ids[number]) != len(texts):
                raise DataError("candidate_ids and candidates differ in length", row=f"question {number}",
                                field="candidate_ids")
            for position, text in enumerate(texts):
                if not isinstance(text, str) or not text.strip():
                    raise DataError(f"candidate {position} has empty text", row=f"question {number}",
                                    field="candidates")
        return candidate_ids if candidate_ids is not None else candidates

    @torch.no_grad()
    def score(self, questions: list[str], candidates: list[list[str]],
              candidate_ids: list[list[str]] | None = None) -> list[np.ndarray]:
        """The late-interaction score of every candidate of every question, in the given order."""
        keys = [[str(key) for key in row] for row in self._check(questions, candidates, candidate_ids)]
        was_training = self.model.training
        self.model.eval()
        results = []
        try:
            starts = range(0, len(questions), self.batch_size)
            for start in tqdm(starts, desc="reranking", unit="batch", disable=not self.show_progress):
                end = start + self.batch_size
                batch_keys = [key for row in keys[start:end] for key in row]
                batch_texts = [text for row in candidates[start:end] for text in row]
                self._encode_passages(batch_keys, batch_texts)
                for query, row in zip(self._encode(questions[start:end], self.query_max_length), keys[start:end]):
                    results.append(self._score_one(query, [self._cache[key] for key in row]))
        finally:
            self.model.train(was_training)
        return results

    @staticmethod
    def _score_one(query: torch.Tensor, passages: list[torch.Tensor]) -> np.ndarray:
        padded = torch.nn.utils.rnn.pad_sequence(passages, batch_first=True)
        lengths = torch.tensor([len(p) for p in passages], device=padded.device)
        passage_mask = torch.arange(padded.shape[1], device=padded.device)[None, :] < lengths[:, None]
        query_mask = torch.ones(query.shape[0], dtype=torch.bool, device=query.device)
        scores = late_interaction_scores(query[None], query_mask[None], padded[None], passage_mask[None])
        return scores[0].float().cpu().numpy()

    def rerank(self, questions: list[str], candidates: list[list[str]], top_k: int | None = None, *,
               candidate_ids: list[list[str]] | None = None) -> RerankResults:
        """Reorder each question's candidates by score (best first) and keep the ``top_k`` best (all if None)."""
        scores = self.score(questions, candidates, candidate_ids)
        ids = candidate_ids if candidate_ids is not None else [[str(i) for i in range(len(row))] for row in candidates]
        results = RerankResults([], [], [], [])
        for row_scores, row_ids, row_texts in zip(scores, ids, candidates):
            order = np.argsort(-row_scores, kind="stable")[:top_k].tolist()
            results.ids.append([str(row_ids[i]) for i in order])
            results.texts.append([row_texts[i] for i in order])
            results.scores.append([float(row_scores[i]) for i in order])
            results.indices.append(order)
        return results
