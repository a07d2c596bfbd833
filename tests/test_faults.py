"""Fault injection: the real CLI, in subprocesses, fed the bad inputs and faults of issue 19.

Each case checks what docs/reliability.md promises: exit code 2 and one error line naming the file,
row or field (no traceback), no partial output, none of the user's files deleted; or, for the
cases that must succeed (resume, determinism), the documented behaviour.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import threading

import pytest

from kard_hf.cli import main

from teacher_server import ChatServer

TRAIN = "medqa_usmle_hf_train.jsonl"


def cli(*argv, cwd=None, env=None, timeout=300, limit_file_size=None) -> subprocess.CompletedProcess:
    """Run ``kard-hf argv`` in a fresh interpreter (what a user's shell does)."""
    environment = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", **(env or {})}

    def limit():
        if limit_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run([sys.executable, "-m", "kard_hf.cli", *map(str, argv)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limit)


def one_error_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit code 2 and exactly one ``kard-hf <command>: error:`` line that contains every ``expected`` text."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("kard-hf ")]
    assert result.returncode == 2 and len(errors) == 1, (result.returncode, result.stderr[-3000:])
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def leftovers(folder: Path) -> list[str]:
    """Hidden temporaries and locks in ``folder`` (none may stay after a run)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and (".tmp-" in p.name or
                                                                                  ".old-" in p.name or
                                                                                  p.name.endswith(".lock")))


def _ok(*argv):
    assert main([str(a) for a in argv]) == 0, argv


@pytest.fixture(scope="module")
def world(tmp_path_factory, fixtures_dir, tiny_t5_path, tiny_bert_path):
    """A KB, the same corpus indexed with other BM25 parameters, a KB of another corpus, a processed
    dataset and a kard student, all made by the real commands."""
    root = tmp_path_factory.mktemp("faults")
    _ok("build-kb", "--corpus", fixtures_dir / "corpus.jsonl", "--output_dir", root / "kb")
    _ok("build-kb", "--corpus", fixtures_dir / "corpus.jsonl", "--k1", 1.5, "--output_dir", root / "kb-k1")
    lines = (fixtures_dir / "corpus.jsonl").read_text().splitlines()
    (root / "other.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    _ok("build-kb", "--corpus", root / "other.jsonl", "--output_dir", root / "kb-other")
    _ok("augment", "--knowledge_base", root / "kb", "--train_file", fixtures_dir / TRAIN,
        "--train_rationales", fixtures_dir / "rationales", "--test_file", fixtures_dir / "medqa_usmle_hf_test.jsonl",
        "--test_rationales", fixtures_dir / "test_rationales.jsonl", "--validation_file",
        fixtures_dir / "medqa_usmle_hf_test.jsonl", "--validation_rationales", fixtures_dir / "test_rationales.jsonl",
        "--candidates", 6, "--silver_passages", 2, "--train_passages", 3, "--output_dir", root / "processed")
    _ok("train", "--model_name_or_path", tiny_t5_path, "--dataset", root / "processed", "--max_steps", 1,
        "--per_device_train_batch_size", 4, "--save_strategy", "no", "--disable_tqdm", "true",
        "--max_target_length", 32, "--method", "kard", "--output_dir", root / "student")
    return root


def evaluate_argv(world, output_dir, *extra):
    return ["evaluate", "--student", world / "student", "--dataset", world / "processed", "--output_dir", output_dir,
            "--decoding", "greedy", "--max_new_tokens", 8, *extra]


# ---- data loss ------------------------------------------------------------------------------------------


def test_evaluate_keeps_an_existing_folder_and_never_overwrites_its_dataset(world, tmp_path):
    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    one_error_line(cli(*evaluate_argv(world, mine)), str(mine), "already exists", "--overwrite_output_dir")
    assert (mine / "notes.txt").read_text() == "my notes"
    before = sorted(p.name for p in (world / "processed").rglob("*"))
    one_error_line(cli(*evaluate_argv(world, world / "processed", "--overwrite_output_dir")),
                   "is also an input", "field 'output_dir'")
    assert sorted(p.name for p in (world / "processed").rglob("*")) == before
    assert leftovers(tmp_path) == [] and leftovers(world) == []


def test_a_second_rationales_run_on_the_same_output_and_cache_is_refused(world, tmp_path, fixtures_dir):
    out = tmp_path / "rationales"
    argv = ["rationales", "--train_file", fixtures_dir / TRAIN, "--model", "m", "--n", "1", "--max_concurrency", "1",
            "--output_dir", out]
    with ChatServer(delay=5) as server:  # the first run lasts 30 s: long enough to be caught at work
        argv += ["--base_url", server.base_url]
        first = subprocess.Popen([sys.executable, "-m", "kard_hf.cli", *map(str, argv)], cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env={**os.environ, "HF_HUB_OFFLINE": "0", "OPENAI_API_KEY": "k"})
        try:
            deadline = time.monotonic() + 120
            while server.count() == 0 and time.monotonic() < deadline:  # the first run holds its locks now
                time.sleep(0.1)
            second = cli(*argv, cwd=tmp_path, env={"HF_HUB_OFFLINE": "0", "OPENAI_API_KEY": "k"})
            asked = server.count()
        finally:
            first.kill()
            first.wait()
    one_error_line(second, "is in use by pid", f"pid {first.pid} on host")
    assert asked < 6  # the second run asked for nothing: only the first run's requests reached the server


def test_resume_skips_a_partial_checkpoint_and_reranker_training_is_deterministic(world, tiny_bert_path, tmp_path):
    """Two trainings with one seed, the second killed with -9 after its first checkpoint and left with a
    partial newer checkpoint (a kill during the save), then resumed with ``last``: identical weights."""
    from safetensors.torch import load_file

    def argv(out):
        return ["train-reranker", "--backbone", tiny_bert_path, "--dataset", world / "processed", "--knowledge_base",
                world / "kb", "--projection_dim", 8, "--rationale_pool", 4, "--question_pool", 4,
                "--rationale_samples", 2, "--question_samples", 2, "--per_device_train_batch_size", 4,
                "--max_steps", 6, "--save_strategy", "steps", "--save_steps", 2, "--use_cpu", "true",
                "--report_to", "none", "--disable_tqdm", "true", "--eval_split", "none", "--output_dir", out]

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert cli(*argv(straight)).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "kard_hf.cli", *map(str, argv(killed))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoint-2" / "trainer_state.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()  # SIGKILL: no clean-up runs
    process.wait()
    partial = killed / "checkpoint-4"  # what a kill while the Trainer saves leaves: weights, a cut trainer_state
    partial.mkdir(exist_ok=True)
    (partial / "trainer_state.json").write_text('{"global_step": 4, "log_hist')
    result = cli(*argv(killed), "--resume_from_checkpoint", "last")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skipping" in result.stderr and "checkpoint-4" in result.stderr
    a = load_file(next(straight.glob("*.safetensors")))
    b = load_file(next(killed.glob("*.safetensors")))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # bit-identical
    partial = tmp_path / "checkpoint-9"  # the resumed run rewrote checkpoint-4: a new partial one
    partial.mkdir()
    one_error_line(cli(*argv(tmp_path / "bad"), "--resume_from_checkpoint", partial), str(partial),
                   "no trainer_state.json", "field 'resume_from_checkpoint'")
    one_error_line(cli(*argv(tmp_path / "bad"), "--resume_from_checkpoint", "lastt"),
                   "expected 'last', 'true' or a checkpoint folder")


# ---- leaks ---------------------------------------------------------------------------------------------


class _EchoServer:
    """Answers every request with HTTP 400 and a body that quotes the URL it was sent to, as some servers do."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                host = self.headers["Host"]
                body = json.dumps({"error": f"unknown route http://bob:pa55word@{host}{self.path}"}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_credentials_in_the_base_url_are_never_printed(tmp_path, fixtures_dir):
    env = {"HF_HUB_OFFLINE": "0", "OPENAI_API_KEY": "sk-secret-key-42"}
    argv = ["rationales", "--train_file", fixtures_dir / TRAIN, "--model", "m", "--n", "1", "--max_retries", "0"]
    with ChatServer() as server:
        url = server.base_url.replace("http://", "http://bob:pa55word@") + "?token=T0KEN"
        result = cli(*argv, "--base_url", url, "--output_dir", tmp_path / "ok", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HTTP Request: POST http://127.0.0.1" in result.stderr  # the client's INFO lines are still there...
    with _EchoServer() as host:
        failed = cli(*argv, "--base_url", f"http://bob:pa55word@{host}/v1?token=T0KEN", "--output_dir",
                     tmp_path / "refused", env=env)
    one_error_line(failed, "request refused (HTTP 400)", "unknown route http://127.0.0.1")
    for output in (result.stdout + result.stderr, failed.stdout + failed.stderr):  # ...without any credential
        assert "pa55word" not in output and "T0KEN" not in output and "sk-secret-key-42" not in output


# ---- promised checks -----------------------------------------------------------------------------------


def test_a_kb_of_the_same_corpus_with_other_bm25_parameters_is_refused(world, tiny_bert_path, tmp_path):
    result = cli("train-reranker", "--backbone", tiny_bert_path, "--dataset", world / "processed", "--knowledge_base",
                 world / "kb-k1", "--max_steps", 1, "--use_cpu", "true", "--output_dir", tmp_path / "out")
    one_error_line(result, "field 'knowledge_base'", "k1=1.5", "0.9")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kb", ["kb-other", "kb-k1"])  # another corpus; the same one with other BM25 parameters
def test_predict_refuses_a_kb_other_than_the_students(world, tmp_path, kb):
    question = json.dumps({"question": "Which river flows through the city of Veltram?", "options": ["a", "b"]})
    result = subprocess.run([sys.executable, "-m", "kard_hf.cli", "predict", "--student", world / "student",
                             "--knowledge_base", world / kb, "--decoding", "greedy", "--max_new_tokens", "4"],
                            input=question + "\n", capture_output=True, text=True, timeout=300)
    one_error_line(result, "field 'knowledge_base'", "the student")
    assert result.stdout == ""


def test_predict_names_the_bad_line_of_standard_input(world):
    good = json.dumps({"question": "Which river flows through the city of Veltram?", "options": ["a", "b"]})
    for bad, expected in (("{not json", "not valid JSON"), (json.dumps({"question": "Q?", "options": ["a"]}), "")):
        result = subprocess.run([sys.executable, "-m", "kard_hf.cli", "predict", "--student", world / "student"],
                                input=f"{good}\n{bad}\n", capture_output=True, text=True, timeout=300)
        one_error_line(result, "<stdin>", "line 2", expected)
        assert result.stdout == ""


def test_an_encoder_only_bert_is_not_a_causal_student(world, tiny_bert_path, tmp_path):
    import shutil

    from transformers import AutoTokenizer

    bert = tmp_path / "bert"  # with an end-of-sequence token, as a BERT-style checkpoint may have
    shutil.copytree(tiny_bert_path, bert)
    tokenizer = AutoTokenizer.from_pretrained(bert)
    tokenizer.eos_token = tokenizer.sep_token
    tokenizer.save_pretrained(bert)
    result = cli("train", "--model_name_or_path", bert, "--dataset", world / "processed", "--method", "rd",
                 "--max_steps", 1, "--output_dir", tmp_path / "bert-student")
    one_error_line(result, "'bert'", "bidirectional encoder")
    assert not (tmp_path / "bert-student" / "model.safetensors").exists()


# ---- tracebacks become one line --------------------------------------------------------------------------


def test_pickle_only_weights_are_refused_in_one_line(world, tiny_bert_path, tmp_path):
    import shutil

    import torch
    from transformers import BertModel

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert_path, folder)
    (folder / "model.safetensors").unlink()
    torch.save({"model": BertModel.from_pretrained(tiny_bert_path)}, folder / "pytorch_model.bin")  # a whole module
    result = cli("train-reranker", "--backbone", folder, "--dataset", world / "processed", "--knowledge_base",
                 world / "kb", "--max_steps", 1, "--use_cpu", "true", "--output_dir", tmp_path / "out")
    one_error_line(result, "pytorch_model.bin", "never unpickles")
    assert not list((tmp_path / "out").glob("*.safetensors"))



def test_os_errors_on_output_are_one_line(world, tmp_path, fixtures_dir):
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    one_error_line(cli(*evaluate_argv(world, a_file / "eval")), str(a_file), "is a file")
    one_error_line(cli(*evaluate_argv(world, a_file, "--overwrite_output_dir")), "is a file, not a folder")
    assert a_file.read_text() == "mine"
    # A file-size limit (what a full disk or a quota does to a write): the KB cannot be saved.
    result = cli("build-kb", "--corpus", fixtures_dir / "corpus.jsonl", "--output_dir", tmp_path / "kb",
                 limit_file_size=1024)
    one_error_line(result, f"{tmp_path / 'kb'}: File too large")  # the OS error names the output it could not write
    assert not (tmp_path / "kb").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("line, expected", [
    ("max_steps: 2.5", ["field 'max_steps'", "expected an integer, got 2.5"]),
    ("learning_rate: fast", ["field 'learning_rate'", "'fast'"]),
    ("stopwords: no", ["field 'stopwords'"]),  # YAML's `no` is a boolean
])
def test_bad_recipe_values_name_the_recipe_and_the_key(world, tmp_path, line, expected):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"dataset: {world / 'processed'}\nknowledge_base: {world / 'kb'}\n{line}\n")
    command = "build-kb" if line.startswith("stopwords") else "train-reranker"
    extra = ["--corpus", world / "other.jsonl"] if command == "build-kb" else ["--backbone", "unused"]
    if command == "build-kb":
        recipe.write_text(f"{line}\n")
    one_error_line(cli(command, "--config", recipe, *extra, "--output_dir", tmp_path / "out"), str(recipe), *expected)
    assert not (tmp_path / "out").exists()


def test_unknown_stemmer_is_refused_before_the_corpus_is_read(tmp_path):
    result = cli("build-kb", "--corpus", tmp_path / "not-yet-written.jsonl", "--stemmer", "klingon",
                 "--output_dir", tmp_path / "kb")
    one_error_line(result, "field 'stemmer'", "unknown stemmer 'klingon'")


def test_a_cache_that_is_not_utf8_and_a_teacher_that_cannot_answer(tmp_path, fixtures_dir):
    cache = tmp_path / "cache.jsonl"
    cache.write_bytes(b'{"id": "q", "sample": 0, "request_sha256": "x", "text": "caf\xe9"}\n')
    result = cli("rationales", "--train_file", fixtures_dir / TRAIN, "--teacher", "benchmark", "--cache_file", cache,
                 "--output_dir", tmp_path / "out")
    one_error_line(result, str(cache), "line 1", "not valid UTF-8")
    # The benchmark teacher on questions that are not the benchmark's: one line, and no empty cache left.
    result = cli("rationales", "--train_file", fixtures_dir / TRAIN, "--teacher", "benchmark", "--prompt", "zero-shot",
                 "--output_dir", tmp_path / "bench")
    one_error_line(result, "--teacher benchmark answers only the bundled benchmark's questions")
    assert not (tmp_path / "bench.cache.jsonl").exists() and not (tmp_path / "bench").exists()
    assert leftovers(tmp_path) == []


# ---- error locations -------------------------------------------------------------------------------------


def test_errors_name_the_right_line(tmp_path):
    csv_file = tmp_path / "questions.csv"
    csv_file.write_text('id,question,options,answer\nq1,"What is\nthis, really?","[""a"", ""b""]",0\n'
                        'q2,Second?,"[""a"", """"]",0\n')
    one_error_line(cli("rationales", "--train_file", csv_file, "--teacher", "benchmark", "--output_dir", tmp_path / "a"),
                   f"{csv_file}, line 4, field 'options[1]'")
    jsonl = tmp_path / "questions.jsonl"
    row = {"id": "q1", "question": "Q?", "options": ["a", "b"], "answer": 0}
    jsonl.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    one_error_line(cli("rationales", "--train_file", jsonl, "--teacher", "benchmark", "--output_dir", tmp_path / "b"),
                   f"{jsonl}, line 2, field 'id'", "first seen at line 1")


def test_an_unlabeled_train_question_is_named(world, tmp_path, fixtures_dir):
    rows = [json.loads(line) for line in (fixtures_dir / TRAIN).read_text().splitlines() if line.strip()]
    rows[2]["label"] = -1  # unlabeled, in the released KARD format
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rationales = tmp_path / "rationales.jsonl"
    rationales.write_text("".join(json.dumps({"id": r["id"], "rationale": "Because. So, the answer is (A)."}) + "\n"
                                  for r in rows))
    result = cli("augment", "--knowledge_base", world / "kb", "--train_file", tmp_path / "train.jsonl",
                 "--train_rationales", rationales, "--filter", "none", "--output_dir", tmp_path / "out")
    one_error_line(result, f"train question {rows[2]['id']!r}", "field 'answer'", "no gold answer")
    assert not (tmp_path / "out").exists()


def test_a_missing_local_path_is_not_sent_to_the_hub(world, tmp_path):
    """``processed/typo``: ``processed/`` is a local folder, so this is a typo of a path, not a Hub id."""
    result = cli("evaluate", "--student", world / "student", "--dataset", "processed/typo", "--output_dir",
                 tmp_path / "eval", cwd=world, env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"})
    one_error_line(result, "processed/typo", "no such file or folder")


# ---- leftovers -------------------------------------------------------------------------------------------


def test_the_temporaries_of_a_killed_save_are_cleaned(tmp_path, fixtures_dir):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".kb.tmp-{dead.pid}-0123abcd"  # a KB save killed with -9 leaves this
    (stale / "index").mkdir(parents=True)
    assert cli("build-kb", "--corpus", fixtures_dir / "corpus.jsonl", "--output_dir", tmp_path / "kb").returncode == 0
    assert not stale.exists() and leftovers(tmp_path) == []
