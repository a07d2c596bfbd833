"""Multiple-choice data: the example schema, loaders, formatting and rationale import."""

from .formatting import PromptTemplate, extract_answer, format_question, format_target
from .loaders import ColumnMapping, examples_to_dataset, load_dataset_split, load_mcq, load_mcq_splits
from .rationales import attach_rationales, match_rationales, read_rationales
from .schema import LETTERS, MCQExample, validate_example

__all__ = [
    "LETTERS", "MCQExample", "validate_example", "ColumnMapping", "load_mcq", "load_mcq_splits", "load_dataset_split",
    "examples_to_dataset", "format_question", "format_target", "PromptTemplate", "extract_answer",
    "attach_rationales", "match_rationales", "read_rationales",
]
