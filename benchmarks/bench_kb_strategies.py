"""Search speed of built KBs, side by side in one run: bm25s ("old": numpy backend; and its fastest, numba, on the
same index), the search of a git revision on
a KB that revision built ("before"), and the working tree's ("new", also on 2 processes), on 20- and
60-word queries.

    python benchmarks/bench_kb_scale.py --_build new WORKDIR/psgs_N.tsv WORKDIR/kb-new-N   # and old: kb-old-N
    git worktree add /tmp/before REV   # the before side's KB, built by that revision's code:
    PYTHONPATH=/tmp/before python benchmarks/bench_kb_scale.py --_build new WORKDIR/psgs_N.tsv WORKDIR/kb-before-N
    python benchmarks/bench_kb_strategies.py --workdir WORKDIR --passages N --before REV

(With an index format that did not change since REV, ``--before_kb WORKDIR/kb-new-N`` searches one KB
with both revisions.) Each side gets one untimed warm-up batch, then ``--repeats`` rounds that time
every side once in turn (benchmarks/harness.py: median, min–max). The first 50 top-10s of the before
and new sides are checked against each one's own exhaustive reference: same rows, same scores.
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
from bench_kb_scale import fmt, load_kb, make_queries, rates  # noqa: E402
from harness import add_repeats_argument  # noqa: E402


def module_at(revision: str, name: str, source_edit=lambda source: source):
    """``kard_hf/knowledge/<name>.py`` as of git ``revision``, imported as ``kard_hf.knowledge._before_<name>``."""
    source = subprocess.run(["git", "show", f"{revision}:kard_hf/knowledge/{name}.py"], capture_output=True,
                            text=True, check=True, cwd=Path(__file__).parent).stdout
    path = Path(tempfile.mkdtemp()) / f"_before_{name}.py"
    path.write_text(source_edit(source))
    spec = importlib.util.spec_from_file_location(f"kard_hf.knowledge._before_{name}", path)
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
    parser.add_argument("--workdir", default="/work/scratch15")
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--before", default="64c6bde",
                        help="Git revision whose search is 'before' (default: the last one with int32 postings).")
    parser.add_argument("--before_kb", help="The KB the before side searches (default: WORKDIR/kb-before-N).")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--old_queries", type=int, default=40)
    add_repeats_argument(parser, default=5)
    args = parser.parse_args()
    work, n = Path(args.workdir), args.passages
    corpus = work / f"psgs_{n}.tsv"
    queries = {words: make_queries(corpus, words, args.queries, seed=words) for words in (20, 60)}
    new = load_kb("new", work / f"kb-new-{n}")
    before = load_kb("new", work / f"kb-new-{n}")  # the working tree's analysis and passages, before's index
    before.index = index_at(args.before, Path(args.before_kb or work / f"kb-before-{n}") / "index", len(new))
    old = load_kb("old", work / f"kb-old-{n}")
    for side, kb in (("before", before), ("new", new)):
        for words, batch in queries.items():
            assert exact(kb, batch[:50]), f"{side}: top-10 differs from exhaustive ({words} words)"
    kbs = {"old": (old, 1), "numba": (old.with_backend("numba"), 1), "before": (before, 1), "new": (new, 1),
           "new, 2 processes": (new, 2)}
    rate, timings = rates({(side, words): (kb, batch[:args.old_queries] if side == "old" else batch, threads)
                           for words, batch in queries.items() for side, (kb, threads) in kbs.items()}, args.repeats)
    print(f"{n} passages, queries/s, median (min–max); {timings.describe()}")
    print("| query | old (bm25s numpy) | bm25s numba | before | new | new, 2 processes | new / old | new / bm25s numba "
          "| new / before | 2 processes / 1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for words in queries:
        o, nb, b, a, a2 = (rate[side, words] for side in kbs)
        print(f"| {words} words | {fmt(o)} | {fmt(nb)} | {fmt(b)} | {fmt(a)} | {fmt(a2)} | {a[0] / o[0]:.2f}x "
              f"| {a[0] / nb[0]:.2f}x | {a[0] / b[0]:.2f}x | {a2[0] / a[0]:.2f}x |")


if __name__ == "__main__":
    main()
