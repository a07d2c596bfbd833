"""``kard-hf pipeline`` end to end on the fixture data with tiny models: every step (two at a time), a rerun that
skips the completed ones, a refused change of options, and a run killed mid-way (SIGKILL) that resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import yaml

from kard_hf.cli import main

TESTS = Path(__file__).parent


def _config(root, fixtures_dir, tiny_t5_path, tiny_bert_path, **changes) -> Path:
    config = {
        "output_dir": str(root / "run"),
        "rationales": {"teacher": "pipeline_teacher:AnswerTeacher", "prompt": "zero-shot", "n": 2,
                       "train_file": str(fixtures_dir / "medqa_usmle_hf_train.jsonl"),
                       "test_file": str(fixtures_dir / "medqa_usmle_hf_test.jsonl"),
                       "generate_splits": ["train", "test"]},
        "build_kb": {"corpus": str(fixtures_dir / "corpus.jsonl")},
        "augment": {"train_passages": 2, "candidates": 4, "silver_passages": 2, "rationale_pool": 4, "question_pool": 4},
        "train": {"model_name_or_path": str(tiny_t5_path), "max_steps": 2, "per_device_train_batch_size": 4,
                  "save_strategy": "no", "disable_tqdm": True, "max_target_length": 32, "report_to": "none"},
        "students": {"ft": {}, "kard": {"num_passages": 1}},
        "train_reranker": {"backbone": str(tiny_bert_path), "projection_dim": 8,
                           "per_device_train_batch_size": 4, "max_steps": 1, "save_strategy": "no",
                           "use_cpu": True, "report_to": "none", "disable_tqdm": True, "eval_split": "none"},
        "evaluate": {"decoding": "greedy", "max_new_tokens": 12},
    }
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump({**config, **changes}, sort_keys=False))
    return path


ROWS = ["ft", "kard-bm25", "kard-reranker"]
STEPS = ["rationales", "build-kb", "augment", "train-ft", "train-kard", "train-reranker",
         *(f"evaluate-{row}-on-test" for row in ROWS)]


def _markers(run: Path) -> dict[str, float]:
    return {p.stem: p.stat().st_mtime for p in sorted((run / ".steps").glob("*.json"))}


def test_pipeline_runs_every_step_then_skips_them(tmp_path, fixtures_dir, tiny_t5_path, tiny_bert_path, capsys,
                                                  monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    seen = tmp_path / "seen.jsonl"  # a second test split: two training questions under new ids
    seen.write_text("".join(json.dumps({**json.loads(line), "id": f"seen-{i}"}) + "\n" for i, line in
                            enumerate((fixtures_dir / "medqa_usmle_hf_train.jsonl").read_text().splitlines()[:2])))
    config = _config(tmp_path, fixtures_dir, tiny_t5_path, tiny_bert_path, splits=["test_seen", "test"])
    recipe = yaml.safe_load(config.read_text())
    recipe["rationales"].update(extra_splits=[f"test_seen={seen}"], generate_splits=["train", "test", "test_seen"])
    config.write_text(yaml.safe_dump(recipe, sort_keys=False))
    run = tmp_path / "run"
    assert main(["pipeline", "--config", str(config), "--jobs", "2"]) == 0  # two steps at a time, each with its log
    assert "== train ft (output: " in capsys.readouterr().out
    assert "***** train metrics *****" in (run / ".steps" / "train-kard.log").read_text()
    results = json.loads((run / "results.json").read_text())
    assert list(results["accuracy"]) == ["FT", "KARD (BM25)", "KARD (reranker)"]
    assert results["columns"] == {"test_seen": "test_seen (%)", "test": "test (%)"}
    assert all(list(cells) == ["test_seen", "test"] for cells in results["accuracy"].values())
    assert sorted(_markers(run)) == sorted(STEPS + [f"evaluate-{row}-on-test_seen" for row in ROWS])
    metrics = json.loads((run / "eval" / "test_seen" / "kard-reranker" / "metrics.json").read_text())
    assert metrics["retrieval"] == "reranker" and metrics["student"] == str(run / "kard")
    assert metrics["split"] == "test_seen" and metrics["questions"] == 2
    assert json.loads((run / "processed" / "kard_hf.json").read_text())["teacher"]["kind"] == "fixture"
    assert "| method          | test_seen (%) | test (%) |" in (run / "results.md").read_text()
    done = _markers(run)
    capsys.readouterr()

    assert main(["pipeline", "--config", str(config)]) == 0  # everything complete: nothing runs again
    out = capsys.readouterr().out
    assert out.count("already complete, skipped") == len(done) and _markers(run) == done
    assert json.loads((run / "results.json").read_text())["accuracy"] == results["accuracy"]

    changed = yaml.safe_load(config.read_text())
    changed["augment"]["candidates"] = 3
    config.write_text(yaml.safe_dump(changed, sort_keys=False))
    assert main(["pipeline", "--config", str(config)]) == 2
    assert "step 'augment' was completed with other options" in capsys.readouterr().err


def test_a_killed_pipeline_resumes_where_it_stopped(tmp_path, fixtures_dir, tiny_t5_path, tiny_bert_path):
    config = _config(tmp_path, fixtures_dir, tiny_t5_path, tiny_bert_path, students={"ft": {}, "kard": {}},
                     train_reranker=None)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "kard_hf.cli", "pipeline", "--config", str(config)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not (run / ".steps" / "augment.json").is_file():  # killed in the students' training
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _markers(run)
    assert {"rationales", "build-kb", "augment"} <= set(before) and "evaluate-ft-on-test" not in before

    resumed = subprocess.run(command, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    skipped = [line.split(": ")[0].removeprefix("== ") for line in resumed.stdout.splitlines()
               if line.endswith("already complete, skipped")]
    assert skipped == [name for name in ("rationales", "build-kb", "augment", "train ft", "train kard")
                       if name.replace(" ", "-") in before]
    after = _markers(run)
    assert sorted(after) == sorted(STEPS[:5] + ["evaluate-ft-on-test", "evaluate-kard-bm25-on-test"])
    assert all(after[name] == mtime for name, mtime in before.items())  # what was complete was not redone
    assert list(json.loads((run / "results.json").read_text())["accuracy"]) == ["FT", "KARD (BM25)"]


def test_the_medqa_example_recipe_parses_step_by_step(tmp_path, capsys, monkeypatch):
    recipe = yaml.safe_load((TESTS.parent / "recipes" / "pipelines" / "medqa-flan-t5-base.yaml").read_text())
    for section in ("train", "train_reranker"):  # no bf16 on this CPU
        recipe[section].update(bf16=False, use_cpu=True)
    recipe["output_dir"] = str(tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "psgs_w100.tsv").write_text("id\ttext\ttitle\n")
    config = tmp_path / "medqa.yaml"
    config.write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["pipeline", "--config", str(config), "--dry_run", "true"]) == 0
    plan = [line.split(" -> ")[0] for line in capsys.readouterr().out.splitlines()[:12]]
    assert plan[:4] == ["rationales: to run", "build-kb: to run", "augment: to run", "train ft: to run"]
    assert plan[-1] == "evaluate KARD (oracle passages) on test: to run" and len(plan) == 12
    recipe["students"]["kard"]["num_pasages"] = 1  # a typo is an error naming the step
    config.write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["pipeline", "--config", str(config), "--dry_run", "true"]) == 2
    assert "num_pasages" in capsys.readouterr().err


def test_a_completed_step_whose_output_went_stale_runs_again(tmp_path):
    """A KB built by an older index format (or deleted) is rebuilt on a rerun, and the steps after it run again
    (a rebuilt KB has a new fingerprint)."""
    from kard_hf.knowledge.kb import FORMAT_VERSION
    from kard_hf.chain import Step, run_steps, stale_knowledge_base

    kb, ran = tmp_path / "kb", []
    steps = [Step("build-kb", {"corpus": "c"}, lambda mode: ran.append("build-kb"),
                  stale=partial(stale_knowledge_base, kb)),
             Step("augment", {"k": 1}, lambda mode: ran.append("augment"))]
    kb.mkdir()
    (kb / "kard_hf.json").write_text(json.dumps({"kind": "knowledge-base", "format_version": FORMAT_VERSION}))
    run_steps(steps, tmp_path, log=lambda line: None)
    assert ran == ["build-kb", "augment"]
    lines = []
    (kb / "kard_hf.json").write_text(json.dumps({"kind": "knowledge-base", "format_version": 2}))
    run_steps(steps, tmp_path, log=lines.append)
    assert ran == ["build-kb", "augment", "build-kb", "augment"]
    assert f"== build-kb: complete, but its knowledge base has index format 2 (this kard_hf reads {FORMAT_VERSION}): " \
           "running it again" in lines and "== augment: complete, but 'build-kb' ran again: running it again" in lines
    (kb / "kard_hf.json").unlink()
    run_steps(steps, tmp_path, log=lines.append)
    assert ran[-2:] == ["build-kb", "augment"]
