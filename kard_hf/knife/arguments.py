"""Argument dataclasses of ``kard-hf train --method knife-teacher|knife`` (one per concern)."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from ..data.loaders import FORMATS
from ..errors import ConfigError
from .losses import DISTANCES, KD_MODES, KnifeLossWeights

KNIFE_METHODS = ("knife-teacher", "knife")
DATASET_FORMATS = ("processed",) + FORMATS


@dataclass
class KnifeMethodArguments:
    method: str = field(metadata={"help": "knife-teacher (train the rationale-bottleneck teacher) or knife (distil "
                                          "a student from it)."})

    def __post_init__(self):
        if self.method not in KNIFE_METHODS:
            raise ConfigError(f"method must be one of {', '.join(KNIFE_METHODS)}, got {self.method!r}", field="method")


@dataclass
class KnifeDataArguments:
    dataset: str = field(metadata={"help": "Processed DatasetDict folder or Hub id (kard-hf augment), or a question "
                                           "file with rationales in --rationale_column."})
    dataset_format: str = field(default="processed", metadata={
        "help": f"'processed', or a question-file format of kard_hf.data.load_mcq: {', '.join(FORMATS)}."})
    rationale_column: str | None = field(default=None, metadata={
        "help": "For question files: the column holding free-text rationales (StrategyQA: facts)."})
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str | None = field(default=None, metadata={"help": "Split to report accuracy on (none by default)."})
    max_task_length: int = field(default=256, metadata={"help": "Token budget of one (question, choice) input."})
    max_rationale_length: int = field(default=256, metadata={"help": "Token budget of the teacher's rationale."})

    def __post_init__(self):
        if self.dataset_format not in DATASET_FORMATS:
            raise ConfigError(f"dataset_format must be one of {', '.join(DATASET_FORMATS)}, got {self.dataset_format!r}",
                              field="dataset_format")
        for name in ("max_task_length", "max_rationale_length"):
            if getattr(self, name) < 2:
                raise ConfigError(f"{name} must be at least 2, got {getattr(self, name)}", field=name)


@dataclass
class KnifeModelArguments:
    model_name_or_path: str = field(metadata={"help": "T5- or BART-family checkpoint to start from (teacher or student backbone)."})
    teacher_model_name_or_path: str | None = field(default=None, metadata={
        "help": "The trained KNIFE teacher (folder or Hub id); required by --method knife."})


def _refuse_fp16(args: TrainingArguments) -> None:
    if args.fp16:
        raise ConfigError("fp16 overflows in T5; use bf16 (or fp32)", field="fp16")


@dataclass
class KnifeTeacherTrainingArguments(TrainingArguments):
    """TrainingArguments of the KNIFE teacher."""

    rationale_bottleneck: bool = field(default=True, metadata={
        "help": "Let the decoder see only the task-input positions (KNIFE). False trains the no-bottleneck control."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "The collator reads the raw text columns."})

    def __post_init__(self):
        _refuse_fp16(self)
        super().__post_init__()


@dataclass
class KnifeTrainingArguments(TrainingArguments):
    """TrainingArguments of the KNIFE student: how the alignment losses are weighted and switched."""

    kd_mode: str = field(default="both", metadata={"help": f"Alignment terms used: {', '.join(KD_MODES)} "
                                                           "(both, KD-In only, KD-Out only)."})
    kd_in_weight: float = field(default=1.0, metadata={"help": "Weight of KD-In (encoder states, task-input positions)."})
    kd_out_weight: float = field(default=1.0, metadata={"help": "Weight of KD-Out."})
    kd_out: str = field(default="hidden", metadata={
        "help": "KD-Out target: 'hidden' (the decoder state the score is read from) or 'scores' (the choice logits)."})
    task_weight: float = field(default=0.0, metadata={"help": "Weight of the cross-entropy on the gold choice (0: off)."})
    kd_distance: str = field(default="mse", metadata={"help": f"Distance between states: {', '.join(DISTANCES)}."})
    kd_layers: str = field(default="last", metadata={
        "help": "'last': align the final states; 'all': every block's output (teacher and student of equal depth)."})
    cache_teacher_states: bool = field(default=False, metadata={
        "help": "Keep the teacher's targets of every training row in memory after the first epoch instead of running "
                "the teacher on every step (faster from epoch 2; memory grows with rows x choices x tokens x hidden)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "The collator reads the raw text columns."})

    def __post_init__(self):
        _refuse_fp16(self)
        for name in ("kd_in_weight", "kd_out_weight", "task_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative", field=name)
        try:
            weights = self.loss_weights()
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if not (weights.uses_kd_in or weights.uses_kd_out or self.task_weight):
            raise ConfigError("every loss term is off: check kd_mode and the weights", field="kd_mode")
        super().__post_init__()

    def loss_weights(self) -> KnifeLossWeights:
        return KnifeLossWeights(kd_in_weight=self.kd_in_weight, kd_out_weight=self.kd_out_weight,
                                task_weight=self.task_weight, mode=self.kd_mode, kd_out=self.kd_out,
                                distance=self.kd_distance, layers=self.kd_layers)
