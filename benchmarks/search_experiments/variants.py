import sys, time, importlib.util
import numpy as np
sys.path.insert(0, "/work/h4/benchmarks")
from bench_kb_scale import make_queries
from kard_hf.knowledge import KnowledgeBase
import os; KIND = os.environ.get("KIND", "english")
n = int(sys.argv[1]); words = sys.argv[2]; names = sys.argv[3].split(","); count = int(sys.argv[4]) if len(sys.argv) > 4 else 40
mods = {}
for name in names:
    spec = importlib.util.spec_from_file_location(name, f"/tmp/h4exp/{name}.py")
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); mods[name] = m
kb = KnowledgeBase.load(f"/tmp/h4kb/kb-new-{KIND}-{n}")
idx = kb.index
qlen = {"60": 60, "20": 20, "question": (100, 150)}[words]
queries = make_queries(__import__("pathlib").Path(f"/tmp/h4kb/psgs_{KIND}_{n}.tsv"), qlen, count, 7)
prepared = []
for q in queries:
    ids, weights, base = idx.query(kb.analyzer.query_terms(q))
    bounds = weights.astype(np.float64) * idx.upper[ids]
    remaining = np.append(np.cumsum(bounds[::-1])[::-1], 0.0)
    remaining += remaining[0] * (len(ids) + 1) * 2.0 ** -23
    prepared.append((ids, weights, remaining))
L = idx._lists()
ref = None
times = {k: [] for k in mods}
for r in range(4):
    for k, m in mods.items():
        t0 = time.perf_counter()
        out = [m.search(*L, ids, w, rem, 10, n, idx.slab_size) for ids, w, rem in prepared]
        times[k].append(time.perf_counter() - t0)
        if ref is None: ref = out
        assert all((a[0] == b[0]).all() and (a[1] == b[1]).all() for a, b in zip(ref, out)), k
base = np.array(times[names[0]][1:])
print(n, words, {k: f"{len(prepared) / np.median(v[1:]):.0f} q/s ({np.median(base / np.array(v[1:])):.2f}x)" for k, v in times.items()})
