"""Teacher rationale generation: prompts, teachers (endpoint, local model, your own), a resumable cache, filtering.

``kard-hf rationales`` (:func:`kard_hf.teacher.commands.rationales`) runs the whole pipeline; a
custom teacher subclasses :class:`Teacher` and goes through :func:`sample_rationales` and
:func:`filter_rationales` like the built-in ones (docs/teacher.md).
"""

from .base import Completion, Job, SamplingParams, Teacher
from .cache import SampleCache
from ..data.filtering import AnswerFilter, FilterCounts, NoFilter, VerifierFilter, filter_rationales, make_filter
from .openai_compat import OpenAICompatibleTeacher
from .sampling import sample_rationales
from .prompts import BUILTIN_PROMPTS, FEW_SHOT_PROMPTS, RationalePrompt, load_prompt

__all__ = [
    "Completion", "Job", "SamplingParams", "Teacher", "SampleCache", "AnswerFilter", "NoFilter", "VerifierFilter",
    "make_filter", "OpenAICompatibleTeacher", "TransformersTeacher", "FilterCounts", "filter_rationales",
    "sample_rationales", "BUILTIN_PROMPTS", "FEW_SHOT_PROMPTS", "RationalePrompt", "load_prompt",
]


def __getattr__(name):  # the local teacher imports torch: only when asked for
    if name == "TransformersTeacher":
        from .local import TransformersTeacher

        return TransformersTeacher
    raise AttributeError(name)
