import sys, time, importlib.util, re
import numpy as np
sys.path.insert(0, "/work/h4/benchmarks")
from bench_kb_scale import make_queries
from kard_hf.knowledge import KnowledgeBase
n = int(sys.argv[1]); words = sys.argv[2]; costs = [int(c) for c in sys.argv[3].split(",")]
src = open("/work/h4/kard_hf/bm25/maxscore.py").read().replace("cache=True", "cache=False")
mods = {}
for c in costs:
    path = f"/tmp/h4exp/ms_probe{c}.py"
    open(path, "w").write(re.sub(r"PROBE_COST = \d+", f"PROBE_COST = {c}", src))
    spec = importlib.util.spec_from_file_location(f"ms{c}", path)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); mods[c] = m
spec = importlib.util.spec_from_file_location("old", "/tmp/h4exp/maxscore_old.py")
old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old); mods["old"] = old
kb = KnowledgeBase.load(f"/tmp/h4kb/kb-new-english-{n}")
idx = kb.index
qlen = {"60": 60, "20": 20, "question": (100, 150)}[words]
queries = make_queries(__import__("pathlib").Path(f"/tmp/h4kb/psgs_english_{n}.tsv"), qlen, 40, 7)
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
print(n, words, {k: f"{len(prepared) / np.median(v[1:]):.0f}" for k, v in times.items()}, "q/s (median of 3 after warm-up)")
