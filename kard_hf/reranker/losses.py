"""Distillation of BM25-by-rationale into the reranker: KL(Q || P) over each question's candidates.

Q = softmax(BM25(d | rationale) / tau1) is the target, P = softmax(score(d, question) / tau2) the
model. Default temperatures (the released code's tau1 = 1, tau2 = 100 with an annealing that turns
tau1 negative cannot have been used):

* tau1 = 5: BM25 scores of a long rationale query reach 20-60 and the top candidates differ by a few
  points to tens; tau1 = 1 makes Q nearly one-hot (the CE loss again), tau1 = 5 keeps a soft target
  that spreads its mass over the few passages BM25 finds nearly as good as the best one.
* tau2 = 1: with L2-normalised token embeddings (the default), a score is a sum of cosines, one per
  question token, so candidates differ by several units for questions of tens of tokens; the model
  sets its own sharpness within that range (ColBERT trains at temperature 1 the same way). With
  ``normalize=False`` scores are dot products of unnormalised states, thousands per question: use
  tau2 around 100 there, as the released code did.
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_TAU1 = 5.0
DEFAULT_TAU2 = 1.0
LOSS_TYPES = ("kl", "ce")


def _masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float().masked_fill(~mask, torch.finfo(torch.float32).min), dim=-1)


def bm25_distillation_loss(scores: torch.Tensor, bm25_scores: torch.Tensor, mask: torch.Tensor | None = None, *,
                           tau1: float = DEFAULT_TAU1, tau2: float = DEFAULT_TAU2, loss_type: str = "kl") -> torch.Tensor:
    """Mean over questions of KL(Q || P) (``loss_type="kl"``) or of the cross-entropy of P on BM25's best
    candidate (``"ce"``, the released code's default).

    Args:
        scores: model scores ``[B, C]``.
        bm25_scores: BM25 scores of the same candidates with the rationale as the query ``[B, C]``.
        mask: ``[B, C]`` bool, False for padded candidates; each row needs at least two real ones.
        tau1, tau2: positive temperatures of the target and of the model distribution.
    """
    if tau1 <= 0 or tau2 <= 0:
        raise ValueError(f"temperatures must be positive, got tau1={tau1}, tau2={tau2}")
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    mask = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.bool()
    if (mask.sum(dim=-1) < 2).any():
        raise ValueError("every question needs at least two candidates to rank")
    log_p = _masked_log_softmax(scores / tau2, mask)
    if loss_type == "ce":
        best = bm25_scores.float().masked_fill(~mask, float("-inf")).argmax(dim=-1, keepdim=True)
        return -log_p.gather(-1, best).mean()
    log_q = _masked_log_softmax(bm25_scores / tau1, mask)
    kl = torch.where(mask, log_q.exp() * (log_q - log_p), torch.zeros_like(log_p))
    return kl.sum(dim=-1).mean()


class BM25DistillationLoss(nn.Module):
    """:func:`bm25_distillation_loss` with its temperatures and type fixed at construction."""

    def __init__(self, tau1: float = DEFAULT_TAU1, tau2: float = DEFAULT_TAU2, loss_type: str = "kl"):
        super().__init__()
        self.tau1, self.tau2, self.loss_type = tau1, tau2, loss_type

    def forward(self, scores, bm25_scores, mask=None):
        return bm25_distillation_loss(scores, bm25_scores, mask, tau1=self.tau1, tau2=self.tau2,
                                      loss_type=self.loss_type)

    def extra_repr(self) -> str:
        return f"tau1={self.tau1}, tau2={self.tau2}, loss_type={self.loss_type!r}"
