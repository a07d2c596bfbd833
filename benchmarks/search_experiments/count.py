import sys, importlib.util
import numpy as np
sys.path.insert(0, "/work/h4/benchmarks")
from bench_kb_scale import make_queries
from kard_hf.knowledge import KnowledgeBase
spec = importlib.util.spec_from_file_location("mc", "/tmp/h4exp/maxscore_count.py")
mc = importlib.util.module_from_spec(spec); spec.loader.exec_module(mc)
n = int(sys.argv[1]); words = sys.argv[2]
kb = KnowledgeBase.load(f"/tmp/h4kb/kb-new-english-{n}")
idx = kb.index
qlen = {"60": 60, "20": 20, "question": (100, 150)}[words]
queries = make_queries(__import__("pathlib").Path(f"/tmp/h4kb/psgs_english_{n}.tsv"), qlen, 20, 7)
stats = np.zeros(6, np.int64); total = 0
for q in queries:
    ids, weights, base = idx.query(kb.analyzer.query_terms(q))
    bounds = weights.astype(np.float64) * idx.upper[ids]
    remaining = np.append(np.cumsum(bounds[::-1])[::-1], 0.0)
    remaining += remaining[0] * (len(ids) + 1) * 2.0 ** -23
    mc.search(*idx._lists(), ids, weights, remaining, 10, n, idx.slab_size, stats)
    total += sum(int(idx.offsets[t + 1] - idx.offsets[t]) for t in ids.tolist())
print(n, words, "per query: all postings", total // 20, "essential-whole, while-whole, loop-whole, lookups, lookup-list-postings, slabs:", (stats // 20).tolist())
