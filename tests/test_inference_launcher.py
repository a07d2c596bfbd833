"""evaluate in chunks: under accelerate launch / torchrun (2 CPU ranks, gloo) each rank answers its share and rank 0
writes the one-process output byte for byte; a run killed with SIGKILL (one process, or one rank) resumes from
its journal and writes that same output."""

import json
import os
import subprocess
import sys

import pytest

from kard_hf.cli import main

DYING_EVALUATE = """
import os, signal, sys
from kard_hf.inference.pipeline import KARDPipeline
calls, answer = 0, KARDPipeline.__call__
def dying(self, *args, **kwargs):  # SIGKILL on the n-th chunk, as an out-of-memory kill would
    global calls
    calls += 1
    if calls == int(os.environ["DIE_AT"]) and os.environ.get("RANK", "1") == "1":  # under torchrun, rank 1 only
        os.kill(os.getpid(), signal.SIGKILL)
    return answer(self, *args, **kwargs)
KARDPipeline.__call__ = dying
from kard_hf.cli import main
sys.exit(main(sys.argv[1:]))
"""
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29751"]
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
              "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29753", "-m",
              "kard_hf.cli"]  # accelerate's multi-process launch: torchrun, which runs on CPUs as well


def _ok(*argv):
    assert main([str(a) for a in argv]) == 0, argv


@pytest.fixture(scope="module")
def world(tmp_path_factory, fixtures_dir, tiny_t5_path):
    """A KB, a processed dataset with 20 test questions and a kard student trained on it, by the real CLI."""
    root = tmp_path_factory.mktemp("launched-evaluate")
    words = ["river", "salt", "crane", "marsh", "copper", "bridge", "limestone", "indigo", "valley", "harbour"]
    questions = [{"id": f"test-{i}", "sent1": f"Which {words[i % 10]} is near the {words[(i * 3) % 10]} {i}?",
                  "sent2": "", "ending0": "Heron", "ending1": "Swift", "ending2": "Crane", "ending3": "Puffin",
                  "label": i % 4} for i in range(20)]
    (root / "test.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    _ok("build-kb", "--corpus", fixtures_dir / "corpus.jsonl", "--output_dir", root / "kb", "--num_proc", 1)
    _ok("augment", "--knowledge_base", root / "kb", "--train_file", fixtures_dir / "medqa_usmle_hf_train.jsonl",
        "--train_rationales", fixtures_dir / "rationales", "--test_file", root / "test.jsonl", "--candidates", 4,
        "--train_passages", 2, "--num_threads", 1, "--output_dir", root / "processed")
    _ok("train", "--model_name_or_path", tiny_t5_path, "--dataset", root / "processed", "--max_steps", 1,
        "--per_device_train_batch_size", 4, "--save_strategy", "no", "--disable_tqdm", "true",
        "--max_target_length", 32, "--method", "kard", "--output_dir", root / "kard")
    _ok(*_args(root, root / "whole"))
    return root


def _args(root, output):
    """20 questions in chunks of 4 batches of 2 (3 chunks: 8, 8, 4), each answered for 2 seeds."""
    return ["evaluate", "--student", str(root / "kard"), "--dataset", str(root / "processed"), "--output_dir",
            str(output), "--batch_size", "2", "--seeds", "0", "1", "--num_samples", "2", "--max_new_tokens", "8"]


def _same_output(folder, reference):
    for name in ("predictions.jsonl", "metrics.json"):
        assert (folder / name).read_bytes() == (reference / name).read_bytes(), name
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.json", "predictions.jsonl"]


def test_the_one_process_output_holds_every_question_once_per_seed(world):
    rows = [json.loads(line) for line in (world / "whole" / "predictions.jsonl").read_text().splitlines()]
    assert [(row["seed"], row["id"]) for row in rows] == [(seed, f"test-{i}") for seed in (0, 1) for i in range(20)]
    assert all(len(row["rationales"]) == 2 and len(row["passage_ids"]) == 1 for row in rows)  # as trained
    assert json.loads((world / "whole" / "metrics.json").read_text())["questions"] == 20
    assert not list(world.glob(".whole.journal*"))


def test_two_launched_ranks_write_the_one_process_output(world, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(ACCELERATE + _args(world, tmp_path / "ranks"), env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    _same_output(tmp_path / "ranks", world / "whole")
    assert done.stdout.count("predictions and metrics written to") == 1  # rank 0 alone writes and reports
    assert not list(tmp_path.glob(".ranks.journal*"))


def test_a_killed_run_resumes_from_its_journal(world, tmp_path):
    out, script = tmp_path / "eval", tmp_path / "dying.py"
    script.write_text(DYING_EVALUATE)
    killed = subprocess.run([sys.executable, str(script), *_args(world, out)], env={**os.environ, "DIE_AT": "3"},
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    journal = tmp_path / ".eval.journal"
    assert not out.exists() and len(journal.read_text().splitlines()) == 3  # what was asked, then 2 chunks
    with open(journal, "a") as f:  # a line torn by the kill is dropped, not read
        f.write('{"seed": 1, "chunk": 0, "predic')
    resumed = subprocess.run([sys.executable, "-m", "kard_hf.cli", *_args(world, out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming, 2 of 6 chunks already answered" in resumed.stderr
    _same_output(out, world / "whole")
    assert not journal.exists()


def test_a_killed_launched_run_resumes_per_rank(world, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out, script = tmp_path / "killed", tmp_path / "dying.py"
    script.write_text(DYING_EVALUATE)
    killed = subprocess.run(TORCHRUN + [str(script), *_args(world, out)], env={**env, "DIE_AT": "2"},
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode != 0 and not out.exists()
    # rank 1 (chunk 1 of each seed) was killed on its second chunk, having journaled its first
    assert len((tmp_path / ".killed.journal-rank1-of-2").read_text().splitlines()) == 2
    resumed = subprocess.run(TORCHRUN + ["-m", "kard_hf.cli", *_args(world, out)], env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "killed.journal-rank1-of-2: resuming, 1 of 2 chunks already answered" in resumed.stderr
    _same_output(out, world / "whole")
    assert not list(tmp_path.glob(".killed.journal*"))


def test_rank_zero_refuses_a_chunk_missing_or_answered_twice():
    from kard_hf.data import MCQExample
    from kard_hf.errors import DataError
    from kard_hf.inference.base import Prediction
    from kard_hf.inference.chunks import in_order

    examples = [MCQExample(f"q{i}", "?", ["a", "b"], 0) for i in range(3)]
    answer = {i: [Prediction(f"q{i}", [], [], ["A"], {"A": 1}, 0, 0)] for i in range(3)}
    shares = [{(0, 0): answer[0], (0, 2): answer[2]}, {(0, 1): answer[1]}]
    assert [p.id for p in in_order(shares, examples, [0], 1)[0]] == ["q0", "q1", "q2"]
    with pytest.raises(DataError, match="chunk 1 of seed 0 was answered by two ranks"):
        in_order(shares + [{(0, 1): answer[1]}], examples, [0], 1)
    with pytest.raises(DataError, match=r"chunk\(s\) 1 of seed 0 were answered by no rank"):
        in_order(shares[:1], examples, [0], 1)
    with pytest.raises(DataError, match="not the evaluated questions"):
        in_order([{(0, 0): answer[0], (0, 1): answer[0], (0, 2): answer[2]}], examples, [0], 1)


def test_each_chunk_is_answered_alone_with_its_own_seed(tmp_path):
    """Shard (i, n) answers chunks i, i + n, ...; each with chunk_seed(seed, chunk), after emptying the reranker's
    passage cache; a journal of other options is not replayed."""
    from kard_hf.data import MCQExample
    from kard_hf.inference.base import Decoding, Prediction
    from kard_hf.inference.chunks import answer_share, chunk_seed

    calls = []

    class Reranker:
        def clear_cache(self):
            calls.append("clear")

    class Pipeline:
        reranker = Reranker()

        def __call__(self, examples, *, seed, **_):
            calls.append((seed, [e.id for e in examples]))
            return [Prediction(e.id, [], [], ["A"], {"A": 1}, 0, 0) for e in examples]

    examples = [MCQExample(f"q{i}", "?", ["a", "b"], 0) for i in range(5)]
    share = answer_share(Pipeline(), examples, None, decoding=Decoding(), seeds=[7], chunk_size=2, shard=(1, 2),
                         journal=tmp_path / "j", asked={"student": "a"})
    assert list(share) == [(7, 1)] and calls == ["clear", (chunk_seed(7, 1), ["q2", "q3"])]
    assert chunk_seed(7, 0) == 7 and len({chunk_seed(s, c) for s in range(3) for c in range(3)}) == 9
    assert all(0 <= chunk_seed(s, c) < 2 ** 31 for s in (0, 2 ** 31 - 1) for c in (0, 1, 10 ** 6))
    calls.clear()
    answer_share(Pipeline(), examples, None, decoding=Decoding(), seeds=[7], chunk_size=2, shard=(1, 2),
                 journal=tmp_path / "j", asked={"student": "a"})
    assert calls == []  # replayed from the journal
    answer_share(Pipeline(), examples, None, decoding=Decoding(), seeds=[7], chunk_size=2, shard=(1, 2),
                 journal=tmp_path / "j", asked={"student": "b"})
    assert calls == ["clear", (chunk_seed(7, 1), ["q2", "q3"])]  # another student: answered again


def test_a_student_changed_in_place_is_not_answered_from_the_journal(tmp_path):
    """The journal is keyed on the student's files too: a folder trained on (same path, same spec) answers anew."""
    from kard_hf.inference.commands import _file_stamps

    student = tmp_path / "student"
    student.mkdir()
    (student / "model.safetensors").write_bytes(b"weights")
    before = _file_stamps(str(student))
    (student / "cache-1234.arrow").write_bytes(b"what reading writes")
    assert _file_stamps(str(student)) == before
    (student / "model.safetensors").write_bytes(b"other weights")
    assert _file_stamps(str(student)) != before and _file_stamps("org/hub-student") == []
