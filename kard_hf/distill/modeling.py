"""Loading a student: seq2seq or decoder-only, precision checks, LoRA adapters."""

from __future__ import annotations

from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer,
                          MODEL_FOR_CAUSAL_LM_MAPPING, MODEL_FOR_MASKED_LM_MAPPING,
                          MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING)

from ..errors import ConfigError, ModelError

# LoRA targets per architecture (the attention query/value projections); others use peft's mapping.
DEFAULT_LORA_TARGETS = {
    "t5": ["q", "v"], "mt5": ["q", "v"], "umt5": ["q", "v"], "longt5": ["q", "v"],
    "opt": ["q_proj", "v_proj"], "gpt2": ["c_attn"],
}
# fp16 overflows in the T5 feed-forward layers (inf/NaN losses): bf16 or fp32 only.
NO_FP16_MODEL_TYPES = ("t5", "mt5", "umt5", "longt5")


def is_seq2seq(config) -> bool:
    """True for an encoder-decoder student, False for a decoder-only one; :class:`ModelError` for anything else."""
    if type(config) in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING and config.is_encoder_decoder:
        return True
    if type(config) in MODEL_FOR_CAUSAL_LM_MAPPING and not config.is_encoder_decoder:
        if type(config) in MODEL_FOR_MASKED_LM_MAPPING and not config.is_decoder:
            raise ModelError(f"a {config.model_type!r} model with is_decoder false is a bidirectional encoder (a "
                             "masked LM): as a causal student it would see the tokens it must predict; use a "
                             "decoder-only or seq2seq model")
        return False
    raise ModelError(f"a {config.model_type!r} model is neither a seq2seq LM (AutoModelForSeq2SeqLM) nor a "
                     "causal LM (AutoModelForCausalLM); a student must generate text")


def check_precision(config, *, fp16: bool) -> None:
    """Refuse fp16 for the T5 family, whose activations overflow in half precision."""
    if fp16 and config.model_type in NO_FP16_MODEL_TYPES:
        raise ConfigError(f"fp16 is not supported for {config.model_type} students (activations overflow to inf/NaN); "
                          "use --bf16 true on a GPU that has it (compute capability >= 8), or fp32", field="fp16")


def load_student(model_args, training_args):
    """``(model, tokenizer)`` for :class:`StudentModelArguments` and :class:`StudentTrainingArguments`.

    Weights load in fp32 (mixed precision is the Trainer's job); with ``use_lora`` the model is
    wrapped in a peft ``PeftModel``, with input gradients enabled when gradient checkpointing is on.
    """
    path = model_args.model_name_or_path
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load the model config of {path}: {e}") from None
    seq2seq = is_seq2seq(config)
    check_precision(config, fp16=training_args.fp16)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:  # GPT-2, OPT-style tokenizers without a pad token
        tokenizer.pad_token = tokenizer.eos_token
    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(path)
    if model_args.use_lora:
        model = add_lora(model, model_args, gradient_checkpointing=bool(training_args.gradient_checkpointing))
    return model, tokenizer


def add_lora(model, model_args, *, gradient_checkpointing: bool = False):
    """Wrap ``model`` in LoRA adapters on the default (or given) target modules."""
    from peft import LoraConfig, TaskType, get_peft_model

    seq2seq = model.config.is_encoder_decoder
    targets = model_args.lora_target_modules or DEFAULT_LORA_TARGETS.get(model.config.model_type)
    config = LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM, r=model_args.lora_r,
                        lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout,
                        target_modules=targets)
    if gradient_checkpointing:
        # Checkpointed blocks need an input that requires grad, or no gradient reaches the adapters.
        model.enable_input_require_grads()
    try:
        return get_peft_model(model, config)
    except ValueError as e:  # no default targets for this architecture, or a target that does not exist
        raise ConfigError(f"cannot add LoRA adapters: {e}; set lora_target_modules", field="lora_target_modules") from None
