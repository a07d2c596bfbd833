"""The KARD reranker: one shared BERT-like encoder, a linear projection and ColBERT late interaction.

score(question, passage) = sum over the question's tokens of the largest dot product with any of the
passage's tokens; padded positions are masked on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration import KardRerankerConfig, check_encoder_config


def late_interaction_scores(query: torch.Tensor, query_mask: torch.Tensor, passages: torch.Tensor,
                            passage_mask: torch.Tensor) -> torch.Tensor:
    """MaxSim scores ``[B, C]`` of ``query [B, Lq, D]`` against ``passages [B, C, Lp, D]``.

    Masks are ``[B, Lq]`` and ``[B, C, Lp]`` (1 = real token); every passage needs at least one real token.
    """
    similarity = torch.einsum("bqd,bcpd->bcqp", query, passages)
    similarity = similarity.masked_fill(~passage_mask.bool()[:, :, None, :], torch.finfo(similarity.dtype).min)
    best = similarity.max(dim=-1).values
    return best.masked_fill(~query_mask.bool()[:, None, :], 0.0).sum(dim=-1)


@dataclass
class RerankerOutput(ModelOutput):
    """``scores [B, C]``: one score per (question, candidate); padded candidates hold the dtype's minimum."""

    scores: torch.Tensor | None = None


class KardRerankerModel(PreTrainedModel):
    """ColBERT-style reranker. Build with :meth:`from_backbone` to start from pretrained encoder weights."""

    config_class = KardRerankerConfig
    base_model_prefix = "reranker"
    supports_gradient_checkpointing = True
    accepts_loss_kwargs = False  # the loss lives in RerankerTrainer, averaged per batch

    def __init__(self, config: KardRerankerConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.backbone_config())
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None  # unused: late interaction reads every token
        self.projection = nn.Linear(self.encoder.config.hidden_size, config.projection_dim, bias=False)
        self.post_init()

    @classmethod
    def from_backbone(cls, path_or_id: str, *, projection_dim: int = 128, normalize: bool = True, **kwargs):
        """A reranker whose encoder starts from the pretrained weights at ``path_or_id`` (folder or Hub id).

        The projection is freshly initialised. ``kwargs`` go to ``AutoModel.from_pretrained``.
        """
        backbone = AutoModel.from_pretrained(path_or_id, **kwargs)
        check_encoder_config(backbone.config)
        model = cls(KardRerankerConfig(backbone=backbone.config.to_dict(), projection_dim=projection_dim,
                                       normalize=normalize))
        weights = {name: value for name, value in backbone.state_dict().items() if not name.startswith("pooler.")}
        model.encoder.load_state_dict(weights)
        return model

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Projected token embeddings ``[N, L, projection_dim]`` (L2-normalised if ``config.normalize``)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        embeddings = self.projection(hidden)
        if self.config.normalize:
            embeddings = F.normalize(embeddings, dim=-1)
        return embeddings

    def forward(self, query_input_ids: torch.Tensor, query_attention_mask: torch.Tensor,
                passage_input_ids: torch.Tensor, passage_attention_mask: torch.Tensor,
                candidate_index: torch.Tensor, freeze_passages: bool = False) -> RerankerOutput:
        """Score each question against its candidates.

        Passages are encoded once per batch (``[N, Lp]``); ``candidate_index [B, C]`` says which of them are
        question b's candidates (-1 = padding). ``freeze_passages`` encodes them under ``no_grad``: with the
        shared encoder, only the question side then learns.
        """
        query = self.encode(query_input_ids, query_attention_mask)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not freeze_passages):
            passages = self.encode(passage_input_ids, passage_attention_mask)
        valid = candidate_index >= 0
        index = candidate_index.clamp(min=0)
        scores = late_interaction_scores(query, query_attention_mask, passages[index], passage_attention_mask[index])
        return RerankerOutput(scores=scores.masked_fill(~valid, torch.finfo(scores.dtype).min))


# AutoConfig and AutoModel learn kard_reranker where the model is defined (no trust_remote_code for a saved folder).
AutoConfig.register(KardRerankerConfig.model_type, KardRerankerConfig, exist_ok=True)
AutoModel.register(KardRerankerConfig, KardRerankerModel, exist_ok=True)
