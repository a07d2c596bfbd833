"""augment at scale: each distinct query is searched once, it resumes after a SIGKILL, and sharded runs (by hand
or as the ranks of torchrun) merge into the unsharded output."""

import json
import subprocess
import sys

import pytest

from kard_hf.cli import main
from kard_hf.data.store import load_dataset_dict

DYING_AUGMENT = """
import os, signal, sys
from kard_hf.knowledge.kb import KnowledgeBase
calls, search_rows = 0, KnowledgeBase.search_rows
def dying(self, *args, **kwargs):  # SIGKILL on the third block of searches, as an out-of-memory kill would
    global calls
    calls += 1
    if calls == 3 and os.environ.get("RANK", "1") == "1":  # under torchrun, rank 1 only
        os.kill(os.getpid(), signal.SIGKILL)
    return search_rows(self, *args, **kwargs)
KnowledgeBase.search_rows = dying
from kard_hf.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """200 train rationales (100 questions, 2 each; every 10th question has none) and 30 test questions, MedQA layout."""
    root = tmp_path_factory.mktemp("augment")
    words = ["river", "salt", "crane", "marsh", "copper", "bridge", "limestone", "indigo", "valley", "harbour"]
    corpus = [{"id": f"p{i}", "title": words[i % 10].title(), "text": f"{words[i % 10]} {words[(i * 3) % 10]} passage {i} "
               f"of the {words[(i * 7) % 10]} atlas"} for i in range(300)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(p) + "\n" for p in corpus))
    for split, count in (("train", 100), ("test", 30)):
        questions, rationales = [], []
        for i in range(count):
            qid = f"{split}-{i}"
            questions.append({"id": qid, "sent1": f"Which {words[i % 10]} is near {words[(i + 3) % 10]} {i}?", "sent2": "",
                              "ending0": "A", "ending1": "B", "ending2": "C", "ending3": "D", "label": i % 4})
            for r in range(2 if i % 10 else 0):
                rationales.append({"id": qid, "rationale": f"The {words[(i + r) % 10]} by the {words[i % 7]} "
                                                           f"{i}. So, the answer is ({'ABCD'[i % 4]})."})
        (root / f"{split}.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
        (root / f"{split}_rationales.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rationales))
    assert main(["build-kb", "--corpus", str(root / "corpus.jsonl"), "--output_dir", str(root / "kb"), "--num_proc", "1"]) == 0
    return root


def _args(root, output, *extra):
    return ["augment", "--knowledge_base", str(root / "kb"), "--train_file", str(root / "train.jsonl"),
            "--train_rationales", str(root / "train_rationales.jsonl"), "--test_file", str(root / "test.jsonl"),
            "--test_rationales", str(root / "test_rationales.jsonl"), "--candidates", "7", "--num_threads", "1",
            "--output_dir", str(output), *extra]


def _as_lists(path):
    dataset, manifest = load_dataset_dict(path)
    return {split: dataset[split].to_list() for split in dataset}, manifest


@pytest.fixture(scope="module")
def uninterrupted(inputs):
    assert main(_args(inputs, inputs / "whole")) == 0
    return _as_lists(inputs / "whole")


def test_augment_resumes_after_sigkill(inputs, uninterrupted, tmp_path):
    out = tmp_path / "processed"
    killed = subprocess.run([sys.executable, "-c", DYING_AUGMENT, *_args(inputs, out)], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    journal = tmp_path / ".processed.journal"
    assert not out.exists() and (journal / "searches.top32.bin").stat().st_size > 0
    with open(journal / "searches.top32.bin", "ab") as f:  # a record torn by the kill is dropped, not read
        f.write(b"\x01\x02\x03")
    resumed = subprocess.run([sys.executable, "-m", "kard_hf.cli", *_args(inputs, out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # after the 3 questions searched at k=7 only (no rationale, no pool), one block of the 180 rationales and 90
    # questions searched once at k=32 (the rationales' k=5 lists are cut from it; the
    # test split's questions and rationales with a pool are the same texts)
    assert "searches.top32: resuming, 64 of 270 queries already searched" in resumed.stderr
    assert _as_lists(out) == uninterrupted and not journal.exists()


def test_shards_merge_into_the_unsharded_output(inputs, uninterrupted, tmp_path, capsys):
    shards = [tmp_path / f"shard{i}" for i in range(3)]
    for i, shard in enumerate(shards):
        assert main(_args(inputs, shard, "--num_shards", "3", "--shard_index", str(i))) == 0
    assert main(["merge-shards", "--shards", *map(str, shards[::-1]), "--output_dir", str(tmp_path / "merged")]) == 0
    merged, manifest = _as_lists(tmp_path / "merged")
    whole, whole_manifest = uninterrupted
    assert merged == whole
    assert {k: v for k, v in manifest.items() if k != "merged_shards"} == whole_manifest | {"format_version": manifest["format_version"]}

    capsys.readouterr()
    assert main(["merge-shards", "--shards", str(shards[0]), str(shards[2]), "--output_dir", str(tmp_path / "m2")]) == 2
    assert "shard(s) 1 of 3 are missing" in capsys.readouterr().err
    assert main(["merge-shards", "--shards", *map(str, shards), str(shards[1]), "--output_dir", str(tmp_path / "m3")]) == 2
    assert "shard 1 is given twice" in capsys.readouterr().err
    # A shard that lost a question (or holds one twice) is refused by the id check.
    dataset, shard_manifest = load_dataset_dict(shards[1])
    dataset["test"] = dataset["test"].select(range(len(dataset["test"]) - 1))
    from kard_hf.data.store import save_dataset_dict

    save_dataset_dict(dataset, shard_manifest, tmp_path / "short")
    assert main(["merge-shards", "--shards", str(shards[0]), str(tmp_path / "short"), str(shards[2]),
                 "--output_dir", str(tmp_path / "m4")]) == 2
    assert "the test split has 29 questions after merging, but the input had 30" in capsys.readouterr().err
    dataset["test"] = load_dataset_dict(shards[1])[0]["test"]
    import datasets

    dataset["test"] = datasets.concatenate_datasets([dataset["test"], dataset["test"].select([0])])
    save_dataset_dict(dataset, shard_manifest, tmp_path / "twice")
    assert main(["merge-shards", "--shards", str(shards[0]), str(tmp_path / "twice"), str(shards[2]),
                 "--output_dir", str(tmp_path / "m5")]) == 2
    assert "question 'test-1' of test is also in" in capsys.readouterr().err


def test_each_distinct_query_is_searched_once_and_cut_to_each_k(inputs, uninterrupted, tmp_path, monkeypatch):
    """One search per distinct query at the largest k asked of it; every list is what a search at its own k gives."""
    from collections import Counter

    from kard_hf.knowledge.kb import KnowledgeBase

    asked, search_rows = [], KnowledgeBase.search_rows

    def spy(self, queries, k, **kwargs):
        asked.extend((query, k) for query in queries)
        return search_rows(self, queries, k, **kwargs)

    monkeypatch.setattr(KnowledgeBase, "search_rows", spy)
    assert main(_args(inputs, tmp_path / "out")) == 0
    assert max(Counter(query for query, _ in asked).values()) == 1
    assert _as_lists(tmp_path / "out") == uninterrupted
    monkeypatch.setattr(KnowledgeBase, "search_rows", search_rows)
    kb = KnowledgeBase.load(inputs / "kb")
    top = lambda query, k: kb.search([query], k)  # noqa: E731
    (splits, _) = uninterrupted
    for row in splits["train"] + splits["test"]:
        rationale = row["rationale"] if "rationale" in row else (row["rationales"] or [""])[0]
        if "rationale" in row:
            assert (row["passage_ids"], row["passage_scores"]) == (top(rationale, 5).ids[0], top(rationale, 5).scores[0])
        else:
            assert (row["candidate_ids"], row["candidate_scores"]) == (top(row["question"], 7).ids[0],
                                                                       top(row["question"], 7).scores[0])
            assert row["silver_ids"] == (top(rationale, 5).ids[0] if rationale else [])
        if not rationale:
            assert row["pool_ids"] == []
            continue
        by_rationale = top(rationale, 32).ids[0]
        assert row["pool_ids"] == by_rationale + [p for p in top(row["question"], 32).ids[0] if p not in by_rationale]
        assert row["pool_rationale_size"] == len(by_rationale)


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29741",
            "-m", "kard_hf.cli"]
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
              "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29743", "-m",
              "kard_hf.cli"]  # accelerate's multi-process launch: torchrun, which runs on CPUs as well


def _same_files(folder, reference):
    """Every file of ``folder`` byte-identical to ``reference``'s, but datasets' random per-save fingerprint."""
    files = sorted(p.relative_to(reference) for p in reference.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    for name in files:
        mine, theirs = (folder / name).read_bytes(), (reference / name).read_bytes()
        if name.name == "state.json":
            mine, theirs = (json.loads(text) for text in (mine, theirs))
            mine.pop("_fingerprint"), theirs.pop("_fingerprint")
        assert mine == theirs, name


def test_two_launched_ranks_write_the_one_process_output_and_resume_per_rank(inputs, uninterrupted, tmp_path):
    """augment under accelerate launch with 2 CPU ranks (gloo): rank 0 gathers and merges, the output is
    byte-identical to a one-process run; killed under torchrun, each rank resumes from its own journal."""
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "ranks"
    done = subprocess.run(ACCELERATE + _args(inputs, out), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    _same_files(out, inputs / "whole")
    assert not list(tmp_path.glob(".ranks.journal*"))

    killed_out = tmp_path / "killed"
    script = tmp_path / "dying.py"
    script.write_text(DYING_AUGMENT)
    killed = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                             "29742", str(script), *_args(inputs, killed_out)], env=env, capture_output=True, text=True,
                            timeout=600)
    assert killed.returncode != 0 and not killed_out.exists()
    assert (tmp_path / ".killed.journal-rank1-of-2" / "searches.top32.bin").stat().st_size > 0
    resumed = subprocess.run(TORCHRUN + _args(inputs, killed_out), env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "searches.top32: resuming, " in resumed.stderr
    _same_files(killed_out, inputs / "whole")
    assert not list(tmp_path.glob(".killed.journal*"))


def test_a_launcher_rank_refuses_manual_shards(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(_args(inputs, tmp_path / "out", "--num_shards", "2")) == 2
    assert "every rank is a shard of its own: drop --num_shards" in capsys.readouterr().err
