"""Search speed of built KBs, side by side in one run: bm25s ("old"), the index search of a git
revision ("before") and of the working tree ("new"), on 20- and 60-word queries, one core.

    python benchmarks/bench_kb_scale.py --_build new WORKDIR/psgs_N.tsv WORKDIR/kb-new-N   # and old: kb-old-N
    python benchmarks/bench_kb_strategies.py --workdir WORKDIR --passages N --before main
    python benchmarks/bench_kb_strategies.py --workdir WORKDIR --passages N --crossover

With ``--crossover`` it instead times both strategies of the working tree's search on every query of
40 each of 5 to 60 words (what ``DENSE_POSTINGS`` in ``kard_hf/knowledge/index.py`` was set from).

Each side gets one untimed warm-up batch, then ``--repeats`` timed batches (median, min–max). Every
new-side top-10 (before and after) is checked against the exhaustive reference: same rows, same
float64 scores.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_kb_scale import fmt, load_kb, make_queries, rate  # noqa: E402


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


def crossover(kb, corpus: Path) -> None:
    """Per query length: postings per passage, and the share of queries MaxScore answers faster than dense."""
    index = kb.index
    print("| words | postings per passage (mean) | MaxScore faster | dense ms | MaxScore ms |")
    print("|---|---|---|---|---|")
    for words in (5, 10, 20, 30, 40, 60):
        batch = [kb.analyzer.query_terms(q) for q in make_queries(corpus, words, 40, seed=words)]
        for terms in batch:
            index.search(terms, 10)
        times = {}
        for name, dense_postings in (("dense", 0.0), ("pruned", np.inf)):
            index.dense_postings = dense_postings
            times[name] = np.zeros(len(batch))
            for _ in range(3):
                for i, terms in enumerate(batch):
                    start = time.perf_counter()
                    index.search(terms, 10)
                    times[name][i] += time.perf_counter() - start
        postings = [sum(index.offsets[t + 1] - index.offsets[t] for t in index.query(terms)[0]) / index.num_docs
                    for terms in batch]
        print(f"| {words} | {np.mean(postings):.2f} | {np.mean(times['pruned'] < times['dense']):.0%} "
              f"| {times['dense'].mean() / 3 * 1e3:.2f} | {times['pruned'].mean() / 3 * 1e3:.2f} |")
    print(f"uptime {os.getloadavg()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/work/scratch14b")
    parser.add_argument("--passages", type=int, default=300_000)
    parser.add_argument("--before", default="main", help="Git revision whose index search is 'before'.")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--old_queries", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--crossover", action="store_true", help="Time dense vs MaxScore per query length.")
    args = parser.parse_args()
    work, n = Path(args.workdir), args.passages
    corpus = work / f"psgs_{n}.tsv"
    if args.crossover:
        return crossover(load_kb("new", work / f"kb-new-{n}"), corpus)
    batches = {words: make_queries(corpus, words, args.queries, seed=words) for words in (20, 60)}
    new = load_kb("new", work / f"kb-new-{n}")
    after = new.index
    before = index_at(args.before, new)
    sides = {"old": load_kb("old", work / f"kb-old-{n}"), "before": before, "new": after}
    table = {}
    for words, batch in batches.items():
        for side, target in sides.items():
            if side == "old":
                table[side, words] = rate(target, batch[:args.old_queries], 1, args.repeats)
                continue
            new.index = target
            table[side, words] = rate(new, batch, 1, args.repeats)
            assert exact(new, batch[:50]), f"{side}: top-10 differs from exhaustive ({words} words)"
    print(f"{n} passages, queries/s on one core, median (min–max) of {args.repeats}; uptime {os.getloadavg()}")
    print("| query | old (bm25s) | new before | new after | before / old | after / old | after / before |")
    print("|---|---|---|---|---|---|---|")
    for words in batches:
        o, b, a = (table[side, words] for side in ("old", "before", "new"))
        print(f"| {words} words | {fmt(o)} | {fmt(b)} | {fmt(a)} | {b[0] / o[0]:.2f}x | {a[0] / o[0]:.2f}x "
              f"| {a[0] / b[0]:.2f}x |")


if __name__ == "__main__":
    main()
