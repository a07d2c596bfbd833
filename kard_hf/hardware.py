"""Trainer defaults that follow the hardware: what a GPU offers is switched on, a CPU run stays as it was.

:class:`HardwareDefaults` is mixed into kard_hf's training-argument dataclasses (student, reranker). Its
fields default to ``None`` ("decide from the machine") and :meth:`HardwareDefaults.resolve_hardware_defaults`
fills them in ``__post_init__``, before ``TrainingArguments`` validates them:

- ``optim``: ``adamw_torch_fused`` on CUDA (one kernel for the whole AdamW update instead of a loop over
  tensors), ``adamw_torch`` on a CPU (as before);
- ``tf32``: on for an Ampere or newer GPU (fp32 matmuls, e.g. outside bf16 autocast, on tensor cores),
  left alone elsewhere;
- ``dataloader_num_workers``: 2 on CUDA, so the collator's late tokenization overlaps the GPU step, 0 on a
  CPU (the CPU is busy with the step);
- ``ddp_find_unused_parameters``: ``False``. kard_hf's students and reranker use every trainable parameter
  in every step (tested), so DDP's extra traversal of the autograd graph after each backward finds nothing;
  transformers' default (``True`` unless activation checkpointing is on) pays it, and PyTorch warns that it
  found no unused parameter. Set it to true for a model whose steps can skip parameters (mixture-of-experts).

``--torch_compile true`` stays opt-in: with dynamic padding every new batch shape may recompile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError

DATALOADER_WORKERS_ON_CUDA = 2
GPU_ADVICE = "this recipe is for a GPU; pass --bf16 false to try it on a CPU (in a pipeline YAML: bf16: false)"


def cuda_in_use(use_cpu: bool = False) -> bool:
    """True where training will run on a CUDA GPU."""
    import torch

    return not use_cpu and torch.cuda.is_available()


def gpu_available() -> bool:
    """True where torch sees a CUDA or an Apple (MPS) GPU."""
    import torch

    return torch.cuda.is_available() or torch.backends.mps.is_available()


def bf16_available() -> bool:
    """True where bf16 runs at full speed: a CUDA GPU with compute capability >= 8 (any such, H100 included)."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def tf32_available() -> bool:
    """True on an Ampere or newer CUDA GPU (compute capability >= 8), where TF32 tensor cores exist."""
    from transformers.utils import is_torch_tf32_available

    return is_torch_tf32_available()


@dataclass
class HardwareDefaults:
    """Trainer options whose best value depends on the machine (see the module docstring)."""

    optim: str | None = field(default=None, metadata={
        "help": "Optimizer; default: adamw_torch_fused on CUDA, adamw_torch on a CPU."})
    tf32: bool | None = field(default=None, metadata={
        "help": "TF32 matmuls; default: on for Ampere or newer GPUs, untouched elsewhere."})
    dataloader_num_workers: int | None = field(default=None, metadata={
        "help": f"Data-loading processes; default: {DATALOADER_WORKERS_ON_CUDA} on CUDA (tokenization overlaps the "
                "GPU step), 0 on a CPU."})
    ddp_find_unused_parameters: bool | None = field(default=False, metadata={
        "help": "DDP's search for parameters a step did not use; off: every trainable parameter is used. Set true "
                "for a model whose steps can skip some (mixture-of-experts)."})

    def resolve_hardware_defaults(self) -> None:
        """Fill the ``None`` fields from the machine; call before ``TrainingArguments.__post_init__``."""
        cuda = cuda_in_use(getattr(self, "use_cpu", False))
        half = next((name for name in ("bf16", "fp16") if getattr(self, name, False)), None)
        if half and not getattr(self, "use_cpu", False) and not gpu_available():
            raise ConfigError(f"{half} is on and this machine has no GPU: {GPU_ADVICE.replace('bf16', half)}", field=half)
        if self.optim is None:
            self.optim = "adamw_torch_fused" if cuda else "adamw_torch"
        if self.tf32 is None and cuda and tf32_available():
            self.tf32 = True
        if self.dataloader_num_workers is None:
            self.dataloader_num_workers = DATALOADER_WORKERS_ON_CUDA if cuda else 0
        if self.dataloader_num_workers < 0:
            raise ConfigError("dataloader_num_workers must be >= 0", field="dataloader_num_workers")
