"""Loading a text-generating LM, seq2seq or decoder-only: the one loader of students, teachers and verifiers."""

from __future__ import annotations

from pathlib import Path

from .errors import ModelError
from .lora import peft_wrapping


def is_seq2seq(config) -> bool:
    """True for an encoder-decoder LM, False for a decoder-only one; :class:`ModelError` for anything else."""
    from transformers import (MODEL_FOR_CAUSAL_LM_MAPPING, MODEL_FOR_MASKED_LM_MAPPING,
                              MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING)

    if type(config) in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING and config.is_encoder_decoder:
        return True
    if type(config) in MODEL_FOR_CAUSAL_LM_MAPPING and not config.is_encoder_decoder:
        if type(config) in MODEL_FOR_MASKED_LM_MAPPING and not config.is_decoder:
            raise ModelError(f"a {config.model_type!r} model with is_decoder false is a bidirectional encoder (a "
                             "masked LM): as a causal student it would see the tokens it must predict; use a "
                             "decoder-only or seq2seq model")
        return False
    raise ModelError(f"a {config.model_type!r} model is neither a seq2seq LM (AutoModelForSeq2SeqLM) nor a "
                     "causal LM (AutoModelForCausalLM): it cannot generate text")


def load_lm(name_or_path: str | Path, *, purpose: str, merge_adapter: bool = False,
            attn_implementation: str | None = None):
    """``(model, tokenizer)`` of a seq2seq or causal LM (weights as saved, fp32 by default, train mode).

    A tokenizer without a pad token (GPT-2, OPT) pads with its end-of-sequence token. With
    ``merge_adapter``, a folder holding a peft LoRA adapter is loaded onto its base model and merged;
    ``attn_implementation`` is transformers' (``None``: its default).
    Anything unloadable, or not a generating LM, is a :class:`ModelError` naming ``purpose``.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    options = {"attn_implementation": attn_implementation} if attn_implementation else {}

    adapter = merge_adapter and (Path(name_or_path) / "adapter_config.json").is_file()
    try:
        if adapter:
            from peft import PeftConfig

            config = AutoConfig.from_pretrained(PeftConfig.from_pretrained(name_or_path).base_model_name_or_path)
        else:
            config = AutoConfig.from_pretrained(name_or_path)
        seq2seq = is_seq2seq(config)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        if adapter:
            from peft import AutoPeftModelForCausalLM, AutoPeftModelForSeq2SeqLM

            auto = AutoPeftModelForSeq2SeqLM if seq2seq else AutoPeftModelForCausalLM
            with peft_wrapping():
                model = auto.from_pretrained(name_or_path, **options).merge_and_unload()
        else:
            model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(name_or_path, **options)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load the {purpose} model {str(name_or_path)!r}: {str(e).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_prompted_lm(model_name_or_path: str, *, purpose: str):
    """``(model, tokenizer)`` of :func:`load_lm`, in eval mode, set up for prompting.

    Too long inputs lose their beginning (the end holds the question or the verifier's cue); a
    causal tokenizer also pads on the left, so generation continues right after the prompt.
    """
    model, tokenizer = load_lm(model_name_or_path, purpose=purpose)
    tokenizer.truncation_side = "left"
    if not model.config.is_encoder_decoder:
        tokenizer.padding_side = "left"
    return model.eval(), tokenizer
