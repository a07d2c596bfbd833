"""The quickstart's student: a small random-initialised BART, briefly pretrained to copy text.

A distilled Flan-T5 arrives knowing how to read: it can copy a name from its input into its
answer. A random-initialised student given KARD data directly learns the opposite: it memorises
the training provinces' countries and stays at chance on held-out ones. Two choices make it read on a
CPU budget (measured, docs/quickstart.md "The student"):

- BART rather than T5: T5's attention has relative positions only and its cross-attention none,
  so a from-scratch T5 needs thousands of steps to learn to copy; BART's absolute positions learn
  it in a few hundred.
- a short denoising pretraining (BART's own objective: rebuild a text from a copy with tokens
  deleted) on the training split's questions and rationales, before any student is trained. FT, RD
  and KARD all start from this same checkpoint, as the paper's students all start from Flan-T5.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StudentShape:
    """Sizes of the random-initialised student and its tokenizer."""

    d_model: int
    layers: int
    heads: int
    d_ff: int
    vocab_size: int


def make_student(folder: Path, texts: list[str], shape: StudentShape, seed: int) -> None:
    """A random-initialised BART and a tokenizer trained on ``texts``, saved as a model folder."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    from .vocab import train_tokenizer

    tokenizer = train_tokenizer(texts, "t5", shape.vocab_size)  # <pad>, </s>, <unk>; </s> ends every text
    torch.manual_seed(seed)
    config = BartConfig(vocab_size=len(tokenizer), d_model=shape.d_model, encoder_layers=shape.layers,
                        decoder_layers=shape.layers, encoder_attention_heads=shape.heads,
                        decoder_attention_heads=shape.heads, encoder_ffn_dim=shape.d_ff, decoder_ffn_dim=shape.d_ff,
                        max_position_embeddings=512, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                        scale_embedding=True, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                        bos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
                        forced_eos_token_id=None)
    BartForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


class DeletionNoiseCollator:
    """Batches for denoising: the input is the text with each token deleted with probability ``noise``
    (the end-of-text token kept), the labels are the whole text."""

    def __init__(self, tokenizer, noise: float, seed: int):
        self.tokenizer, self.noise, self.rng = tokenizer, noise, random.Random(seed)

    def __call__(self, rows: list[dict]) -> dict:
        ids = [row["input_ids"] for row in rows]
        noisy = [[t for t in seq[:-1] if self.rng.random() >= self.noise] + seq[-1:] for seq in ids]
        batch = self.tokenizer.pad({"input_ids": noisy}, return_tensors="pt")
        labels = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt")["input_ids"]
        labels[labels == self.tokenizer.pad_token_id] = -100
        return {**batch, "labels": labels}


def pretrain_student(folder: Path, texts: list[str], *, steps: int, batch_size: int, learning_rate: float,
                     seed: int, noise: float = 0.1, max_length: int = 128, decoder_only: bool = False) -> None:
    """Denoising pretraining of the model in ``folder`` on ``texts`` with the stock Trainer and the students' loss
    (:class:`~kard_hf.distill.trainer.TargetLossMixin`: the output layer only at the target tokens); saved in
    place. A ``decoder_only`` student denoises in its chat layout (:class:`~.decoder.ChatDenoisingCollator`)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, Trainer, TrainingArguments

    from ..distill.trainer import TargetLossMixin
    from .decoder import ChatDenoisingCollator

    class DenoisingTrainer(TargetLossMixin, Trainer):
        """The stock Trainer with the students' loss."""

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = (AutoModelForCausalLM if decoder_only else AutoModelForSeq2SeqLM).from_pretrained(folder)
    ids = tokenizer(texts, truncation=True, max_length=max_length, add_special_tokens=not decoder_only)["input_ids"]
    collator = (ChatDenoisingCollator if decoder_only else DeletionNoiseCollator)(tokenizer, noise, seed)
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(output_dir=scratch, max_steps=steps, per_device_train_batch_size=batch_size,
                                 learning_rate=learning_rate, lr_scheduler_type="constant", seed=seed,
                                 logging_steps=max(1, steps // 8), save_strategy="no", report_to="none",
                                 remove_unused_columns=False, dataloader_pin_memory=False)
        DenoisingTrainer(model=model, args=args, train_dataset=Dataset.from_dict({"input_ids": ids}),
                data_collator=collator).train()
    model.save_pretrained(folder)
