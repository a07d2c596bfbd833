"""``kard-hf evaluate`` and ``predict`` through a served student (an OpenAI-compatible completions or chat endpoint,
here a loopback server running the same tiny Qwen2 student with transformers): the answers equal local evaluation's,
question by question; the endpoint teacher's retries and errors apply."""

import json

import huggingface_hub
import pytest

from decoder_fixtures import save_student_base
from distill_fixtures import augment_fixture_questions
from kard_hf.cli import main
from kard_hf.data.store import save_dataset_dict
from kard_hf.inference import KARDPipeline
from student_server import StudentServer


@pytest.fixture(autouse=True)
def online(monkeypatch):
    # The endpoint client refuses every request in offline mode; only the loopback server is reached.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, causal_tokenizer, fixtures_dir):
    """``(student folder, processed dataset, knowledge base)``: a chat-format Qwen2 KARD student on augmented fixtures."""
    root = tmp_path_factory.mktemp("served")
    dataset_dict, manifest = augment_fixture_questions(fixtures_dir, root)
    save_dataset_dict(dataset_dict, manifest, root / "processed")
    base = save_student_base(root / "base", causal_tokenizer, "qwen2")
    student = root / "student"
    assert main(["train", "--model_name_or_path", str(base), "--dataset", str(root / "processed"), "--output_dir",
                 str(student), "--max_steps", "30", "--learning_rate", "1e-2", "--per_device_train_batch_size", "4",
                 "--save_strategy", "no", "--disable_tqdm", "true", "--report_to", "none"]) == 0
    return student, root / "processed", root / "kb"


def served(student):
    stop = KARDPipeline.from_pretrained(student).collator.stop_token_ids
    return StudentServer(student, stop)


def evaluate(student, processed, out, *extra):
    assert main(["evaluate", "--student", str(student), "--dataset", str(processed), "--split", "validation",
                 "--output_dir", str(out), "--max_new_tokens", "12", *extra]) == 0
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


def answers(rows):
    return [(row["id"], row["letter"], [text.strip() for text in row["rationales"]], row["passage_ids"]) for row in rows]


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_greedy_served_evaluation_equals_local_evaluation(api, trained, tmp_path):
    student, processed, _ = trained
    local = evaluate(student, processed, tmp_path / "local", "--decoding", "greedy", "--batch_size", "1")
    with served(student) as server:
        remote = evaluate(student, processed, tmp_path / "served", "--decoding", "greedy", "--base_url",
                          server.base_url, "--served_api", api)
    assert answers(remote) == answers(local) and len(local) == 2
    assert any(row["rationales"][0].strip() for row in local)  # the student wrote something to compare
    assert all(body["temperature"] == 0 and body["model"] == str(student) for body in server.requests)
    if api == "completions":  # the exact training input: token ids, no template applied by the server
        prompts = KARDPipeline.from_pretrained(student).collator
        assert all(isinstance(body["prompt"], list) for body in server.requests)
        assert {tuple(body["prompt"]) for body in server.requests} == {
            tuple(ids) for ids in prompts.encode_prompts([r for r in _questions(processed)],
                                                         _top_candidates(processed, prompts.num_passages))}
    else:
        assert all(body["messages"][0]["role"] == "user" and "<|im_start|>" not in body["messages"][0]["content"]
                   for body in server.requests)


def _questions(processed):
    from kard_hf.data import format_question
    from kard_hf.data.store import load_dataset_dict

    split = load_dataset_dict(processed)[0]["validation"]
    return [format_question(row["stem"], row["options"]) for row in split]


def _top_candidates(processed, k):
    from kard_hf.data.store import load_dataset_dict

    return [row[:k] for row in load_dataset_dict(processed)[0]["validation"]["candidates"]]


def test_self_consistency_asks_for_n_samples_and_votes(trained, tmp_path):
    student, processed, _ = trained
    with served(student) as server:
        rows = evaluate(student, processed, tmp_path / "sampled", "--num_samples", "3", "--base_url", server.base_url,
                        "--seeds", "4")
    assert all(len(row["rationales"]) == 3 and sum(row["votes"].values()) <= 3 for row in rows)
    assert all(body["n"] == 3 and body["seed"] == 4 and body["temperature"] == 1.0 for body in server.requests)


def test_predict_through_the_server_retries_a_5xx(trained, fixtures_dir, tmp_path, capsys):
    student, _, kb = trained
    with served(student) as server:
        server.script = [503]
        assert main(["predict", "--student", str(student), "--knowledge_base", str(kb), "--questions",
                     str(fixtures_dir / "medqa_usmle_hf_test.jsonl"), "--decoding", "greedy", "--max_new_tokens", "8",
                     "--base_url", server.base_url, "--backoff", "0.01"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and all(len(row["rationales"]) == 1 for row in rows)
    assert len(server.requests) == 3  # the refused request was asked again


def test_authentication_failure_is_one_error_without_the_key(trained, tmp_path, monkeypatch, capsys):
    student, processed, _ = trained
    monkeypatch.setenv("STUDENT_KEY", "sk-secret-123456")
    with served(student) as server:
        server.script = [401]
        code = main(["evaluate", "--student", str(student), "--dataset", str(processed), "--split", "validation",
                     "--output_dir", str(tmp_path / "e"), "--decoding", "greedy", "--base_url", server.base_url,
                     "--api_key_env", "STUDENT_KEY", "--max_retries", "0"])
    err = capsys.readouterr().err
    assert code != 0 and "authentication failed (HTTP 401); check $STUDENT_KEY" in err
    assert "sk-secret-123456" not in err and server.requests[0]["_authorization"] == "Bearer sk-secret-123456"
    assert not (tmp_path / "e").exists()


def test_chat_api_needs_a_chat_student(tiny_causal_path, causal_tokenizer, tmp_path, capsys):
    from distill_fixtures import save_processed

    processed = save_processed(tmp_path / "processed")
    student = tmp_path / "plain"
    assert main(["train", "--model_name_or_path", str(tiny_causal_path), "--dataset", str(processed), "--output_dir",
                 str(student), "--max_steps", "1", "--save_strategy", "no", "--disable_tqdm", "true",
                 "--report_to", "none"]) == 0
    assert main(["evaluate", "--student", str(student), "--dataset", str(processed), "--output_dir",
                 str(tmp_path / "e"), "--base_url", "http://127.0.0.1:9/v1", "--served_api", "chat"]) == 2
    assert "served_api chat needs a student trained with a chat format" in capsys.readouterr().err
