"""The second fault probe's data cases (issue 24): one fingerprint for what produced a search, corpora read
exactly, outputs claimed, pipeline reruns that see changed inputs. Each drives the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from kard_hf.fileio import output_lock
from test_faults import cli, one_error_line, world  # noqa: F401  (world: the module-scoped fixture)
from test_knowledge_augment import DYING_AUGMENT, _args, _as_lists, inputs  # noqa: F401  (inputs: a fixture)

TESTS = Path(__file__).parent


# ---- one fingerprint: corpus + BM25 parameters + normalisation --------------------------------------------


def test_a_resumed_augment_never_replays_searches_of_other_bm25_parameters(inputs, tmp_path):  # noqa: F811
    assert cli("build-kb", "--corpus", inputs / "corpus.jsonl", "--k1", "1.5", "--num_proc", "1",
               "--output_dir", tmp_path / "kb-k1").returncode == 0
    k1_args = [a if a != str(inputs / "kb") else str(tmp_path / "kb-k1") for a in _args(inputs, tmp_path / "whole")]
    assert cli(*k1_args).returncode == 0
    out = tmp_path / "processed"
    killed = subprocess.run([sys.executable, "-c", DYING_AUGMENT, *_args(inputs, out)], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    journal = tmp_path / ".processed.journal"
    torn = sorted(journal.glob("*.json"))[0]  # a metadata file torn by the kill: discarded, not fatal
    torn.write_text("")
    resumed = cli(*[a if a != str(tmp_path / "whole") else str(out) for a in k1_args])
    assert "resuming" not in resumed.stderr, resumed.stderr[-2000:]  # the k1 = 0.9 searches are not replayed
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{torn.name} is unreadable" in resumed.stderr, resumed.stderr[-2000:]
    whole, whole_manifest = _as_lists(tmp_path / "whole")
    got, manifest = _as_lists(out)
    assert got == whole and manifest["knowledge_base"] == whole_manifest["knowledge_base"]


# ---- corpora read exactly -----------------------------------------------------------------------------


def _build(tmp_path, name, content, *extra):
    corpus = tmp_path / name
    corpus.write_bytes(content.encode("utf-8"))
    return cli("build-kb", "--corpus", corpus, "--num_proc", "1", "--output_dir", tmp_path / f"kb-{name}", *extra)


def _passages(tmp_path, name):
    return json.loads((tmp_path / f"kb-{name}" / "kard_hf.json").read_text())["num_passages"]


def test_corpora_are_read_exactly_or_refused_naming_the_line(tmp_path):
    lines = [f"p{i}\tpassage number {i} about rivers\tTitle {i}" for i in range(6)]
    lines[2] = 'p2\t"a quote that DPR does not treat as one\tTitle 2'
    ok = _build(tmp_path, "dpr.tsv", "id\ttext\ttitle\n" + "\n".join(lines) + "\n")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert _passages(tmp_path, "dpr.tsv") == 6
    lines[4] += "\textra"
    one_error_line(_build(tmp_path, "extra.tsv", "id\ttext\ttitle\n" + "\n".join(lines) + "\n"),
                   "extra.tsv", "line 6", "4 fields where the header has 3")
    rows = ["id,text,title", "p1,first passage,T1", 'p2,"an unclosed quote swallows,T2', "p3,third passage,T3",
            'p4,"a quoted, text",T4']
    one_error_line(_build(tmp_path, "open.csv", "\n".join(rows) + "\n"), "open.csv", "line 3", "malformed CSV")
    one_error_line(_build(tmp_path, "eof.csv", "\n".join(rows[:4]) + "\n"), "eof.csv", "line 3", "malformed CSV")
    jsonl = [{"id": "p1", "title": "T", "text": "first passage"}, {"id": "p2", "title": "T", "text": "second one"}]
    for bad, field in (({"id": ["p", 2]}, "id"), ({"id": " "}, "id"), ({"title": {"a": 1}}, "title"),
                       ({"id": True}, "id")):
        rows = jsonl + [{**jsonl[0], **bad}]
        one_error_line(_build(tmp_path, "bad.jsonl", "".join(json.dumps(r) + "\n" for r in rows)),
                       "bad.jsonl", "line 3", f"field '{field}'")
    bom = _build(tmp_path, "bom.jsonl", "\ufeff" + "".join(json.dumps({**r, "id": i}) + "\n" for i, r in enumerate(jsonl)))
    assert bom.returncode == 0, bom.stderr[-2000:]
    assert _build(tmp_path, "bom.csv", "\ufeffid,text,title\np1,first passage,T1\n").returncode == 0


# ---- outputs claimed: train and the pipeline ---------------------------------------------------------------


def test_train_never_replaces_a_student_and_one_folder_has_one_trainer(world, tiny_t5_path, tmp_path):  # noqa: F811
    student = tmp_path / "student"
    shutil.copytree(world / "student", student)
    before = {p.name: p.read_bytes() for p in student.iterdir() if p.is_file()}
    argv = ["train", "--model_name_or_path", tiny_t5_path, "--dataset", world / "processed", "--max_steps", 1,
            "--per_device_train_batch_size", 4, "--save_strategy", "no", "--disable_tqdm", "true",
            "--max_target_length", 32, "--method", "rd"]
    one_error_line(cli(*argv, "--output_dir", student), "student", "already exists", "--resume_from_checkpoint")
    assert {p.name: p.read_bytes() for p in student.iterdir() if p.is_file()} == before
    one_error_line(cli(*argv, "--output_dir", world / "processed"), "is also an input")
    env_path = tmp_path / "held"
    with output_lock(env_path):  # another run holds it
        one_error_line(cli(*argv, "--output_dir", env_path), "is in use by pid")
    assert not env_path.exists()
    one_error_line(cli(*argv, "--output_dir", ".", cwd=tmp_path), "is the working directory")
    one_error_line(cli(*argv, "--output_dir", f"../{tmp_path.name}", cwd=tmp_path), "is the working directory")


def _pipeline(tmp_path, fixtures_dir):
    corpus, test = tmp_path / "corpus.jsonl", tmp_path / "test.jsonl"
    shutil.copy(fixtures_dir / "corpus.jsonl", corpus)
    shutil.copy(fixtures_dir / "medqa_usmle_hf_test.jsonl", test)
    config = {
        "output_dir": str(tmp_path / "run"),
        "rationales": {"teacher": "pipeline_teacher:AnswerTeacher", "prompt": "zero-shot", "n": 1,
                       "train_file": str(fixtures_dir / "medqa_usmle_hf_train.jsonl"), "test_file": str(test),
                       "generate_splits": ["train"]},
        "build_kb": {"corpus": str(corpus), "num_proc": 1},
        "augment": {"train_passages": 2, "candidates": 3, "silver_passages": 1, "num_threads": 1},
        "students": {},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return corpus, test, lambda: cli("pipeline", "--config", path, env=env)


def test_the_pipeline_never_deletes_what_it_did_not_write_and_reruns_on_changed_inputs(tmp_path, fixtures_dir):
    corpus, test, run = _pipeline(tmp_path, fixtures_dir)
    mine = tmp_path / "run" / "kb" / "mine.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("the user's own")
    one_error_line(run(), "kb", "already exists")
    assert mine.read_text() == "the user's own"
    shutil.rmtree(mine.parent)
    first = run()
    assert first.returncode == 0, first.stderr[-3000:]
    again = run()
    assert again.stdout.count("already complete, skipped") == 3, again.stdout
    with open(corpus, "a") as f:
        f.write(json.dumps({"id": "p-new", "title": "New", "text": "A passage added after the first run."}) + "\n")
    changed = run()
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert "== rationales: already complete, skipped" in changed.stdout
    assert f"== build-kb: complete, but its input {corpus} changed: running it again" in changed.stdout, changed.stdout
    assert "== augment: complete, but 'build-kb' ran again: running it again" in changed.stdout
    kb = json.loads((tmp_path / "run" / "kb" / "kard_hf.json").read_text())
    processed = json.loads((tmp_path / "run" / "processed" / "kard_hf.json").read_text())
    assert processed["knowledge_base"]["fingerprint"] == kb["fingerprint"]
    rows = [json.loads(line) for line in test.read_text().splitlines()]
    rows[0]["label"] = (rows[0]["label"] + 1) % 4  # a corrected test label
    test.write_text("".join(json.dumps(row) + "\n" for row in rows))
    relabeled = run()
    assert relabeled.returncode == 0, relabeled.stderr[-3000:]
    assert f"== rationales: complete, but its input {test} changed: running it again" in relabeled.stdout
    assert relabeled.stdout.count("running it again") == 3


# ---- rationale keys ----------------------------------------------------------------------------------------


def test_a_rationale_key_is_a_row_only_in_ascii_digits_and_names_one_row(world, tmp_path, fixtures_dir):  # noqa: F811
    released = fixtures_dir / "released"
    folder = tmp_path / "rationales"

    def augment(extra_file: str):
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(released / "chatgpt_output" / "medqa_usmle_hf" / "train", folder)
        shutil.copy(folder / "00001.json", folder / extra_file)
        return cli("augment", "--knowledge_base", world / "kb", "--train_file",
                   released / "data" / "medqa_usmle_hf" / "train.json", "--train_rationales", folder,
                   "--output_dir", tmp_path / "out")

    one_error_line(augment("1.json"), "'00001' and '1' both name row 1")
    one_error_line(augment("\u00b2.json"), "not in the dataset", "'\u00b2'")  # a superscript two is no row number
    one_error_line(augment("\u0660.json"), "not in the dataset", "'\u0660'")  # nor an Arabic-Indic zero
    assert not (tmp_path / "out").exists()
