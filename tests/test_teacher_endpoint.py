"""`kard-hf rationales` against a real chat-completions server on loopback (tests/teacher_server.py)."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kard_hf.cli import main
from kard_hf.data import format_question, load_mcq
from kard_hf.data.store import load_dataset_dict
from kard_hf.errors import TeacherError
from kard_hf.teacher import OpenAICompatibleTeacher, SamplingParams
from kard_hf.teacher.cache import SampleCache

from teacher_server import ChatServer

KEY = "sk-test-DO-NOT-LEAK-0123456789"
QUESTIONS = 6  # tests/fixtures/medqa_usmle_hf_train.jsonl
REPO = Path(__file__).resolve().parents[1]
FAST = ["--backoff", "0.01", "--max_backoff", "0.05", "--request_timeout", "5"]


@pytest.fixture(autouse=True)
def online_to_loopback(monkeypatch):
    """The key in the environment, and huggingface_hub allowed to send requests (only to the loopback server here)."""
    import huggingface_hub.constants

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def run_cli(server_url, fixtures_dir, out, *extra):
    return main(["rationales", "--train_file", str(fixtures_dir / "medqa_usmle_hf_train.jsonl"), "--model", "teacher-x",
                 "--base_url", server_url, "--output_dir", str(out), *FAST, *extra])


def cache_records(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_normal_run_filters_caches_and_records_the_teacher(tmp_path, fixtures_dir):
    out = tmp_path / "rationales"
    with ChatServer(wrong_odd_choices=True) as server:
        assert run_cli(server.base_url, fixtures_dir, out, "--n", "2", "--temperature", "0.7") == 0
        assert server.count() == QUESTIONS  # n=2 asked in one request per question
        body = server.requests[0]
        assert (body["_path"], body["model"], body["n"], body["temperature"]) == ("/v1/chat/completions", "teacher-x", 2, 0.7)
        assert body["_authorization"] == f"Bearer {KEY}"
        assert "Correct answer: (A)\nExplanation:" in body["messages"][0]["content"]  # the gold answer is in the prompt

        dataset_dict, manifest = load_dataset_dict(out)
        train = dataset_dict["train"]
        assert train.column_names == ["id", "stem", "options", "answer", "rationales"]
        for row in train:  # choice 0 is right, choice 1 wrong: exactly the right one kept
            assert len(row["rationales"]) == 1
            assert row["rationales"][0].endswith(f"So, the answer is ({'ABCD'[row['answer']]}).")
        teacher = manifest["teacher"]
        assert teacher["kind"] == "openai-compatible" and teacher["model"] == "teacher-x"
        assert teacher["host"] == server.base_url.split("/")[2]
        assert teacher["prompt"]["name"] == "medqa" and len(teacher["prompt"]["sha256"]) == 64
        assert teacher["sampling"]["temperature"] == 0.7 and teacher["n"] == 2
        assert (teacher["filter"], teacher["kept"], teacher["dropped"]) == ({"kind": "answer"}, 6, 6)
        card = (out / "README.md").read_text()
        assert teacher["prompt"]["sha256"] in card and "| train | 6 | 6 | 6 | 0 |" in card
        from datasets import load_dataset  # as a Hub copy of the folder is read: the card's configs name the splits

        assert load_dataset(str(out))["train"].to_list() == train.to_list()
        assert len(cache_records(f"{out}.cache.jsonl")) == 2 * QUESTIONS

        # A second run is served from the cache alone (replacing the output needs --overwrite_output_dir).
        assert run_cli(server.base_url, fixtures_dir, out, "--n", "2", "--temperature", "0.7") == 2
        assert run_cli(server.base_url, fixtures_dir, out, "--n", "2", "--temperature", "0.7", "--overwrite_output_dir") == 0
        assert server.count() == QUESTIONS
        # Changing the sampling parameters is a new request for every question.
        assert run_cli(server.base_url, fixtures_dir, out, "--n", "2", "--temperature", "0.5", "--overwrite_output_dir") == 0
        assert server.count() == 2 * QUESTIONS


def test_a_server_that_ignores_n_is_asked_again_for_the_rest(tmp_path, fixtures_dir):
    with ChatServer(ignore_n=True) as server:
        assert run_cli(server.base_url, fixtures_dir, tmp_path / "out", "--n", "3") == 0
        assert [body.get("n") for body in server.requests if "Veltram" in body["_question"]] == [3, 2, None]
    assert len(cache_records(tmp_path / "out.cache.jsonl")) == 3 * QUESTIONS


def test_429_500_and_timeouts_are_retried(tmp_path, fixtures_dir, caplog):
    with ChatServer(script=["429", "500", "slow"], slow_seconds=1.5) as server, caplog.at_level(logging.WARNING):
        code = run_cli(server.base_url, fixtures_dir, tmp_path / "out", "--n", "1", "--max_concurrency", "1",
                       "--request_timeout", "0.5")
        assert code == 0
        assert server.count() == QUESTIONS + 3
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 3
    assert "HTTP 429" in retries[0] and "HTTP 500" in retries[1] and "no response within 0.5s" in retries[2]
    dataset_dict, manifest = load_dataset_dict(tmp_path / "out")
    assert manifest["teacher"]["kept"] == QUESTIONS


def test_requests_in_flight_are_bounded_and_rate_limited(tmp_path, fixtures_dir):
    with ChatServer(delay=0.2) as server:
        assert run_cli(server.base_url, fixtures_dir, tmp_path / "a", "--n", "1", "--max_concurrency", "2") == 0
        assert server.max_in_flight == 2
    with ChatServer() as server:
        assert run_cli(server.base_url, fixtures_dir, tmp_path / "b", "--n", "1", "--requests_per_minute", "200") == 0
        times = [body["_time"] for body in server.requests]
    assert times[-1] - times[0] > 0.8 * 0.3 * (QUESTIONS - 1)  # 200/min: one start every 0.3 s


def test_malformed_json_is_retried_reported_and_never_cached(tmp_path, fixtures_dir, caplog, capsys):
    out = tmp_path / "out"
    with ChatServer(script=["malformed"]) as server, caplog.at_level(logging.WARNING):
        assert run_cli(server.base_url, fixtures_dir, out, "--n", "1", "--max_concurrency", "1") == 0
        assert server.count() == QUESTIONS + 1
    assert any("malformed response" in r.getMessage() for r in caplog.records)
    assert len(cache_records(f"{out}.cache.jsonl")) == QUESTIONS

    # A question whose replies are always malformed: the run stops with one error, nothing of it is cached.
    out2 = tmp_path / "out2"
    with ChatServer(malformed_for="Calder") as server:
        assert run_cli(server.base_url, fixtures_dir, out2, "--n", "1", "--max_concurrency", "1", "--max_retries", "2") == 2
        assert server.count() == QUESTIONS - 1 + 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "giving up after 3 attempts: malformed response" in err
    records = cache_records(f"{out2}.cache.jsonl")
    assert sorted(r["id"] for r in records) == sorted(["train-veltram", "train-quessa", "train-harrowgate",
                                                       "train-brindle", "train-omberlin"])
    assert not out2.exists()  # no partial dataset


def test_killed_run_resumes_without_duplicates_or_repeated_requests(tmp_path, fixtures_dir):
    out, n = tmp_path / "out", 3
    args = ["--n", str(n), "--samples_per_request", "1", "--max_concurrency", "1", "--filter", "none"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": KEY}
    with ChatServer(delay=0.05) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "kard_hf.cli", "rationales", "--train_file", str(fixtures_dir / "medqa_usmle_hf_train.jsonl"),
             "--model", "teacher-x", "--base_url", server.base_url, "--output_dir", str(out), *FAST, *args],
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 90
        while server.count() < 7 and time.time() < deadline and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL and server.count() >= 7
        assert not out.exists()
        before = server.count()
        with SampleCache(f"{out}.cache.jsonl") as cache:  # what the killed run managed to keep
            cached = {}
            for record in cache_records(f"{out}.cache.jsonl"):
                cached[record["id"]] = cached.get(record["id"], 0) + 1
            assert 0 < len(cache) < n * QUESTIONS

        assert run_cli(server.base_url, fixtures_dir, out, *args) == 0
        asked = {}
        for body in server.requests[before:]:
            asked[body["_question"]] = asked.get(body["_question"], 0) + 1
    for e in load_mcq(fixtures_dir / "medqa_usmle_hf_train.jsonl"):  # the restart asked exactly for what was missing
        assert asked.get(format_question(e.stem, e.options), 0) == n - cached.get(e.id, 0), e.id
    keys = [(r["id"], r["sample"], r["request_sha256"]) for r in cache_records(f"{out}.cache.jsonl")]
    assert len(keys) == len(set(keys)) == n * QUESTIONS
    dataset_dict, _ = load_dataset_dict(out)
    assert [len(r) for r in dataset_dict["train"]["rationales"]] == [n] * QUESTIONS


def test_401_is_one_clear_error_without_retries(tmp_path, fixtures_dir, capsys):
    with ChatServer(script=["401"] * 10) as server:
        assert run_cli(server.base_url, fixtures_dir, tmp_path / "out", "--n", "1", "--max_concurrency", "1") == 2
        assert server.count() == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("kard-hf rationales: error")]
    assert len(errors) == 1 and "Traceback" not in err and "retry" not in err
    assert "authentication failed (HTTP 401); check $OPENAI_API_KEY" in errors[0] and KEY not in err


def test_unreachable_endpoint(tmp_path, fixtures_dir, capsys):
    with ChatServer() as server:
        url = server.base_url  # a port that was just free and is closed below
    assert run_cli(url, fixtures_dir, tmp_path / "out", "--max_retries", "1") == 2
    err = capsys.readouterr().err
    assert "giving up after 2 attempts: cannot reach the endpoint (ConnectError" in err


@pytest.mark.parametrize("template, message", [
    ("Question: {question}\nExplanation:", "lacks the placeholder(s) {answer}"),
    ("Q: {question} gold ({answr})", "lacks the placeholder(s) {answer}"),
    ("Q: {question} gold ({answer}) {answr}", "unknown placeholder(s) {answr}"),
])
def test_bad_prompt_template(tmp_path, fixtures_dir, capsys, template, message):
    path = tmp_path / "prompt.txt"
    path.write_text(template)
    assert run_cli("http://127.0.0.1:9/v1", fixtures_dir, tmp_path / "out", "--prompt", str(path)) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "field 'prompt'" in err


def test_n_below_one(tmp_path, fixtures_dir, capsys):
    assert run_cli("http://127.0.0.1:9/v1", fixtures_dir, tmp_path / "out", "--n", "0") == 2
    assert "n must be >= 1, got 0" in capsys.readouterr().err


def test_the_api_key_never_leaks(tmp_path, fixtures_dir, capsys, caplog):
    messages = []
    with caplog.at_level(logging.DEBUG):
        with ChatServer(script=["429", "malformed", "500"], wrong_odd_choices=True) as server:
            assert run_cli(server.base_url, fixtures_dir, tmp_path / "ok", "--n", "2", "--max_concurrency", "1") == 0
        with ChatServer(script=["401"] * 20) as server:
            assert run_cli(server.base_url, fixtures_dir, tmp_path / "denied", "--n", "1") == 2
            teacher = OpenAICompatibleTeacher("teacher-x", base_url=server.base_url, api_key=KEY, max_retries=0)
            with pytest.raises(TeacherError) as error:
                teacher.complete("Question: q A. a B. b\nCorrect answer: (A)\nExplanation:", 1, SamplingParams())
            messages += [str(error.value), repr(teacher)]
    captured = capsys.readouterr()
    texts = messages + [captured.out, captured.err, caplog.text]
    texts += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert any("Incorrect API key provided" in text for text in texts)  # the server's 401 text is shown...
    assert len(texts) > 6 and not [text for text in texts if KEY in text]  # ...without the key


def test_hub_offline_mode_is_reported_before_any_request(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with ChatServer() as server:
        teacher = OpenAICompatibleTeacher("m", base_url=server.base_url)
        with pytest.raises(TeacherError, match="HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set"):
            teacher.complete("Question: q A. a B. b\nCorrect answer: (A)\nExplanation:", 1, SamplingParams())
        assert server.count() == 0


def test_only_the_host_of_a_base_url_is_recorded():
    teacher = OpenAICompatibleTeacher("m", base_url="https://user:s3cret@llm.example.com:8443/v1?token=abc")
    assert teacher.describe() == {"kind": "openai-compatible", "model": "m", "host": "llm.example.com:8443"}
    assert "s3cret" not in repr(teacher)
