"""The KNIFE model: an encoder-decoder (T5, as in the paper, or BART) that scores (question, choice) pairs
(METHOD.md §2).

The encoder reads each pair (the teacher: pair ⊕ rationale). The decoder runs one step from the
decoder start token and cross-attends to the encoder states; a linear head on that step's final
hidden state gives the choice's score, and a softmax over a question's choices gives the answer.
Passing ``bottleneck_mask`` (1 on task-input positions) restricts the decoder's cross-attention to
those positions: the teacher's rationale can reach the prediction only through the task-input
token states, which is what the student is then aligned to.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig, AutoModel, AutoModelForMultipleChoice
from transformers.modeling_outputs import ModelOutput
from transformers.models.bart.modeling_bart import (BartDecoder, BartEncoder, BartPreTrainedModel,
                                                    BartScaledWordEmbedding)
from transformers.models.t5.modeling_t5 import T5PreTrainedModel, T5Stack

from ..errors import ModelError
from .configuration import KnifeBartConfig, KnifeT5Config


@dataclass
class KnifeOutput(ModelOutput):
    """Scores and the states the alignment losses read.

    Shapes use B questions, C choices, L tokens, d the hidden size. ``encoder_last_hidden_state``:
    (B, C, L, d); ``decoder_last_hidden_state``: (B, C, d), the step the score is read from;
    ``encoder_hidden_states`` / ``decoder_hidden_states`` (with ``output_hidden_states``): per-block
    outputs, same shapes; ``cross_attentions`` (with ``output_attentions``): per decoder block,
    (B, C, heads, 1, L).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    decoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: tuple[torch.Tensor, ...] | None = None
    decoder_hidden_states: tuple[torch.Tensor, ...] | None = None
    cross_attentions: tuple[torch.Tensor, ...] | None = None


class KnifeForMultipleChoice:
    """What every KNIFE model shares: ``shared``, ``encoder`` and ``decoder`` modules of its family (the names
    of its checkpoints, so :meth:`from_backbone` loads their weights; the LM head is dropped and the score head
    starts new), a linear ``score`` head, and the forward pass. Logits are (B, C) choice scores."""

    _tied_weights_keys = {"encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight"}

    def _add_knife_heads(self, config) -> None:
        self.score = nn.Linear(config.d_model, 1)
        if config.teacher_hidden_size is not None and config.teacher_hidden_size != config.d_model:
            self.teacher_projection = nn.Linear(config.d_model, config.teacher_hidden_size, bias=False)

    @classmethod
    def from_backbone(cls, name_or_path: str, **config_overrides):
        """Load a checkpoint of the family (a plain model or a KNIFE model) as the backbone; ``config_overrides``
        go to the config."""
        base = AutoConfig.from_pretrained(name_or_path).to_dict()
        base.pop("model_type", None)
        config = cls.config_class(**{**base, **config_overrides})
        return cls.from_pretrained(name_or_path, config=config)

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, new_embeddings):
        self.shared = new_embeddings
        self.encoder.embed_tokens = new_embeddings
        self.decoder.embed_tokens = new_embeddings

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, bottleneck_mask: torch.Tensor | None = None,
                choice_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_hidden_states: bool = False, output_attentions: bool = False) -> KnifeOutput:
        """Score every (question, choice) pair.

        ``input_ids``/``attention_mask``/``bottleneck_mask``: (B, C, L); ``bottleneck_mask`` marks the
        positions the decoder may attend to (default: all non-padding ones). ``choice_mask`` (B, C):
        False for padding choices of questions with fewer options. ``labels`` (B,): gold choice index;
        the loss is the cross-entropy of the softmax over choices.
        """
        batch, choices, length = input_ids.shape
        flat = lambda t: t.reshape(batch * choices, *t.shape[2:])  # noqa: E731
        encoded = self.encoder(input_ids=flat(input_ids), attention_mask=flat(attention_mask),
                               output_hidden_states=output_hidden_states)
        context_mask = flat(bottleneck_mask if bottleneck_mask is not None else attention_mask)
        start = torch.full((batch * choices, 1), self.config.decoder_start_token_id, dtype=torch.long,
                           device=input_ids.device)
        decoded = self.decoder(input_ids=start, encoder_hidden_states=encoded.last_hidden_state,
                               encoder_attention_mask=context_mask, output_hidden_states=output_hidden_states,
                               output_attentions=output_attentions)
        step = decoded.last_hidden_state[:, 0]
        logits = self.score(step).view(batch, choices)
        if choice_mask is not None:
            logits = logits.masked_fill(~choice_mask.bool(), torch.finfo(logits.dtype).min)
        unflat = lambda t: t.reshape(batch, choices, *t.shape[1:])  # noqa: E731
        return KnifeOutput(
            loss=None if labels is None else F.cross_entropy(logits, labels),
            logits=logits,
            encoder_last_hidden_state=unflat(encoded.last_hidden_state),
            decoder_last_hidden_state=unflat(step),
            encoder_hidden_states=tuple(map(unflat, encoded.hidden_states)) if output_hidden_states else None,
            decoder_hidden_states=tuple(unflat(h[:, 0]) for h in decoded.hidden_states) if output_hidden_states else None,
            cross_attentions=tuple(map(unflat, decoded.cross_attentions)) if output_attentions else None,
        )


class KnifeT5ForMultipleChoice(KnifeForMultipleChoice, T5PreTrainedModel):
    """T5 encoder + one decoder step + a linear score head (the paper's model)."""

    config_class = KnifeT5Config
    _keys_to_ignore_on_load_unexpected = [r"lm_head\.weight",
                                          r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight"]

    def __init__(self, config: KnifeT5Config):
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        encoder_config = copy.deepcopy(config)
        encoder_config.is_decoder, encoder_config.use_cache = False, False
        self.encoder = T5Stack(encoder_config)
        decoder_config = copy.deepcopy(config)
        decoder_config.is_decoder, decoder_config.use_cache = True, False
        decoder_config.num_layers = config.num_decoder_layers
        self.decoder = T5Stack(decoder_config)
        self._add_knife_heads(config)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if module is self:
            nn.init.normal_(self.shared.weight, mean=0.0, std=self.config.initializer_factor)
        elif module is getattr(self, "score", None):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_factor * self.config.d_model ** -0.5)
            nn.init.zeros_(module.bias)


class KnifeBartForMultipleChoice(KnifeForMultipleChoice, BartPreTrainedModel):
    """BART encoder + one decoder step + a linear score head: KNIFE on a BART backbone (BART's decoder
    cross-attends to the encoder as T5's does, so the bottleneck is the same mask). The modules are
    BartModel's, so a BART checkpoint (with or without its LM head) loads into it."""

    config_class = KnifeBartConfig
    _keys_to_ignore_on_load_unexpected = [r"lm_head\.weight", r"final_logits_bias"]

    def __init__(self, config: KnifeBartConfig):
        super().__init__(config)
        embed_scale = config.d_model ** 0.5 if config.scale_embedding else 1.0
        self.shared = BartScaledWordEmbedding(config.vocab_size, config.d_model, config.pad_token_id,
                                              embed_scale=embed_scale)
        self.encoder = BartEncoder(config)
        self.decoder = BartDecoder(config)
        self._add_knife_heads(config)
        self.post_init()


# model_type of a checkpoint -> the KNIFE class it loads into
FAMILIES = {"t5": KnifeT5ForMultipleChoice, "mt5": KnifeT5ForMultipleChoice,
            KnifeT5Config.model_type: KnifeT5ForMultipleChoice,
            "bart": KnifeBartForMultipleChoice, KnifeBartConfig.model_type: KnifeBartForMultipleChoice}
KNIFE_MODEL_TYPES = (KnifeT5Config.model_type, KnifeBartConfig.model_type)


def _is_decoder_only(config) -> bool:
    from ..lm import is_seq2seq

    try:
        return not is_seq2seq(config)
    except ModelError:  # an encoder (BERT) or no LM at all: the general message below
        return False


def load_knife_backbone(name_or_path: str, *, role: str, **config_overrides) -> KnifeForMultipleChoice:
    """Load a T5- or BART-family checkpoint as a KNIFE model, or raise :class:`ModelError` saying why it cannot be one."""
    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load the {role} model {name_or_path!r}: {e}") from None
    if config.model_type not in FAMILIES and _is_decoder_only(config):
        raise ModelError(f"the KNIFE {role} {name_or_path!r} is a decoder-only model ({config.model_type}); KNIFE needs "
                         "a T5- or BART-family encoder-decoder model, whose encoder states carry the rationale through "
                         "its bottleneck (decoder-only students train with --method kard, rd or ft)")
    if not getattr(config, "is_encoder_decoder", False) or config.model_type not in FAMILIES:
        raise ModelError(f"the KNIFE {role} must be a T5- or BART-family encoder-decoder model "
                         f"({', '.join(FAMILIES)}); {name_or_path!r} is model_type {config.model_type!r}")
    return FAMILIES[config.model_type].from_backbone(name_or_path, **config_overrides)


# AutoConfig, AutoModel and AutoModelForMultipleChoice learn the KNIFE model types where the models are defined, so
# importing them is what lets a saved KNIFE folder load by its model_type.
for _config, _model in ((KnifeT5Config, KnifeT5ForMultipleChoice), (KnifeBartConfig, KnifeBartForMultipleChoice)):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
    AutoModelForMultipleChoice.register(_config, _model, exist_ok=True)
