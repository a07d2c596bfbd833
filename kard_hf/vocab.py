"""Train a small tokenizer on a corpus, for from-scratch students (quickstart) and offline tests.

Real runs use the pretrained model's tokenizer; this exists because no T5 or GPT-2 vocabulary
can be downloaded here, and a byte-level vocabulary makes sequences four times longer.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import BertTokenizerFast, PreTrainedTokenizerFast, T5TokenizerFast

KINDS = ("t5", "causal", "bert")


def train_tokenizer(texts: Iterable[str], kind: str = "t5", vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    """A fast tokenizer for ``kind`` (``t5``: Unigram with T5's special tokens; ``causal``: byte-level
    BPE with one end-of-text token; ``bert``: WordPiece with [CLS]/[SEP]) trained on ``texts``."""
    if kind == "t5":
        specials = ["<pad>", "</s>", "<unk>"]
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizers.NFKC()
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>")
    elif kind == "causal":
        specials = ["<|endoftext|>"]
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    elif kind == "bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {KINDS}")
    tokenizer.train_from_iterator(texts, trainer=trainer)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "tokenizer.json")
        tokenizer.save(path)
        if kind == "t5":
            return T5TokenizerFast(tokenizer_file=path, extra_ids=0)
        if kind == "bert":
            return BertTokenizerFast(tokenizer_file=path)
        return PreTrainedTokenizerFast(tokenizer_file=path, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                       unk_token="<|endoftext|>", pad_token="<|endoftext|>")
