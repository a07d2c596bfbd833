"""``kard-hf pipeline --dry_run`` on the MedQA recipe, offline, on this CPU: every problem named (the missing
corpus, bf16 with the advice to pass ``--bf16 false``), the Hub ids it cannot reach listed as downloads, the
steps and where each writes printed, nothing written, exit code 2."""

import shutil
from pathlib import Path

import pytest
import yaml

from kard_hf.cli import main

RECIPE = Path(__file__).parent.parent / "recipes" / "pipelines" / "medqa-flan-t5-base.yaml"
HUB_IDS = ["GBaker/MedQA-USMLE-4-options", "google/flan-t5-base", "michiyasunaga/BioLinkBERT-base"]


@pytest.fixture
def here(tmp_path, monkeypatch):
    """The recipe's relative paths resolve in an empty folder; the Hub cache is empty."""
    from huggingface_hub import constants

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    shutil.copy(RECIPE, tmp_path / "medqa.yaml")
    return tmp_path


def test_the_medqa_dry_run_names_every_problem_and_writes_nothing(here, capsys):
    assert main(["pipeline", "--config", "medqa.yaml", "--dry_run", "true"]) == 2
    captured = capsys.readouterr()
    out = captured.out
    assert "build-kb: to run -> outputs/medqa-flan-t5-base/kb" in out
    assert "train kard: to run -> outputs/medqa-flan-t5-base/kard" in out
    assert "evaluate KARD (oracle passages) on test: to run -> outputs/medqa-flan-t5-base/eval/test/kard-oracle-passages" in out
    problems = captured.err.split("problems:\n")[1].splitlines()
    assert "  build-kb: corpus data/psgs_w100.tsv: no such file or folder" in problems
    gpu = [line for line in problems if "this recipe is for a GPU; pass --bf16 false to try it on a CPU" in line]
    assert {line.split(":")[0].strip() for line in gpu} == {"train ft", "train rd", "train kard", "train-reranker"}
    downloads = out.split("downloaded when the pipeline runs online:\n")[1].split("\n\n")[0]
    assert all(name in downloads for name in HUB_IDS), downloads
    assert problems[-1].startswith("kard-hf pipeline: error: the dry run found") and len(problems) == 6
    assert sorted(p.name for p in here.iterdir()) == ["medqa.yaml"]  # nothing written


def test_the_dry_run_passes_once_the_problems_are_mended(here, capsys):
    recipe = yaml.safe_load(RECIPE.read_text())
    for section in ("train", "train_reranker"):
        recipe[section]["bf16"] = False
    (here / "data").mkdir()
    (here / "data" / "psgs_w100.tsv").write_text("id\ttext\ttitle\n")
    (here / "medqa.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["pipeline", "--config", "medqa.yaml", "--dry_run", "true"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in HUB_IDS)
    assert not (here / "outputs").exists()


def test_a_missing_local_input_is_named_not_sent_to_the_hub(here, capsys):
    recipe = yaml.safe_load(RECIPE.read_text())
    for section in ("train", "train_reranker"):
        recipe[section]["bf16"] = False
    recipe["build_kb"] = None
    recipe["augment"]["knowledge_base"] = "./kb-built-earlier"
    recipe["rationales"]["dataset"] = "downloads/medqa/"
    (here / "medqa.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["pipeline", "--config", "medqa.yaml", "--dry_run", "true"]) == 2
    out = capsys.readouterr().err
    assert "augment: knowledge_base ./kb-built-earlier: no such file or folder" in out
    assert "rationales: dataset downloads/medqa/: no such file or folder" in out
