"""augment at scale: it resumes after a SIGKILL, and sharded runs merge into the unsharded output."""

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
    if calls == 3:
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
    assert not out.exists() and (journal / "train.rationales.bin").stat().st_size > 0
    with open(journal / "train.rationales.bin", "ab") as f:  # a record torn by the kill is dropped, not read
        f.write(b"\x01\x02\x03")
    resumed = subprocess.run([sys.executable, "-m", "kard_hf.cli", *_args(inputs, out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming, 128 of 180 queries already searched" in resumed.stderr
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
