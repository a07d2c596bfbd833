"""KnowledgeBase search vs bm25s's fastest configuration (numba backend, one thread) and rank_bm25, on a generated
corpus, all measured in one run.

    python benchmarks/bench_kb_search.py [--passages 100000] [--queries 1000] [--k 10] [--repeats 3]

Builds each index once (build time: one run), then times the two query sides in ``--repeats``
interleaved rounds (benchmarks/harness.py) and prints a markdown table (index time, query time and
queries/s as median (min-max), the speed-ups with their per-round range, the load) and checks that the
libraries return the same top passage for most queries (rank_bm25 floors negative IDFs; bm25s does not).
"""

from __future__ import annotations

import argparse
import random
import time

import bm25s
import numpy as np
from rank_bm25 import BM25Okapi

from harness import add_repeats_argument, cell, interleaved, timed
from kard_hf.knowledge import BM25Parameters, KnowledgeBase


def generate(passages: int, queries: int, seed: int = 0):
    """Passages of 40-120 words over a Zipf-distributed 20k-word vocabulary; queries reuse words of one passage."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}x{rng.randrange(10**6)}" for i in range(20000)]
    ranks = np_rng.zipf(1.3, size=passages * 120) % len(vocabulary)
    texts, start = [], 0
    for _ in range(passages):
        length = rng.randint(40, 120)
        texts.append(" ".join(vocabulary[r] for r in ranks[start:start + length]))
        start += length
    query_texts = [" ".join(rng.sample(texts[rng.randrange(passages)].split(), 8)) for _ in range(queries)]
    return {"id": [str(i) for i in range(passages)], "title": [""] * passages, "text": texts}, query_texts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--k", type=int, default=10)
    add_repeats_argument(parser)
    args = parser.parse_args()
    corpus, queries = generate(args.passages, args.queries)
    # Same analysis on both sides: lower-cased word tokens, no stemming or stopwords, Okapi (Robertson) BM25.
    parameters = BM25Parameters(k1=1.5, b=0.75, method="robertson", stemmer=None, stopwords=None, index_title=False)

    start = time.perf_counter()
    kb = KnowledgeBase.build(corpus, parameters, show_progress=False)
    kb_index = time.perf_counter() - start
    tokenize = lambda texts: bm25s.tokenize(texts, stopwords=None, return_ids=False, show_progress=False)  # noqa: E731
    start = time.perf_counter()
    reference = BM25Okapi(tokenize(corpus["text"]), k1=1.5, b=0.75)
    ref_index = time.perf_counter() - start

    start = time.perf_counter()
    numba = bm25s.BM25(k1=1.5, b=0.75, method="robertson", backend="numba")
    numba.index(tokenize(corpus["text"]), show_progress=False)
    numba_index = time.perf_counter() - start
    numba_search = lambda: numba.retrieve(tokenize(queries), k=args.k, n_threads=1, show_progress=False)  # noqa: E731

    kb.search(queries[:10], k=args.k)  # untimed: compiles the search kernels (numba, cached after) and warms caches
    numba.retrieve(tokenize(queries[:10]), k=args.k, n_threads=1, show_progress=False)
    timings = interleaved({
        "kard_hf": timed(lambda: kb.search(queries, k=args.k)),
        "bm25s": timed(numba_search),
        "rank_bm25": timed(lambda: [int(np.argmax(reference.get_scores(tokens))) for tokens in tokenize(queries)]),
    }, args.repeats)
    ours, ref_top = timings.extras["kard_hf"][0], timings.extras["rank_bm25"][0]
    agree = np.mean([ids[0] == str(top) for ids, top in zip(ours.ids, ref_top)])
    print(f"{args.passages:,} passages, {args.queries:,} queries, top-{args.k}; {timings.describe()}\n")
    print("| implementation | index (s, one run) | {0} queries (s) | queries/s |".format(f"{args.queries:,}"))
    print("|---|---|---|---|")
    for name, index_s in (("kard_hf KnowledgeBase", kb_index), ("bm25s numba, n_threads=1", numba_index),
                          ("rank_bm25 BM25Okapi", ref_index)):
        side = name.split()[0]
        print(f"| {name} | {index_s:.1f} | {cell(timings.median(side), timings.spread(side), 3)} | "
              f"{cell(timings.rate(side, args.queries), timings.rate_spread(side, args.queries), 1)} |")
    numba_top = timings.extras["bm25s"][0].documents[:, 0]
    print(f"\nquery speed-up over bm25s numba: {cell(timings.ratio('bm25s', 'kard_hf'), timings.ratio_spread('bm25s', 'kard_hf'))}x, "
          f"same top-1 passage for {np.mean([ids[0] == str(top) for ids, top in zip(ours.ids, numba_top)]):.1%}; "
          f"over rank_bm25: {cell(timings.ratio('rank_bm25', 'kard_hf'), timings.ratio_spread('rank_bm25', 'kard_hf'), 0)}x, "
          f"same top-1 passage for {agree:.1%} of queries")


if __name__ == "__main__":
    main()
