"""An optional in-memory cache of the frozen teacher's targets, per training row.

The teacher is frozen and runs without dropout, so its states for a row never change: the first
epoch computes them (as without a cache), later epochs read them back. Only what the losses read is
kept, on the CPU: the encoder states at the task-input positions, the decoder states and the
scores. Memory: rows × choices × task tokens × hidden size × 4 bytes per aligned layer
(docs/knife.md), so it suits small datasets such as StrategyQA's facts, not many rationales per question.
"""

from __future__ import annotations

import torch

Targets = dict[str, list[torch.Tensor] | torch.Tensor]  # encoder: [(B, C, L, d)], decoder: [(B, C, d)], scores: (B, C)


class TeacherStateCache:
    def __init__(self):
        self._rows: dict[int, Targets] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def put(self, row_indices: list[int], targets: Targets, task_mask: torch.Tensor, choice_mask: torch.Tensor) -> None:
        """Store each row's targets, cut to its real choices and its longest task input."""
        for b, row in enumerate(row_indices):
            choices = int(choice_mask[b].sum())
            length = int(task_mask[b, :choices].sum(-1).max())
            self._rows[row] = {"encoder": [t[b, :choices, :length].cpu() for t in targets["encoder"]],
                               "decoder": [t[b, :choices].cpu() for t in targets["decoder"]],
                               "scores": targets["scores"][b, :choices].cpu()}

    def get(self, row_indices: list[int], shape: tuple[int, int, int], device) -> Targets | None:
        """The batch's targets padded to (B, C, L), or ``None`` unless every row is cached."""
        if not all(row in self._rows for row in row_indices):
            return None
        rows = [self._rows[row] for row in row_indices]
        batch, choices, length = shape

        def stack(key: str, layer: int | None, trailing: tuple[int, ...]) -> torch.Tensor:
            parts = [row[key] if layer is None else row[key][layer] for row in rows]
            out = parts[0].new_zeros((batch, choices, *trailing))
            for b, part in enumerate(parts):
                out[(b, slice(0, part.shape[0])) + tuple(slice(0, n) for n in part.shape[1:])] = part
            return out.to(device)

        first = rows[0]
        return {"encoder": [stack("encoder", i, (length, t.shape[-1])) for i, t in enumerate(first["encoder"])],
                "decoder": [stack("decoder", i, (t.shape[-1],)) for i, t in enumerate(first["decoder"])],
                "scores": stack("scores", None, ())}
