"""Two revisions of the search side by side: the compiled search of a git revision ("before") and the working
tree's ("new", also on 2 processes), on the same KB, against bm25s's fastest search (numba, one thread, over the
KB's postings), on 20-word, 60-word and 100–150-word queries.

    python benchmarks/bench_kb_scale.py --corpus_kind english --passages 1000000 --build_only --no_old --workdir W
    python benchmarks/bench_kb_strategies.py --workdir W --corpus_kind english --passages 1000000 --before REV

The before side opens the KB's index with ``kard_hf/bm25/index.py`` and ``maxscore.py`` as of REV (an index
format that did not change since REV; ``--before_kb`` gives a KB that REV built otherwise). Each side gets one
untimed warm-up batch, then ``--repeats`` rounds that time every side once in turn (benchmarks/harness.py:
median, min–max; ratios are of the per-round rates). The first ``--agreement_queries`` top-10s of the before and
new sides are checked against each one's own exhaustive reference: same rows, same scores, bit for bit.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_kb_scale import CORPORA, QUERY_LENGTHS, OldSearchOverNewIndex, fmt, kb_folder, load_kb, make_queries  # noqa: E402
from harness import add_repeats_argument, interleaved  # noqa: E402


def module_at(revision: str, name: str, source_edit=lambda source: source):
    """``kard_hf/bm25/<name>.py`` as of git ``revision``, imported as ``kard_hf.bm25._before_<name>``."""
    source = subprocess.run(["git", "show", f"{revision}:kard_hf/bm25/{name}.py"], capture_output=True,
                            text=True, check=True, cwd=Path(__file__).parent).stdout
    path = Path(tempfile.mkdtemp()) / f"_before_{name}.py"
    path.write_text(source_edit(source))
    spec = importlib.util.spec_from_file_location(f"kard_hf.bm25._before_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def index_at(revision: str, folder: Path, num_docs: int):
    """The index in ``folder`` opened with ``index.py`` and ``maxscore.py`` as of ``revision``."""
    module_at(revision, "maxscore")
    module = module_at(revision, "index", lambda source: source.replace("from . import maxscore",
                                                                        "from . import _before_maxscore as maxscore"))
    manifest = json.loads((folder.parent / "kard_hf.json").read_text())
    takes_slab = "slab_size" in inspect.signature(module.Index).parameters
    return module.Index(folder, num_docs, *([manifest["slab_size"]] if takes_slab else []))


def exact(kb, queries) -> bool:
    """Whether ``kb``'s top 10 equals its own exhaustive reference (rows and scores, bit for bit) for every query."""
    for query in queries:
        terms = kb.analyzer.query_terms(query)
        rows, scores = kb.index.search(terms, 10)
        ref_rows, ref_scores = kb.index.exhaustive(terms, 10)
        if not (np.array_equal(rows, ref_rows) and np.array_equal(scores, ref_scores)):
            return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--corpus_kind", choices=CORPORA, default="english")
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--before", required=True, help="Git revision whose search is 'before'.")
    parser.add_argument("--before_kb", help="The KB the before side searches (default: the new side's).")
    parser.add_argument("--query_lengths", nargs="+", choices=list(QUERY_LENGTHS), default=list(QUERY_LENGTHS))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--agreement_queries", type=int, default=30)
    add_repeats_argument(parser, default=5)
    args = parser.parse_args()
    work, n, kind = Path(args.workdir), args.passages, args.corpus_kind
    corpus = work / (f"psgs_{n}.tsv" if kind == "bench" else f"psgs_{kind}_{n}.tsv")
    folder = kb_folder(work, "new", kind, n)
    new = load_kb("new", folder)
    before = load_kb("new", folder)  # the working tree's analysis and passages, before's index and search
    before.index = index_at(args.before, Path(args.before_kb or folder) / "index", len(new))
    numba = OldSearchOverNewIndex(folder, backend="numba")
    sides = {"bm25s numba": (numba, 1), "before": (before, 1), "new": (new, 1), "new, 2 processes": (new, 2)}
    print(f"{kind} corpus, {n / 1e6:g}M passages, before = {args.before}; queries/s, median (per-round min–max)")
    print("| query words | bm25s numba, 1 thread | before | new | new, 2 processes | new / before | new / bm25s numba "
          "| 2 processes / 1 | exact (before, new) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for length in args.query_lengths:
        batch = make_queries(corpus, QUERY_LENGTHS[length], args.queries, seed=sum(QUERY_LENGTHS[length]))
        agree = [exact(kb, batch[:args.agreement_queries]) for kb in (before, new)]

        def run(kb, threads):
            def side() -> float:
                import time

                start = time.perf_counter()
                kb.search_rows(batch, 10, num_threads=threads)
                return time.perf_counter() - start
            return side

        for kb, threads in sides.values():  # warm-up: page cache, compiled code, worker processes
            kb.search_rows(batch, 10, num_threads=threads)
        timings = interleaved({name: run(kb, threads) for name, (kb, threads) in sides.items()}, repeats=args.repeats)
        rate = {name: [len(batch) / s for s in timings.runs[name]] for name in sides}
        median = {name: (float(np.median(r)), min(r), max(r)) for name, r in rate.items()}

        def ratio(a, b):
            per_round = [x / y for x, y in zip(rate[a], rate[b])]
            return (median[a][0] / median[b][0], min(per_round), max(per_round))

        print(f"| {length} | " + " | ".join(fmt(median[name]) for name in sides) + f" | {fmt(ratio('new', 'before'), 2)} "
              f"| {fmt(ratio('new', 'bm25s numba'), 2)} | {fmt(ratio('new, 2 processes', 'new'), 2)} "
              f"| {'yes' if agree[0] else 'NO'}, {'yes' if agree[1] else 'NO'} |", flush=True)
        print(f"  ({length} words: {timings.describe()})", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
