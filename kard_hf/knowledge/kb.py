"""The knowledge base: a passage corpus with a BM25 index (METHOD.md step 2).

Saved as a folder: ``passages/`` (ids, titles and texts as memory-mapped string tables, with a
hashed id -> row lookup), ``index/`` (the postings of ``index.py``, memory-mapped),
``kard_hf.json`` (the artifact's spec, :mod:`kard_hf.hub.artifact`, of kind ``knowledge-base``: the format
version, the fingerprint, the corpus fingerprint and the BM25 parameters) and a ``README.md`` card. The same folder is what ``push_to_hub`` uploads as a dataset
repository and ``from_pretrained`` reads back. Opening one reads only the small per-term arrays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import shutil
import tempfile
import weakref
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from ..version import __version__
from ..errors import KnowledgeBaseError
from ..fileio import atomic_path
from ..hub import SPEC_NAME, dataset_card, push_folder, read_spec, resolve_folder, spec_file, write_spec
from ..bm25.analysis import NORMALIZATION, Analyzer
from ..bm25.build import CHUNK_SIZE, resolve_workers, write_index_folder
from ..bm25.index import INDEX_FILES, Index
from ..bm25.maxscore import SLAB
from ..bm25.strings import StringTable

KIND = "knowledge-base"
FORMAT_VERSION = 4  # 1: the bm25s index of kard_hf <= 0.1.0.dev0; 2: int32 passage rows in the postings; 3: text
# not Unicode-normalised, a fingerprint of the corpus alone (none is readable any more: the load error says to rebuild)
PASSAGE_FILES = [*StringTable.files("ids", hashed=True), *StringTable.files("titles", hashed=False),
                 *StringTable.files("texts", hashed=False)]
SEARCH_BATCH = 32  # about this many queries a task of a parallel search (32 scaled best of 16, 32, 64 on 2 cores)


@dataclass(frozen=True)
class BM25Parameters:
    """How passages are tokenized and scored. Defaults: Lucene BM25 with k1 = 0.9, b = 0.4 (as in KARD)."""

    k1: float = field(default=0.9, metadata={"help": "BM25 term-frequency saturation."})
    b: float = field(default=0.4, metadata={"help": "BM25 length normalisation (0 to 1)."})
    method: str = field(default="lucene", metadata={"help": "BM25 variant (as bm25s defines them): lucene, robertson, atire, bm25l, bm25+."})
    stemmer: str | None = field(default="english", metadata={"help": "PyStemmer language, or none."})
    stopwords: str | None = field(default="en", metadata={"help": "bm25s stopword list (en, ...), or none."})
    index_title: bool = field(default=True, metadata={"help": "Index each passage's title with its text."})

    def __post_init__(self):
        for name in ("stemmer", "stopwords"):  # "none" from a command line or recipe means no stemming / stopwords
            if isinstance(getattr(self, name), str) and getattr(self, name).lower() in ("none", ""):
                object.__setattr__(self, name, None)
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise KnowledgeBaseError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={self.k1}, b={self.b}")
        if self.method not in ("lucene", "robertson", "atire", "bm25l", "bm25+"):
            raise KnowledgeBaseError(f"unknown BM25 method {self.method!r}")
        Analyzer(self.stemmer, self.stopwords)  # an unknown stemmer or stopword list fails here, before any corpus is read


class SearchResults(NamedTuple):
    """Per query, the retrieved passages best first: ids, BM25 scores and texts."""

    ids: list[list[str]]
    scores: list[list[float]]
    texts: list[list[str]]


def corpus_fingerprint(passages: dict[str, list[str]]) -> str:
    """A SHA-256 over every passage's id, title and text: two KBs agree iff their fingerprints do."""
    digest = hashlib.sha256()
    for passage_id, title, text in zip(passages["id"], passages["title"], passages["text"]):
        digest.update(f"{passage_id}\x1f{title}\x1f{text}\x1e".encode())
    return digest.hexdigest()


def kb_fingerprint(corpus: str, parameters: BM25Parameters) -> str:
    """What decides every search result: the corpus fingerprint, the BM25 parameters and the text normalisation.

    The augment journal, a processed dataset, a student and ``predict``/``evaluate`` all key on it.
    """
    what = {"corpus": corpus, "parameters": dataclasses.asdict(parameters), "normalization": NORMALIZATION}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


class KnowledgeBase:
    """BM25 search over a passage corpus, plus the BM25 score of given passages for a query."""

    def __init__(self, folder: str | Path, manifest: dict, *, keep_alive=None):
        self.folder = Path(folder)
        self.parameters = BM25Parameters(**manifest["parameters"])
        self.fingerprint, self.corpus_fingerprint = manifest["fingerprint"], manifest["corpus_fingerprint"]
        self._stats = {key: manifest[key] for key in ("num_terms", "num_postings", "avg_length", "slab_size")}
        self._ids = StringTable(self.folder / "passages", "ids")
        self._titles = StringTable(self.folder / "passages", "titles")
        self._texts = StringTable(self.folder / "passages", "texts")
        self.index = Index(self.folder / "index", len(self._ids), manifest["slab_size"])
        self.analyzer = Analyzer(self.parameters.stemmer, self.parameters.stopwords)
        self._keep_alive = keep_alive  # the temporary folder of a KB built in memory
        self._pool = None  # (workers, ProcessPoolExecutor) of parallel searches

    def __len__(self) -> int:
        return len(self._ids)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(cls, passages: dict[str, list[str]], parameters: BM25Parameters = BM25Parameters(),
              show_progress: bool = True, *, num_proc: int = 1, chunk_size: int = CHUNK_SIZE,
              slab_size: int = SLAB) -> "KnowledgeBase":
        """Index ``{"id", "title", "text"}`` columns (see :func:`kard_hf.bm25.corpus.read_corpus`).

        The KB lives in a temporary folder until :meth:`save_pretrained`; for a corpus that does not
        fit in memory use :meth:`build_folder` with :func:`~kard_hf.bm25.corpus.iter_corpus`.
        """
        if not passages["id"]:
            raise KnowledgeBaseError("the corpus has no passages")
        tmp = tempfile.TemporaryDirectory(prefix="kard_hf_kb-")
        records = zip(passages["id"], passages["title"], passages["text"])
        return cls.build_folder(Path(tmp.name) / "kb", records, parameters, show_progress=show_progress,
                                num_proc=num_proc, chunk_size=chunk_size, total=len(passages["id"]), keep_alive=tmp,
                                slab_size=slab_size)

    @classmethod
    def build_folder(cls, folder: str | Path, records: Iterable[tuple[str, str, str]],
                     parameters: BM25Parameters = BM25Parameters(), *, show_progress: bool = True, num_proc: int = -1,
                     chunk_size: int = CHUNK_SIZE, total: int | None = None, keep_alive=None,
                     slab_size: int = SLAB) -> "KnowledgeBase":
        """Stream ``(id, title, text)`` records into a complete KB folder (manifest and card included).

        ``slab_size``: passages the search scores at once (at most, and by default, 65,536); a smaller
        one only costs speed (the tests use it to cross slab boundaries on small corpora).
        """
        folder = Path(folder)
        stats = write_index_folder(folder, records, parameters, chunk_size=chunk_size, num_proc=num_proc,
                                   show_progress=show_progress, total=total, slab_size=slab_size)
        corpus = stats.pop("fingerprint")
        manifest = {"format_version": FORMAT_VERSION, "kard_hf_version": __version__,
                    "fingerprint": kb_fingerprint(corpus, parameters), "corpus_fingerprint": corpus,
                    "parameters": dataclasses.asdict(parameters), **stats}
        _write_manifest_and_card(folder, {**manifest, "hub_id": None})
        return cls(folder, manifest, keep_alive=keep_alive)

    # -- querying ---------------------------------------------------------------------------
    def search(self, queries: list[str], k: int = 10, *, num_threads: int = 1,
               show_progress: bool = False) -> SearchResults:
        """The exact top ``k`` passages for each query (``k`` is capped at the corpus size), best first;
        equal scores go by corpus order.

        ``num_threads`` > 1 (or -1 for every core) spreads the queries over that many processes,
        each reading the same memory-mapped index.
        """
        if k < 1:
            raise KnowledgeBaseError(f"k must be at least 1, got {k}")
        if not queries:
            return SearchResults([], [], [])
        k = min(k, len(self))
        return self.results(*self.search_rows(list(queries), k, num_threads=num_threads, show_progress=show_progress))

    def results(self, rows: np.ndarray, scores: np.ndarray) -> SearchResults:
        """Ids, float32-rounded scores and texts of ``search_rows`` output."""
        k = rows.shape[1] if rows.ndim == 2 else 0
        texts = self._texts.get(rows.ravel())
        return SearchResults(
            ids=[self._ids.get(r) for r in rows],
            scores=scores.astype(np.float32).astype(float).tolist(),
            texts=[texts[i * k:(i + 1) * k] for i in range(len(rows))],
        )

    def search_rows(self, queries: list[str], k: int, *, num_threads: int = 1,
                    show_progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, scores)`` arrays of shape ``(len(queries), k)`` (float64 scores)."""
        workers = min(resolve_workers(num_threads), -(-len(queries) // SEARCH_BATCH))
        rows, scores = np.empty((len(queries), k), dtype=np.int64), np.empty((len(queries), k))
        with tqdm(total=len(queries), unit=" queries", desc="Searching", disable=not show_progress) as bar:
            if workers <= 1:
                for i, query in enumerate(queries):
                    rows[i], scores[i] = self.index.search(self.analyzer.query_terms(query), k)
                    bar.update(1)
            else:
                # About SEARCH_BATCH queries a task, as many tasks for every worker: no worker idles at the end.
                tasks = workers * -(-len(queries) // (workers * SEARCH_BATCH))
                cuts = [len(queries) * i // tasks for i in range(tasks + 1)]
                batches = [queries[start:end] for start, end in zip(cuts, cuts[1:])]
                start = 0
                for batch_rows, batch_scores in self._search_pool(workers).map(_search_batch, batches,
                                                                               [k] * len(batches)):
                    rows[start:start + len(batch_rows)], scores[start:start + len(batch_rows)] = batch_rows, batch_scores
                    start += len(batch_rows)
                    bar.update(len(batch_rows))
        return rows, scores

    def _search_pool(self, workers: int) -> ProcessPoolExecutor:
        """Worker processes that each open this KB's memory-mapped files; kept for the next search
        (starting them costs about a second), shut down with the KB."""
        if self._pool is None or self._pool[0] != workers:
            if self._pool is not None:
                self._pool[1].shutdown()
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(),
                                       initializer=_open_for_search, initargs=(str(self.folder), self.manifest()))
            weakref.finalize(self, pool.shutdown)
            self._pool = (workers, pool)
        return self._pool[1]

    def exhaustive_search(self, query: str, k: int = 10) -> tuple[list[str], list[float]]:
        """Top ``k`` by scoring every passage: the reference the pruned :meth:`search` must equal."""
        rows, scores = self.index.exhaustive(self.analyzer.query_terms(query), min(k, len(self)))
        return self._ids.get(rows), scores.astype(np.float32).astype(float).tolist()

    def score(self, query: str, passage_ids: list[str]) -> np.ndarray:
        """The BM25 score (float32) of each given passage for ``query``: what :meth:`search` reports.

        Reads only the postings of the query's terms for the given passages, so it costs the
        same on a 21M-passage corpus as on a small one.
        """
        return self.score_rows(query, self.rows(passage_ids))

    def score_rows(self, query: str, rows: np.ndarray) -> np.ndarray:
        """:meth:`score` of the passages at the given index rows (as :meth:`search_rows` returns them)."""
        return self.index.score(self.analyzer.query_terms(query), rows).astype(np.float32)

    def passages_at(self, rows: np.ndarray) -> tuple[list[str], list[str]]:
        """The ids and the texts of the passages at the given index rows."""
        return self._ids.get(rows), self._texts.get(rows)

    def rows(self, passage_ids: list[str]) -> np.ndarray:
        """Index rows of the given passage ids; an unknown id raises :class:`KnowledgeBaseError`."""
        rows = self._ids.lookup(list(passage_ids))
        if (rows < 0).any():
            raise KnowledgeBaseError(f"unknown passage id {passage_ids[int(np.argmax(rows < 0))]!r}")
        return rows

    def texts(self, passage_ids: list[str]) -> list[str]:
        """The texts of the given passages, in order."""
        return self._texts.get(self.rows(passage_ids)) if len(passage_ids) else []

    # -- saving and loading -----------------------------------------------------------------
    def manifest(self, hub_id: str | None = None) -> dict:
        return {"format_version": FORMAT_VERSION, "kard_hf_version": __version__, "fingerprint": self.fingerprint,
                "corpus_fingerprint": self.corpus_fingerprint,
                "num_passages": len(self), "parameters": dataclasses.asdict(self.parameters), **self._stats,
                "hub_id": hub_id}

    def save_pretrained(self, path: str | Path, *, hub_id: str | None = None) -> None:
        """Copy the folder (index, passages, manifest, card) to ``path``, atomically; ``hub_id``: the repository
        it goes to (recorded in the manifest and the card)."""
        if Path(path).resolve() == self.folder.resolve() and hub_id is None:
            return
        with atomic_path(path) as tmp:
            shutil.copytree(self.folder, tmp)
            _write_manifest_and_card(tmp, self.manifest(hub_id))

    @classmethod
    def load(cls, path: str | Path, *, expected: BM25Parameters | None = None, mmap: bool = True) -> "KnowledgeBase":
        """Open a saved folder. With ``expected``, parameters that differ from the saved ones are an error.

        Everything is memory-mapped (``mmap`` is kept for compatibility: there is no other way).
        """
        path = Path(path)
        manifest, manifest_file = _read_manifest(path), spec_file(path)
        if manifest.get("format_version") != FORMAT_VERSION:
            raise KnowledgeBaseError(
                f"built by an older kard_hf (index format {manifest.get('format_version')!r}, this one reads "
                f"{FORMAT_VERSION}); rebuild it with 'kard-hf build-kb'", file=manifest_file, field="format_version")
        for name in [f"passages/{f}" for f in PASSAGE_FILES] + [f"index/{f}" for f in INDEX_FILES]:
            if not (path / name).is_file():
                raise KnowledgeBaseError(f"not a complete knowledge base: {name} is missing", file=path)
        try:
            parameters = BM25Parameters(**manifest["parameters"])
            kb = cls(path, manifest)
        except (KeyError, TypeError) as e:
            raise KnowledgeBaseError(f"unreadable manifest ({e})", file=manifest_file) from None
        if expected is not None:
            for name, wanted in dataclasses.asdict(expected).items():
                if getattr(parameters, name) != wanted:
                    raise KnowledgeBaseError(
                        f"built with {name}={getattr(parameters, name)!r}, but {wanted!r} was asked for; rebuild it "
                        "with 'kard-hf build-kb'", file=manifest_file, field=f"parameters.{name}")
        counts = (len(kb), len(kb._titles), len(kb._texts), manifest["num_passages"])
        if len(set(counts)) != 1 or len(kb.index.offsets) != manifest["num_terms"] + 1:
            raise KnowledgeBaseError(f"the passages and the manifest disagree on the number of passages or terms "
                                     f"({counts})", file=path)
        return kb

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, *, expected: BM25Parameters | None = None,
                        revision: str | None = None) -> "KnowledgeBase":
        """Open a saved folder or a knowledge base pushed to the Hub (a dataset repository)."""
        return cls.load(resolve_folder(path_or_id, repo_type="dataset", what="knowledge base", revision=revision),
                        expected=expected)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, revision: str | None = None) -> str:
        """Upload the saved folder (with its card) as a dataset repository; return the commit URL."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "kb"
            self.save_pretrained(folder, hub_id=repo_id)
            return push_folder(folder, repo_id, repo_type="dataset", private=private, revision=revision,
                               commit_message=f"Upload knowledge base ({len(self)} passages)")


def _read_manifest(folder: Path) -> dict:
    """The spec of the knowledge base in ``folder``; an error when it has none or is another kind of artifact."""
    manifest = read_spec(folder)
    if manifest is None:
        raise KnowledgeBaseError(f"not a complete knowledge base: {SPEC_NAME} is missing", file=folder)
    if manifest["kind"] != KIND:
        raise KnowledgeBaseError(f"not a knowledge base: its {SPEC_NAME} says it is a {manifest['kind']}; build one "
                                 "with 'kard-hf build-kb'", file=spec_file(folder))
    return manifest


def stale_format(folder: str | Path) -> str | None:
    """Why the KB folder cannot be opened as it is (no manifest, or another index format), or None."""
    manifest = read_spec(folder)
    if manifest is None:
        return f"{folder} has no {SPEC_NAME}"
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        return f"its knowledge base has index format {version!r} (this kard_hf reads {FORMAT_VERSION})"
    return None


def _write_manifest_and_card(folder: Path, manifest: dict) -> None:
    write_spec(folder, {"kind": KIND, **manifest})
    dataset_card("knowledge_base", tags=["knowledge-base", "bm25", "retrieval"], manifest=manifest,
                 repo_id=manifest.get("hub_id") or "<this repo id or a local folder>").save(folder / "README.md")


_worker_kb: KnowledgeBase | None = None


def _open_for_search(folder: str, manifest: dict) -> None:
    global _worker_kb
    _worker_kb = KnowledgeBase(folder, manifest)


def _search_batch(queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    return _worker_kb.search_rows(queries, k)
