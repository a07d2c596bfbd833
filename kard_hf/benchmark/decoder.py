"""The quickstart's decoder-only student: a small random-initialised Llama with a chat template.

Today's small students are decoder-only instruct models (Qwen2.5, Llama 3.2): their prompt is a user turn
of their chat template and their rationale the assistant turn (docs/train.md). This student exercises
that path on the benchmark: a Llama architecture built from a config, a tokenizer trained on the
benchmark's text (as the BART student's is) with ChatML's two special tokens and a ChatML template (no
default system turn, so no token is spent on one), and a short pretraining, before RD and KARD train
from it. (Llama rather than Qwen2: transformers loads a ``qwen2`` folder's tokenizer as Qwen2's byte-level
one whatever its files say, which split this student's words into letters; a ``llama`` folder's tokenizer loads
as saved.)

The pretraining is the decoder-only form of BART's denoising (student.py): the user turn holds the
text with tokens deleted, the assistant turn the whole text, the loss covers the assistant turn. It
teaches what reading needs, copying a name from the prompt into the answer, in the chat layout the
students are then trained in.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHAT_TEMPLATE = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
                 "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<|im_start|>", "<|im_end|>"]


@dataclass(frozen=True)
class DecoderShape:
    """Sizes of the random-initialised decoder-only student and its tokenizer."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab_size: int


def make_decoder_student(folder: Path, texts: list[str], shape: DecoderShape, seed: int) -> None:
    """A random-initialised Llama and a ChatML tokenizer trained on ``texts``, saved as a model folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from .vocab import train_tokenizer

    turns = [CHAT_TEMPLATE.replace("{{ message['role'] }}", role) for role in ("user", "assistant")]
    tokenizer = train_tokenizer(texts + turns, "t5", shape.vocab_size)  # the roles and "\n" are in the vocabulary
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS})
    tokenizer.eos_token, tokenizer.chat_template = "<|im_end|>", CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=shape.hidden, intermediate_size=shape.ffn,
                         num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                         num_key_value_heads=shape.kv_heads, max_position_embeddings=512, tie_word_embeddings=True,
                         bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


class ChatDenoisingCollator:
    """Batches for decoder-only denoising: user turn = the text with each token deleted with probability
    ``noise``, assistant turn = the whole text; labels cover the assistant turn and its end token only."""

    def __init__(self, tokenizer, noise: float, seed: int):
        from ..distill.chat import ChatFormat

        chat = ChatFormat.from_tokenizer(tokenizer)
        self.prefix, self.separator, self.end = (tokenizer(text, add_special_tokens=False)["input_ids"]
                                                 for text in (chat.prefix, chat.separator, chat.end))
        self.pad, self.noise, self.rng = tokenizer.pad_token_id, noise, random.Random(seed)

    def __call__(self, rows: list[dict]) -> dict:
        import torch

        sequences, labels = [], []
        for row in rows:
            text = row["input_ids"]
            noisy = [t for t in text if self.rng.random() >= self.noise]
            prompt, target = self.prefix + noisy + self.separator, text + self.end
            sequences.append(prompt + target)
            labels.append([-100] * len(prompt) + target)
        width = max(map(len, sequences))
        pad = lambda seq, value: seq + [value] * (width - len(seq))  # noqa: E731 (right padding, as for training)
        return {"input_ids": torch.tensor([pad(s, self.pad) for s in sequences]),
                "attention_mask": torch.tensor([pad([1] * len(s), 0) for s in sequences]),
                "labels": torch.tensor([pad(y, -100) for y in labels])}
