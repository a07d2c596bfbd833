"""Train a small tokenizer on a corpus, for from-scratch students (quickstart) and offline tests.

Real runs use the pretrained model's tokenizer; this exists because no T5 or GPT-2 vocabulary
can be downloaded here, and a byte-level vocabulary makes sequences four times longer.

Every kind is learnt with the BPE trainer from a fixed, sorted alphabet, so the same texts always
give the same tokenizer (the Unigram and WordPiece trainers of ``tokenizers`` break frequency ties
in a different order on every call, which made students differ between identical runs).
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

KINDS = ("t5", "causal", "bert")
SPECIALS = {"t5": ["<pad>", "</s>", "<unk>"], "causal": ["<|endoftext|>"],
            "bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]}


def train_tokenizer(texts: Iterable[str], kind: str = "t5", vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    """A fast tokenizer for ``kind`` trained on ``texts``: ``t5`` (T5's special tokens, ``</s>`` appended),
    ``causal`` (byte-level, one end-of-text token) or ``bert`` (lower-cased, ``[CLS] ... [SEP]``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {KINDS}")
    texts, specials = list(texts), SPECIALS[kind]
    if kind == "causal":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tokenizer = Tokenizer(models.BPE(unk_token=specials[2] if kind == "t5" else "[UNK]"))
        tokenizer.normalizer = normalizers.NFKC() if kind == "t5" else normalizers.BertNormalizer(lowercase=True)
        # Punctuation split from words: "Uganda:" is "Uganda" + ":", not a token unrelated to "Uganda".
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()])
        tokenizer.decoder = decoders.Metaspace()
        # Only the texts' characters: a "\n" added here shifts every id, and both seeds tried lost most of
        # their KARD accuracy (docs/quickstart.md, "The newline before `Answer:`"); the newlines stay <unk>.
        alphabet = {char for text in texts
                    for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text))
                    for char in word}
    alphabet = sorted(alphabet)
    tokenizer.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet, limit_alphabet=len(alphabet)))
    if kind == "bert":
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[(token, tokenizer.token_to_id(token)) for token in ("[CLS]", "[SEP]")])
    elif kind == "t5":  # like T5's own tokenizer, end every sequence with </s>
        tokenizer.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))])
    # The generic class for all kinds: transformers' T5 and BERT classes rebuild their own (Unigram,
    # WordPiece) models when reloaded, which would not be this BPE vocabulary.
    if kind == "t5":
        return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    if kind == "bert":
        return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                       cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", pad_token="<|endoftext|>")
