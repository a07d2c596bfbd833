"""After adding the essential lists (final theta): candidates that can still reach theta, with the global bound of the
non-essential terms vs per-block maxima; and the non-essential postings."""
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
    bounds = weights * idx.upper[ids]
    suffix = np.append(np.cumsum(bounds[::-1])[::-1], 0)
    lens = np.array([len(d) for d, _ in lists])
    ess = int(np.sum(suffix[:-1] >= theta))
    acc = np.zeros(n, np.float32)
    for t in range(ess):
        d, s = lists[t]; acc[d] += s * weights[t]
    add("terms", len(ids)); add("essential_terms", ess)
    add("all", lens.sum()); add("ess_postings", lens[:ess].sum()); add("noness_postings", lens[ess:].sum())
    touched = acc > 0
    add("touched", touched.sum())
    add("cand_global", (touched & (acc + suffix[ess] >= theta)).sum())
    for B in (2048, 256):
        nb = -(-n // B)
        local = np.zeros((len(ids), nb), np.float32)
        for t, (d, s) in enumerate(lists):
            np.maximum.at(local[t], d // B, s * weights[t])
        rem = local[ess:].sum(axis=0)
        add(f"cand_block{B}", (touched & (acc + np.repeat(rem, B)[:n] >= theta)).sum())
    # exact: how many passages are in the final answer's reach: those whose full score >= theta
print(n, words, {k: int(v) // 20 for k, v in agg.items()})
