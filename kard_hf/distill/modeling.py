"""Loading a student (:func:`kard_hf.lm.load_lm`) with its precision check and LoRA adapters."""

from __future__ import annotations

import logging

from ..errors import ConfigError
from ..lm import load_lm
from ..lora import get_peft_config, peft_wrapping

logger = logging.getLogger(__name__)

# LoRA targets per architecture (the attention query/value projections); others use peft's mapping.
DEFAULT_LORA_TARGETS = {
    "t5": ["q", "v"], "mt5": ["q", "v"], "umt5": ["q", "v"], "longt5": ["q", "v"],
    "opt": ["q_proj", "v_proj"], "gpt2": ["c_attn"],
}
# fp16 overflows in the T5 feed-forward layers (inf/NaN losses): bf16 or fp32 only.
NO_FP16_MODEL_TYPES = ("t5", "mt5", "umt5", "longt5")


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
    model, tokenizer = load_lm(model_args.model_name_or_path, purpose="student",
                               attn_implementation=attention_implementation(model_args.attn_implementation))
    check_precision(model.config, fp16=training_args.fp16)
    if model_args.use_lora:
        model = add_lora(model, model_args, gradient_checkpointing=bool(training_args.gradient_checkpointing))
    return model, tokenizer


def attention_implementation(requested: str | None) -> str | None:
    """``requested``, except that ``flash_attention_2`` without the flash-attn package becomes ``sdpa`` (a recipe
    asks for flash attention where it is installed and still runs where it is not)."""
    from transformers.utils import is_flash_attn_2_available

    if requested == "flash_attention_2" and not is_flash_attn_2_available():
        logger.warning("attn_implementation flash_attention_2: flash-attn is not installed (or no CUDA GPU); using sdpa")
        return "sdpa"
    return requested


def add_lora(model, model_args, *, gradient_checkpointing: bool = False):
    """Wrap ``model`` in LoRA adapters on the default (or given) target modules."""
    from peft import TaskType, get_peft_model

    task_type = TaskType.SEQ_2_SEQ_LM if model.config.is_encoder_decoder else TaskType.CAUSAL_LM
    config = get_peft_config(model_args, task_type=task_type,
                             default_targets=DEFAULT_LORA_TARGETS.get(model.config.model_type))
    if gradient_checkpointing:
        # Checkpointed blocks need an input that requires grad, or no gradient reaches the adapters.
        model.enable_input_require_grads()
    try:
        with peft_wrapping():
            return get_peft_model(model, config)
    except ValueError as e:  # no default targets for this architecture, or a target that does not exist
        raise ConfigError(f"cannot add LoRA adapters: {e}; set lora_target_modules", field="lora_target_modules") from None
