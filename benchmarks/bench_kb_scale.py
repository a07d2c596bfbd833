"""Knowledge base at Wikipedia scale: kard_hf's streamed index against bm25s's fastest search.

    python benchmarks/bench_kb_scale.py --corpus_kind english --passages 1000000 --build_only --workdir W
    python benchmarks/bench_kb_scale.py --corpus_kind english --passages 1000000 --reuse --old_from_new --no_old \\
        --repeats 5 --workdir W
    python benchmarks/bench_kb_scale.py --corpus psgs_w100.tsv --old_from_new --workdir /tmp/kb-bench

For each size it generates (or reads) a DPR-shaped TSV (id, text, title; 100 words a passage) whose
words follow real English frequencies (``--corpus_kind english``, the wordfreq package), a Zipf law
with no stopwords (``zipf``, the hard case) or this benchmark's first corpus (``bench``: Zipf with
English stopwords on top). It builds the kard_hf KB in a subprocess (wall time, peak RSS of the main
process and of the largest worker, peak total PSS of its process tree) and, where it fits
(``--old_max_gb``, ~7 GB a million passages), bm25s's own in-memory build ("old"). Then it times
queries of 20 words, 60 words (a rationale) and 100–150 words (a MedQA question), taken from the
corpus's passages, on 1 and 2 processes, every engine in the same interleaved rounds (median and
per-round range of ``--repeats`` rounds), and checks each engine's top-10 against exhaustive BM25.

The engines: kard_hf; bm25s with ``backend="numba"`` (its fastest configuration: compiled,
``n_threads=1`` single-threaded, ``n_threads=2`` its numba threads); bm25s with the numpy backend
(what kard_hf's main ran before issue 14, and the baseline of the earliest figures). With
``--old_from_new`` both bm25s backends search a bm25s index made from the kard_hf KB's postings (the
term-major arrays bm25s builds, with the scores of bm25s's formulas: tests/test_bench_kb_scale.py
checks it ranks as bm25s's own build does), so bm25s is measured at sizes whose own build does not
fit in memory. Finally it projects the rates and the build to 21M passages from the measured slope
between the smallest and largest size.
"""

from __future__ import annotations

import argparse
import copy
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


CORPORA = ("english", "zipf", "bench")
QUERY_LENGTHS = {"20": (20, 20), "60": (60, 60), "question": (100, 150)}  # words: keywords, a rationale, a MedQA
# question


def vocabulary_sampler(kind: str, rng, vocabulary: int = 500_000):
    """``(words, draw)``: the corpus's words, and a function drawing ``n`` word ranks by their frequencies.

    english: the 'large' English list of the wordfreq package (about 320,000 words with their frequencies in
    real text: stopwords, word lengths and the long tail as English has them). zipf: a Zipf law (exponent 1)
    over ``vocabulary`` made-up words with no stopwords, the hard case (every query has many rare terms).
    bench: this benchmark's first corpus, the same law with bm25s's stopwords as its most frequent words.
    """
    if kind == "english":
        from wordfreq import get_frequency_dict

        frequencies = get_frequency_dict("en", wordlist="large")
        words = np.array(list(frequencies), dtype=object)
        cdf = np.cumsum(np.fromiter(frequencies.values(), dtype=np.float64))
        cdf /= cdf[-1]
        return words, lambda n: np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(words) - 1)
    if kind not in CORPORA:
        raise SystemExit(f"unknown corpus {kind!r}: one of {', '.join(CORPORA)}")
    salts = rng.integers(10**6, size=vocabulary).tolist()
    if kind == "bench":
        from bm25s.stopwords import STOPWORDS_EN

        stop = list(STOPWORDS_EN)
    else:
        stop = []
    words = np.array(stop + [f"w{i}q{salts[i]}" for i in range(vocabulary - len(stop))], dtype=object)
    # Inverse CDF of the continuous Zipf law (exponent 1): P(rank >= x) = 1 - ln(x + 1) / ln(V + 1).
    return words, lambda n: (np.exp(rng.random(n) * np.log(vocabulary + 1)) - 1).astype(np.int64)


def generate_tsv(path: Path, passages: int, vocabulary: int = 500_000, seed: int = 0, kind: str = "bench") -> None:
    """DPR layout: ``id\\ttext\\ttitle`` with a header; 100 words a passage and a 2-word title, drawn
    independently by the word frequencies of ``kind`` (:func:`vocabulary_sampler`)."""
    rng = np.random.default_rng(seed)
    words, draw = vocabulary_sampler(kind, rng, vocabulary)
    tmp = path.with_suffix(".partial")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("id\ttext\ttitle\n")
        for start in range(0, passages, 100_000):
            n = min(100_000, passages - start)
            table = words[draw(n * (WORDS_PER_PASSAGE + 2))].reshape(n, WORDS_PER_PASSAGE + 2).tolist()
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


def make_queries(path: Path, words: int | tuple[int, int], count: int, seed: int) -> list[str]:
    """``count`` queries of ``words`` words, or of a length drawn from a ``(low, high)`` range, taken without
    replacement from the words of one passage (two for a query longer than a passage)."""
    low, high = (words, words) if isinstance(words, int) else words
    rng = np.random.default_rng(seed)
    texts = read_tsv_sample(path, 2 * count, seed)
    out = []
    for i in range(count):
        length = int(rng.integers(low, high + 1))
        tokens = (texts[2 * i] if length <= WORDS_PER_PASSAGE else f"{texts[2 * i]} {texts[2 * i + 1]}").split()
        out.append(" ".join(rng.choice(tokens, size=length, replace=len(tokens) < length)))
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
    """A bm25s index searched by bm25s's ``retrieve`` with the given backend: "numpy" (what kard_hf's main ran
    until issue 14) or "numba" (bm25s's fastest: compiled, single-threaded with ``n_threads=1``, its threads
    with more)."""

    def __init__(self, folder: Path, backend: str = "numpy"):
        import bm25s
        import datasets
        import Stemmer

        self.retriever = bm25s.BM25.load(str(folder / "index"), mmap=True, load_corpus=False)
        self.retriever.backend = backend
        self.passages = datasets.load_from_disk(str(folder / "passages"))
        ids = np.asarray(self.passages["id"], dtype=object)
        self.row_of = {passage_id: row for row, passage_id in enumerate(ids)}
        self.stemmer = Stemmer.Stemmer("english")

    def with_backend(self, backend: str) -> "OldKB":
        """The same index (its arrays shared, not copied) searched with another bm25s backend."""
        other = copy.copy(self)
        other.retriever = copy.copy(self.retriever)
        other.retriever.backend = backend
        return other

    def search_rows(self, queries, k, num_threads=1):
        import bm25s

        tokens = bm25s.tokenize(queries, stopwords="en", stemmer=self.stemmer, return_ids=False, show_progress=False)
        return self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=num_threads)


class OldSearchOverNewIndex(OldKB):
    """bm25s's retrieval over the postings of a new KB, arranged as bm25s arranges its own index: one
    column per term of float32 scores (``data``) and int32 passage rows (``indices``), ``indptr`` the
    column starts. Needs about 8 bytes a posting in memory (3 GB at 5M passages), not a bm25s build."""

    def __init__(self, folder: Path, backend: str = "numpy"):
        import bm25s
        import Stemmer
        from kard_hf.knowledge import KnowledgeBase

        index = KnowledgeBase.load(folder).index
        terms = len(index.offsets) - 1
        entry_terms = np.repeat(np.arange(terms), np.diff(index.slab_offsets))  # absolute rows from slab entries
        sizes = np.diff(np.append(index.offsets[entry_terms] + index.slab_starts, len(index.docs)))
        slab_rows = np.repeat(index.slab_numbers.astype(np.int32) * np.int32(index.slab_size), sizes)
        self.retriever = bm25s.BM25(k1=PARAMS["k1"], b=PARAMS["b"], method=PARAMS["method"], backend=backend)
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


def agreement(kb, reference, queries) -> tuple[float, float, float]:
    """Shares of queries whose top-10 equals the exhaustive one: the same ids in the same order, the same
    scores (within float32 rounding), the same ids but for exact ties at the cut (passages of equal score
    may come in another order, or another of them be cut)."""
    rows, scores = kb.search_rows(queries, 10)
    same_ids = same_scores = same_set = 0
    for query, r, s in zip(queries, rows, scores):
        ref_rows, ref_scores = reference.index.exhaustive(reference.analyzer.query_terms(query), 10)
        r, s = np.asarray(r, dtype=np.int64), np.asarray(s, dtype=np.float64)
        same_ids += r.tolist() == ref_rows.tolist()
        same_scores += np.allclose(s, ref_scores, rtol=1e-5, atol=1e-6)
        above = lambda rows, scores: set(rows[scores > ref_scores[-1] * (1 + 1e-5) + 1e-6].tolist())  # noqa: E731
        same_set += above(r, s) == above(ref_rows, ref_scores)
    return same_ids / len(queries), same_scores / len(queries), same_set / len(queries)


ENGINES = {"new": "kard_hf", "numba": "bm25s numba", "numpy": "bm25s numpy", "old": "bm25s numpy, own build"}


def kb_folder(work: Path, side: str, kind: str, n: int) -> Path:
    return work / (f"kb-{side}-{n}" if kind == "bench" else f"kb-{side}-{kind}-{n}")


def run_size(args, corpus: Path, n: int) -> dict:
    """Build (or reuse) the KBs of one corpus and size, then time every engine on every query length."""
    work = Path(args.workdir)
    results = {"passages": n, "corpus": args.corpus_kind}
    built = ["new"] + (["old"] if n * OLD_GB_PER_MILLION / 1e6 <= args.old_max_gb and not args.no_old else [])
    results["old_skipped"] = "old" not in built
    kbs = {}
    for side in built:
        out = kb_folder(work, side, args.corpus_kind, n)
        if args.reuse and out.is_dir():  # built earlier (--keep): only the search rows are measured
            row = {"size_gb": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e9}
        else:
            row = timed_build(side, corpus, out)
        print(json.dumps({"passages": n, side: row}), file=sys.stderr, flush=True)
        if args.build_only:
            continue
        start = time.perf_counter()
        kbs[side] = load_kb(side, out)
        row["load_s"] = time.perf_counter() - start
        results[side] = row
    if args.build_only:
        return results
    if args.old_from_new:  # bm25s's search over the new KB's postings: numba (its fastest) and numpy
        start = time.perf_counter()
        kbs["numba"] = OldSearchOverNewIndex(kb_folder(work, "new", args.corpus_kind, n), backend="numba")
        kbs["numpy"] = kbs["numba"].with_backend("numpy")
        results["numba"] = {"load_s": time.perf_counter() - start}
        results["numpy"] = {}
    for length in args.query_lengths:  # every engine, on 1 and 2 processes, in the same interleaved rounds
        batch = make_queries(corpus, QUERY_LENGTHS[length], args.queries, seed=sum(QUERY_LENGTHS[length]))
        counts = {side: args.old_queries if side in ("numpy", "old") else len(batch) for side in kbs}
        sides = {(side, threads): (kb, batch[:counts[side]], threads) for side, kb in kbs.items() for threads in (1, 2)}
        measured, timings = rates(sides, args.repeats)
        results.setdefault("load", {})[length] = timings.describe()
        print(f"{length} words: {timings.describe()}", file=sys.stderr, flush=True)
        for (side, threads), value in measured.items():
            results[side][f"qps_{length}_{threads}"] = value
        for side, threads in [key for key in sides if key[0] != "new"]:  # per-round ratios: kard_hf / each engine
            per_round = [(len(batch) / new) / (counts[side] / other) for new, other in
                         zip(timings.runs[("new", threads)], timings.runs[(side, threads)])]
            results["new"][f"over_{side}_{length}_{threads}"] = (
                measured[("new", threads)][0] / measured[(side, threads)][0], min(per_round), max(per_round))
        for side in kbs:
            per_round = [one / two for one, two in zip(timings.runs[(side, 1)], timings.runs[(side, 2)])]  # 2 / 1
            results[side][f"scaling_{length}"] = (measured[(side, 2)][0] / measured[(side, 1)][0], min(per_round),
                                                  max(per_round))
            results[side][f"agree_{length}"] = agreement(kb=kbs[side], reference=kbs["new"],
                                                         queries=batch[:args.agreement_queries])
    print(json.dumps({n: results}), file=sys.stderr, flush=True)
    return results


def fmt(value, digits: int = 0) -> str:
    if isinstance(value, list):  # read back from JSON
        value = tuple(value)
    if isinstance(value, tuple) and len(value) == 3 and digits:
        return f"{value[0]:.{digits}f} ({value[1]:.{digits}f}–{value[2]:.{digits}f})"
    if isinstance(value, tuple) and len(value) == 3 and all(isinstance(v, float) and v <= 1 for v in value):
        return " / ".join(f"{v:.0%}" for v in value)
    if isinstance(value, tuple) and len(value) == 3:
        return f"{value[0]:.0f} ({value[1]:.0f}–{value[2]:.0f})"
    if isinstance(value, tuple):
        return f"{value[0]:.0%} / {value[1]:.0%}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def print_table(all_results: list[dict]) -> None:
    """Per corpus and size: queries/s of each engine (median and per-round range), kard_hf's lead, 2 / 1."""
    for r in all_results:
        engines = [side for side in ENGINES if side in r and any(key.startswith("qps_") for key in r[side])]
        lengths = [key[4:-2] for key in r["new"] if key.startswith("qps_") and key.endswith("_1")]
        print(f"\n{r.get('corpus', 'bench')} corpus, {r['passages'] / 1e6:g}M passages; queries/s, median "
              f"(per-round min–max); bm25s sides: {args_note(r)}")
        for key in ("build_s", "tree_pss_gb", "size_gb", "load_s"):
            if key in r["new"]:
                print(f"kard_hf {key}: {fmt(r['new'][key])}")
        others = [side for side in engines if side != "new"]
        print("| query words | processes | " + " | ".join(ENGINES[side] for side in engines) + " | "
              + " | ".join(f"kard_hf / {ENGINES[side]}" for side in others) + " |")
        print("|---" * (2 + len(engines) + len(others)) + "|")
        for length in lengths:
            for threads in (1, 2):
                print(f"| {length} | {threads} | " + " | ".join(fmt(r[side][f'qps_{length}_{threads}']) for side in engines)
                      + " | " + " | ".join(fmt(r["new"][f"over_{side}_{length}_{threads}"], 2) for side in others) + " |")
        print("| query words | " + " | ".join(f"{ENGINES[side]} 2 / 1" for side in engines) + " | "
              + " | ".join(f"{ENGINES[side]} top-10 = exhaustive (ids in order / scores / ids but ties at the cut)"
                           for side in engines) + " |")
        print("|---" * (1 + 2 * len(engines)) + "|")
        for length in lengths:
            print(f"| {length} | " + " | ".join(fmt(r[side][f"scaling_{length}"], 2) for side in engines) + " | "
                  + " | ".join(fmt(r[side][f"agree_{length}"]) for side in engines) + " |")
    project(all_results)


def args_note(r: dict) -> str:
    return ("over the kard_hf KB's postings (--old_from_new)" if "numba" in r else "") + (
        "; numpy also on its own build" if "old" in r and "qps_20_1" in r.get("old", {}) else "")


def project(all_results: list[dict], target: float = 21.0153) -> None:
    """kard_hf's and bm25s numba's one-core rates at 21M passages, from the measured slope of seconds per
    query between the smallest and the largest size of each corpus (not from 1/N)."""
    for kind in dict.fromkeys(r.get("corpus", "bench") for r in all_results):
        sizes = sorted((r for r in all_results if r.get("corpus", "bench") == kind), key=lambda r: r["passages"])
        if len(sizes) < 2:
            continue
        a, b = sizes[0], sizes[-1]
        span = (b["passages"] - a["passages"]) / 1e6
        for side in ("new", "numba"):
            for key in [k for k in b.get(side, {}) if k.startswith("qps_") and k.endswith("_1") and k in a.get(side, {})]:
                seconds = [1 / r[side][key][0] for r in (a, b)]
                slope = (seconds[1] - seconds[0]) / span
                at = seconds[1] + slope * (target - b["passages"] / 1e6)
                print(f"{kind}: {ENGINES[side]} {key[4:-2]}-word queries at 21M, one core: {1 / at:.1f} q/s "
                      f"({seconds[0] * 1e3:.2f} ms at {a['passages'] / 1e6:g}M, {seconds[1] * 1e3:.2f} ms at "
                      f"{b['passages'] / 1e6:g}M, {slope * 1e3:.3f} ms more per million)")
        if all("build_s" in r["new"] for r in (a, b)):
            for key, unit in (("build_s", "s"), ("tree_pss_gb", "GB"), ("size_gb", "GB")):
                slope = (b["new"][key] - a["new"][key]) / span
                print(f"{kind}: projected kard_hf {key} at 21M: {b['new'][key] + slope * (target - b['passages'] / 1e6):.1f}"
                      f" {unit} (slope {slope:.3f} {unit} per million)")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--_build":
        return _child_build(*sys.argv[2:5])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--corpus_kind", choices=CORPORA, default="english",
                        help="The generated corpus's word frequencies (vocabulary_sampler).")
    parser.add_argument("--corpus", help="Read this TSV (DPR layout) instead of generating one (one size).")
    parser.add_argument("--workdir", default="/work/scratch14")
    parser.add_argument("--query_lengths", nargs="+", choices=list(QUERY_LENGTHS), default=list(QUERY_LENGTHS))
    parser.add_argument("--queries", type=int, default=200, help="Queries timed on kard_hf and bm25s numba.")
    parser.add_argument("--old_queries", type=int, default=40, help="Queries timed on the (slow) bm25s numpy sides.")
    parser.add_argument("--no_old", action="store_true", help="Do not build or load bm25s's own build.")
    parser.add_argument("--old_from_new", action="store_true",
                        help="Time bm25s (numba and numpy backends) over a bm25s index made from the new KB's postings.")
    parser.add_argument("--agreement_queries", type=int, default=30)
    add_repeats_argument(parser)
    parser.add_argument("--old_max_gb", type=float, default=8.0)
    parser.add_argument("--keep", action="store_true", help="Keep the corpora and KBs in --workdir.")
    parser.add_argument("--build_only", action="store_true", help="Generate and build (kept), search nothing.")
    parser.add_argument("--reuse", action="store_true",
                        help="Search the KBs already in --workdir instead of building them; implies --keep.")
    parser.add_argument("--also", nargs="*", default=[], help="Results JSON of earlier runs to print in the same table.")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    all_results = []
    for n in ([None] if args.corpus else args.passages):
        corpus = Path(args.corpus) if args.corpus else work / (
            f"psgs_{n}.tsv" if args.corpus_kind == "bench" else f"psgs_{args.corpus_kind}_{n}.tsv")
        if not corpus.exists():
            generate_tsv(corpus, n, kind=args.corpus_kind)
        if n is None:
            n = sum(1 for _ in open(corpus, encoding="utf-8")) - 1
        all_results.append(run_size(args, corpus, n))
        if not (args.keep or args.reuse or args.build_only):
            for side in ("old", "new"):
                shutil.rmtree(kb_folder(work, side, args.corpus_kind, n), ignore_errors=True)
    if args.build_only:
        return
    name = f"results-{args.corpus_kind}-{'-'.join(str(r['passages']) for r in all_results)}.json"
    (work / name).write_text(json.dumps(all_results))
    print(f"uptime: {os.getloadavg()}")
    print_table(sorted([r for path in args.also for r in json.loads(Path(path).read_text())] + all_results,
                       key=lambda r: (r.get("corpus", "bench"), r["passages"])))


if __name__ == "__main__":
    main()
