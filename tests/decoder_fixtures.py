"""Tiny decoder-only students of today's architectures (Qwen2, Llama), built from configs, with the chat templates
of Qwen2.5-Instruct and Llama-3.2-Instruct (tests/fixtures/chat_templates, as their tokenizer_config.json ship them)
on a tokenizer trained on the fixture text plus those templates' special tokens."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

TEMPLATES = Path(__file__).parent / "fixtures" / "chat_templates"
# family -> (chat template file, its special tokens, the tokenizer's bos token or None)
FAMILIES = {
    "qwen2": ("qwen2.5-instruct.jinja", ["<|im_start|>", "<|im_end|>"], None),
    "llama": ("llama-3.2-instruct.jinja", ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                           "<|eot_id|>"], "<|begin_of_text|>"),
}


def chat_tokenizer(base, family: str, *, with_template: bool = True):
    """A copy of the fixtures' byte-level tokenizer ``base`` with ``family``'s special tokens and chat template."""
    template, specials, bos = FAMILIES[family]
    tokenizer = copy.deepcopy(base)
    tokenizer.add_tokens(specials, special_tokens=True)
    if bos:
        tokenizer.bos_token = bos
    if with_template:
        tokenizer.chat_template = (TEMPLATES / template).read_text()
    return tokenizer


def tiny_decoder(tokenizer, family: str, *, attn_implementation: str = "sdpa", seed: int = 0):
    """A random-initialised 2-layer ``family`` causal LM over ``tokenizer``'s vocabulary (grouped-query attention)."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_class, model_class = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}[family]
    torch.manual_seed(seed)
    config = config_class(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
                          attn_implementation=attn_implementation)
    return model_class(config).eval()


def save_student_base(path: Path, base_tokenizer, family: str, *, with_template: bool = True) -> Path:
    """A model folder (config, weights, tokenizer with its chat template) of a tiny ``family`` model."""
    tokenizer = chat_tokenizer(base_tokenizer, family, with_template=with_template)
    tiny_decoder(tokenizer, family).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
