"""The BM25 index on disk: postings with precomputed scores, assembled from streamed runs, searched
exactly with MaxScore pruning (compiled: ``maxscore.py``).

Passages are grouped in *slabs* of ``slab_size`` consecutive rows (the manifest's ``slab_size``, 65,536),
the unit the search scores at once. Layout of ``index/`` (raw little-endian arrays, memory-mapped on load):

* ``vocab.*``: the terms (a :class:`~kard_hf.bm25.strings.StringTable`), term id = row;
* ``terms.offsets`` (int64, V+1): term t's postings are ``[offsets[t], offsets[t+1])``;
* ``terms.upper`` (float32, V): the largest posting score of each term (MaxScore's bound);
* ``terms.base`` (float32, V): what a term adds to a passage that lacks it (BM25L and BM25+; else 0);
* ``slabs.offsets`` (int64, V+1): term t's slab entries are ``[slabs.offsets[t], slabs.offsets[t+1])``,
  one per slab its list reaches, in slab order; ``slabs.numbers`` (uint32) the slab of each entry,
  ``slabs.starts`` (uint32) its first posting, counted from ``offsets[t]``;
* ``postings.docs`` (uint16): each posting's row within its slab (ascending within a term's slab),
  ``postings.scores`` (float32): the BM25 weight ``idf(t) * tfc(tf, |d|) - base(t)`` for the KB's
  variant, k1 and b, as bm25s defines them. Six bytes a posting: the search reads every posting of a
  long query, so its speed follows these bytes (benchmarks.md).

Scores are summed in float32 (as bm25s and Lucene do; half the accumulator memory of float64, which
the search clears for every slab), term by term in one fixed order (decreasing bound, then term id)
by the pruned search, the exhaustive one (numpy, the reference) and :meth:`Index.score` alike, so
all three agree to the bit, and ties are broken by passage row (lower first).
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from . import maxscore
from .analysis import AnalyzedChunk
from .strings import StringTable, StringTableWriter, mapped

DELTA = 0.5  # bm25s's delta of BM25L and BM25+
TERM_CACHE = 1 << 16  # query terms whose vocabulary row is remembered (a lookup costs a hash and a search)
INDEX_FILES = ["terms.offsets", "terms.upper", "terms.base", "slabs.offsets", "slabs.numbers", "slabs.starts",
               "postings.docs", "postings.scores", *StringTable.files("vocab", hashed=True)]


def _idf(method: str, df: np.ndarray, n: int) -> np.ndarray:
    df = df.astype(np.float64)
    if method == "robertson":
        return np.log(np.maximum(1.0, (n - df + 0.5) / (df + 0.5)))
    if method == "lucene":
        return np.log(1 + (n - df + 0.5) / (df + 0.5))
    if method == "atire":
        return np.log(n / df)
    if method == "bm25l":
        return np.log((n + 1) / (df + 0.5))
    return np.log((n + 1) / df)  # bm25+


def _tfc(method: str, tf: np.ndarray, relative_length: np.ndarray, k1: float, b: float) -> np.ndarray:
    tf = np.asarray(tf, dtype=np.float64)
    norm = 1 - b + b * relative_length
    if method in ("robertson", "lucene"):
        return tf / (k1 * norm + tf)
    if method == "atire":
        return tf * (k1 + 1) / (tf + k1 * norm)
    if method == "bm25l":
        c = tf / norm
        return (k1 + 1) * (c + DELTA) / (k1 + c + DELTA)
    return (k1 + 1) * tf / (k1 * norm + tf) + DELTA  # bm25+


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (by sorting: numpy's hash-based ``unique`` is far slower on int arrays here)."""
    values = np.sort(values)
    return values[np.concatenate([[True], values[1:] != values[:-1]])] if len(values) else values


def _weighted(scores: np.ndarray, weight: float) -> np.ndarray:
    """A query term's contribution, always in float32 (so every code path adds the same numbers)."""
    return np.multiply(scores, weight, dtype=np.float32)


def _accumulate(acc: np.ndarray, docs: np.ndarray, scores: np.ndarray, weight: float) -> None:
    """``acc[docs] += weight * scores`` in one scatter pass (``np.add.at``; fancy ``+=`` makes three)."""
    np.add.at(acc, docs, _weighted(scores, weight))


class IndexBuilder:
    """Takes analyzed chunks in passage order, spills each as a run sorted by global term id, then
    assembles the index term block by term block, so memory holds one chunk or one block at a time."""

    def __init__(self, folder: Path, *, k1: float, b: float, method: str, block_postings: int = 8_000_000,
                 slab_size: int = maxscore.SLAB):
        self.slab_size = slab_size
        self.folder = Path(folder)
        self.runs = self.folder / "runs"
        self.runs.mkdir(parents=True)
        self.k1, self.b, self.method, self.block_postings = k1, b, method, block_postings
        self.vocab: dict[str, int] = {}
        self.df = np.zeros(1024, dtype=np.int64)
        self.lengths = open(self.folder / "doc.lengths", "wb")
        self.num_docs = 0
        self.total_length = 0
        self.run_sizes: list[int] = []

    def add(self, chunk: AnalyzedChunk) -> None:
        vocab = self.vocab
        global_ids = np.fromiter((vocab.setdefault(term, len(vocab)) for term in chunk.terms), dtype=np.int32,
                                 count=len(chunk.terms))
        if len(vocab) > len(self.df):
            self.df = np.concatenate([self.df, np.zeros(max(len(vocab), 2 * len(self.df)) - len(self.df), np.int64)])
        term = global_ids[chunk.term]
        order = np.argsort(term, kind="stable")  # chunk postings are doc-ascending within each term
        self.df[:len(vocab)] += np.bincount(term, minlength=len(vocab))
        run = len(self.run_sizes)
        term[order].tofile(self.runs / f"{run}.term")
        (chunk.doc[order] + np.int32(self.num_docs)).tofile(self.runs / f"{run}.doc")
        chunk.tf[order].tofile(self.runs / f"{run}.tf")
        self.run_sizes.append(len(term))
        self.lengths.write(chunk.lengths.astype(np.int32).tobytes())
        self.num_docs += len(chunk.lengths)
        self.total_length += int(chunk.lengths.sum())

    def finish(self, progress=None) -> dict:
        """Write the index files, delete the runs; return the statistics the manifest records."""
        self.lengths.close()
        vocab_size = len(self.vocab)
        writer = StringTableWriter(self.folder, "vocab", hashed=True)
        writer.append(list(self.vocab))
        writer.close()
        self.vocab = {}
        df = self.df[:vocab_size]
        offsets = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        offsets.tofile(self.folder / "terms.offsets")
        n = self.num_docs
        avg_length = self.total_length / n if n else 0.0
        relative = np.fromfile(self.folder / "doc.lengths", dtype=np.int32) / (avg_length or 1.0)
        os.unlink(self.folder / "doc.lengths")
        idf = _idf(self.method, df, n) if vocab_size else np.zeros(0)
        base = idf * _tfc(self.method, 0, np.zeros(1), self.k1, self.b)[0] if self.method in ("bm25l", "bm25+") \
            else np.zeros(vocab_size)
        base.astype(np.float32).tofile(self.folder / "terms.base")
        upper = np.zeros(vocab_size, dtype=np.float32)
        # Block boundaries (term ids) such that each block holds about block_postings postings.
        cuts = _distinct(np.searchsorted(offsets, np.arange(0, offsets[-1], self.block_postings), side="right") - 1)
        starts = np.append(cuts[cuts < vocab_size], vocab_size).astype(np.int64)
        run_cuts = [np.searchsorted(np.fromfile(self.runs / f"{run}.term", dtype=np.int32), starts)
                    for run in range(len(self.run_sizes))]
        entries = np.zeros(vocab_size, dtype=np.int64)  # slab entries of each term
        names = ("postings.docs", "postings.scores", "slabs.numbers", "slabs.starts")
        with ExitStack() as stack:
            docs_out, out, numbers_out, starts_out = (stack.enter_context(open(self.folder / name, "wb"))
                                                      for name in names)
            for block in range(len(starts) - 1):
                parts = {"term": [], "doc": [], "tf": []}
                for run, cut in enumerate(run_cuts):
                    lo, hi = int(cut[block]), int(cut[block + 1])
                    for name in parts:
                        parts[name].append(np.fromfile(self.runs / f"{run}.{name}", dtype=np.int32, count=hi - lo,
                                                       offset=4 * lo))
                term, doc, tf = (np.concatenate(parts[name]) for name in ("term", "doc", "tf"))
                del parts
                order = np.argsort(term, kind="stable")
                term, doc, tf = term[order], doc[order], tf[order]
                del order
                scores = (idf[term] * _tfc(self.method, tf, relative[doc], self.k1, self.b) - base[term])
                scores = scores.astype(np.float32)
                first = starts[block]
                segment_starts = offsets[first:starts[block + 1]] - offsets[first]
                upper[first:starts[block + 1]] = np.maximum.reduceat(scores, segment_starts)
                number = doc // self.slab_size
                new = np.ones(len(doc), dtype=bool)  # a posting that opens a (term, slab) entry
                new[1:] = (term[1:] != term[:-1]) | (number[1:] != number[:-1])
                opening = np.flatnonzero(new)
                entries[first:starts[block + 1]] = np.bincount(term[opening] - first, minlength=starts[block + 1] - first)
                numbers_out.write(number[opening].astype(np.uint32).tobytes())
                starts_out.write((offsets[first] + opening - offsets[term[opening]]).astype(np.uint32).tobytes())
                docs_out.write((doc - number * self.slab_size).astype(np.uint16).tobytes())
                out.write(scores.tobytes())
                if progress is not None:
                    progress.update(len(doc))
        upper.tofile(self.folder / "terms.upper")
        np.concatenate([[0], np.cumsum(entries)]).astype(np.int64).tofile(self.folder / "slabs.offsets")
        for path in self.runs.iterdir():
            path.unlink()
        self.runs.rmdir()
        return {"num_terms": vocab_size, "num_postings": int(offsets[-1]), "avg_length": avg_length,
                "slab_size": self.slab_size}


class Index:
    """Read side: exact top-k by MaxScore, the exhaustive reference and per-passage scores."""

    def __init__(self, folder: Path, num_docs: int, slab_size: int):
        folder = Path(folder)
        self.num_docs, self.slab_size = num_docs, slab_size
        self.vocab = StringTable(folder, "vocab")
        self.offsets = mapped(folder / "terms.offsets", np.int64)
        self.upper = np.fromfile(folder / "terms.upper", dtype=np.float32)
        self.base = np.fromfile(folder / "terms.base", dtype=np.float32)
        self.slab_offsets = mapped(folder / "slabs.offsets", np.int64)
        self.slab_numbers = mapped(folder / "slabs.numbers", np.uint32)
        self.slab_starts = mapped(folder / "slabs.starts", np.uint32)
        self.docs = mapped(folder / "postings.docs", np.uint16)
        self.scores = mapped(folder / "postings.scores", np.float32)
        self._term_ids: dict[str, int] = {}  # recent query terms' rows (-1: unknown), at most TERM_CACHE

    # -- queries --------------------------------------------------------------------------------
    def query(self, terms: dict[str, int]) -> tuple[np.ndarray, np.ndarray, float]:
        """``(term ids, weights, base)`` of a query's known terms in scoring order; unknown terms score 0."""
        cache = self._term_ids
        missing = [term for term in terms if term not in cache]
        if missing:
            if len(cache) + len(missing) > TERM_CACHE:
                cache.clear()
            cache.update(zip(missing, self.vocab.lookup(missing).tolist()))
        ids = np.fromiter((cache[term] for term in terms), dtype=np.int64, count=len(terms))
        weights = np.fromiter(terms.values(), dtype=np.float32, count=len(terms))
        known = ids >= 0
        ids, weights = ids[known], weights[known]
        order = np.lexsort((ids, -(weights * self.upper[ids])))
        ids, weights = ids[order], weights[order]
        return ids, weights, float(np.dot(weights, self.base[ids].astype(np.float64)))

    def _postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """Term ``term``'s postings: passage rows (int64, ascending) and scores."""
        start, end = int(self.offsets[term]), int(self.offsets[term + 1])
        first, last = int(self.slab_offsets[term]), int(self.slab_offsets[term + 1])
        sizes = np.diff(np.append(self.slab_starts[first:last].astype(np.int64), end - start))
        slab_rows = np.repeat(self.slab_numbers[first:last].astype(np.int64) * self.slab_size, sizes)
        return slab_rows + self.docs[start:end], self.scores[start:end]

    def _lists(self) -> tuple[np.ndarray, ...]:
        """The arrays the compiled functions read, in their argument order."""
        return self.offsets, self.slab_offsets, self.slab_numbers, self.slab_starts, self.docs, self.scores

    def search(self, terms: dict[str, int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` rows and scores (``k`` capped at the corpus size), by the compiled MaxScore of
        :func:`~kard_hf.bm25.maxscore.search`."""
        ids, weights, base = self.query(terms)
        bounds = weights.astype(np.float64) * self.upper[ids]
        remaining = np.append(np.cumsum(bounds[::-1])[::-1], 0.0)
        # Each float32 addition may round a sum up by 2**-24 of it, and no sum exceeds remaining[0]:
        # twice that slack per term keeps every bound above what the rounded sums can reach.
        remaining += remaining[0] * (len(ids) + 1) * 2.0 ** -23
        rows, scores = maxscore.search(*self._lists(), ids, weights, remaining, min(k, self.num_docs), self.num_docs,
                                       self.slab_size)
        return rows, scores.astype(np.float64) + base

    def _add_whole(self, total: np.ndarray, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``total`` (float32) plus every given term's whole posting list, term by term in order."""
        for term, weight in zip(ids.tolist(), weights.tolist()):
            _accumulate(total, *self._postings(term), weight)
        return total

    @staticmethod
    def _dense_best(total: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` of every passage's score (score descending, row ascending)."""
        n = len(total)
        rows = np.flatnonzero(total >= np.partition(total, n - k)[n - k]) if n > k else np.arange(n)
        values = total[rows]
        order = np.lexsort((rows, -values))[:k]
        return rows[order], values[order]

    def exhaustive(self, terms: dict[str, int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The reference: every passage scored, the same order of additions and the same tie rule."""
        ids, weights, base = self.query(terms)
        rows, scores = self._dense_best(self._add_whole(np.zeros(self.num_docs, np.float32), ids, weights),
                                        min(k, self.num_docs))
        return rows, scores.astype(np.float64) + base

    def score(self, terms: dict[str, int], rows: np.ndarray) -> np.ndarray:
        """The score of each given row, exactly as :meth:`search` computes it; reads only the
        query terms' postings in the given rows' slabs (compiled: ``maxscore.score_rows``)."""
        ids, weights, base = self.query(terms)
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        sorted_total = maxscore.score_rows(*self._lists(), ids, weights, rows[order], self.slab_size)
        total = np.empty(len(rows), dtype=np.float64)
        total[order] = sorted_total
        return total + base
