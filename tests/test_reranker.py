"""The reranker: loss on tensors, the model and its save/reload, the collator, the rerank API, bad input."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, BertConfig, GPT2Config, T5Config

from kard_hf.errors import DataError, ModelError
from kard_hf.reranker import (KardRerankerConfig, KardRerankerModel, Reranker, RerankerCollator,
                              bm25_distillation_loss, late_interaction_scores, ranking_metrics)
from reranker_fixtures import one_torch_thread  # noqa: F401 (autouse fixture)


# -- loss ---------------------------------------------------------------------------------------
def test_kl_is_zero_when_model_matches_target_and_positive_otherwise():
    bm25 = torch.tensor([[30.0, 20.0, 10.0, 5.0]])
    assert bm25_distillation_loss(bm25 / 5.0, bm25, tau1=5.0, tau2=1.0).item() == pytest.approx(0.0, abs=1e-6)
    assert bm25_distillation_loss(torch.tensor([[0.0, 1.0, 2.0, 3.0]]), bm25, tau1=5.0, tau2=1.0).item() > 0.1


def test_gradient_raises_the_bm25_favourite_and_lowers_the_rest():
    scores = torch.zeros(1, 3, requires_grad=True)
    bm25_distillation_loss(scores, torch.tensor([[10.0, 0.0, 0.0]]), tau1=1.0, tau2=1.0).backward()
    assert scores.grad[0, 0] < 0 < scores.grad[0, 1]  # gradient descent increases score 0, decreases the others
    ce = torch.zeros(1, 3, requires_grad=True)
    bm25_distillation_loss(ce, torch.tensor([[1.0, 5.0, 2.0]]), loss_type="ce").backward()
    assert ce.grad[0, 1] < 0 < ce.grad[0, 0]


def test_temperatures_scale_both_sides_and_must_be_positive():
    bm25, scores = torch.tensor([[8.0, 4.0, 0.0]]), torch.tensor([[3.0, 1.0, 0.0]])
    # dividing the scores by tau2 is the same as scaling them
    assert bm25_distillation_loss(scores, bm25, tau1=2.0, tau2=0.5).item() == pytest.approx(
        bm25_distillation_loss(scores * 2, bm25, tau1=2.0, tau2=1.0).item(), rel=1e-5)
    # a hotter target is flatter: with flat model scores the KL shrinks as tau1 grows
    flat = torch.zeros(1, 3)
    assert bm25_distillation_loss(flat, bm25, tau1=100.0) < bm25_distillation_loss(flat, bm25, tau1=1.0)
    with pytest.raises(ValueError, match="positive"):
        bm25_distillation_loss(scores, bm25, tau1=0.0)


def test_padded_candidates_do_not_count():
    bm25 = torch.tensor([[9.0, 3.0, 0.0], [9.0, 3.0, 100.0]])
    scores = torch.tensor([[2.0, 1.0, 0.0], [2.0, 1.0, -50.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    per_row = [bm25_distillation_loss(scores[i:i + 1, :2], bm25[i:i + 1, :2]) for i in range(2)]
    assert bm25_distillation_loss(scores, bm25, mask).item() == pytest.approx(
        (bm25_distillation_loss(scores[:1], bm25[:1]).item() + per_row[1].item()) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="two candidates"):
        bm25_distillation_loss(scores[:, :1], bm25[:, :1])


# -- model ----------------------------------------------------------------------------------------
def test_late_interaction_is_sum_of_max_dot_products_with_masks():
    query = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])  # third query token is padding
    passages = torch.tensor([[[[0.5, 0.0], [0.0, 0.25], [9.0, 9.0]]]])  # third passage token is padding
    scores = late_interaction_scores(query, torch.tensor([[1, 1, 0]]), passages, torch.tensor([[[1, 1, 0]]]))
    assert scores.tolist() == [[0.75]]


def tiny_config(vocab_size: int) -> KardRerankerConfig:
    backbone = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return KardRerankerConfig(backbone=backbone.to_dict(), projection_dim=16)


@pytest.fixture(scope="module")
def tiny_reranker(bert_tokenizer):
    torch.manual_seed(0)
    return Reranker(KardRerankerModel(tiny_config(len(bert_tokenizer))).eval(), bert_tokenizer, batch_size=2)


QUESTIONS = ["Which river flows through the city of Veltram?", "What metal is mined at the Calder deep mine?",
             "What is the main export of the island of Quessa?"]
CANDIDATES = [["Veltram is a trading city built on both banks of the Orvane river.", "A city is a large settlement."],
              ["The Calder deep mine has produced tin ore.", "Veltram is a trading city built on both banks of the "
               "Orvane river.", "Copper, timber and wool are traded."],
              ["The island of Quessa grows woad plants.", "A city is a large settlement."]]
IDS = [["p-veltram", "d-01"], ["p-calder", "p-veltram", "d-02"], ["p-quessa", "d-01"]]


def test_save_reload_through_automodel_gives_the_same_scores(tiny_reranker, tmp_path):
    before = tiny_reranker.score(QUESTIONS, CANDIDATES, IDS)
    tiny_reranker.save_pretrained(tmp_path / "reranker", metrics={"eval_reranker_hits@1": 0.5})
    config = json.loads((tmp_path / "reranker" / "config.json").read_text())
    assert config["model_type"] == "kard_reranker" and "auto_map" not in config  # no remote code needed
    assert type(AutoModel.from_pretrained(tmp_path / "reranker")) is KardRerankerModel
    assert isinstance(AutoConfig.from_pretrained(tmp_path / "reranker"), KardRerankerConfig)
    again = Reranker.from_pretrained(tmp_path / "reranker").score(QUESTIONS, CANDIDATES, IDS)
    for a, b in zip(before, again):  # equal weights; kernels on loaded tensors may differ in the last bit
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)
    card = (tmp_path / "reranker" / "README.md").read_text()
    assert "kard_reranker" in card and "hits@1" in card and "kang2023knowledge" in card


def test_register_for_auto_class_ships_remote_code(tiny_reranker, tmp_path):
    model = KardRerankerModel(tiny_reranker.model.config)
    KardRerankerConfig.register_for_auto_class()
    KardRerankerModel.register_for_auto_class("AutoModel")
    try:
        model.save_pretrained(tmp_path)
    finally:
        KardRerankerConfig._auto_class = KardRerankerModel._auto_class = None
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map == {"AutoConfig": "configuration.KardRerankerConfig", "AutoModel": "modeling.KardRerankerModel"}
    assert (tmp_path / "modeling.py").is_file() and (tmp_path / "configuration.py").is_file()


def test_from_backbone_loads_the_encoder_weights(tiny_bert_path, tiny_bert):
    model = KardRerankerModel.from_backbone(str(tiny_bert_path), projection_dim=8)
    assert torch.equal(model.encoder.embeddings.word_embeddings.weight, tiny_bert.embeddings.word_embeddings.weight)
    assert model.config.projection_dim == 8 and model.encoder.pooler is None


@pytest.mark.parametrize("backbone", [GPT2Config(n_layer=1), T5Config(num_layers=1)])
def test_a_backbone_that_is_not_an_encoder_is_refused(backbone):
    with pytest.raises(ModelError, match="bidirectional encoder"):
        KardRerankerConfig(backbone=backbone.to_dict())


def test_gpt2_checkpoint_refused_by_from_backbone(tiny_causal_path):
    with pytest.raises(ModelError, match="'gpt2'"):
        KardRerankerModel.from_backbone(str(tiny_causal_path))


# -- collator and forward ------------------------------------------------------------------------
def test_collator_encodes_shared_passages_once_and_forward_matches_rerank(tiny_reranker, bert_tokenizer):
    features = [{"question": q, "candidate_ids": i, "candidates": c, "rationale_scores": [1.0] * len(c)}
                for q, i, c in zip(QUESTIONS, IDS, CANDIDATES)]
    batch = RerankerCollator(bert_tokenizer)(features)
    assert batch["passage_input_ids"].shape[0] == 5  # 7 slots, d-01 and p-veltram shared
    assert batch["candidate_index"].tolist() == [[0, 1, -1], [2, 0, 3], [4, 1, -1]]
    assert batch["query_attention_mask"].sum(1).max() == batch["query_input_ids"].shape[1]  # padded to longest
    with torch.no_grad():
        scores = tiny_reranker.model(**{k: v for k, v in batch.items() if k != "labels"}).scores
    expected = tiny_reranker.score(QUESTIONS, CANDIDATES, IDS)
    for row, want in zip(scores, expected):
        torch.testing.assert_close(row[: len(want)], torch.from_numpy(want), rtol=1e-4, atol=1e-4)
    assert scores[0, 2] == torch.finfo(scores.dtype).min


def test_freezing_the_passage_side_stops_its_gradient(tiny_reranker, bert_tokenizer):
    features = [{"question": q, "candidate_ids": i, "candidates": c} for q, i, c in zip(QUESTIONS, IDS, CANDIDATES)]
    batch = RerankerCollator(bert_tokenizer)(features)
    model = tiny_reranker.model
    embeddings = model.encoder.embeddings.word_embeddings.weight
    passage_only = sorted(set(batch["passage_input_ids"].flatten().tolist())
                          - set(batch["query_input_ids"].flatten().tolist()))
    for freeze, expect_grad in ((True, False), (False, True)):
        model.zero_grad()
        valid = batch["candidate_index"] >= 0
        model(**batch, freeze_passages=freeze).scores[valid].sum().backward()
        assert bool(embeddings.grad[passage_only].abs().sum() > 0) is expect_grad
        assert embeddings.grad.abs().sum() > 0  # the question side always learns
    model.zero_grad()


# -- rerank API -----------------------------------------------------------------------------------
def test_rerank_orders_by_score_keeps_top_k_and_caches_by_id(tiny_reranker, monkeypatch):
    fresh = Reranker(tiny_reranker.model, tiny_reranker.tokenizer, batch_size=2)  # an empty passage cache
    encoded = []  # rows the model encodes, questions and passages
    encode = fresh.model.encode
    monkeypatch.setattr(fresh.model, "encode", lambda ids, mask: encoded.append(len(ids)) or encode(ids, mask))
    scores = fresh.score(QUESTIONS, CANDIDATES, IDS)
    assert sum(encoded) == 3 + 5  # the questions, and each distinct passage id once
    encoded.clear()
    np.testing.assert_array_equal(np.concatenate(fresh.score(QUESTIONS, CANDIDATES, IDS)), np.concatenate(scores))
    assert sum(encoded) == 3  # the passages come from the cache
    result = tiny_reranker.rerank(QUESTIONS, CANDIDATES, top_k=1, candidate_ids=IDS)
    for row, row_scores, ids, texts in zip(range(3), scores, IDS, CANDIDATES):
        best = int(row_scores.argmax())
        assert result.ids[row] == [ids[best]] and result.texts[row] == [texts[best]]
        assert result.indices[row] == [best] and result.scores[row] == [pytest.approx(float(row_scores[best]))]
    full = tiny_reranker.rerank(QUESTIONS, CANDIDATES)  # without ids: keyed by text, all kept
    assert [len(r) for r in full.ids] == [2, 3, 2] and all(s == sorted(s, reverse=True) for s in full.scores)


@pytest.mark.parametrize("candidates, message", [
    ([["ok text", "  "]], "candidate 1 has empty text"),
    ([[]], "no candidate passages"),
])
def test_rerank_bad_candidates(tiny_reranker, candidates, message):
    with pytest.raises(DataError, match=message) as error:
        tiny_reranker.rerank(["a question?"], candidates)
    assert "question 0" in str(error.value) and "field 'candidates'" in str(error.value)


def test_collator_refuses_single_candidate_and_empty_text(bert_tokenizer):
    collator = RerankerCollator(bert_tokenizer)
    with pytest.raises(DataError, match="at least 2 passages"):
        collator([{"question": "q?", "candidate_ids": ["a"], "candidates": ["text"]}])
    with pytest.raises(DataError, match="'b' has empty text"):
        collator([{"question": "q?", "candidate_ids": ["a", "b"], "candidates": ["text", ""]}])


# -- metrics --------------------------------------------------------------------------------------
def test_metrics_find_the_gold_wherever_it_sits_and_count_ties_against_it():
    metrics = ranking_metrics([[0.1, 0.9, 0.3], [5.0, 5.0, 1.0], [0.0, 1.0, 2.0]], gold=[1, 0, 0])
    # ranks: 1, 2 (tied with another), 3
    assert metrics["hits@1"] == pytest.approx(1 / 3) and metrics["hits@3"] == 1.0
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
