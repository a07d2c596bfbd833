"""Hub cards: Hub ids only in base_model / datasets, library_name, model-index from `kard-hf evaluate`, templates."""

import importlib.resources
import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from kard_hf.hub import CITATIONS, hub_id, record_evaluation, template
from kard_hf.hub.cards import from_template
from kard_hf.reranker import KardRerankerConfig
from kard_hf.reranker.rerank import reranker_card

TEMPLATES = ("student", "knife", "reranker", "knowledge_base", "processed_dataset", "rationale_dataset")


def test_hub_id_names_a_local_folder_only_when_it_records_one(tmp_path):
    assert hub_id("google/flan-t5-base") == "google/flan-t5-base" and hub_id("gpt2") == "gpt2"
    assert hub_id("kard-quickstart/seed-0/student-init") is None  # a path, not an id, even when absent
    plain = tmp_path / "student-init"
    plain.mkdir()
    assert hub_id(plain) is None and hub_id(str(plain)) is None
    pushed = tmp_path / "teacher"
    pushed.mkdir()
    (pushed / "kard_hf_model.json").write_text(json.dumps({"kind": "knife-teacher", "hub_id": "alice/teacher"}))
    assert hub_id(pushed) == "alice/teacher"
    data = tmp_path / "processed"
    data.mkdir()
    (data / "kard_hf.json").write_text(json.dumps({"format_version": 1, "hub_id": None}))
    assert hub_id(data, "dataset") is None
    snapshot = tmp_path / "hub" / "models--google--flan-t5-small" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    assert hub_id(snapshot) == "google/flan-t5-small" and hub_id(snapshot, "dataset") is None


def test_model_card_metadata_keeps_hub_ids_and_says_why_a_local_base_is_left_out(tmp_path, tiny_bert):
    config = KardRerankerConfig(backbone=tiny_bert.config.to_dict(), projection_dim=8)
    local = reranker_card(config, model_name="r", base_model=str(tmp_path), dataset=str(tmp_path))
    assert local.data.base_model is None and local.data.datasets is None and str(tmp_path) not in str(local)
    assert f"(`{tmp_path.name}`) that records no Hub id" in local.text
    hub = reranker_card(config, model_name="r", base_model="michiyasunaga/LinkBERT-base", is_adapter=True,
                        dataset="alice/processed", repo_id="alice/reranker")
    assert hub.data.base_model == "michiyasunaga/LinkBERT-base" and hub.data.datasets == ["alice/processed"]
    assert hub.data.library_name == "peft" and 'Reranker.from_pretrained("alice/reranker")' in hub.text
    path = tmp_path / "README.md"
    hub.save(path)
    assert ModelCard.load(path).data.to_dict() == hub.data.to_dict()  # what the Hub parses is what was built


KB_MANIFEST = {"num_passages": 3, "bm25s_version": "0.3", "fingerprint": "f" * 64, "hub_id": None,
               "parameters": {"method": "lucene", "k1": 0.9, "b": 0.4, "stemmer": None, "stopwords": None,
                              "index_title": True}}


def test_cards_render_as_from_template_does_with_missing_values_an_error():
    import jinja2
    from huggingface_hub import DatasetCard, DatasetCardData

    from kard_hf import __version__

    data = DatasetCardData(tags=["kard_hf", "knowledge-base"])
    ours = from_template(DatasetCard, data, "knowledge_base", manifest=KB_MANIFEST, repo_id="alice/kb")
    theirs = DatasetCard.from_template(data, template_str=template("knowledge_base"), manifest=KB_MANIFEST,
                                       repo_id="alice/kb", kard_hf_version=__version__, citations=CITATIONS)
    assert ours.content == theirs.content and 'KnowledgeBase.from_pretrained("alice/kb")' in ours.text
    with pytest.raises(jinja2.UndefinedError, match="repo_id"):
        from_template(DatasetCard, data, "knowledge_base", manifest=KB_MANIFEST)


def test_templates_are_package_resources_with_card_data_headers():
    folder = importlib.resources.files("kard_hf.hub_cards")
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".md.j2")) == sorted(f"{t}.md.j2" for t in TEMPLATES)
    for name in TEMPLATES:
        assert template(name).startswith("---\n{{ card_data }}\n---\n"), name


def _card_with_results(folder: Path, accuracy: float, retrieval: str = "bm25"):
    metrics = {"accuracy": {"mean": accuracy, "std": 0.0, "runs": [accuracy]}, "questions": 10, "split": "test"}
    return record_evaluation(folder, metrics, dataset="alice/medqa-processed", split="test", retrieval=retrieval)


def test_record_evaluation_builds_a_model_index_that_the_hub_parses(tmp_path, tiny_bert):
    config = KardRerankerConfig(backbone=tiny_bert.config.to_dict(), projection_dim=8)
    reranker_card(config, model_name="kard-student").save(tmp_path / "README.md")
    _card_with_results(tmp_path, 0.25)
    _card_with_results(tmp_path, 0.5)  # the same evaluation again replaces its entry
    _card_with_results(tmp_path, 0.75, retrieval="reranker")
    card = ModelCard.load(tmp_path / "README.md")
    results = {r.metric_config: r.metric_value for r in card.data.eval_results}
    assert results == {"retrieval=bm25": 0.5, "retrieval=reranker": 0.75}
    assert {r.dataset_type for r in card.data.eval_results} == {"alice/medqa-processed"}
    assert card.data.to_dict()["model-index"][0]["name"] == "kard-student"


def test_record_in_card_needs_a_local_student(capsys):
    from kard_hf.cli import main

    assert main(["evaluate", "--student", "alice/student", "--dataset", "alice/data", "--output_dir", "x",
                 "--record_in_card", "true"]) == 2
    assert "record_in_card needs a local student folder" in capsys.readouterr().err


def test_a_hub_token_flag_is_refused_before_anything_is_saved(tiny_t5, t5_tokenizer, tmp_path):
    from kard_hf.distill import StudentTrainer, StudentTrainingArguments
    from kard_hf.errors import ConfigError

    args = StudentTrainingArguments(output_dir=str(tmp_path), method="rd", hub_token="hf_secret", use_cpu=True,
                                    report_to="none")
    with pytest.raises(ConfigError, match="not hub_token"):
        StudentTrainer(model=tiny_t5, args=args, processing_class=t5_tokenizer)
    assert not any(tmp_path.iterdir())
