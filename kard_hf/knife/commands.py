"""``kard-hf train --method knife-teacher|knife``: train the rationale-bottleneck teacher, or distil a student from it.

The command registry (:data:`kard_hf.cli.COMMANDS`) builds :func:`make_knife_parser` for every ``--method knife*`` and hands the
parsed groups to :func:`train`.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoModelForMultipleChoice, AutoTokenizer

from ..parsing import make_parser
from ..data.formatting import PromptTemplate
from ..distill.spec import StudentSpec
from ..errors import ConfigError, ModelError
from ..hub import resolve_folder
from ..resume import claim_trainer_output, resolve_checkpoint
from .arguments import (KnifeDataArguments, KnifeMethodArguments, KnifeModelArguments, KnifeTeacherTrainingArguments,
                        KnifeTrainingArguments)
from .collator import KnifeCollator, KnifeDistillationCollator
from .data import load_knife_rows
from .modeling import KNIFE_MODEL_TYPES, load_knife_backbone
from .trainer import KnifeTeacherTrainer, KnifeTrainer, choice_accuracy

PROG = "kard-hf train"


def _rows(data: KnifeDataArguments, split: str, *, require_rationale: bool):
    return load_knife_rows(data.dataset, split=split, dataset_format=data.dataset_format,
                           rationale_column=data.rationale_column, require_rationale=require_rationale)


def _card_context(data: KnifeDataArguments, model: KnifeModelArguments, training, role: str, **extra) -> dict:
    name = (training.hub_model_id or Path(training.output_dir).name).split("/")[-1]
    return {"role": role, "title": f"KNIFE {role}: {name}", "base_model": model.model_name_or_path,
            "dataset": data.dataset, **extra}


def train_knife_teacher(data: KnifeDataArguments, model_args: KnifeModelArguments, training: KnifeTeacherTrainingArguments):
    """Fine-tune a T5 or BART on (question ⊕ choice ⊕ rationale) with the decoder limited to the task input."""
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    model = load_knife_backbone(model_args.model_name_or_path, role="teacher",
                           rationale_bottleneck=training.rationale_bottleneck)
    collator = KnifeCollator(tokenizer, with_rationale=True, bottleneck=training.rationale_bottleneck,
                             max_task_length=data.max_task_length, max_rationale_length=data.max_rationale_length)
    eval_rows = _rows(data, data.eval_split, require_rationale=True) if data.eval_split else None
    trainer = KnifeTeacherTrainer(
        model=model, args=training, data_collator=collator, processing_class=tokenizer,
        train_dataset=_rows(data, data.train_split, require_rationale=True), eval_dataset=eval_rows,
        compute_metrics=choice_accuracy if eval_rows is not None else None,
        card_context=_card_context(data, model_args, training, "teacher",
                                   rationale_bottleneck=training.rationale_bottleneck, teacher=None, losses=None),
        input_spec=StudentSpec("knife-teacher", PromptTemplate(), 0, data.max_task_length, 0,
                               max_rationale_length=data.max_rationale_length))
    return _run(trainer, training)


def load_teacher(name_or_path: str):
    """``(teacher, tokenizer)`` from a checkpoint of ``--method knife-teacher``; anything else is a :class:`ModelError`."""
    folder = resolve_folder(name_or_path, what="KNIFE teacher")
    model_type = AutoConfig.from_pretrained(folder).model_type
    if model_type not in KNIFE_MODEL_TYPES:
        raise ModelError(f"{name_or_path!r} is not a KNIFE teacher (model_type {model_type!r}); train one with "
                         "--method knife-teacher")
    teacher = AutoModelForMultipleChoice.from_pretrained(folder)
    return teacher, AutoTokenizer.from_pretrained(folder)


def train_knife_student(data: KnifeDataArguments, model_args: KnifeModelArguments, training: KnifeTrainingArguments):
    """Distil the teacher's hidden states into a student that reads the task input only."""
    if not model_args.teacher_model_name_or_path:
        raise ConfigError("--method knife needs --teacher_model_name_or_path (a --method knife-teacher checkpoint)",
                          field="teacher_model_name_or_path")
    teacher, teacher_tokenizer = load_teacher(model_args.teacher_model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    student = load_knife_backbone(model_args.model_name_or_path, role="student", teacher_hidden_size=teacher.config.d_model)
    if student.config.d_model == teacher.config.d_model:
        student.score.load_state_dict(teacher.score.state_dict())  # KD-Out on hidden states needs the teacher's head
    elif training.kd_out == "hidden" and not training.task_weight:
        raise ConfigError(f"the student ({student.config.d_model}) and the teacher ({teacher.config.d_model}) differ in "
                          "width, so the teacher's score head cannot be reused: set task_weight > 0 or kd_out: scores",
                          field="task_weight")
    budget = {"max_task_length": data.max_task_length, "max_rationale_length": data.max_rationale_length}
    collator = KnifeDistillationCollator(
        student=KnifeCollator(tokenizer, **budget),
        teacher=KnifeCollator(teacher_tokenizer, with_rationale=True, bottleneck=teacher.config.rationale_bottleneck,
                              **budget))
    eval_rows = _rows(data, data.eval_split, require_rationale=False) if data.eval_split else None
    losses = {name: getattr(training, name) for name in ("kd_mode", "kd_in_weight", "kd_out_weight", "kd_out",
                                                          "task_weight", "kd_distance", "kd_layers")}
    trainer = KnifeTrainer(
        model=student, teacher=teacher, args=training, data_collator=collator, processing_class=tokenizer,
        train_dataset=_rows(data, data.train_split, require_rationale=True), eval_dataset=eval_rows,
        compute_metrics=choice_accuracy if eval_rows is not None else None,
        card_context=_card_context(data, model_args, training, "student", rationale_bottleneck=True,
                                   teacher=model_args.teacher_model_name_or_path, losses=losses),
        input_spec=StudentSpec("knife", PromptTemplate(), 0, data.max_task_length, 0))
    return _run(trainer, training)


def _run(trainer, training):
    """Train, evaluate, save (and push: ``save_model`` does). ``--resume_from_checkpoint last`` resumes from
    output_dir's latest complete checkpoint."""
    trainer.train_and_save(resolve_checkpoint(training.resume_from_checkpoint, training.output_dir))
    return trainer


def make_knife_parser(method: str):
    """The parser of ``kard-hf train --method <method>``: the method picks the training-arguments class."""
    training_type = KnifeTeacherTrainingArguments if method == "knife-teacher" else KnifeTrainingArguments
    return make_parser([KnifeMethodArguments, KnifeDataArguments, KnifeModelArguments, training_type],
                       prog=f"{PROG} --method {method}")


def train(method_args: KnifeMethodArguments, data: KnifeDataArguments, model_args: KnifeModelArguments, training):
    """``kard-hf train --method knife-teacher|knife``: train the teacher, or distil a student from one."""
    claim_trainer_output(training, data.dataset, model_args.model_name_or_path, model_args.teacher_model_name_or_path)
    return (train_knife_teacher if method_args.method == "knife-teacher" else train_knife_student)(data, model_args, training)
