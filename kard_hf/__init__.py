"""kard_hf: knowledge-augmented reasoning distillation (KARD) and KNIFE for Hugging Face transformers.

The public classes and functions are exported here and imported on first use (as transformers and TRL
do), so ``import kard_hf`` is fast and needs neither torch nor any optional dependency::

    from kard_hf import KARDPipeline, StudentTrainer, StudentTrainingArguments
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .version import __version__

# public name -> the module that defines it
_EXPORTS = {
    **dict.fromkeys(("MCQExample", "PromptTemplate", "load_mcq"), "kard_hf.data"),
    **dict.fromkeys(("StudentTrainer", "StudentTrainingArguments", "StudentModelArguments", "StudentDataArguments",
                     "StudentDataCollator", "load_student"), "kard_hf.distill"),
    **dict.fromkeys(("LoraArguments", "get_peft_config"), "kard_hf.lora"),
    "load_lm": "kard_hf.lm",
    **dict.fromkeys(("PipelineArguments", "run_pipeline"), "kard_hf.chain"),
    **dict.fromkeys(("KnowledgeBase", "BM25Parameters"), "kard_hf.knowledge"),
    **dict.fromkeys(("KardRerankerConfig", "KardRerankerModel", "Reranker", "RerankerCollator", "RerankerTrainer",
                     "RerankerTrainingArguments"), "kard_hf.reranker"),
    **dict.fromkeys(("Pipeline", "KARDPipeline", "Decoding", "Prediction", "load_pipeline"), "kard_hf.inference"),
    **dict.fromkeys(("KnifeT5Config", "KnifeT5ForMultipleChoice", "KnifeBartConfig", "KnifeBartForMultipleChoice",
                     "KnifeCollator", "KnifeDistillationCollator",
                     "KnifeTeacherTrainer", "KnifeTrainer", "KnifeTeacherTrainingArguments", "KnifeTrainingArguments"),
                    "kard_hf.knife"),
    "KnifePipeline": "kard_hf.inference.knife",
    **dict.fromkeys(("Teacher", "OpenAICompatibleTeacher", "TransformersTeacher", "sample_rationales"),
                    "kard_hf.teacher"),
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kard_hf' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on first use
    from .data import MCQExample, PromptTemplate, load_mcq
    from .distill import (StudentDataArguments, StudentDataCollator, StudentModelArguments, StudentTrainer,
                          StudentTrainingArguments, load_student)
    from .inference import Decoding, KARDPipeline, Pipeline, Prediction, load_pipeline
    from .inference.knife import KnifePipeline
    from .knife import (KnifeBartConfig, KnifeBartForMultipleChoice, KnifeCollator, KnifeDistillationCollator,
                        KnifeT5Config, KnifeT5ForMultipleChoice, KnifeTeacherTrainer, KnifeTeacherTrainingArguments, KnifeTrainer,
                        KnifeTrainingArguments)
    from .knowledge import BM25Parameters, KnowledgeBase
    from .lm import load_lm
    from .lora import LoraArguments, get_peft_config
    from .chain import PipelineArguments, run_pipeline
    from .reranker import (KardRerankerConfig, KardRerankerModel, Reranker, RerankerCollator, RerankerTrainer,
                           RerankerTrainingArguments)
    from .teacher import OpenAICompatibleTeacher, Teacher, TransformersTeacher, sample_rationales
