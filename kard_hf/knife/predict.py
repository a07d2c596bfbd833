"""Prediction with a KNIFE student: the answer index of each question, batched (what ``kard-hf evaluate`` calls)."""

from __future__ import annotations

from typing import Sequence

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForMultipleChoice, AutoTokenizer

from ..hub import resolve_folder
from .collator import KnifeCollator
from .modeling import KnifeForMultipleChoice


def load_knife_model(path_or_id: str):
    """``(model, tokenizer)`` of a saved KNIFE model (local folder or Hub id), in eval mode."""
    folder = resolve_folder(path_or_id, what="KNIFE model")
    model = AutoModelForMultipleChoice.from_pretrained(folder).eval()
    return model, AutoTokenizer.from_pretrained(folder)


@torch.inference_mode()
def predict_choices(model: KnifeForMultipleChoice, tokenizer, questions_options: Sequence[tuple[str, Sequence[str]]],
                    batch_size: int = 16, *, max_task_length: int = 256, rationales: Sequence[str] | None = None,
                    max_rationale_length: int = 256, progress: bool = False) -> list[int]:
    """The 0-based index of the highest-scoring option of each ``(question stem, options)``, in order.

    Questions may have different numbers of options. A student reads the task input only; a teacher
    also reads ``rationales`` (one per question), behind its bottleneck as in training. The model runs
    on the device it is on, in eval mode (dropout off; its mode is restored after); batches are padded
    dynamically.
    """
    was_training = model.training
    model.eval()
    collator = KnifeCollator(tokenizer, with_rationale=rationales is not None,
                             bottleneck=model.config.rationale_bottleneck, max_task_length=max_task_length,
                             max_rationale_length=max_rationale_length)
    device = next(model.parameters()).device
    rows = [{"stem": stem, "options": list(options)} for stem, options in questions_options]
    if rationales is not None:
        rows = [{**row, "rationale": rationale} for row, rationale in zip(rows, rationales, strict=True)]
    predictions: list[int] = []
    for start in tqdm(range(0, len(rows), batch_size), desc="KNIFE predictions", disable=not progress):
        batch = {key: value.to(device) for key, value in collator(rows[start:start + batch_size]).items()}
        predictions += model(**batch).logits.argmax(-1).tolist()
    model.train(was_training)
    return predictions
