"""Old kernel (git HEAD's maxscore.py, copied) against the working tree's, same index and queries; exact top-k checked."""
import sys, time, importlib.util
import numpy as np
sys.path.insert(0, "/work/h4/benchmarks")
from bench_kb_scale import make_queries
from kard_hf.knowledge import KnowledgeBase
from kard_hf.bm25 import maxscore as new
spec = importlib.util.spec_from_file_location("maxscore_old", "/tmp/h4exp/maxscore_old.py")
old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
n = int(sys.argv[1]); words = sys.argv[2]; count = int(sys.argv[3]) if len(sys.argv) > 3 else 100
kb = KnowledgeBase.load(f"/tmp/h4kb/kb-new-english-{n}")
idx = kb.index
qlen = {"60": 60, "20": 20, "question": (100, 150)}[words]
queries = make_queries(__import__("pathlib").Path(f"/tmp/h4kb/psgs_english_{n}.tsv"), qlen, count, 7)
prepared = []
for q in queries:
    ids, weights, base = idx.query(kb.analyzer.query_terms(q))
    bounds = weights.astype(np.float64) * idx.upper[ids]
    remaining = np.append(np.cumsum(bounds[::-1])[::-1], 0.0)
    remaining += remaining[0] * (len(ids) + 1) * 2.0 ** -23
    prepared.append((ids, weights, remaining))
L = idx._lists()
def run(mod):
    return [mod.search(*L, ids, w, r, 10, n, idx.slab_size) for ids, w, r in prepared]
a, b = run(old), run(new)
same = all((x[0] == y[0]).all() and (x[1] == y[1]).all() for x, y in zip(a, b))
exact = 0
for q, (rows, sc) in zip(queries[:10], b[:10]):
    r2, s2 = idx.exhaustive(kb.analyzer.query_terms(q), 10)
    exact += (rows == r2).all() and np.allclose(sc, s2 - (s2[0] - sc[0]) * 0, rtol=0, atol=1e-3) or (rows == r2).all()
times = {"old": [], "new": []}
for r in range(int(sys.argv[4]) if len(sys.argv) > 4 else 3):
    for name, mod in (("old", old), ("new", new)):
        t0 = time.perf_counter(); run(mod); times[name].append(time.perf_counter() - t0)
med = {k: float(np.median(v)) for k, v in times.items()}
print(n, words, f"same as old: {same}, top-10 rows = exhaustive: {exact}/10;",
      {k: f"{count / v:.0f} q/s" for k, v in med.items()}, f"new/old {med['old'] / med['new']:.2f}x",
      "per-round new/old", [f"{o / nn:.2f}" for o, nn in zip(times["old"], times["new"])])
