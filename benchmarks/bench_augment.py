"""augment end to end, a git revision's code ("before") against the working tree's ("after"), on one KB.

    python benchmarks/bench_augment.py --kb W/kb-new-english-1000000 --corpus W/psgs_english_1000000.tsv \
        --before e8a5bba --questions 20 --rationales 10 --repeats 3

The questions are MedQA-shaped: a 100–150-word stem, four options, ten 60-word rationales each (MedQA's
KARD set has 10,178 questions with up to 10 rationales), words drawn from the corpus's passages as
bench_kb_scale.py draws its queries; a test split of ``--test_questions`` questions. Each round runs
before then after, each in a fresh process with the revision's ``kard_hf`` first on PYTHONPATH (the
revision is taken with ``git archive``; nothing in the repository changes). Only the ``augment()``
call is timed (one search process, no journal; loading the KB and the questions are not, nor a
first call on one question a split that loads the compiled code), after one untimed warm-up run a side. The first timed round's outputs are compared: the same Arrow files, byte
for byte.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_kb_scale import QUERY_LENGTHS, make_queries  # noqa: E402
from harness import add_repeats_argument  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def questions(corpus: Path, count: int, rationales: int, prefix: str, seed: int):
    """MedQA-shaped MCQExamples: question-length stems, 4 options, ``rationales`` 60-word rationales each."""
    from kard_hf.data.schema import MCQExample

    stems = make_queries(corpus, QUERY_LENGTHS["question"], count, seed=seed)
    words = make_queries(corpus, 16, count, seed=seed + 1)
    reasons = make_queries(corpus, 60, count * rationales, seed=seed + 2)
    rng = np.random.default_rng(seed)
    out = []
    for i, stem in enumerate(stems):
        answer = int(rng.integers(4))
        options = [" ".join(words[i].split()[4 * j:4 * j + 4]) for j in range(4)]
        out.append(MCQExample(f"{prefix}-{i}", stem, options, answer,
                              [f"{r} So, the answer is ({'ABCD'[answer]})." for r in
                               reasons[i * rationales:(i + 1) * rationales]]))
    return out


def run_once(kb_path: str, splits_path: str, out: str) -> None:
    """In a fresh process: time ``augment()`` with the kard_hf on PYTHONPATH, save its output, print the seconds."""
    import kard_hf
    from kard_hf.knowledge import KnowledgeBase
    from kard_hf.knowledge.augment import augment

    kb = KnowledgeBase.load(kb_path)
    splits = pickle.loads(Path(splits_path).read_bytes())
    augment({split: examples[:1] for split, examples in splits.items()}, kb, num_threads=1)  # loads the compiled code
    start = time.perf_counter()
    dataset_dict, _ = augment(splits, kb, num_threads=1)
    seconds = time.perf_counter() - start
    dataset_dict.save_to_disk(out)
    print(json.dumps({"seconds": seconds, "rows": sum(len(d) for d in dataset_dict.values()),
                      "kard_hf": kard_hf.__file__}))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--_run":
        return run_once(*sys.argv[2:5])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", required=True)
    parser.add_argument("--corpus", required=True, help="The KB's TSV (query material).")
    parser.add_argument("--before", default="e8a5bba", help="Git revision of the 'before' side.")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--rationales", type=int, default=10)
    parser.add_argument("--test_questions", type=int, default=10)
    add_repeats_argument(parser)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_augment-"))
    before = work / "before"
    before.mkdir()
    archive = subprocess.run(["git", "archive", args.before, "kard_hf"], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(before, filter="data")
    splits = {"train": questions(Path(args.corpus), args.questions, args.rationales, "train", 1),
              "test": questions(Path(args.corpus), args.test_questions, 1, "test", 2)}
    (work / "splits.pkl").write_bytes(pickle.dumps(splits))
    sides = {"before": before, "after": ROOT}
    runs = {side: [] for side in sides}
    load_before = os.getloadavg()
    for round_ in range(-1, args.repeats):  # round -1: one untimed warm-up run a side (numba compiles its cache)
        for side, path in sides.items():
            done = subprocess.run([sys.executable, __file__, "--_run", args.kb, str(work / "splits.pkl"),
                                   str(work / f"{side}-{round_}")], capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(path), "OMP_NUM_THREADS": "1"})
            if done.returncode:
                raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            assert Path(result["kard_hf"]).is_relative_to(path), result
            if round_ >= 0:
                runs[side].append(result)
    load_after = os.getloadavg()
    identical = all((work / "before-0" / f.relative_to(work / "after-0")).read_bytes() == f.read_bytes()
                    for f in (work / "after-0").rglob("*.arrow"))
    rows = runs["after"][0]["rows"]
    print(f"{args.kb}: {args.questions} train questions x {args.rationales} rationales + {args.test_questions} test "
          f"questions = {rows} rows; one search process; load average before {load_before}, after {load_after}")
    print("| side | seconds, median (min–max) | rows/s, median (min–max) |")
    print("|---|---|---|")
    for side, results in runs.items():
        seconds = [r["seconds"] for r in results]
        print(f"| {side} ({args.before if side == 'before' else 'this tree'}) | {statistics.median(seconds):.2f} "
              f"({min(seconds):.2f}–{max(seconds):.2f}) | {rows / statistics.median(seconds):.1f} "
              f"({rows / max(seconds):.1f}–{rows / min(seconds):.1f}) |")
    ratios = [b["seconds"] / a["seconds"] for b, a in zip(runs["before"], runs["after"])]
    print(f"after / before speed: {statistics.median(ratios):.2f}x ({min(ratios):.2f}–{max(ratios):.2f}x per round); "
          f"outputs' Arrow files byte-identical: {identical}")


if __name__ == "__main__":
    main()
