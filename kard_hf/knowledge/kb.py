"""The knowledge base: a passage corpus with a bm25s index (METHOD.md step 2).

Saved as a folder: ``index/`` (bm25s arrays, memory-mapped on load), ``passages/`` (an Arrow
dataset, memory-mapped), ``kard_hf_kb.json`` (a manifest with the corpus fingerprint and the BM25
parameters) and a ``README.md`` card. The same folder is what ``push_to_hub`` uploads as a dataset
repository and ``from_pretrained`` reads back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import bm25s
import numpy as np

from .. import __version__
from ..errors import KnowledgeBaseError
from ..fileio import atomic_path, read_json, write_json
from ..hub import dataset_card, push_folder, resolve_folder

MANIFEST_NAME = "kard_hf_kb.json"
INDEX_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "vocab.index.json",
               "params.index.json")


@dataclass(frozen=True)
class BM25Parameters:
    """How passages are tokenized and scored. Defaults: Lucene BM25 with k1 = 0.9, b = 0.4 (as in KARD)."""

    k1: float = field(default=0.9, metadata={"help": "BM25 term-frequency saturation."})
    b: float = field(default=0.4, metadata={"help": "BM25 length normalisation (0 to 1)."})
    method: str = field(default="lucene", metadata={"help": "BM25 variant: lucene, robertson, atire, bm25l, bm25+."})
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
        _check_language(self.stemmer, self.stopwords)  # before any corpus is read


def _check_language(stemmer: str | None, stopwords: str | None) -> None:
    """Refuse a stemmer PyStemmer does not have, or a stopword list bm25s does not have."""
    if stemmer:
        import Stemmer

        try:
            Stemmer.Stemmer(stemmer)
        except KeyError:
            raise KnowledgeBaseError(f"unknown stemmer {stemmer!r}; PyStemmer has {', '.join(Stemmer.algorithms())} "
                                     "(or none)", field="stemmer") from None
    if stopwords:
        from bm25s.tokenization import _infer_stopwords

        try:
            _infer_stopwords(stopwords)
        except ValueError:
            raise KnowledgeBaseError(f"unknown stopword list {stopwords!r}; bm25s has en, de, nl, fr, es, pt, it, ru, "
                                     "sv, no, zh, tr, ko, da (or none)", field="stopwords") from None


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


class KnowledgeBase:
    """BM25 search over a passage corpus, plus the BM25 score of given passages for a query."""

    def __init__(self, passages, retriever: bm25s.BM25, parameters: BM25Parameters, fingerprint: str):
        self.passages = passages  # a datasets.Dataset with columns id, title, text
        self.retriever = retriever
        self.parameters = parameters
        self.fingerprint = fingerprint
        self._ids = np.asarray(passages["id"], dtype=object)
        self._row_of = {passage_id: row for row, passage_id in enumerate(self._ids)}
        self._stemmer = None
        if parameters.stemmer:
            import Stemmer

            self._stemmer = Stemmer.Stemmer(parameters.stemmer)

    def __len__(self) -> int:
        return len(self._ids)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(cls, passages: dict[str, list[str]], parameters: BM25Parameters = BM25Parameters(),
              show_progress: bool = True) -> "KnowledgeBase":
        """Index ``{"id", "title", "text"}`` columns (see :func:`kard_hf.knowledge.corpus.read_corpus`)."""
        import datasets

        if not passages["id"]:
            raise KnowledgeBaseError("the corpus has no passages")
        dataset = datasets.Dataset.from_dict({key: passages[key] for key in ("id", "title", "text")})
        retriever = bm25s.BM25(k1=parameters.k1, b=parameters.b, method=parameters.method)
        knowledge_base = cls(dataset, retriever, parameters, corpus_fingerprint(passages))
        documents = [f"{title} {text}" if parameters.index_title and title else text
                     for title, text in zip(passages["title"], passages["text"])]
        retriever.index(knowledge_base._tokenize(documents, show_progress), show_progress=show_progress)
        return knowledge_base

    def _tokenize(self, texts: list[str], show_progress: bool = False) -> list[list[str]]:
        return bm25s.tokenize(texts, stopwords=self.parameters.stopwords, stemmer=self._stemmer,
                              return_ids=False, show_progress=show_progress)

    # -- querying ---------------------------------------------------------------------------
    def search(self, queries: list[str], k: int = 10, *, num_threads: int = 1,
               show_progress: bool = False) -> SearchResults:
        """The top ``k`` passages for each query (``k`` is capped at the corpus size).

        ``num_threads`` > 1 (or -1 for every core) splits the queries across threads.
        """
        if k < 1:
            raise KnowledgeBaseError(f"k must be at least 1, got {k}")
        if not queries:
            return SearchResults([], [], [])
        k = min(k, len(self))
        rows, scores = self.retriever.retrieve(self._tokenize(list(queries)), k=k, show_progress=show_progress,
                                               n_threads=os.cpu_count() if num_threads == -1 else num_threads)
        texts = self.passages[rows.ravel().tolist()]["text"]
        return SearchResults(
            ids=self._ids[rows].tolist(),
            scores=scores.astype(float).tolist(),
            texts=[texts[i * k:(i + 1) * k] for i in range(len(queries))],
        )

    def score(self, query: str, passage_ids: list[str]) -> np.ndarray:
        """The BM25 score of each given passage for ``query`` (what :meth:`search` would report).

        Reads only the postings of the query's terms for the given passages, so it costs the
        same on a 21M-passage corpus as on a small one.
        """
        rows = self.rows(passage_ids)
        order = np.argsort(rows)
        sorted_rows = rows[order]
        total = np.zeros(len(rows), dtype=np.float64)
        data, indices, indptr = (self.retriever.scores[key] for key in ("data", "indices", "indptr"))
        for token in self.retriever.get_tokens_ids(self._tokenize([query])[0]):
            start, end = int(indptr[token]), int(indptr[token + 1])
            postings = indices[start:end]
            found = np.searchsorted(postings, sorted_rows)
            hit = found < len(postings)
            hit[hit] = postings[found[hit]] == sorted_rows[hit]
            total[order[hit]] += data[start + found[hit]]
        return total.astype(np.float32)

    def rows(self, passage_ids: list[str]) -> np.ndarray:
        """Index rows of the given passage ids; an unknown id raises :class:`KnowledgeBaseError`."""
        try:
            return np.fromiter((self._row_of[i] for i in passage_ids), dtype=np.int64, count=len(passage_ids))
        except KeyError as e:
            raise KnowledgeBaseError(f"unknown passage id {e.args[0]!r}") from None

    def texts(self, passage_ids: list[str]) -> list[str]:
        """The texts of the given passages, in order."""
        return self.passages[self.rows(passage_ids).tolist()]["text"] if len(passage_ids) else []

    def check_augmented(self, manifest: dict, dataset) -> None:
        """Refuse a processed dataset whose manifest records another knowledge base's fingerprint."""
        recorded = (manifest.get("knowledge_base") or {}).get("fingerprint")
        if recorded and recorded != self.fingerprint:
            raise KnowledgeBaseError(f"its fingerprint {self.fingerprint[:12]} differs from the {recorded[:12]} that the "
                                     f"dataset {dataset} was augmented with", file=dataset, field="knowledge_base")

    # -- saving and loading -----------------------------------------------------------------
    def manifest(self, hub_id: str | None = None) -> dict:
        return {"format_version": 1, "kard_hf_version": __version__, "bm25s_version": bm25s.__version__,
                "fingerprint": self.fingerprint, "num_passages": len(self),
                "parameters": dataclasses.asdict(self.parameters), "hub_id": hub_id}

    def save_pretrained(self, path: str | Path, *, hub_id: str | None = None) -> None:
        """Write the folder (index, passages, manifest, card) atomically; ``hub_id``: the repository it goes to."""
        with atomic_path(path) as tmp:
            tmp.mkdir()
            self.retriever.save(str(tmp / "index"), show_progress=False)
            self.passages.save_to_disk(str(tmp / "passages"))
            write_json(tmp / MANIFEST_NAME, self.manifest(hub_id))
            dataset_card("knowledge_base", tags=["knowledge-base", "bm25", "retrieval"], manifest=self.manifest(hub_id),
                         repo_id=hub_id or "<this repo id or a local folder>").save(tmp / "README.md")

    @classmethod
    def load(cls, path: str | Path, *, expected: BM25Parameters | None = None, mmap: bool = True) -> "KnowledgeBase":
        """Open a saved folder. With ``expected``, parameters that differ from the saved ones are an error."""
        import datasets

        path = Path(path)
        for name in [MANIFEST_NAME] + [f"index/{f}" for f in INDEX_FILES] + ["passages/dataset_info.json"]:
            if not (path / name).is_file():
                raise KnowledgeBaseError(f"not a complete knowledge base: {name} is missing", file=path)
        manifest = read_json(path / MANIFEST_NAME)
        try:
            parameters = BM25Parameters(**manifest["parameters"])
        except (KeyError, TypeError) as e:
            raise KnowledgeBaseError(f"unreadable manifest ({e})", file=path / MANIFEST_NAME) from None
        if expected is not None:
            for name, wanted in dataclasses.asdict(expected).items():
                if getattr(parameters, name) != wanted:
                    raise KnowledgeBaseError(
                        f"built with {name}={getattr(parameters, name)!r}, but {wanted!r} was asked for; rebuild it "
                        "with 'kard-hf build-kb'", file=path / MANIFEST_NAME, field=f"parameters.{name}")
        retriever = bm25s.BM25.load(str(path / "index"), mmap=mmap, load_corpus=False)
        passages = datasets.load_from_disk(str(path / "passages"))
        if not len(passages) == manifest["num_passages"] == retriever.scores["num_docs"]:
            raise KnowledgeBaseError(f"the index, the passages and the manifest disagree on the number of passages "
                                     f"({retriever.scores['num_docs']}, {len(passages)}, {manifest['num_passages']})",
                                     file=path)
        return cls(passages, retriever, parameters, manifest["fingerprint"])

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
