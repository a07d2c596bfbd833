"""Tokenizers trained for from-scratch students: deterministic, with each family's special tokens."""

import pytest

from kard_hf.benchmark.generator import BenchmarkConfig, generate
from kard_hf.benchmark.vocab import train_tokenizer


@pytest.mark.parametrize("kind", ["t5", "causal", "bert"])
def test_same_texts_give_the_same_tokenizer(kind):
    texts = [row["text"] for row in generate(BenchmarkConfig(num_train=200, num_validation=0, num_test=20)).corpus]
    first, second = (train_tokenizer(texts, kind, vocab_size=800) for _ in range(2))
    assert first.get_vocab() == second.get_vocab()
    assert first(texts[:100]).input_ids == second(texts[:100]).input_ids


@pytest.mark.parametrize("kind", ["t5", "causal", "bert"])
def test_saved_tokenizer_reloads_with_auto_tokenizer(kind, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = train_tokenizer(["The province of Guayas belongs to Ecuador.", "Answer: B"] * 20, kind, 200)
    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("Guayas belongs to Ecuador.").input_ids == tokenizer("Guayas belongs to Ecuador.").input_ids
    assert (again.pad_token_id, again.eos_token_id) == (tokenizer.pad_token_id, tokenizer.eos_token_id)


def test_special_tokens_and_round_trip():
    texts = ["The province of Guayas belongs to Ecuador.", "Answer: B"] * 20
    t5 = train_tokenizer(texts, "t5", 200)
    ids = t5("The province of Guayas belongs to Ecuador.").input_ids
    assert ids[-1] == t5.eos_token_id == 1 and t5.pad_token_id == 0
    assert t5.decode(ids, skip_special_tokens=True) == "The province of Guayas belongs to Ecuador."
    bert = train_tokenizer(texts, "bert", 200)
    ids = bert("Answer: B").input_ids
    assert (ids[0], ids[-1]) == (bert.cls_token_id, bert.sep_token_id)
    assert bert.decode(ids, skip_special_tokens=True) == "answer: b"
