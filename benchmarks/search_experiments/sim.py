import sys
import numpy as np
sys.path.insert(0, "/work/h4/benchmarks")
from bench_kb_scale import make_queries
from kard_hf.knowledge import KnowledgeBase
n = int(sys.argv[1]); words = sys.argv[2]
kb = KnowledgeBase.load(f"/tmp/h4kb/kb-new-english-{n}")
idx = kb.index
qlen = {"60": 60, "20": 20, "question": (100, 150)}[words]
queries = make_queries(__import__("pathlib").Path(f"/tmp/h4kb/psgs_english_{n}.tsv"), qlen, 20, 7)
agg = {}
def add(k, v): agg[k] = agg.get(k, 0) + v
for q in queries:
    terms = kb.analyzer.query_terms(q)
    ids, weights, base = idx.query(terms)
    rows, sc = idx.exhaustive(terms, 10)
    theta = np.float32(sc[-1] - base)
    lists = [idx._postings(t) for t in ids.tolist()]
    bounds = weights.astype(np.float64) * idx.upper[ids]
    rem = np.append(np.cumsum(bounds[::-1])[::-1], 0)
    lens = np.array([len(d) for d, _ in lists])
    ess = int(np.sum(rem[:-1] >= theta))
    acc = np.zeros(n, np.float32)
    for t in range(ess):
        d, s = lists[t]; acc[d] += s * weights[t]
    add("ess", lens[:ess].sum())
    for mode in ("stale", "refilter"):
        a = acc.copy()
        cand = np.flatnonzero((a > 0) & (a + rem[ess] >= theta))
        cost = 0
        for u in range(ess, len(ids)):
            if mode == "refilter":
                cand = cand[a[cand] + rem[u] >= theta]
            d, s = lists[u]
            if len(cand) * 8 >= len(d):
                cost += len(d); a[d] += s * weights[u]
            else:
                if mode == "stale":
                    cand = cand[a[cand] + rem[u] >= theta]
                cost += len(cand) * 8
                hit = np.isin(d, cand)
                a[d[hit]] += s[hit] * weights[u]
        add(mode, cost)
        add(mode + "_final_cands", len(cand))
print(n, words, {k: int(v) // 20 for k, v in agg.items()})
