"""The BM25 engine: text analysis, string tables, the index format, its numba search kernel, the builder and
the corpus readers. It knows nothing of KARD; :mod:`kard_hf.knowledge` (the knowledge base, augment) uses it."""
