"""Trainers of the KNIFE teacher and student (Trainer subclasses; the student overrides compute_loss only).

Both write the KNIFE model card (hub_cards/knife.md.j2) and ``kard_hf.json`` next to every saved model and
before a push, through :class:`~kard_hf.hub.HubCardMixin`.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import Trainer

from ..distill.spec import StudentSpec
from ..distill.trainer import SeededSamplerMixin
from ..errors import ModelError
from ..hub import HubCardMixin, describe, model_card
from .arguments import KnifeTrainingArguments
from .losses import knife_loss
from .modeling import KnifeForMultipleChoice
from .teacher_cache import TeacherStateCache, Targets


def choice_accuracy(eval_prediction) -> dict[str, float]:
    """``compute_metrics``: the share of questions whose highest-scoring choice is the gold one."""
    logits, labels = eval_prediction.predictions, eval_prediction.label_ids
    logits = logits[0] if isinstance(logits, tuple) else logits
    return {"accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels))}


def _require_knife_model(model, role: str) -> None:
    if not isinstance(model, KnifeForMultipleChoice):
        raise ModelError(f"the KNIFE {role} must be a KNIFE model built from a T5- or BART-family encoder-decoder "
                         f"(see kard_hf.knife.load_knife_backbone), got {type(model).__name__}")


def _aligned_states(output, side: str, every_layer: bool) -> list[torch.Tensor]:
    """The ``side`` ("encoder"/"decoder") states the losses compare: every block's output, or the final ones."""
    if every_layer:
        return list(getattr(output, f"{side}_hidden_states")[1:])  # [0] is the embedding output
    return [getattr(output, f"{side}_last_hidden_state")]


class _KnifeHubFiles(HubCardMixin):
    """The KNIFE card and spec, from ``card_context`` (role, title, base_model, dataset, teacher, losses...).

    Teacher and student also record their ``input_spec`` (the token budgets they trained with) in
    ``kard_hf.json``, as KARD students do, so that :class:`~kard_hf.inference.knife.KnifePipeline` cuts its
    inputs the same way."""

    card_context: dict
    input_spec: StudentSpec | None = None
    artifact_kind: str  # what the saved model's kard_hf.json says it is

    def hub_spec(self) -> dict:
        return {**(self.input_spec.to_dict() if self.input_spec is not None else {}), "kind": self.artifact_kind}

    def hub_card(self, model_name: str):
        context = dict(self.card_context)
        base_model, dataset, teacher = (context.pop(key, None) for key in ("base_model", "dataset", "teacher"))
        model = self.accelerator.unwrap_model(self.model)
        return model_card("knife", model_name=model_name, base_model=base_model, datasets=[dataset],
                          tags=["knife", "multiple-choice", "distillation", f"knife-{context.get('role')}"],
                          repo_id=self.hub_id or "<this repo id or a local folder>", teacher_text=describe(teacher),
                          model_class=type(model).__name__, model_type=model.config.model_type, run=self.run_facts(),
                          **context)


class KnifeTeacherTrainer(SeededSamplerMixin, _KnifeHubFiles, Trainer):
    """Trains the teacher: cross-entropy over a question's choices, which the model computes itself.

    Arguments: :class:`~kard_hf.knife.arguments.KnifeTeacherTrainingArguments`; data collator:
    :class:`~kard_hf.knife.collator.KnifeCollator` with ``with_rationale=True``.
    ``card_context`` fills the model card.
    """

    loss_is_scaled_for_ga = False  # a per-batch mean; the Trainer divides by the accumulation steps
    artifact_kind = "knife-teacher"

    def __init__(self, *args, card_context: dict | None = None, input_spec: StudentSpec | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        _require_knife_model(self.model, "teacher")
        self.card_context, self.input_spec = card_context or {}, input_spec


class KnifeTrainer(SeededSamplerMixin, _KnifeHubFiles, Trainer):
    """Trains the student to match a frozen teacher's hidden states (KD-In, KD-Out) plus an optional task loss.

    Arguments: :class:`~kard_hf.knife.arguments.KnifeTrainingArguments`; data collator:
    :class:`~kard_hf.knife.collator.KnifeDistillationCollator`. The teacher runs in eval mode under
    ``no_grad``, on every step, or once per row with ``cache_teacher_states`` (its targets are then
    kept in memory; see :mod:`kard_hf.knife.teacher_cache`). In evaluation the student is scored
    alone, as at test time.
    """

    loss_is_scaled_for_ga = False
    artifact_kind = "knife-student"

    def __init__(self, model, args: KnifeTrainingArguments, *, teacher: KnifeForMultipleChoice, train_dataset=None,
                 card_context: dict | None = None, input_spec: StudentSpec | None = None, **kwargs):
        if args.cache_teacher_states and train_dataset is not None and "row_index" not in train_dataset.column_names:
            train_dataset = train_dataset.add_column("row_index", list(range(len(train_dataset))))  # the cache's key
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)
        _require_knife_model(self.model, "student")
        _require_knife_model(teacher, "teacher")
        self.teacher = teacher.to(self.args.device).eval().requires_grad_(False)
        self.card_context, self.input_spec = card_context or {}, input_spec
        self.loss_weights = self.args.loss_weights()
        self.teacher_cache = TeacherStateCache() if self.args.cache_teacher_states else None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        student_inputs = {k: v for k, v in inputs.items() if not k.startswith("teacher_") and k not in ("labels", "row_index")}
        labels = inputs.get("labels")
        if not model.training:  # evaluation: the student alone, as at test time
            outputs = model(**student_inputs, labels=labels)
            return (outputs.loss, outputs) if return_outputs else outputs.loss
        every_layer = self.loss_weights.layers == "all"
        outputs = model(**student_inputs, output_hidden_states=every_layer)
        teacher = self._teacher_targets(inputs, every_layer)
        loss, parts = knife_loss(
            self.loss_weights, student_encoder=_aligned_states(outputs, "encoder", every_layer),
            teacher_encoder=teacher["encoder"], task_mask=student_inputs["attention_mask"],
            student_decoder=_aligned_states(outputs, "decoder", every_layer),
            teacher_decoder=teacher["decoder"], student_scores=outputs.logits, teacher_scores=teacher["scores"],
            choice_mask=student_inputs["choice_mask"], labels=labels,
            project=getattr(self.accelerator.unwrap_model(model), "teacher_projection", None))
        self._log_parts(parts)
        return (loss, outputs) if return_outputs else loss

    def _teacher_targets(self, inputs: dict, every_layer: bool) -> Targets:
        """The teacher's states the losses read (encoder states cut to the task input), from the cache if there."""
        shape = tuple(inputs["input_ids"].shape)
        rows = inputs["row_index"].tolist() if self.teacher_cache is not None and "row_index" in inputs else None
        if rows is not None and (cached := self.teacher_cache.get(rows, shape, inputs["input_ids"].device)) is not None:
            return cached
        with torch.no_grad():
            out = self.teacher(**{k[len("teacher_"):]: v for k, v in inputs.items() if k.startswith("teacher_")},
                               output_hidden_states=every_layer)
        targets = {"encoder": [states[:, :, :shape[2]] for states in _aligned_states(out, "encoder", every_layer)],
                   "decoder": _aligned_states(out, "decoder", every_layer), "scores": out.logits}
        if rows is not None:
            self.teacher_cache.put(rows, targets, inputs["attention_mask"], inputs["choice_mask"])
        return targets

    def _log_parts(self, parts: dict[str, torch.Tensor]) -> None:
        sums = getattr(self, "_part_sums", {})
        for name, value in parts.items():
            total, count = sums.get(name, (0.0, 0))
            sums[name] = (total + value.detach().float().item(), count + 1)
        self._part_sums = sums

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """Add the mean of each loss term since the last log (``loss_kd_in``, ``loss_kd_out``, ``loss_task``)."""
        if "loss" in logs:
            for name, (total, count) in getattr(self, "_part_sums", {}).items():
                logs[f"loss_{name}"] = round(total / max(count, 1), 6)
            self._part_sums = {}
        super().log(logs, *args, **kwargs)
