"""Prediction with a KNIFE student: the answer index of each question, batched (what ``kard-hf evaluate`` calls)."""

from __future__ import annotations

from typing import Sequence

import torch
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from ..hub import resolve_folder
from .collator import KnifeCollator
from .modeling import KnifeT5ForMultipleChoice


def load_knife_model(path_or_id: str):
    """``(model, tokenizer)`` of a saved KNIFE model (local folder or Hub id), in eval mode."""
    folder = resolve_folder(path_or_id, what="KNIFE model")
    model = KnifeT5ForMultipleChoice.from_pretrained(folder).eval()
    return model, AutoTokenizer.from_pretrained(folder)


@torch.inference_mode()
def predict_choices(model: KnifeT5ForMultipleChoice, tokenizer, questions_options: Sequence[tuple[str, Sequence[str]]],
                    batch_size: int = 16, *, max_task_length: int = 256, progress: bool = False) -> list[int]:
    """The 0-based index of the highest-scoring option of each ``(question stem, options)``, in order.

    Questions may have different numbers of options. The model reads the task input only (no
    rationale), on the device it is on, in eval mode (dropout off; its mode is restored after);
    batches are padded dynamically.
    """
    was_training = model.training
    model.eval()
    collator = KnifeCollator(tokenizer, max_task_length=max_task_length)
    device = next(model.parameters()).device
    predictions: list[int] = []
    starts = range(0, len(questions_options), batch_size)
    for start in tqdm(starts, desc="KNIFE predictions", disable=not progress):
        rows = [{"stem": stem, "options": list(options)} for stem, options in questions_options[start:start + batch_size]]
        batch = {key: value.to(device) for key, value in collator(rows).items()}
        predictions += model(**batch).logits.argmax(-1).tolist()
    model.train(was_training)
    return predictions
