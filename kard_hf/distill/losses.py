"""The student's loss: token NLL normalised by the number of target tokens of the whole accumulated batch, with
the output layer computed only where a target token is."""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def next_token_labels(labels: torch.Tensor) -> torch.Tensor:
    """A decoder-only model's targets: position ``t`` predicts ``labels[t + 1]`` (the last position nothing).
    Shifting the labels, as transformers' causal-LM loss does, instead of slicing the logits, which would copy
    them, vocabulary wide, in the forward and the backward pass."""
    return F.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]


def token_nll(logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None, *,
              shift: bool = False) -> torch.Tensor:
    """Summed cross-entropy over the labelled tokens, divided by ``num_items_in_batch``.

    ``logits``: ``(..., vocab)``; ``labels``: the same leading shape, ``-100`` where no loss is taken (or only
    the kept positions' labels, for the ``(kept, vocab)`` logits of :class:`OutputLayerSelection`). ``shift=True``
    (decoder-only models) scores :func:`next_token_labels`. ``num_items_in_batch`` is the count of labelled
    tokens over every micro-batch of one optimizer step (the Trainer computes it), so that gradient accumulation
    gives the same gradient as one large batch; ``None`` divides by this batch's own count.
    """
    if shift:
        labels = next_token_labels(labels)
    labels = labels.to(logits.device)
    total = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                            ignore_index=IGNORE_INDEX, reduction="sum")
    if num_items_in_batch is None:
        num_items_in_batch = labels.ne(IGNORE_INDEX).sum().clamp(min=1)
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch


class OutputLayerSelection:
    """Runs ``model``'s output layer (its ``get_output_embeddings()``) only at chosen positions, within :meth:`at`.

    A training step needs logits only where a target token is: not at a decoder-only student's prompt (a KARD
    prompt with its passages is most of the sequence), nor at padding. Each skipped position saves a
    hidden x vocabulary product forward and backward, and its row of logits (4 bytes x 151,936 for Qwen2.5).
    The selection happens at the layer's input, so what a model does around it (T5's rescaling, BART's bias,
    Gemma's soft-capping) applies as before. One forward pre-hook, registered once, before the Trainer wraps or
    compiles the model: ``torch.compile`` recompiles when a module's hooks change, so a hook added and removed
    at every step would recompile at every step. Outside :meth:`at` the layer sees its whole input.
    """

    def __init__(self, model):
        self.keep: torch.Tensor | None = None
        head = model.get_output_embeddings()
        if head is not None:
            head.register_forward_pre_hook(self._select)

    def _select(self, module, args):
        hidden, keep = args[0], self.keep
        if keep is None or hidden.shape[:-1] != keep.shape:  # a model whose layer sees another layout: left whole
            return None
        return (hidden[keep], *args[1:])

    @contextmanager
    def at(self, keep: torch.Tensor):
        """Within the block the model's logits are ``(kept, vocab)``, in row order, for the positions ``keep``
        marks (``(batch, length)`` bools); a model whose output layer sees another layout keeps its
        ``(batch, length, vocab)`` logits, which the caller checks."""
        self.keep = keep
        try:
            yield
        finally:
            self.keep = None
