"""LoRA options shared by students and the reranker, and the peft config they make (as TRL's ModelConfig)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

from .errors import ConfigError


@dataclass(kw_only=True)
class LoraArguments:
    """Whether to train LoRA adapters (peft) instead of all weights, and their shape.

    Model-argument dataclasses inherit it (and may change its defaults), so a recipe writes
    ``use_lora: true`` and ``lora_r: 16`` the same way for every model.
    """

    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: list[str] | None = field(
        default=None, metadata={"help": "Modules to adapt; default per architecture (T5: q v; OPT: q_proj v_proj; "
                                        "GPT-2: c_attn; BERT rerankers: query value; else peft's own mapping)."})

    def __post_init__(self):
        if self.lora_r < 1 or self.lora_alpha < 1:
            raise ConfigError("lora_r and lora_alpha must be positive", field="lora_r")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError("lora_dropout must be in [0, 1)", field="lora_dropout")


def get_peft_config(args: LoraArguments, *, task_type=None, default_targets: list[str] | None = None,
                    modules_to_save: list[str] | None = None):
    """The ``peft.LoraConfig`` of ``args``; ``default_targets`` apply when no ``lora_target_modules`` are given."""
    from peft import LoraConfig

    targets = args.lora_target_modules or default_targets
    return LoraConfig(task_type=task_type, r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                      target_modules=list(targets) if targets else None, modules_to_save=modules_to_save)


@contextmanager
def peft_wrapping():
    """Around peft's wrapping of a model (``get_peft_model``, ``AutoPeftModel*.from_pretrained``): peft reads the
    model's ``is_gradient_checkpointing``, which transformers deprecated (a FutureWarning on every call) in favour
    of ``is_activation_checkpointing``; kard_hf's own code reads neither. Only that warning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield
