"""Batches for the reranker: each question encoded once, each distinct passage of the batch encoded once.

Padding is dynamic (to the longest sequence of the batch). Passages shared by several questions of
the batch are tokenized and encoded a single time; ``candidate_index`` maps every (question,
candidate) slot to its passage row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import DataError


@dataclass
class RerankerCollator:
    """Collate rows with ``question``, ``candidate_ids``, ``candidates`` and, for training, ``rationale_scores``."""

    tokenizer: object
    query_max_length: int = 256
    passage_max_length: int = 256

    def _tokenize(self, texts: list[str], max_length: int) -> dict:
        return self.tokenizer(texts, truncation=True, max_length=max_length, padding="longest", return_tensors="pt")

    def __call__(self, features: list[dict]) -> dict:
        positions: dict[str, int] = {}
        passages: list[str] = []
        index_rows = []
        for number, feature in enumerate(features):
            if len(feature["candidate_ids"]) < 2:
                raise DataError("a candidate set needs at least 2 passages to rank", row=f"batch row {number}",
                                field="candidate_ids")
            row = []
            for passage_id, text in zip(feature["candidate_ids"], feature["candidates"]):
                if not text or not text.strip():
                    raise DataError(f"candidate passage {passage_id!r} has empty text", row=f"batch row {number}",
                                    field="candidates")
                if passage_id not in positions:
                    positions[passage_id] = len(passages)
                    passages.append(text)
                row.append(positions[passage_id])
            index_rows.append(row)
        width = max(map(len, index_rows))
        candidate_index = torch.full((len(features), width), -1, dtype=torch.long)
        for number, row in enumerate(index_rows):
            candidate_index[number, : len(row)] = torch.tensor(row)
        queries = self._tokenize([feature["question"] for feature in features], self.query_max_length)
        encoded = self._tokenize(passages, self.passage_max_length)
        batch = {"query_input_ids": queries["input_ids"], "query_attention_mask": queries["attention_mask"],
                 "passage_input_ids": encoded["input_ids"], "passage_attention_mask": encoded["attention_mask"],
                 "candidate_index": candidate_index}
        if "rationale_scores" in features[0]:
            labels = torch.zeros(len(features), width)
            for number, feature in enumerate(features):
                labels[number, : len(feature["rationale_scores"])] = torch.tensor(feature["rationale_scores"])
            batch["labels"] = labels
        return batch
