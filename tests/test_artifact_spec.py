"""One spec file per artifact (``kard_hf.json`` with a ``kind``), read by ``kard_hf.hub.read_spec``; artifacts saved
in the old layout (``kard_hf_student.json``, ``kard_hf_model.json``, ``kard_hf_kb.json``, a dataset's
``kard_hf.json`` without a kind) still load and answer the same, with one deprecation line per folder."""

import json
import logging
import shutil

import pytest

from inference_fixtures import build_kb_and_processed, ok
from kard_hf.errors import KnowledgeBaseError, ModelError
from kard_hf.hub import KINDS, SPEC_NAME, hub_id, read_spec
from kard_hf.inference import load_trained_student
from kard_hf.knowledge import KnowledgeBase

OLD_NAMES = {"kb": "kard_hf_kb.json", "kard": "kard_hf_student.json", "reranker": "kard_hf_model.json",
             "processed": SPEC_NAME}
KIND_OF = {"kb": "knowledge-base", "kard": "student", "reranker": "reranker", "processed": "processed-dataset"}


@pytest.fixture(scope="module")
def world(tmp_path_factory, fixtures_dir, tiny_t5_path, tiny_bert, bert_tokenizer):
    """A KB, a processed dataset, a kard student and a reranker in today's layout, and copies in the old one."""
    from kard_hf.reranker import KardRerankerConfig, KardRerankerModel, Reranker

    root = tmp_path_factory.mktemp("artifacts")
    build_kb_and_processed(root, fixtures_dir)
    ok("train", "--model_name_or_path", tiny_t5_path, "--dataset", root / "processed", "--method", "kard",
        "--max_steps", 2, "--per_device_train_batch_size", 4, "--save_strategy", "no", "--disable_tqdm", "true",
        "--max_target_length", 48, "--output_dir", root / "kard")
    config = KardRerankerConfig(backbone=tiny_bert.config.to_dict(), projection_dim=16)
    Reranker(KardRerankerModel(config).eval(), bert_tokenizer).save_pretrained(root / "reranker")
    for name, old_name in OLD_NAMES.items():  # the layout the writers of kard_hf 0.1.0.dev0 left
        old = root / f"old-{name}"
        shutil.copytree(root / name, old)
        spec = json.loads((old / SPEC_NAME).read_text())
        if name != "reranker":  # kard_hf_model.json recorded its kind; the other three did not
            del spec["kind"]
        if name == "reranker":
            spec["hub_id"] = "alice/reranker"
        (old / SPEC_NAME).unlink()
        (old / old_name).write_text(json.dumps(spec))
    return root


def test_every_artifact_saves_one_spec_with_its_kind(world):
    for name, kind in KIND_OF.items():
        specs = sorted(p.name for p in (world / name).glob("kard_hf*.json"))
        assert specs == [SPEC_NAME], name
        assert json.loads((world / name / SPEC_NAME).read_text())["kind"] == kind in KINDS


def _evaluate(world, prefix, out, *extra):
    ok("evaluate", "--student", world / f"{prefix}kard", "--dataset", world / f"{prefix}processed",
        "--knowledge_base", world / f"{prefix}kb", "--reranker", world / f"{prefix}reranker", "--retrieval", "reranker",
        "--output_dir", out, "--max_new_tokens", 24, "--decoding", "greedy", *extra)
    return (out / "predictions.jsonl").read_text()


def test_old_layout_loads_and_answers_the_same_with_one_line_per_folder(world, tmp_path, caplog):
    new = _evaluate(world, "", tmp_path / "new")
    with caplog.at_level(logging.WARNING, logger="kard_hf.hub.artifact"):
        old = _evaluate(world, "old-", tmp_path / "old")
        _evaluate(world, "old-", tmp_path / "again")  # the same folders: no second warning
    assert old == new
    lines = [r.getMessage() for r in caplog.records if r.name == "kard_hf.hub.artifact"]
    warned = {name for name in ("kb", "kard") if any(f"old-{name}: {OLD_NAMES[name]} is an old spec-file name" in line
                                                      for line in lines)}
    assert warned == {"kb", "kard"} and len(lines) == len(set(lines)) and all("\n" not in line for line in lines)
    assert not any("old-processed" in line for line in lines)  # a dataset's spec always had today's name


def test_old_specs_read_with_the_kind_their_name_says(world):
    for name, kind in KIND_OF.items():
        spec = read_spec(world / f"old-{name}")
        assert spec["kind"] == kind and spec == {**read_spec(world / name), "kind": kind,
                                                 **({"hub_id": "alice/reranker"} if name == "reranker" else {})}
    assert hub_id(world / "old-reranker") == "alice/reranker"
    assert KnowledgeBase.load(world / "old-kb").fingerprint == KnowledgeBase.load(world / "kb").fingerprint
    assert load_trained_student(world / "old-kard")[2] == load_trained_student(world / "kard")[2]


def test_a_saved_old_folder_keeps_one_spec(world, tmp_path):
    kb = KnowledgeBase.load(world / "old-kb")
    kb.save_pretrained(tmp_path / "kb")
    assert sorted(p.name for p in (tmp_path / "kb").glob("kard_hf*.json")) == [SPEC_NAME]


def test_an_artifact_of_another_kind_is_refused_in_one_line(world):
    with pytest.raises(KnowledgeBaseError, match="not a knowledge base: its kard_hf.json says it is a processed-dataset"):
        KnowledgeBase.load(world / "processed")
    with pytest.raises(ModelError, match="holds a knowledge-base, not a student"):
        load_trained_student(world / "kb")
