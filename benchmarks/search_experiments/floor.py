import sys, time
import numpy as np
from numba import njit
sys.path.insert(0, "/work/h4/benchmarks")
from bench_kb_scale import make_queries
from kard_hf.knowledge import KnowledgeBase
from kard_hf.bm25 import maxscore
n = int(sys.argv[1]); words = sys.argv[2]
kb = KnowledgeBase.load(f"/tmp/h4kb/kb-new-english-{n}")
idx = kb.index
qlen = {"60": 60, "20": 20, "question": (100, 150)}[words]
queries = make_queries(__import__("pathlib").Path(f"/tmp/h4kb/psgs_english_{n}.tsv"), qlen, 100, 7)

@njit(cache=False, nogil=True)
def add_lists(offsets, slab_offsets, slab_numbers, slab_starts, docs, scores, ids, weights, nterms, num_docs, slab):
    acc = np.zeros(slab, np.float32)
    entry = np.empty(len(ids), np.int64)
    for t in range(len(ids)):
        entry[t] = slab_offsets[ids[t]]
    s = 0.0
    for number, low in enumerate(range(0, num_docs, slab)):
        for t in range(nterms):
            term, e = ids[t], entry[t]
            if e < slab_offsets[term + 1] and slab_numbers[e] == number:
                a = offsets[term] + slab_starts[e]
                b = offsets[term + 1] if e + 1 == slab_offsets[term + 1] else offsets[term] + slab_starts[e + 1]
                entry[t] = e + 1
                w = weights[t]
                for p in range(a, b):
                    acc[docs[p]] += scores[p] * w
        s += acc[0]
        acc[:] = 0.0
    return s

prepared = []
for q in queries:
    terms = kb.analyzer.query_terms(q)
    ids, weights, base = idx.query(terms)
    rows, sc = idx.search(terms, 10)
    theta = sc[-1] - base
    bounds = weights.astype(np.float64) * idx.upper[ids]
    suffix = np.append(np.cumsum(bounds[::-1])[::-1], 0)
    prepared.append((terms, ids, weights, int(np.sum(suffix[:-1] >= theta))))
L = idx._lists()
for _ in range(2):
    t0 = time.perf_counter()
    for terms, ids, w, ess in prepared: idx.search(terms, 10)
    t1 = time.perf_counter()
    for terms, ids, w, ess in prepared: add_lists(*L, ids, w, len(ids), n, idx.slab_size)
    t2 = time.perf_counter()
    for terms, ids, w, ess in prepared: add_lists(*L, ids, w, ess, n, idx.slab_size)
    t3 = time.perf_counter()
print(n, words, f"search {1e3*(t1-t0)/len(prepared):.3f} ms, add-all {1e3*(t2-t1)/len(prepared):.3f} ms, add-essential {1e3*(t3-t2)/len(prepared):.3f} ms")
