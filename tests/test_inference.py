"""Inference and evaluation end to end: tiny students trained by the real CLI on a dataset made by the real
build-kb → augment path, answering through every retrieval mode."""

import json

import pytest

from hub_cache import populate_hub_cache
from inference_fixtures import build_kb_and_processed, ok
from kard_hf.cli import main
from kard_hf.data import MCQExample
from kard_hf.data.store import load_dataset_dict
from kard_hf.errors import ConfigError, ModelError
from kard_hf.inference import Decoding, KARDPipeline, load_trained_student


@pytest.fixture(scope="module")
def world(tmp_path_factory, fixtures_dir, tiny_t5_path, tiny_bert, bert_tokenizer):
    """A KB, a processed dataset, kard/rd/ft students, a LoRA-adapter student and an (untrained) reranker."""
    from kard_hf.reranker import KardRerankerConfig, KardRerankerModel, Reranker

    root = tmp_path_factory.mktemp("inference")
    build_kb_and_processed(root, fixtures_dir)
    common = ["--model_name_or_path", tiny_t5_path, "--dataset", root / "processed", "--max_steps", 2,
              "--per_device_train_batch_size", 4, "--save_strategy", "no", "--disable_tqdm", "true",
              "--max_target_length", 48]
    for method in ("kard", "rd", "ft"):
        ok("train", *common, "--method", method, "--output_dir", root / method)
    ok("train", *common, "--method", "kard", "--use_lora", "true", "--merge_lora", "false", "--output_dir", root / "lora")
    config = KardRerankerConfig(backbone=tiny_bert.config.to_dict(), projection_dim=16)
    Reranker(KardRerankerModel(config).eval(), bert_tokenizer).save_pretrained(root / "reranker")
    return root


def _evaluate(world, student, *extra):
    out = world / "eval" / f"{student}-{len(list((world).glob('eval/*')))}"
    ok("evaluate", "--student", world / student, "--dataset", world / "processed", "--output_dir", out,
        "--max_new_tokens", 24, *extra)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return rows, json.loads((out / "metrics.json").read_text())


def test_student_folder_records_its_spec(world):
    _, _, spec = load_trained_student(world / "kard")
    assert (spec.method, spec.num_passages) == ("kard", 1)
    manifest = load_dataset_dict(world / "processed")[1]
    assert spec.knowledge_base_fingerprint == manifest["knowledge_base"]["fingerprint"]


@pytest.mark.parametrize("retrieval, column", [("bm25", "candidate_ids"), ("oracle", "silver_ids")])
def test_kard_reads_the_passages_of_its_retrieval_mode(world, retrieval, column):
    rows, metrics = _evaluate(world, "kard", "--retrieval", retrieval, "--num_passages", 2, "--decoding", "greedy")
    test = {row["id"]: row for row in load_dataset_dict(world / "processed")[0]["test"]}
    assert len(rows) == 2 and metrics["retrieval"] == retrieval and metrics["num_passages"] == 2
    for row in rows:
        assert row["passage_ids"] == test[row["id"]][column][:2]
        assert set(row) == {"seed", "id", "passage_ids", "passages", "rationales", "votes", "letter", "index",
                            "gold_letter", "gold_index", "correct"}
        assert row["gold_letter"] == "ABCD"[test[row["id"]]["answer"]] == "ABCD"[row["gold_index"]]
        assert len(row["rationales"]) == 1


def test_oracle_leaves_out_questions_without_a_teacher_rationale(world, fixtures_dir, tmp_path):
    """A test question none of whose teacher rationales was kept has no silver passages, hence no oracle row."""
    kept, dropped = (fixtures_dir / "test_rationales.jsonl").read_text().splitlines()
    (tmp_path / "rationales.jsonl").write_text(kept + "\n")
    ok("augment", "--knowledge_base", world / "kb", "--train_file", fixtures_dir / "medqa_usmle_hf_train.jsonl",
        "--train_rationales", fixtures_dir / "rationales", "--test_file", fixtures_dir / "medqa_usmle_hf_test.jsonl",
        "--test_rationales", tmp_path / "rationales.jsonl", "--candidates", 6, "--silver_passages", 2,
        "--output_dir", tmp_path / "processed")
    ok("evaluate", "--student", world / "kard", "--dataset", tmp_path / "processed", "--output_dir", tmp_path / "eval",
        "--max_new_tokens", 24, "--retrieval", "oracle", "--num_passages", 2)
    rows = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert [row["id"] for row in rows] == [json.loads(kept)["id"]] and metrics["questions"] == 1
    assert metrics["left_out_without_silver_passages"] == [json.loads(dropped)["id"]]


def test_reranker_mode_uses_the_rerankers_top_k(world):
    from kard_hf.reranker import Reranker

    rows, _ = _evaluate(world, "kard", "--retrieval", "reranker", "--reranker", world / "reranker",
                        "--num_passages", 2, "--decoding", "greedy")
    test = load_dataset_dict(world / "processed")[0]["test"]
    expected = Reranker.from_pretrained(world / "reranker").rerank(test["question"], test["candidates"], top_k=2,
                                                                  candidate_ids=test["candidate_ids"])
    assert [row["passage_ids"] for row in rows] == expected.ids


@pytest.mark.parametrize("student", ["rd", "ft"])
def test_students_without_knowledge(world, student):
    rows, metrics = _evaluate(world, student, "--seeds", 0, 1)
    assert metrics["retrieval"] == "none" and metrics["seeds"] == [0, 1] and len(rows) == 4
    assert all(row["passages"] == [] for row in rows)
    assert len(metrics["accuracy"]["runs"]) == 2 and 0 <= metrics["accuracy"]["mean"] <= 1
    if student == "ft":
        assert all(len(row["rationales"]) == 1 for row in rows)  # the letter, generated once


def test_self_consistency_votes_and_is_deterministic(world):
    pipeline = KARDPipeline.from_pretrained(world / "kard", knowledge_base=world / "kb", batch_size=1)
    question = MCQExample("q", "Which river flows through the city of Veltram?", ["Orvane", "Silka", "Medran", "Tolluk"], 0)
    decoding = Decoding("sample", num_samples=4, max_new_tokens=16)
    first = pipeline([question], decoding=decoding, seed=3)[0]
    again = pipeline([question], decoding=decoding, seed=3)[0]
    assert len(first.generations) == 4 and first.generations == again.generations
    from kard_hf.data import format_question

    top = pipeline.knowledge_base.search([format_question(question.stem, question.options)], k=1)
    assert first.passage_ids == top.ids[0]  # BM25 by question (stem and options) over the KB, top 1
    assert sum(first.votes.values()) <= 4


def test_batched_greedy_equals_one_by_one(world):
    test = load_dataset_dict(world / "processed")[0]["test"]
    examples = [MCQExample(r["id"], r["stem"], r["options"], r["answer"]) for r in test]
    from kard_hf.inference import Retrieved

    pool = Retrieved(test["candidates"], test["candidate_ids"])
    model, tokenizer, spec = load_trained_student(world / "kard")
    greedy = Decoding("greedy", max_new_tokens=16)
    batched = KARDPipeline(model, tokenizer, spec, batch_size=8)(examples, candidates=pool, decoding=greedy)
    single = KARDPipeline(model, tokenizer, spec, batch_size=1)(examples, candidates=pool, decoding=greedy)
    assert [p.generations for p in batched] == [p.generations for p in single]


@pytest.mark.parametrize("student", ["kard", "lora"])
def test_load_by_hub_id_from_the_local_cache(world, student, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    populate_hub_cache(world / student, f"someone/tiny-{student}", tmp_path / "hub")
    assert (world / student / "adapter_config.json").is_file() == (student == "lora")
    model, _, spec = load_trained_student(f"someone/tiny-{student}")
    assert spec.method == "kard" and model.can_generate() and not hasattr(model, "peft_config")
    reference, _, _ = load_trained_student(world / student)
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        assert (a == b).all()


def test_bad_inputs(world, tmp_path, capsys):
    import shutil

    from kard_hf.data import PromptTemplate
    from kard_hf.distill.spec import StudentSpec

    encoder = tmp_path / "encoder"  # a model with no generation head (the reranker's encoder)
    shutil.copytree(world / "reranker", encoder)
    StudentSpec("kard", PromptTemplate(), 1, 64, 32).save(encoder)
    with pytest.raises(ModelError, match="cannot generate"):
        load_trained_student(encoder)

    other_kb = tmp_path / "other.jsonl"
    other_kb.write_text('{"id": "x", "text": "a different corpus"}\n')
    ok("build-kb", "--corpus", other_kb, "--output_dir", tmp_path / "kb2")
    base = ["evaluate", "--student", world / "kard", "--dataset", world / "processed", "--output_dir", tmp_path / "out"]
    cases = [
        (["--knowledge_base", tmp_path / "kb2"], "differs from the"),
        (["--max_eval_samples", 0], "the test split is empty"),
        (["--num_passages", 7], "num_passages=7 but question 0 has only 6 candidates"),
        (["--retrieval", "none"], "needs passages"),
        (["--retrieval", "reranker"], "needs a reranker"),
    ]
    for extra, message in cases:
        assert main([str(a) for a in base + extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="reads no passages"):
        KARDPipeline.from_pretrained(world / "rd", retrieval="bm25")


def test_knife_student_through_the_same_evaluate(world, tiny_t5_path):
    common = ["--dataset", world / "processed", "--max_steps", 1, "--per_device_train_batch_size", 2, "--use_cpu",
              "true", "--save_strategy", "no"]
    ok("train", "--method", "knife-teacher", "--model_name_or_path", tiny_t5_path, "--output_dir", world / "kt", *common)
    ok("train", "--method", "knife", "--model_name_or_path", tiny_t5_path, "--teacher_model_name_or_path", world / "kt",
        "--output_dir", world / "knife", *common)
    import subprocess
    import sys

    out = world / "eval" / "knife"  # a fresh process: nothing registered knife_t5 with AutoConfig beforehand
    subprocess.run([sys.executable, "-m", "kard_hf.cli", "evaluate", "--student", str(world / "knife"), "--dataset",
                    str(world / "processed"), "--output_dir", str(out)], check=True, capture_output=True)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "knife" and metrics["retrieval"] == "none" and len(rows) == 2
    assert all(row["passages"] == [] and row["letter"] in "ABCD" for row in rows)
    with pytest.raises(ConfigError, match="KNIFE student reads no passages"):
        from kard_hf.inference import load_pipeline

        load_pipeline(world / "knife", knowledge_base=world / "kb")


def test_record_in_card_adds_the_accuracy_to_the_model_index(world):
    from huggingface_hub import ModelCard

    _, metrics = _evaluate(world, "rd", "--seeds", 0, "--max_eval_samples", 2, "--record_in_card", "true")
    results = ModelCard.load(world / "rd" / "README.md").data.eval_results
    assert [(r.metric_type, r.metric_value, r.dataset_split, r.metric_config) for r in results] == [
        ("accuracy", round(metrics["accuracy"]["mean"], 6), "test", "retrieval=none")]
