"""Every artifact kind pushed to a Hub on 127.0.0.1 (tests/hub_server.py) through its real push path, then loaded
back by repo id in a fresh process: weights and cards come back equal.

One process pushes everything (the ``kard-hf`` commands with ``--push_to_hub``, whose trainers push through the
Trainer's own ``push_to_hub``; ``KnowledgeBase.push_to_hub``; ``push_dataset_dict``), a second one loads
everything by repo id with an empty cache. Both run with ``HF_ENDPOINT`` at the local server and without
``HF_HUB_OFFLINE``; this pytest process stays offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from decoder_fixtures import save_student_base
from distill_fixtures import augment_fixture_questions, processed_dataset_dict as student_dataset_dict
from hub_server import HubServer
from kard_hf.data.store import save_dataset_dict
from knife_fixtures import save_processed as save_knife_processed

ROOT = Path(__file__).resolve().parents[1]
TOKEN, OTHER_TOKEN = "hf_alice_write_7f3a9c1e5b", "hf_bob_read_2d8e4f6a0c"
TRAIN = ["--max_steps", "1", "--per_device_train_batch_size", "2", "--report_to", "none", "--use_cpu", "true",
         "--save_strategy", "no", "--disable_tqdm", "true"]
RATIONALE_TEACHER = {"kind": "openai-compatible", "model": "gpt-3.5-turbo", "host": "127.0.0.1",
                     "prompt": {"name": "medqa", "sha256": "ab" * 32}, "n": 2, "sampling": {"temperature": 0.7},
                     "filter": {"kind": "answer-match"}, "splits": {"train": {"kept": 6, "dropped": 0,
                                                                               "questions_without_rationale": 0}}}


def hub_env(hub: HubServer, home: Path, token: str | None = TOKEN) -> dict:
    """The environment of a process that talks to ``hub``: online, no Xet, its own empty cache and login."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HUB_DISABLE_XET="1", HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def hub():
    server = HubServer({TOKEN: "alice", OTHER_TOKEN: "bob"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def local(fixtures_dir, tiny_t5_path, tiny_causal_path, tiny_bert_path, causal_tokenizer, tmp_path_factory):
    """Input folders of every artifact (datasets, a KB, tiny models), built here, offline."""
    root = tmp_path_factory.mktemp("hub-inputs")
    dataset_dict, manifest = augment_fixture_questions(fixtures_dir, root)
    save_dataset_dict(dataset_dict, manifest, root / "processed", card_template="processed_dataset")
    students = student_dataset_dict()
    student_manifest = {**manifest, "splits": {split: len(rows) for split, rows in students.items()}}
    save_dataset_dict(students, student_manifest, root / "student-data")
    save_dataset_dict(students, student_manifest, root / "student-data-pushed",
                      hub_id="alice/student-data")  # a local copy that records the Hub id it was pushed to
    save_knife_processed(fixtures_dir, root / "knife-data")
    qwen = save_student_base(root / "tiny-qwen-instruct", causal_tokenizer, "qwen2")  # with its chat template
    return {"root": root, "t5": tiny_t5_path, "causal": tiny_causal_path, "bert": tiny_bert_path, "qwen": qwen}


PUSH = """
import datasets
from huggingface_hub import HfApi
from kard_hf.cli import main
from kard_hf.data.store import load_dataset_dict, push_dataset_dict
from kard_hf.knowledge import KnowledgeBase

root, out, train = {root!r}, {out!r}, {train!r}

def run(*argv):
    assert main([str(a) for a in argv]) == 0, argv

data, manifest = load_dataset_dict(root + "/student-data")
push_dataset_dict(data, manifest, "alice/student-data", card_template="processed_dataset")
run("train", "--model_name_or_path", {t5!r}, "--dataset", "alice/student-data", "--method", "rd", "--output_dir",
    out + "/student-full", "--push_to_hub", "true", "--hub_model_id", "student-full", *train)
run("train", "--model_name_or_path", {causal!r}, "--dataset", root + "/student-data-pushed", "--method", "rd",
    "--use_lora", "true", "--merge_lora", "false", "--output_dir", out + "/student-lora", "--push_to_hub", "true",
    "--hub_model_id", "alice/student-lora", *train)
api = HfApi()  # a decoder-only base model on the Hub, and a chat-format KARD student trained from its repo id
api.create_repo("alice/tiny-qwen-instruct")
api.upload_folder(folder_path={qwen!r}, repo_id="alice/tiny-qwen-instruct")
run("train", "--model_name_or_path", "alice/tiny-qwen-instruct", "--dataset", root + "/student-data-pushed",
    "--output_dir", out + "/student-chat", "--push_to_hub", "true", "--hub_model_id", "alice/student-chat", *train)
run("train", "--method", "knife-teacher", "--model_name_or_path", {t5!r}, "--dataset", root + "/knife-data",
    "--eval_split", "", "--output_dir", out + "/knife-teacher", "--push_to_hub", "true", "--hub_model_id",
    "alice/knife-teacher", *train)
run("train", "--method", "knife", "--model_name_or_path", {t5!r}, "--teacher_model_name_or_path",
    out + "/knife-teacher", "--dataset", root + "/knife-data", "--eval_split", "", "--kd_mode", "in",
    "--output_dir", out + "/knife-student", "--push_to_hub", "true", "--hub_model_id", "alice/knife-student", *train)
run("train-reranker", "--backbone", {bert!r}, "--dataset", root + "/processed", "--knowledge_base", root + "/kb",
    "--projection_dim", "8", "--rationale_pool", "4", "--question_pool", "4", "--output_dir", out + "/reranker",
    "--push_to_hub", "true", "--hub_model_id", "alice/reranker", "--hub_private_repo", "true", "--hub_revision", "v1",
    *train)
KnowledgeBase.from_pretrained(root + "/kb").push_to_hub("alice/kb")
processed, manifest = load_dataset_dict(root + "/processed")
push_dataset_dict(processed, manifest, "alice/processed", card_template="processed_dataset")
rationales = datasets.DatasetDict({{"train": processed["train"].select_columns(["id", "stem", "options", "answer"])}})
push_dataset_dict(rationales, {{"teacher": {teacher!r}, "splits": {{"train": len(rationales["train"])}}}},
                  "alice/rationales", card_template="rationale_dataset", revision="v1", teacher={teacher!r},
                  num_questions={{"train": len(rationales["train"])}})
"""

LOAD = """
import json, torch
from huggingface_hub import DatasetCard, ModelCard, hf_hub_download
from kard_hf.data.store import load_dataset_dict
from kard_hf.inference import load_trained_student
from kard_hf.knife import load_knife_model
from kard_hf.knowledge import KnowledgeBase
from kard_hf.reranker import Reranker

out, root, report = {out!r}, {root!r}, {{}}

def same_weights(a, b):
    a, b = a.state_dict(), b.state_dict()
    return sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)

for name, load, revision in [("student-full", lambda p, r: load_trained_student(p)[0], None),
                             ("student-chat", lambda p, r: load_trained_student(p)[0], None),
                             ("student-lora", lambda p, r: load_trained_student(p)[0], None),
                             ("knife-teacher", lambda p, r: load_knife_model(p)[0], None),
                             ("knife-student", lambda p, r: load_knife_model(p)[0], None),
                             ("reranker", lambda p, r: Reranker.from_pretrained(p, revision=r).model, "v1")]:
    card = ModelCard.load(hf_hub_download("alice/" + name, "README.md", revision=revision))
    report[name] = {{"weights": same_weights(load("alice/" + name, revision), load(out + "/" + name, None)),
                    "card": card.content == ModelCard.load(out + "/" + name + "/README.md").content}}
kb, again = KnowledgeBase.from_pretrained(root + "/kb"), KnowledgeBase.from_pretrained("alice/kb")
query = ["Which river flows through the city of Veltram?"]
report["kb"] = {{"weights": kb.fingerprint == again.fingerprint and kb.search(query, k=3) == again.search(query, k=3),
                "card": DatasetCard.load("alice/kb", repo_type="dataset").data.to_dict()}}
for name, local, revision in [("processed", root + "/processed", None), ("student-data", root + "/student-data", None),
                              ("rationales", None, "v1")]:
    data, manifest = load_dataset_dict("alice/" + name, revision=revision)
    expected = load_dataset_dict(local)[0] if local else None
    report[name] = {{"weights": expected is None or all(data[s].to_dict() == expected[s].to_dict() for s in expected),
                    "splits": {{s: len(d) for s, d in data.items()}}, "hub_id": manifest["hub_id"],
                    "card": DatasetCard.load(hf_hub_download("alice/" + name, "README.md", repo_type="dataset",
                                                             revision=revision)).data.to_dict()}}
# the decoder-only student: its tokenizer's chat template comes back, and it evaluates by repo id as locally
from transformers import AutoTokenizer
from kard_hf.cli import main
evaluations = []
for student in ("alice/student-chat", out + "/student-chat"):
    folder = out + "/eval-" + str(len(evaluations))
    assert main(["evaluate", "--student", student, "--dataset", root + "/student-data", "--output_dir", folder,
                 "--decoding", "greedy", "--max_new_tokens", "8"]) == 0
    evaluations.append([(r["id"], r["rationales"], r["letter"]) for r in map(json.loads, open(folder + "/predictions.jsonl"))])
report["student-chat-use"] = {{
    "template": AutoTokenizer.from_pretrained("alice/student-chat").chat_template
                == AutoTokenizer.from_pretrained(out + "/student-chat").chat_template
                and "<|im_start|>" in AutoTokenizer.from_pretrained("alice/student-chat").chat_template,
    "evaluation": evaluations[0] == evaluations[1] and len(evaluations[0]) == 2}}
print("REPORT" + json.dumps(report))
"""


@pytest.fixture(scope="module")
def pushed(hub, local, tmp_path_factory):
    """Push every artifact in one process; return the folders the commands wrote."""
    out = tmp_path_factory.mktemp("hub-outputs")
    code = PUSH.format(root=str(local["root"]), out=str(out), train=TRAIN, t5=str(local["t5"]),
                       causal=str(local["causal"]), bert=str(local["bert"]), qwen=str(local["qwen"]),
                       teacher=RATIONALE_TEACHER)
    result = run_python(code, hub_env(hub, tmp_path_factory.mktemp("push-home")))
    assert result.returncode == 0, result.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def loaded(hub, local, pushed, tmp_path_factory):
    result = run_python(LOAD.format(out=str(pushed), root=str(local["root"])),
                        hub_env(hub, tmp_path_factory.mktemp("load-home")))
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.split("REPORT", 1)[1])


@pytest.mark.parametrize("name", ["student-full", "student-chat", "student-lora", "knife-teacher", "knife-student",
                                  "reranker"])
def test_models_come_back_equal_by_repo_id(loaded, name):
    assert loaded[name] == {"weights": True, "card": True}


@pytest.mark.parametrize("name", ["kb", "processed", "student-data", "rationales"])
def test_datasets_and_the_kb_come_back_equal_by_repo_id(loaded, name):
    assert loaded[name]["weights"] is True
    assert "kard_hf" in loaded[name]["card"]["tags"]


def test_dataset_cards_let_load_dataset_read_the_splits_and_record_the_repo(loaded):
    assert loaded["rationales"]["splits"] == {"train": loaded["processed"]["splits"]["train"]}
    assert loaded["rationales"]["hub_id"] == "alice/rationales" and loaded["processed"]["hub_id"] == "alice/processed"
    configs = loaded["processed"]["card"]["configs"][0]["data_files"]
    assert {c["split"] for c in configs} == {"train", "validation"} and configs[0]["path"].endswith("/*.arrow")


def test_a_decoder_only_student_keeps_its_chat_template_and_evaluates_by_repo_id(loaded, pushed):
    assert loaded["student-chat-use"] == {"template": True, "evaluation": True}
    card = ModelCard.load(pushed / "student-chat" / "README.md")
    assert card.data.base_model == "alice/tiny-qwen-instruct" and "A decoder-only student" in card.text
    assert "Chat format: the base model's chat template" in card.text and "`<|im_end|>` ends" in card.text


def test_cards_name_only_hub_ids_and_say_peft_for_adapters(pushed, hub):
    full = ModelCard.load(pushed / "student-full" / "README.md")
    assert full.data.datasets == ["alice/student-data"]  # trained from the Hub id
    assert full.data.base_model is None and "records no Hub id" in full.text  # the tiny model is a local folder
    assert 'KARDPipeline.from_pretrained("alice/student-full")' in full.text
    lora = ModelCard.load(pushed / "student-lora" / "README.md")
    assert lora.data.library_name == "peft" and full.data.library_name == "transformers"
    assert lora.data.datasets == ["alice/student-data"]  # the local copy records the repo it was pushed to
    knife = ModelCard.load(pushed / "knife-student" / "README.md")
    assert "[alice/knife-teacher](https://huggingface.co/alice/knife-teacher)" in knife.text  # teacher's spec
    assert "chan2022knife" in knife.text and "kang2023knowledge" in full.text


def test_private_repo_answers_its_owner_only_and_the_revision_holds_the_push(hub, pushed, tmp_path):
    assert hub.repos[("model", "alice/reranker")].private
    assert "model.safetensors" in hub.files("model", "alice/reranker", "v1")
    assert "model.safetensors" not in hub.files("model", "alice/reranker", "main")
    code = f"""
    import os
    from kard_hf.errors import InputError
    from kard_hf.hub import resolve_folder  # what Reranker.from_pretrained reads a repo id with
    for token in ({OTHER_TOKEN!r}, None):
        os.environ.pop("HF_TOKEN", None) if token is None else os.environ.update(HF_TOKEN=token)
        try:
            resolve_folder("alice/reranker", what="reranker", revision="v1")
        except InputError as e:
            print("REFUSED", str(e).splitlines()[0])
    """
    result = run_python(code, hub_env(hub, tmp_path / "home", token=None))
    refused = [line for line in result.stdout.splitlines() if line.startswith("REFUSED")]
    assert len(refused) == 2 and all("cannot find this reranker locally or on the Hub" in line for line in refused)


def test_no_token_in_any_file_written(hub, pushed, local):
    for folder in (pushed, local["root"]):
        for path in Path(folder).rglob("*"):
            assert not path.is_file() or TOKEN.encode() not in path.read_bytes(), path
    for (repo_type, repo_id) in list(hub.repos):
        for branch in hub.repos[(repo_type, repo_id)].branches:
            for path, data in hub.files(repo_type, repo_id, branch).items():
                assert TOKEN.encode() not in data, (repo_id, path)
    assert any(auth == f"Bearer {TOKEN}" for _, _, auth in hub.requests)  # the token did travel, in headers only


def test_a_missing_or_invalid_token_is_one_clear_line_before_training(hub, local, tmp_path):
    argv = ["train", "--model_name_or_path", str(local["t5"]), "--dataset", str(local["root"] / "student-data"),
            "--method", "rd", "--output_dir", str(tmp_path / "out"), "--push_to_hub", "true", "--hub_model_id",
            "alice/refused", *TRAIN]
    code = f"""
    import os
    from kard_hf.cli import main
    for token in (None, "hf_not_a_token"):
        os.environ.pop("HF_TOKEN", None) if token is None else os.environ.update(HF_TOKEN=token)
        print("EXIT", main({argv!r}), flush=True)
    """
    result = run_python(code, hub_env(hub, tmp_path / "home", token=None))
    assert [line for line in result.stdout.splitlines() if line.startswith("EXIT")] == ["EXIT 2", "EXIT 2"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("kard-hf train: error:")]
    assert len(errors) == 2 and "pushing to the Hub needs a token: set HF_TOKEN" in errors[0]
    assert "the Hub refused the token (401)" in errors[1]
    assert ("model", "alice/refused") not in hub.repos and not (tmp_path / "out" / "model.safetensors").exists()
