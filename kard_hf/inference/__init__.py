"""Test time (METHOD.md step 5): pipelines that answer questions with a student, votes and metrics, and the
``evaluate`` / ``predict`` commands."""

from .base import Decoding, Pipeline, Prediction, Retrieved
from .metrics import Vote, accuracy, format_table, summarize, vote
from .pipeline import RETRIEVAL_MODES, KARDPipeline, load_pipeline, load_trained_student

__all__ = [
    "Pipeline", "KARDPipeline", "Decoding", "Prediction", "Retrieved", "RETRIEVAL_MODES", "load_pipeline",
    "load_trained_student", "Vote", "vote", "accuracy", "summarize", "format_table",
]
