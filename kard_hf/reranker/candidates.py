"""Candidate sets for training and evaluating the reranker, read from the pools ``kard-hf augment`` stored.

Each row: the question, the union of BM25 top-``rationale_pool`` passages for the rationale and
top-``question_pool`` for the question (deduplicated, rationale pool first), and two label vectors:
the BM25 score of every candidate for the rationale (the target) and for the question (the baseline).
:func:`kard_hf.knowledge.augment.reranker_pools` computes them once, when the dataset is augmented; smaller
pools than stored are cut from the stored scores. During training :class:`CandidateSampler` draws a few
candidates of each pool per step.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..data.processed import POOL_COLUMNS, TRAIN_SPLIT, first_rationale, rationale_column, require_columns
from ..errors import ConfigError, DataError

CANDIDATE_COLUMNS = ("id", "question", "candidate_ids", "candidates", "rationale_scores", "question_scores",
                     "rationale_pool_size")


def _check_rationales(dataset, split: str) -> None:
    """Every row of ``split`` has a rationale (``rationale`` on train rows, ``rationales`` on eval rows)."""
    column = rationale_column(split)
    for number, value in enumerate(dataset[column]):
        if not first_rationale(value).strip():
            raise DataError(f"split {split!r} has a row without a rationale; the reranker learns from it",
                            row=f"row {number}", field=column)


def _narrow(row: dict, rationale_pool: int | None, question_pool: int | None) -> dict:
    """The stored pool cut to the top ``rationale_pool`` by rationale and top ``question_pool`` by question."""
    ids, size = row["pool_ids"], row["pool_rationale_size"]
    if rationale_pool is None and question_pool is None:
        return {"ids": ids, "keep": list(range(len(ids))), "size": size}
    by_rationale = list(range(size))[:rationale_pool]
    chosen = set(by_rationale)
    by_question = sorted(range(len(ids)), key=lambda i: -row["pool_question_scores"][i])[:question_pool]
    keep = by_rationale + [i for i in by_question if i not in chosen]
    return {"ids": [ids[i] for i in keep], "keep": keep, "size": len(by_rationale)}


def build_candidates(dataset, *, split: str = TRAIN_SPLIT, rationale_pool: int | None = None,
                     question_pool: int | None = None, stored: dict | None = None):
    """A ``datasets.Dataset`` of candidate sets (columns ``CANDIDATE_COLUMNS``) for one split of a processed dataset.

    ``rationale_pool`` / ``question_pool`` (None: as stored) may not exceed the pools the dataset was
    augmented with (``stored``: the manifest's ``retrieval`` record); the stored pools are used as they are
    when they are the ones asked for.
    """
    import datasets

    require_columns(dataset, ["id", "question", rationale_column(split), *POOL_COLUMNS], split=split,
                    purpose="to train the reranker (re-run kard-hf augment: it stores the candidate pools)")
    _check_rationales(dataset, split)
    for name, asked in (("rationale_pool", rationale_pool), ("question_pool", question_pool)):
        if asked is not None and stored and asked > stored.get(name, asked):
            raise ConfigError(f"{name}={asked} but the dataset stores pools of {stored[name]} (kard-hf augment "
                              f"--{name}); ask for at most that", field=name)
    if stored and (rationale_pool, question_pool) == (stored.get("rationale_pool"), stored.get("question_pool")):
        rationale_pool = question_pool = None
    rows = {column: [] for column in CANDIDATE_COLUMNS}
    for number, row in enumerate(dataset):
        pool = _narrow(row, rationale_pool, question_pool)
        if len(pool["ids"]) < 2:
            raise DataError(f"only {len(pool['ids'])} candidate passage(s) found; ranking needs at least 2 "
                            f"(is the knowledge base tiny?)", row=f"row {number}", field="question")
        texts = [row["pool_passages"][i] for i in pool["keep"]]
        for passage_id, text in zip(pool["ids"], texts):
            if not text or not text.strip():
                raise DataError(f"candidate passage {passage_id!r} has empty text", row=f"row {number}",
                                field="candidates")
        rows["id"].append(str(row["id"]))
        rows["question"].append(row["question"])
        rows["candidate_ids"].append(pool["ids"])
        rows["candidates"].append(texts)
        rows["rationale_scores"].append([row["pool_rationale_scores"][i] for i in pool["keep"]])
        rows["question_scores"].append([row["pool_question_scores"][i] for i in pool["keep"]])
        rows["rationale_pool_size"].append(pool["size"])
    return datasets.Dataset.from_dict(rows)


class CandidateSampler:
    """A ``Dataset.with_transform`` that keeps ``rationale_samples`` candidates drawn from each row's
    rationale pool and ``question_samples`` from its question pool (all of a pool if it is smaller).

    A row's draw depends only on ``seed``, ``epoch`` (set by the trainer at each epoch) and the row
    itself, never on a global generator: two runs with one seed draw the same candidates, and a
    run resumed mid-epoch draws what the uninterrupted run drew, whatever the data loader
    prefetched or whichever worker process reads the row.
    """

    def __init__(self, rationale_samples: int = 4, question_samples: int = 4, seed: int = 0):
        if rationale_samples < 1 or question_samples < 0 or rationale_samples + question_samples < 2:
            raise ValueError("sample at least one rationale candidate and at least two candidates in all")
        self.rationale_samples, self.question_samples = rationale_samples, question_samples
        self.seed, self.epoch = seed, 0

    def _generator(self, row_id: str, candidate_ids: list[str]) -> np.random.Generator:
        key = zlib.crc32("\x1f".join([str(row_id), *candidate_ids]).encode("utf-8"))
        return np.random.default_rng([self.seed, self.epoch, key])

    @staticmethod
    def _draw(rng: np.random.Generator, start: int, stop: int, count: int) -> list[int]:
        return (start + rng.permutation(stop - start)[:count]).tolist()

    def __call__(self, batch: dict) -> dict:
        out = {column: [] for column in batch}
        for row in range(len(batch["candidate_ids"])):
            pool, total = batch["rationale_pool_size"][row], len(batch["candidate_ids"][row])
            rng = self._generator(batch["id"][row], batch["candidate_ids"][row])
            keep = self._draw(rng, 0, pool, self.rationale_samples) + self._draw(rng, pool, total, self.question_samples)
            for column, values in batch.items():
                value = values[row]
                out[column].append([value[i] for i in keep] if isinstance(value, list) else value)
        return out
