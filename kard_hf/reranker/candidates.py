"""Candidate sets for training and evaluating the reranker, built once from a processed dataset and its KB.

Each row: the question, the union of BM25 top-``rationale_pool`` passages for the rationale and
top-``question_pool`` for the question (deduplicated, rationale pool first), and two label vectors:
the BM25 score of every candidate for the rationale (the target) and for the question (the baseline).
During training :class:`CandidateSampler` draws a few candidates of each pool per step.
"""

from __future__ import annotations

import zlib

import numpy as np
from tqdm.auto import tqdm

from ..data.processed import TRAIN_SPLIT, first_rationale, rationale_column, require_columns
from ..errors import DataError

CANDIDATE_COLUMNS = ("id", "question", "candidate_ids", "candidates", "rationale_scores", "question_scores",
                     "rationale_pool_size")


def _rationales(dataset, split: str) -> list[str]:
    """The rationale of each row: ``rationale`` (train rows) or the first of ``rationales`` (eval rows)."""
    column = rationale_column(split)
    require_columns(dataset, ["id", "question", column], split=split, purpose="to build reranker candidates")
    rationales = []
    for number, value in enumerate(dataset[column]):
        text = first_rationale(value)
        if not text.strip():
            raise DataError(f"split {split!r} has a row without a rationale; the reranker learns from it",
                            row=f"row {number}", field=column)
        rationales.append(text)
    return rationales


def build_candidates(dataset, knowledge_base, *, split: str = TRAIN_SPLIT, rationale_pool: int = 32,
                     question_pool: int = 32, batch_size: int = 256):
    """A ``datasets.Dataset`` of candidate sets (columns ``CANDIDATE_COLUMNS``) for one split of a processed dataset."""
    import datasets

    rationales = _rationales(dataset, split)
    questions, row_ids = list(dataset["question"]), [str(i) for i in dataset["id"]]
    rows = {column: [] for column in CANDIDATE_COLUMNS}
    for start in tqdm(range(0, len(questions), batch_size), desc=f"reranker candidates ({split})", unit="batch"):
        end = start + batch_size
        by_rationale = knowledge_base.search(rationales[start:end], k=rationale_pool)
        by_question = knowledge_base.search(questions[start:end], k=question_pool)
        for offset, (question, rationale) in enumerate(zip(questions[start:end], rationales[start:end])):
            number = start + offset
            rationale_ids = [str(i) for i in by_rationale.ids[offset]]
            seen = set(rationale_ids)
            ids = rationale_ids + [str(i) for i in by_question.ids[offset] if str(i) not in seen]
            if len(ids) < 2:
                raise DataError(f"only {len(ids)} candidate passage(s) found; ranking needs at least 2 "
                                f"(is the knowledge base tiny?)", row=f"row {number}", field="question")
            texts = knowledge_base.texts(ids)
            for passage_id, text in zip(ids, texts):
                if not text or not text.strip():
                    raise DataError(f"candidate passage {passage_id!r} has empty text", row=f"row {number}",
                                    field="candidates")
            rows["id"].append(row_ids[number])
            rows["question"].append(question)
            rows["candidate_ids"].append(ids)
            rows["candidates"].append(texts)
            rows["rationale_scores"].append(np.asarray(knowledge_base.score(rationale, ids), dtype=np.float32).tolist())
            rows["question_scores"].append(np.asarray(knowledge_base.score(question, ids), dtype=np.float32).tolist())
            rows["rationale_pool_size"].append(len(rationale_ids))
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
