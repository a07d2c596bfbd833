"""kard_hf: knowledge-augmented reasoning distillation (KARD) and KNIFE for Hugging Face transformers."""

__version__ = "0.1.0.dev0"
