"""The KNIFE model: a T5 encoder-decoder that scores (question, choice) pairs (METHOD.md §2).

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
from transformers import AutoConfig
from transformers.modeling_outputs import ModelOutput
from transformers.models.t5.modeling_t5 import T5PreTrainedModel, T5Stack

from ..errors import ModelError
from .configuration import KnifeT5Config

# Encoder-decoder families whose checkpoints load into KnifeT5ForMultipleChoice (same module names).
T5_FAMILY = ("t5", "mt5", KnifeT5Config.model_type)


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


class KnifeT5ForMultipleChoice(T5PreTrainedModel):
    """T5 encoder + one decoder step + a linear score head; logits are (B, C) choice scores.

    The module names (``shared``, ``encoder``, ``decoder``) are T5's, so
    :meth:`from_t5_pretrained` loads any T5 checkpoint's weights (its LM head is dropped; the score
    head starts new).
    """

    config_class = KnifeT5Config
    _keys_to_ignore_on_load_unexpected = [r"lm_head\.weight",
                                          r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight"]
    _tied_weights_keys = {"encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight"}

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
        self.score = nn.Linear(config.d_model, 1)
        if config.teacher_hidden_size is not None and config.teacher_hidden_size != config.d_model:
            self.teacher_projection = nn.Linear(config.d_model, config.teacher_hidden_size, bias=False)
        self.post_init()

    @classmethod
    def from_t5_pretrained(cls, name_or_path: str, **config_overrides) -> "KnifeT5ForMultipleChoice":
        """Load a T5-family checkpoint (a T5 or a KNIFE model) as the backbone; ``config_overrides`` go to the config."""
        base = AutoConfig.from_pretrained(name_or_path).to_dict()
        base.pop("model_type", None)
        config = KnifeT5Config(**{**base, **config_overrides})
        return cls.from_pretrained(name_or_path, config=config)

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, new_embeddings):
        self.shared = new_embeddings
        self.encoder.set_input_embeddings(new_embeddings)
        self.decoder.set_input_embeddings(new_embeddings)

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if module is self:
            nn.init.normal_(self.shared.weight, mean=0.0, std=self.config.initializer_factor)
        elif module is getattr(self, "score", None):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.initializer_factor * self.config.d_model ** -0.5)
            nn.init.zeros_(module.bias)

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


def load_t5_family(name_or_path: str, *, role: str, **config_overrides) -> KnifeT5ForMultipleChoice:
    """Load a T5-family checkpoint as a KNIFE model, or raise :class:`ModelError` saying why it cannot be one."""
    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load the {role} model {name_or_path!r}: {e}") from None
    if not getattr(config, "is_encoder_decoder", False) or config.model_type not in T5_FAMILY:
        raise ModelError(f"the KNIFE {role} must be a T5-family encoder-decoder model ({', '.join(T5_FAMILY)}); "
                         f"{name_or_path!r} is model_type {config.model_type!r}")
    return KnifeT5ForMultipleChoice.from_t5_pretrained(name_or_path, **config_overrides)
