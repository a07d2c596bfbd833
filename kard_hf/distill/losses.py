"""The student's loss: token NLL normalised by the number of target tokens of the whole accumulated batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def token_nll(logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None, *,
              shift: bool = False) -> torch.Tensor:
    """Summed cross-entropy over the labelled tokens, divided by ``num_items_in_batch``.

    ``logits``: ``(batch, length, vocab)``; ``labels``: ``(batch, length)`` with ``-100`` where no
    loss is taken. ``shift=True`` (decoder-only models) scores ``labels[:, 1:]`` against
    ``logits[:, :-1]`` (by shifting the labels, as transformers' causal-LM loss does: slicing the logits would
    copy them, vocabulary wide, in the forward and the backward pass). ``num_items_in_batch`` is the count of labelled tokens over every
    micro-batch of one optimizer step (the Trainer computes it), so that gradient accumulation
    gives the same gradient as one large batch; ``None`` divides by this batch's own count.
    """
    if shift:
        labels = F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
    labels = labels.to(logits.device)
    total = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                            ignore_index=IGNORE_INDEX, reduction="sum")
    if num_items_in_batch is None:
        num_items_in_batch = labels.ne(IGNORE_INDEX).sum().clamp(min=1)
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch
