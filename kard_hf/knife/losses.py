"""KNIFE's alignment losses, on plain tensors (METHOD.md §2).

KD-In compares the student's and the frozen teacher's encoder states at the task-input positions;
KD-Out compares the decoder side: the decoder's hidden state that the score is read from
(``kd_out="hidden"``, the default) or the choice scores themselves (``kd_out="scores"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

KD_MODES = ("both", "in", "out")
KD_OUT_TARGETS = ("hidden", "scores")
DISTANCES = ("mse", "cosine")
LAYERS = ("last", "all")


def masked_distance(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, distance: str = "mse") -> torch.Tensor:
    """Mean distance between ``student`` and ``teacher`` states (..., d) over the positions where ``mask`` (...) is true.

    ``mse``: mean squared difference over the hidden dimension; ``cosine``: 1 - cosine similarity.
    Positions outside the mask (padding, padding choices) contribute nothing. An empty mask gives 0.
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student states {tuple(student.shape)} and teacher states {tuple(teacher.shape)} differ in shape")
    if distance == "mse":
        per_position = (student - teacher).pow(2).mean(-1)
    elif distance == "cosine":
        per_position = 1 - F.cosine_similarity(student, teacher, dim=-1)
    else:
        raise ValueError(f"unknown distance {distance!r}; expected one of {DISTANCES}")
    mask = mask.to(per_position.dtype)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)


@dataclass(frozen=True)
class KnifeLossWeights:
    """How the student's loss is put together: ``kd_in_weight·KD-In + kd_out_weight·KD-Out + task_weight·CE``.

    ``mode`` switches the alignment terms: ``both``, ``in`` (KD-In only) or ``out`` (KD-Out only).
    """

    kd_in_weight: float = 1.0
    kd_out_weight: float = 1.0
    task_weight: float = 0.0
    mode: str = "both"
    kd_out: str = "hidden"
    distance: str = "mse"
    layers: str = "last"

    def __post_init__(self):
        for name, value, allowed in (("mode", self.mode, KD_MODES), ("kd_out", self.kd_out, KD_OUT_TARGETS),
                                     ("distance", self.distance, DISTANCES), ("layers", self.layers, LAYERS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    @property
    def uses_kd_in(self) -> bool:
        return self.mode in ("both", "in") and self.kd_in_weight != 0

    @property
    def uses_kd_out(self) -> bool:
        return self.mode in ("both", "out") and self.kd_out_weight != 0


def _layer_pairs(student_layers, teacher_layers, layers: str):
    """Pairs of (student, teacher) states to align: the last ones, or every block output (equal depth needed)."""
    if layers == "last":
        return [(student_layers[-1], teacher_layers[-1])]
    if len(student_layers) != len(teacher_layers):
        raise ValueError(f"layers='all' needs equal depth; the student has {len(student_layers)} blocks and the "
                         f"teacher {len(teacher_layers)}")
    return list(zip(student_layers, teacher_layers))


def knife_loss(weights: KnifeLossWeights, *, student_encoder: list[torch.Tensor], teacher_encoder: list[torch.Tensor],
               task_mask: torch.Tensor, student_decoder: list[torch.Tensor], teacher_decoder: list[torch.Tensor],
               student_scores: torch.Tensor, teacher_scores: torch.Tensor, choice_mask: torch.Tensor,
               labels: torch.Tensor | None = None, project=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The student's loss and its parts (``kd_in``, ``kd_out``, ``task``, for logging).

    ``*_encoder``: per layer (B, C, L, d) states; the teacher's are cut to the student's L, since the
    task input is the teacher's prefix. ``task_mask`` (B, C, L): the student's attention mask.
    ``*_decoder``: per layer (B, C, d). ``*_scores`` (B, C). ``choice_mask`` (B, C): real choices.
    ``project`` maps student states to the teacher's width when they differ.
    """
    project = project or (lambda states: states)
    parts: dict[str, torch.Tensor] = {}
    choice_mask = choice_mask.bool()
    if weights.uses_kd_in:
        mask = task_mask.bool() & choice_mask[..., None]
        pairs = _layer_pairs(student_encoder, teacher_encoder, weights.layers)
        parts["kd_in"] = torch.stack([masked_distance(project(s), t[:, :, : s.shape[2]], mask, weights.distance)
                                      for s, t in pairs]).mean()
    if weights.uses_kd_out:
        if weights.kd_out == "hidden":
            pairs = _layer_pairs(student_decoder, teacher_decoder, weights.layers)
            parts["kd_out"] = torch.stack([masked_distance(project(s), t, choice_mask, weights.distance)
                                           for s, t in pairs]).mean()
        else:
            # Scores are scalars: squared difference of the logits (logit matching), whatever ``distance`` says.
            parts["kd_out"] = masked_distance(student_scores[..., None], teacher_scores[..., None], choice_mask)
    if weights.task_weight and labels is not None:
        parts["task"] = F.cross_entropy(student_scores, labels)
    if not parts:
        raise ValueError("every loss term is switched off: set a non-zero kd_in_weight, kd_out_weight or task_weight")
    coefficient = {"kd_in": weights.kd_in_weight, "kd_out": weights.kd_out_weight, "task": weights.task_weight}
    total = sum(coefficient[name] * value for name, value in parts.items())
    return total, parts
