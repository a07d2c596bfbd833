"""Knowledge base at Wikipedia scale: today's bm25s-based KB ("old") vs the streamed index ("new").

    python benchmarks/bench_kb_scale.py --passages 1000000 5000000 --workdir /work/scratch14
    python benchmarks/bench_kb_scale.py --corpus psgs_w100.tsv --workdir /tmp/kb-bench

For each size it generates (or reads) a DPR-shaped TSV (id, text, title; 100 words a passage drawn
from a Zipf vocabulary whose most frequent words are English stopwords), builds both KBs, each in
its own subprocess (wall time, peak RSS of the main process and of the largest worker, peak total
PSS of its process tree), then
measures index size, load time, queries/s for 20- and 60-word queries (words of one passage, as a
rationale) on 1 and on 2 cores (median and spread of ``--repeats`` rounds, old and new interleaved) and top-10
agreement with
exhaustive BM25 (the new KB's reference scorer, bit-exact). The old side is skipped where its
in-memory build would need more than ``--old_max_gb`` (its peak grows ~6.8 GB per million passages).
``--old_from_new`` adds the side "old-from-new": bm25s's search, as today's main ran it, over a bm25s
index made from the new KB's postings (the same term-major arrays bm25s builds, with the scores of
bm25s's formulas), so bm25s's search speed is measured at sizes whose bm25s build does not fit in
memory; where both old sides run, the table shows they agree. Finally it projects the new build to
21M passages from the slope between the sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import add_repeats_argument, interleaved

WORDS_PER_PASSAGE = 100
PARAMS = {"k1": 0.9, "b": 0.4, "method": "lucene", "stemmer": "english", "stopwords": "en", "index_title": True}
OLD_GB_PER_MILLION = 7.0
SIDES = ("old", "old-from-new", "new")


def generate_tsv(path: Path, passages: int, vocabulary: int = 500_000, seed: int = 0) -> None:
    """DPR layout: ``id\\ttext\\ttitle`` with a header; words follow Zipf's law (exponent 1) over the vocabulary."""
    from bm25s.stopwords import STOPWORDS_EN

    rng = np.random.default_rng(seed)
    salts = rng.integers(10**6, size=vocabulary).tolist()
    words = np.array(list(STOPWORDS_EN) + [f"w{i}q{salts[i]}" for i in range(vocabulary - len(STOPWORDS_EN))],
                     dtype=object)
    tmp = path.with_suffix(".partial")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("id\ttext\ttitle\n")
        for start in range(0, passages, 100_000):
            n = min(100_000, passages - start)
            # Inverse CDF of the continuous Zipf law (exponent 1): P(rank >= x) = 1 - ln(x + 1) / ln(V + 1).
            ranks = (np.exp(rng.random(n * (WORDS_PER_PASSAGE + 2)) * np.log(vocabulary + 1)) - 1).astype(np.int64)
            table = words[ranks].reshape(n, WORDS_PER_PASSAGE + 2).tolist()
            f.write("".join(f"{start + i + 1}\t{' '.join(row[2:])}\t{row[0].title()} {row[1].title()}\n"
                            for i, row in enumerate(table)))
    os.replace(tmp, path)


def read_tsv_sample(path: Path, count: int, seed: int) -> list[str]:
    """Texts of ``count`` passages from the first million lines (query material)."""
    rng = np.random.default_rng(seed)
    texts = []
    with open(path, encoding="utf-8") as f:
        next(f)
        for i, line in enumerate(f):
            if i >= 1_000_000:
                break
            texts.append(line.split("\t")[1])
    return [texts[i] for i in rng.integers(len(texts), size=count)]


def make_queries(path: Path, words: int, count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for text in read_tsv_sample(path, count, seed):
        tokens = text.split()
        out.append(" ".join(rng.choice(tokens, size=words, replace=len(tokens) < words)))
    return out


# -- the old implementation (kard_hf's KnowledgeBase as of issue 14's start: bm25s, in memory) --------
def old_build(corpus: Path, out: Path) -> None:
    import bm25s
    import datasets
    import Stemmer

    from kard_hf.bm25.corpus import read_corpus
    from kard_hf.knowledge.kb import corpus_fingerprint

    passages = read_corpus(corpus)
    dataset = datasets.Dataset.from_dict({key: passages[key] for key in ("id", "title", "text")})
    corpus_fingerprint(passages)
    retriever = bm25s.BM25(k1=PARAMS["k1"], b=PARAMS["b"], method=PARAMS["method"])
    documents = [f"{t} {x}" if t else x for t, x in zip(passages["title"], passages["text"])]
    tokens = bm25s.tokenize(documents, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False,
                            show_progress=False)
    del documents
    retriever.index(tokens, show_progress=False)
    out.mkdir(parents=True)
    retriever.save(str(out / "index"), show_progress=False)
    dataset.save_to_disk(str(out / "passages"))


class OldKB:
    def __init__(self, folder: Path):
        import bm25s
        import datasets
        import Stemmer

        self.retriever = bm25s.BM25.load(str(folder / "index"), mmap=True, load_corpus=False)
        self.passages = datasets.load_from_disk(str(folder / "passages"))
        ids = np.asarray(self.passages["id"], dtype=object)
        self.row_of = {passage_id: row for row, passage_id in enumerate(ids)}
        self.stemmer = Stemmer.Stemmer("english")

    def search_rows(self, queries, k, num_threads=1):
        import bm25s

        tokens = bm25s.tokenize(queries, stopwords="en", stemmer=self.stemmer, return_ids=False, show_progress=False)
        return self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=num_threads)


class OldSearchOverNewIndex(OldKB):
    """bm25s's retrieval over the postings of a new KB, arranged as bm25s arranges its own index: one
    column per term of float32 scores (``data``) and int32 passage rows (``indices``), ``indptr`` the
    column starts. Needs about 8 bytes a posting in memory (3 GB at 5M passages), not a bm25s build."""

    def __init__(self, folder: Path):
        import bm25s
        import Stemmer
        from kard_hf.knowledge import KnowledgeBase

        index = KnowledgeBase.load(folder).index
        terms = len(index.offsets) - 1
        entry_terms = np.repeat(np.arange(terms), np.diff(index.slab_offsets))  # absolute rows from slab entries
        sizes = np.diff(np.append(index.offsets[entry_terms] + index.slab_starts, len(index.docs)))
        slab_rows = np.repeat(index.slab_numbers.astype(np.int32) * np.int32(index.slab_size), sizes)
        self.retriever = bm25s.BM25(k1=PARAMS["k1"], b=PARAMS["b"], method=PARAMS["method"])
        self.retriever.scores = {"data": np.array(index.scores), "indices": slab_rows + index.docs,
                                 "indptr": np.array(index.offsets), "num_docs": index.num_docs}
        self.retriever.vocab_dict = dict(zip(index.vocab.get(np.arange(terms)), range(terms)))
        self.retriever.unique_token_ids_set = set(self.retriever.vocab_dict.values())
        self.retriever.nonoccurrence_array = None
        self.stemmer = Stemmer.Stemmer("english")


def new_build(corpus: Path, out: Path, **options) -> None:
    from kard_hf.knowledge import BM25Parameters, KnowledgeBase
    from kard_hf.bm25.corpus import iter_corpus

    records = ((i, title, text) for _, i, title, text in iter_corpus(corpus))
    KnowledgeBase.build_folder(out, records, BM25Parameters(**PARAMS), num_proc=-1, show_progress=False, **options)


def timed_build(side: str, corpus: Path, out: Path) -> dict:
    """Run one build in a fresh subprocess; its wall time, peak RSS (main process, largest worker) and the
    peak of its process tree's total PSS, sampled twice a second (RSS counts pages shared by forked
    workers once per process, and the two peaks need not coincide: PSS is the memory the build holds)."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen([sys.executable, __file__, "--_build", side, str(corpus), str(out)], stdout=stdout,
                                 stderr=stderr, text=True)
        peak_pss = 0
        while child.poll() is None:
            peak_pss = max(peak_pss, sum(_pss_bytes(pid) for pid in _process_tree(child.pid)))
            time.sleep(0.5)
        wall = time.perf_counter() - start
        stdout.seek(0), stderr.seek(0)
        if child.returncode:
            raise SystemExit(f"{side} build failed:\n{stderr.read()[-3000:]}")
        usage = json.loads(stdout.read().strip().splitlines()[-1])
    return {"build_s": wall, **usage, "tree_pss_gb": peak_pss / 1e9,
            "size_gb": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e9}


def _process_tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid] + [p for child in children for p in _process_tree(int(child))]


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _child_build(side: str, corpus: str, out: str) -> None:
    (old_build if side == "old" else new_build)(Path(corpus), Path(out))
    print(json.dumps({"main_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                      "worker_rss_gb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6}))


def load_kb(side: str, folder: Path):
    if side == "old":
        return OldKB(folder)
    from kard_hf.knowledge import KnowledgeBase

    return KnowledgeBase.load(folder)


def rates(sides: dict, repeats: int) -> tuple[dict, object]:
    """Queries/s of every side (``{name: (kb, queries, processes)}``) as median, min and max over ``repeats``
    interleaved rounds (every side once a round, 1 and 2 processes alike; benchmarks/harness.py), after one
    untimed warm-up run per side (page cache, lazily made buffers and worker processes)."""
    def side(kb, batch, threads):
        def run() -> float:
            start = time.perf_counter()
            kb.search_rows(batch, 10, num_threads=threads)
            return time.perf_counter() - start
        return run

    for kb, batch, threads in sides.values():
        kb.search_rows(batch, 10, num_threads=threads)
    timings = interleaved({name: side(*value) for name, value in sides.items()}, repeats)
    return {name: (timings.rate(name, len(value[1])), *timings.rate_spread(name, len(value[1])))
            for name, value in sides.items()}, timings


def agreement(kb, reference, queries) -> tuple[float, float]:
    """Share of queries whose top-10 equals the exhaustive one: (same ids in order, same scores)."""
    rows, scores = kb.search_rows(queries, 10)
    same_ids = same_scores = 0
    for query, r, s in zip(queries, rows, scores):
        ref_rows, ref_scores = reference.index.exhaustive(reference.analyzer.query_terms(query), 10)
        same_ids += list(map(int, r)) == ref_rows.tolist()
        same_scores += np.allclose(np.asarray(s, dtype=np.float64), ref_scores, rtol=1e-5, atol=1e-6)
    return same_ids / len(queries), same_scores / len(queries)


def run_size(args, corpus: Path, n: int) -> dict:
    work = Path(args.workdir)
    results = {"passages": n}
    sides = ["new"] + (["old"] if n * OLD_GB_PER_MILLION / 1e6 <= args.old_max_gb and not args.no_old else [])
    results["old_skipped"] = "old" not in sides
    queries = {words: make_queries(corpus, words, args.queries, seed=words) for words in (20, 60)}
    kbs = {}
    for side in sides:
        out = work / f"kb-{side}-{n}"
        if args.reuse and out.is_dir():  # built earlier (--keep): only the search rows are measured
            row = {"size_gb": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e9}
        else:
            row = timed_build(side, corpus, out)
        print(json.dumps({"passages": n, side: row}), file=sys.stderr, flush=True)
        start = time.perf_counter()
        kbs[side] = load_kb(side, out)
        row["load_s"] = time.perf_counter() - start
        results[side] = row
    if args.old_from_new:
        start = time.perf_counter()
        kbs["old-from-new"] = OldSearchOverNewIndex(work / f"kb-new-{n}")
        results["old-from-new"] = {"load_s": time.perf_counter() - start}
    for words, batch in queries.items():  # every side, on 1 and 2 processes, in the same interleaved rounds
        counts = {side: args.old_queries if side.startswith("old") else len(batch) for side in kbs}
        sides = {(side, threads): (kb, batch[:counts[side]], threads) for side, kb in kbs.items() for threads in (1, 2)}
        measured, timings = rates(sides, args.repeats)
        print(f"{words} words: {timings.describe()}", file=sys.stderr, flush=True)
        for (side, threads), value in measured.items():
            results[side][f"qps_{words}_{threads}"] = value
        results["new"][f"scaling_{words}"] = (timings.ratio(("new", 1), ("new", 2)),
                                              *timings.ratio_spread(("new", 1), ("new", 2)))
        for side, kb in kbs.items():
            results[side][f"agree_{words}"] = agreement(kb, kbs["new"], batch[:args.agreement_queries])
    print(json.dumps({n: results}), file=sys.stderr, flush=True)
    return results


def fmt(value) -> str:
    if isinstance(value, list):  # read back from JSON
        value = tuple(value)
    if isinstance(value, tuple) and len(value) == 3:
        return f"{value[0]:.1f} ({value[1]:.1f}–{value[2]:.1f})"
    if isinstance(value, tuple):
        return f"{value[0]:.0%} / {value[1]:.0%}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def print_table(all_results: list[dict]) -> None:
    keys = [("build_s", "build wall (s)"), ("main_rss_gb", "build peak RSS, main process (GB)"),
            ("worker_rss_gb", "build peak RSS, largest worker (GB)"),
            ("tree_pss_gb", "build peak PSS, all processes (GB)"), ("size_gb", "on disk (GB)"),
            ("load_s", "load (s)"),
            ("qps_20_1", "20-word queries/s, 1 core: median (min–max)"), ("qps_20_2", "20-word queries/s, 2 cores"),
            ("qps_60_1", "60-word queries/s, 1 core"), ("qps_60_2", "60-word queries/s, 2 cores"),
            ("agree_20", "top-10 = exhaustive, 20 words (ids / scores)"), ("agree_60", "top-10 = exhaustive, 60 words")]
    columns = [(r["passages"], side) for r in all_results for side in SIDES if side in r]
    print("| | " + " | ".join(f"{side} {n / 1e6:g}M" for n, side in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    by = {(r["passages"], side): r[side] for r in all_results for side in SIDES if side in r}
    for key, label in keys:
        print(f"| {label} | " + " | ".join(fmt(by[c].get(key, "")) for c in columns) + " |")
    for r in all_results:
        n = r["passages"]
        if "old" not in r:
            print(f"\n{n / 1e6:g}M: old side not run (its in-memory build would need about "
                  f"{n * OLD_GB_PER_MILLION / 1e6:.0f} GB)")
        for old in ("old", "old-from-new"):
            if old in r:
                builds = (f"; build time new / old = {r['new']['build_s'] / r[old]['build_s']:.2f}"
                          if "build_s" in r["new"] and "build_s" in r[old] else "")
                print(f"\n{n / 1e6:g}M: 60-word queries/s on one core, new / {old} = "
                      f"{r['new']['qps_60_1'][0] / r[old]['qps_60_1'][0]:.2f}x, 20-word "
                      f"{r['new']['qps_20_1'][0] / r[old]['qps_20_1'][0]:.1f}x{builds}")
        for words in (20, 60):
            ratio, low, high = r["new"][f"scaling_{words}"]
            print(f"{n / 1e6:g}M: batch search on 2 cores / 1 core, {words} words = {ratio:.2f}x "
                  f"({low:.2f}-{high:.2f}x per round)")
    if len(all_results) >= 2 and all("build_s" in r["new"] for r in (all_results[0], all_results[-1])):
        a, b = all_results[0], all_results[-1]
        span = (b["passages"] - a["passages"]) / 1e6
        for key, unit in (("build_s", "s"), ("main_rss_gb", "GB"), ("tree_pss_gb", "GB"), ("size_gb", "GB")):
            slope = (b["new"][key] - a["new"][key]) / span
            print(f"projected new {key} at 21M: {b['new'][key] + slope * (21.0153 - b['passages'] / 1e6):.1f} {unit} "
                  f"(slope {slope:.3f} {unit} per million)")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--_build":
        return _child_build(*sys.argv[2:5])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--corpus", help="Read this TSV (DPR layout) instead of generating one (one size).")
    parser.add_argument("--workdir", default="/work/scratch14")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--old_queries", type=int, default=40, help="Queries timed on the (slow) old side.")
    parser.add_argument("--no_old", action="store_true", help="Do not build or load the old (bm25s-built) KB.")
    parser.add_argument("--old_from_new", action="store_true",
                        help="Also time bm25s's search over a bm25s index made from the new KB's postings.")
    parser.add_argument("--agreement_queries", type=int, default=30)
    add_repeats_argument(parser)
    parser.add_argument("--old_max_gb", type=float, default=8.0)
    parser.add_argument("--keep", action="store_true", help="Keep the corpora and KBs in --workdir.")
    parser.add_argument("--reuse", action="store_true",
                        help="Search the KBs already in --workdir (kb-old-N, kb-new-N) instead of building them; "
                             "implies --keep.")
    parser.add_argument("--also", nargs="*", default=[], help="Results JSON of earlier runs to print in the same table.")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    all_results = []
    for n in ([None] if args.corpus else args.passages):
        corpus = Path(args.corpus) if args.corpus else work / f"psgs_{n}.tsv"
        if not corpus.exists():
            generate_tsv(corpus, n)
        if n is None:
            n = sum(1 for _ in open(corpus, encoding="utf-8")) - 1
        all_results.append(run_size(args, corpus, n))
        if not (args.keep or args.reuse):
            for side in ("old", "new"):
                shutil.rmtree(work / f"kb-{side}-{n}", ignore_errors=True)
    (work / f"results-{'-'.join(str(r['passages']) for r in all_results)}.json").write_text(json.dumps(all_results))
    print(f"uptime: {os.getloadavg()}")
    print_table(sorted([r for path in args.also for r in json.loads(Path(path).read_text())] + all_results,
                       key=lambda r: r["passages"]))


if __name__ == "__main__":
    main()
