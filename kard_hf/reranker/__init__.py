"""The KARD reranker: a ColBERT-style PreTrainedModel trained to score passages given the question the way
BM25 scores them given the teacher's rationale.

Importing this package registers ``model_type="kard_reranker"`` with ``AutoConfig`` and ``AutoModel``
(at the bottom of :mod:`.modeling`), so ``AutoModel.from_pretrained(folder)`` works without ``trust_remote_code``.
"""

from .candidates import CandidateSampler, build_candidates
from .collator import RerankerCollator
from .configuration import KardRerankerConfig
from .losses import DEFAULT_TAU1, DEFAULT_TAU2, BM25DistillationLoss, bm25_distillation_loss
from .metrics import evaluate_reranker, ranking_metrics
from .modeling import KardRerankerModel, RerankerOutput, late_interaction_scores
from .rerank import Reranker, RerankResults
from .trainer import RerankerTrainer, RerankerTrainingArguments, apply_lora

__all__ = [
    "KardRerankerConfig", "KardRerankerModel", "RerankerOutput", "late_interaction_scores",
    "bm25_distillation_loss", "BM25DistillationLoss", "DEFAULT_TAU1", "DEFAULT_TAU2", "RerankerCollator",
    "Reranker", "RerankResults", "ranking_metrics", "evaluate_reranker", "build_candidates", "CandidateSampler",
    "RerankerTrainer", "RerankerTrainingArguments", "apply_lora",
]
