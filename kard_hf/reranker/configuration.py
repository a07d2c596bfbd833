"""Configuration of the KARD reranker: a BERT-like backbone (stored as a dict) plus a projection.

This file and ``modeling.py`` import nothing else from kard_hf (errors only inside a guarded import),
so that ``register_for_auto_class`` can ship them to the Hub as stand-alone remote code.
"""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

try:  # kard_hf installed; as Hub remote code this file stands alone
    from kard_hf.errors import ModelError
except ImportError:  # pragma: no cover
    ModelError = ValueError


def check_encoder_config(backbone: PretrainedConfig) -> None:
    """Raise ``ModelError`` unless ``backbone`` is a bidirectional encoder (BERT, RoBERTa, ELECTRA, DeBERTa...)."""
    if backbone.is_encoder_decoder or backbone.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise ModelError(f"the reranker backbone must be a bidirectional encoder such as BERT or LinkBERT; "
                         f"'{backbone.model_type}' is a decoder or an encoder-decoder")


class KardRerankerConfig(PretrainedConfig):
    """Configuration of :class:`KardRerankerModel`.

    Args:
        backbone: the encoder's config as a dict (``BertConfig(...).to_dict()``), built with ``AutoConfig``.
        projection_dim: size of the per-token embeddings the late-interaction score compares.
        normalize: L2-normalise the token embeddings (ColBERT): each query token then contributes a cosine
            similarity in [-1, 1], so scores are bounded by the query length and the default temperature
            tau2 = 1 suits them. Without it the scale follows the hidden-state norms (hundreds per token).
    """

    model_type = "kard_reranker"

    def __init__(self, backbone: dict | None = None, projection_dim: int = 128, normalize: bool = True, **kwargs):
        if backbone is not None:
            backbone = dict(backbone)
            check_encoder_config(self.backbone_config_from(backbone))
        self.backbone = backbone
        self.projection_dim = projection_dim
        self.normalize = normalize
        super().__init__(**kwargs)

    @staticmethod
    def backbone_config_from(backbone: dict) -> PretrainedConfig:
        options = {key: value for key, value in backbone.items() if key != "model_type"}
        if "model_type" not in backbone:
            raise ModelError("the reranker's backbone config has no 'model_type'")
        return AutoConfig.for_model(backbone["model_type"], **options)

    def backbone_config(self) -> PretrainedConfig:
        if self.backbone is None:
            raise ModelError("this KardRerankerConfig has no backbone config")
        return self.backbone_config_from(self.backbone)
