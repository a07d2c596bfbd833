"""Student training for KARD and its baselines: arguments, knowledge-augmented collator, loss, trainer."""

from .arguments import TEMPLATES, StudentDataArguments, StudentModelArguments, StudentTrainingArguments
from .collator import METHOD_COLUMNS, METHODS, StudentDataCollator
from .losses import token_nll
from ..lm import is_seq2seq
from .modeling import add_lora, check_precision, load_student
from .trainer import StudentTrainer, check_student_dataset, collator_from_args

__all__ = [
    "METHODS", "METHOD_COLUMNS", "TEMPLATES", "StudentModelArguments", "StudentDataArguments", "StudentTrainingArguments",
    "StudentDataCollator", "token_nll", "load_student", "add_lora", "check_precision", "is_seq2seq", "StudentTrainer",
    "check_student_dataset", "collator_from_args",
]
