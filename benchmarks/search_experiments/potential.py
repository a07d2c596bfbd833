"""How many postings MaxScore must add whole (essential lists) with the final theta, globally vs with per-block maxima."""
import sys, time
import numpy as np
sys.path.insert(0, "/work/h4/benchmarks")
from bench_kb_scale import make_queries
from kard_hf.knowledge import KnowledgeBase
n = int(sys.argv[1]); words = sys.argv[2]
kb = KnowledgeBase.load(f"/tmp/h4kb/kb-new-english-{n}")
idx = kb.index
qlen = {"60": 60, "20": 20, "question": (100, 150)}[words]
queries = make_queries(__import__("pathlib").Path(f"/tmp/h4kb/psgs_english_{n}.tsv"), qlen, 20, 7)
tot = {"all": 0, "global": 0, **{b: 0 for b in (65536, 8192, 2048, 512, 128)}}
for q in queries:
    terms = kb.analyzer.query_terms(q)
    ids, weights, base = idx.query(terms)
    rows, sc = idx.exhaustive(terms, 10)
    theta = np.float32(sc[-1] - base)
    lists = [idx._postings(t) for t in ids.tolist()]
    bounds = weights * idx.upper[ids]
    suffix = np.append(np.cumsum(bounds[::-1])[::-1], 0)
    lens = np.array([len(d) for d, _ in lists])
    tot["all"] += lens.sum()
    ess = int(np.sum(suffix[:-1] >= theta))  # terms 0..ess-1 essential
    tot["global"] += lens[:ess].sum()
    for B in (65536, 8192, 2048, 512, 128):
        nb = -(-n // B)
        local = np.zeros((len(ids), nb), np.float32)
        cnt = np.zeros((len(ids), nb), np.int64)
        for t, (d, s) in enumerate(lists):
            blk = d // B
            np.maximum.at(local[t], blk, s * weights[t])
            cnt[t] = np.bincount(blk, minlength=nb)
        # per block: order terms as global order; suffix sums of local maxima; essential = prefix with suffix >= theta
        suf = np.cumsum(local[::-1], axis=0)[::-1]
        essential = suf >= theta   # term t essential in block if suffix from t >= theta
        tot[B] += (cnt * essential).sum()
print(n, words, {k: f"{v / tot['all']:.3f}" for k, v in tot.items()}, "postings/query", tot["all"] // 20)
