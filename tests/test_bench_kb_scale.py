"""benchmarks/bench_kb_scale.py measures what it says: its bm25s side over a new KB's postings ranks as bm25s's own build."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

import bench_kb_scale  # noqa: E402


def test_bm25s_over_the_new_index_ranks_as_bm25s_built_itself(tmp_path):
    corpus = tmp_path / "psgs.tsv"
    bench_kb_scale.generate_tsv(corpus, 3000, vocabulary=5000)
    bench_kb_scale.old_build(corpus, tmp_path / "old")
    bench_kb_scale.new_build(corpus, tmp_path / "new", slab_size=700)  # rows rebuilt from several slabs
    built, over_new = bench_kb_scale.OldKB(tmp_path / "old"), bench_kb_scale.OldSearchOverNewIndex(tmp_path / "new")
    queries = [q for words in (20, 60) for q in bench_kb_scale.make_queries(corpus, words, 20, seed=words)]
    (rows, scores), (rows_new, scores_new) = built.search_rows(queries, 10), over_new.search_rows(queries, 10)
    np.testing.assert_allclose(scores_new, scores, rtol=1e-5)
    for r, s, r_new, s_new in zip(rows, scores, rows_new, scores_new):  # the same passages, but for near-ties
        clear = lambda rows, scores: set(rows[scores > scores[-1] * (1 + 1e-5)].tolist())  # noqa: E731
        assert clear(r_new, s_new) == clear(r, s)
