"""Shared test set-up: the Hub offline, fixture paths, and tiny models built from configs.

Every model here is random-initialised from a config with a tokenizer trained on the fixture
text, so the suite needs no download and runs in minutes on two cores. Session-scoped
fixtures build each model once; tests that train copy it first (``copy.deepcopy``) or load
the saved folder (``*_path`` fixtures).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_texts() -> list[str]:
    """Every string of the fixture files, plus the prompt vocabulary, to train test tokenizers on."""
    texts = ["Answer the following question by reasoning step by step.", "Question: Knowledge: Explanation: Answer:",
             "A. B. C. D. E. F. G. H. (A) (B) (C) (D) yes no So, the answer is"]
    for path in sorted(FIXTURES.rglob("*.json*")):
        text = path.read_text()
        try:
            objects = [json.loads(text)]
        except json.JSONDecodeError:  # JSONL, whatever the suffix (the released KARD train.json files are)
            objects = [json.loads(line) for line in text.splitlines() if line.strip()]
        texts += list(_strings(objects))
    return texts


def _strings(objects):
    for obj in objects:
        if isinstance(obj, str):
            yield obj
        elif isinstance(obj, dict):
            yield from _strings(obj.values())
        elif isinstance(obj, list):
            yield from _strings(obj)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def t5_tokenizer():
    from kard_hf.benchmark.vocab import train_tokenizer

    return train_tokenizer(fixture_texts() * 3, "t5", vocab_size=600)


@pytest.fixture(scope="session")
def causal_tokenizer():
    from kard_hf.benchmark.vocab import train_tokenizer

    return train_tokenizer(fixture_texts() * 3, "causal", vocab_size=600)


@pytest.fixture(scope="session")
def bert_tokenizer():
    from kard_hf.benchmark.vocab import train_tokenizer

    return train_tokenizer(fixture_texts() * 3, "bert", vocab_size=600)


@pytest.fixture(scope="session")
def tiny_t5(t5_tokenizer):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=len(t5_tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                      num_heads=4, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, dropout_rate=0.0)
    return T5ForConditionalGeneration(config).eval()


@pytest.fixture(scope="session")
def tiny_bart(t5_tokenizer):
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    config = BartConfig(vocab_size=len(t5_tokenizer), d_model=32, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                        max_position_embeddings=256, dropout=0.0, attention_dropout=0.0, pad_token_id=0,
                        eos_token_id=1, bos_token_id=1, decoder_start_token_id=1, forced_eos_token_id=None)
    return BartForConditionalGeneration(config).eval()


@pytest.fixture(scope="session")
def tiny_causal(causal_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(causal_tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=1024,
                        bos_token_id=causal_tokenizer.eos_token_id, eos_token_id=causal_tokenizer.eos_token_id,
                        pad_token_id=causal_tokenizer.pad_token_id, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="session")
def tiny_bert(bert_tokenizer):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=512, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    return BertModel(config).eval()


def _saved(tmp_path_factory, name, model, tokenizer) -> Path:
    path = tmp_path_factory.mktemp(name)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_t5_path(tmp_path_factory, tiny_t5, t5_tokenizer) -> Path:
    """A model folder (config, weights, tokenizer) of the tiny T5, loadable with from_pretrained."""
    return _saved(tmp_path_factory, "tiny-t5", tiny_t5, t5_tokenizer)


@pytest.fixture(scope="session")
def tiny_bart_path(tmp_path_factory, tiny_bart, t5_tokenizer) -> Path:
    return _saved(tmp_path_factory, "tiny-bart", tiny_bart, t5_tokenizer)


@pytest.fixture(scope="session")
def tiny_causal_path(tmp_path_factory, tiny_causal, causal_tokenizer) -> Path:
    return _saved(tmp_path_factory, "tiny-causal", tiny_causal, causal_tokenizer)


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory, tiny_bert, bert_tokenizer) -> Path:
    return _saved(tmp_path_factory, "tiny-bert", tiny_bert, bert_tokenizer)
