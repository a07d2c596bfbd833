"""KNIFE (Chan et al., 2022): a teacher that reads free-text rationales through a bottleneck, and a student
aligned to its hidden states (METHOD.md §2, docs/knife.md)."""

from .arguments import KnifeTeacherTrainingArguments, KnifeTrainingArguments
from .collator import KnifeCollator, KnifeDistillationCollator
from .configuration import KnifeBartConfig, KnifeT5Config
from .data import load_knife_rows
from .losses import KnifeLossWeights, knife_loss, masked_distance
from .modeling import (KnifeBartForMultipleChoice, KnifeForMultipleChoice, KnifeOutput, KnifeT5ForMultipleChoice,
                       load_knife_backbone)
from .predict import load_knife_model, predict_choices
from .trainer import KnifeTeacherTrainer, KnifeTrainer, choice_accuracy

__all__ = [
    "KnifeT5Config", "KnifeT5ForMultipleChoice", "KnifeBartConfig", "KnifeBartForMultipleChoice", "KnifeForMultipleChoice",
    "KnifeOutput", "load_knife_backbone", "KnifeCollator",
    "KnifeDistillationCollator", "load_knife_rows", "KnifeLossWeights", "knife_loss", "masked_distance",
    "KnifeTeacherTrainingArguments", "KnifeTrainingArguments", "KnifeTeacherTrainer", "KnifeTrainer", "choice_accuracy", "load_knife_model", "predict_choices",
]
