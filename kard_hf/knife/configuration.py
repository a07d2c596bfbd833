"""Configurations of the KNIFE multiple-choice models (teacher and student share one), one per backbone family."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import BartConfig, T5Config

# what the model returns besides the scores: states for the alignment losses, not predictions
OUTPUT_STATES = ["encoder_last_hidden_state", "decoder_last_hidden_state", "encoder_hidden_states",
                 "decoder_hidden_states", "cross_attentions"]


@strict
class KnifeT5Config(T5Config):
    """A :class:`~transformers.T5Config` plus what KNIFE adds.

    ``rationale_bottleneck``: on a teacher, whether its decoder cross-attends only to the task-input
    positions (KNIFE's bottleneck; ``False`` is the no-bottleneck control). Students read no
    rationale, so it does not matter for them.

    ``teacher_hidden_size``: set on a student distilled from a teacher of another width (T5-large →
    T5-base); the student then carries a linear map from its hidden size to the teacher's, used only
    by the alignment losses. ``None`` (same width) means no map.
    """

    model_type = "knife_t5"
    keys_to_ignore_at_inference = OUTPUT_STATES

    rationale_bottleneck: bool = True
    teacher_hidden_size: int | None = None


@strict
class KnifeBartConfig(BartConfig):
    """A :class:`~transformers.BartConfig` plus KNIFE's two fields (see :class:`KnifeT5Config`)."""

    model_type = "knife_bart"
    keys_to_ignore_at_inference = OUTPUT_STATES

    rationale_bottleneck: bool = True
    teacher_hidden_size: int | None = None
