"""benchmarks/bench_kb_scale.py measures what it says: its bm25s sides over a new KB's postings (numba and numpy
backends) rank as bm25s's own build, and its corpora have the word frequencies they are named after."""

import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

import bench_kb_scale  # noqa: E402


def test_bm25s_over_the_new_index_ranks_as_bm25s_built_itself(tmp_path):
    corpus = tmp_path / "psgs.tsv"
    bench_kb_scale.generate_tsv(corpus, 3000, vocabulary=5000)
    bench_kb_scale.old_build(corpus, tmp_path / "old")
    bench_kb_scale.new_build(corpus, tmp_path / "new", slab_size=700)  # rows rebuilt from several slabs
    built = bench_kb_scale.OldKB(tmp_path / "old")
    over_new = bench_kb_scale.OldSearchOverNewIndex(tmp_path / "new", backend="numba")
    assert over_new.retriever.backend == "numba" and over_new.with_backend("numpy").retriever.backend == "numpy"
    queries = [q for words in bench_kb_scale.QUERY_LENGTHS.values()
               for q in bench_kb_scale.make_queries(corpus, words, 20, seed=sum(words))]
    rows, scores = built.search_rows(queries, 10)
    for engine in (over_new, over_new.with_backend("numpy"), built.with_backend("numba")):
        for threads in (1, 2):
            rows_new, scores_new = engine.search_rows(queries, 10, num_threads=threads)
            np.testing.assert_allclose(scores_new, scores, rtol=1e-5)
            for r, s, r_new, s_new in zip(rows, scores, rows_new, scores_new):  # the same passages, but for near-ties
                clear = lambda rows, scores: set(rows[scores > scores[-1] * (1 + 1e-5)].tolist())  # noqa: E731
                assert clear(r_new, s_new) == clear(r, s)


def test_query_lengths(tmp_path):
    corpus = tmp_path / "psgs.tsv"
    bench_kb_scale.generate_tsv(corpus, 200, vocabulary=5000, kind="zipf")
    for name, (low, high) in bench_kb_scale.QUERY_LENGTHS.items():
        lengths = [len(q.split()) for q in bench_kb_scale.make_queries(corpus, (low, high), 30, seed=1)]
        assert low <= min(lengths) and max(lengths) <= high, name


def test_english_corpus_has_english_word_frequencies_and_zipf_has_no_stopwords(tmp_path):
    from bm25s.stopwords import STOPWORDS_EN

    for kind in ("english", "zipf"):
        bench_kb_scale.generate_tsv(tmp_path / f"{kind}.tsv", 300, kind=kind)
    words = lambda kind: Counter(w for line in (tmp_path / f"{kind}.tsv").read_text().splitlines()[1:]  # noqa: E731
                                 for w in line.split("\t")[1].split())
    english, zipf = words("english"), words("zipf")
    assert english.most_common(1)[0][0] == "the"
    assert sum(english[w] for w in STOPWORDS_EN) > 0.3 * sum(english.values())  # English: about half stopwords
    assert not set(zipf) & set(STOPWORDS_EN)
