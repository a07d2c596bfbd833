"""Ranking quality: where the rationale's best passage lands among the candidates (Hits@k, MRR).

The gold passage of a row is the candidate with the highest BM25 score for the rationale, wherever
it sits in the list. Ties with the gold passage's score count against it (the pessimistic rank), so
a ranker that scores many candidates equally gets no credit for the tie.
"""

from __future__ import annotations

import numpy as np

HITS_AT = (1, 3, 5, 10)


def gold_ranks(scores: list, gold: list[int]) -> np.ndarray:
    """1-based pessimistic rank of ``gold[i]`` under ``scores[i]`` for every row."""
    return np.array([int((np.asarray(row) >= np.asarray(row)[g]).sum()) for row, g in zip(scores, gold)])


def ranking_metrics(scores: list, gold: list[int], hits_at=HITS_AT) -> dict[str, float]:
    """``hits@k`` for each k and ``mrr`` of the gold candidates under ``scores``."""
    ranks = gold_ranks(scores, gold)
    metrics = {f"hits@{k}": float((ranks <= k).mean()) for k in hits_at}
    metrics["mrr"] = float((1.0 / ranks).mean())
    return metrics


def evaluate_reranker(reranker, candidate_rows) -> dict[str, float]:
    """Metrics of the reranker (``reranker_*``) and of BM25 with the question (``bm25_question_*``) on the same
    candidate sets (rows of :func:`kard_hf.reranker.candidates.build_candidates`)."""
    rows = candidate_rows[:] if not isinstance(candidate_rows, dict) else candidate_rows
    gold = [int(np.argmax(row)) for row in rows["rationale_scores"]]
    model_scores = reranker.score(rows["question"], rows["candidates"], rows["candidate_ids"])
    metrics = {f"reranker_{name}": value for name, value in ranking_metrics(model_scores, gold).items()}
    metrics.update({f"bm25_question_{name}": value
                    for name, value in ranking_metrics(rows["question_scores"], gold).items()})
    return metrics


def format_comparison(metrics: dict[str, float], prefix: str = "") -> str:
    """A two-row table (reranker vs BM25 by question) of the metrics of :func:`evaluate_reranker`, whose
    names start with ``prefix`` (``"eval_"`` for the trainer's)."""
    names = [f"hits@{k}" for k in HITS_AT] + ["mrr"]
    lines = ["| ranker | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, key in (("reranker", "reranker_"), ("BM25 (question)", "bm25_question_")):
        lines.append(f"| {label} | " + " | ".join(f"{metrics[prefix + key + n]:.3f}" for n in names) + " |")
    return "\n".join(lines)
