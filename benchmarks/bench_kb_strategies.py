"""Search speed of built KBs, side by side in one run: bm25s ("old"), the index search of a git
revision ("before") and of the working tree ("new", also on 2 processes), on 20- and 60-word queries.

    python benchmarks/bench_kb_scale.py --_build new WORKDIR/psgs_N.tsv WORKDIR/kb-new-N   # and old: kb-old-N
    python benchmarks/bench_kb_strategies.py --workdir WORKDIR --passages N --before main

Each side gets one untimed warm-up batch, then ``--repeats`` rounds that time every side once in
turn (median, min–max). The first 50 top-10s of each new side (before and after) are checked
against the exhaustive reference: same rows, same float64 scores.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_kb_scale import fmt, load_kb, make_queries  # noqa: E402


def index_at(revision: str, kb):
    """``kb``'s index opened with ``kard_hf/knowledge/index.py`` as of git ``revision``."""
    source = subprocess.run(["git", "show", f"{revision}:kard_hf/knowledge/index.py"], capture_output=True,
                            text=True, check=True, cwd=Path(__file__).parent).stdout
    path = Path(tempfile.mkdtemp()) / "index_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("kard_hf.knowledge.index_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Index(kb.folder / "index", kb.index.num_docs)


def exact(kb, queries) -> bool:
    for query in queries:
        terms = kb.analyzer.query_terms(query)
        rows, scores = kb.index.search(terms, 10)
        ref_rows, ref_scores = kb.index.exhaustive(terms, 10)
        if not (np.array_equal(rows, ref_rows) and np.array_equal(scores, ref_scores)):
            return False
    return True


def interleaved(sides: dict, repeats: int) -> dict:
    """Queries/s (median, min, max) of each side, given as ``(search the batch, its length)``: one
    untimed warm-up batch each, then ``repeats`` rounds timing every side once in turn (so drifts
    of the machine's load hit all sides alike)."""
    rates = {key: [] for key in sides}
    for run, _ in sides.values():
        run()
    for _ in range(repeats):
        for key, (run, count) in sides.items():
            start = time.perf_counter()
            run()
            rates[key].append(count / (time.perf_counter() - start))
    return {key: (statistics.median(r), min(r), max(r)) for key, r in rates.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/work/scratch14b")
    parser.add_argument("--passages", type=int, default=300_000)
    parser.add_argument("--before", default="main", help="Git revision whose index search is 'before'.")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--old_queries", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work, n = Path(args.workdir), args.passages
    corpus = work / f"psgs_{n}.tsv"
    queries = {words: make_queries(corpus, words, args.queries, seed=words) for words in (20, 60)}
    new = load_kb("new", work / f"kb-new-{n}")
    before = load_kb("new", work / f"kb-new-{n}")
    before.index = index_at(args.before, before)
    old = load_kb("old", work / f"kb-old-{n}")
    for side, kb in (("before", before), ("new", new)):
        for words, batch in queries.items():
            assert exact(kb, batch[:50]), f"{side}: top-10 differs from exhaustive ({words} words)"
    kbs = {"old": (old, 1), "before": (before, 1), "new": (new, 1), "new, 2 processes": (new, 2)}
    sides = {}
    for words, batch in queries.items():
        for side, (kb, threads) in kbs.items():
            part = batch[:args.old_queries] if side == "old" else batch
            sides[side, words] = (lambda kb=kb, part=part, threads=threads: kb.search_rows(part, 10, num_threads=threads),
                                  len(part))
    load = os.getloadavg()
    table = interleaved(sides, args.repeats)
    print(f"{n} passages, queries/s, median (min–max) of {args.repeats} interleaved rounds; load average "
          f"before {load}, after {os.getloadavg()}")
    print("| query | old (bm25s) | new before | new after | after, 2 processes | before / old | after / old "
          "| after / before | 2 processes / 1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for words in queries:
        o, b, a, a2 = (table[side, words] for side in kbs)
        print(f"| {words} words | {fmt(o)} | {fmt(b)} | {fmt(a)} | {fmt(a2)} | {b[0] / o[0]:.2f}x | {a[0] / o[0]:.2f}x "
              f"| {a[0] / b[0]:.2f}x | {a2[0] / a[0]:.2f}x |")


if __name__ == "__main__":
    main()
