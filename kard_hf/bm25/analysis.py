"""Text analysis shared by indexing and querying: bm25s's tokenizer rules, vectorised per chunk.

NFC-normalise (an NFD query matches its NFC passage), lower-case, split with scikit-learn's
``(?u)\\b\\w\\w+\\b``, drop stopwords (bm25s's lists), then stem with PyStemmer: the same tokens
``bm25s.tokenize`` yields (for NFC text), so a query matches the index.
The stemmer and stopword names are checked when the analyzer is made, before any corpus is read.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import NamedTuple

import numpy as np

from ..errors import KnowledgeBaseError

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
NORMALIZATION = "NFC"  # part of a knowledge base's fingerprint


def tokens_of(text: str) -> list[str]:
    """The tokens of ``text`` before stopwords and stemming: normalised, lower-cased, split."""
    return TOKEN_PATTERN.findall(unicodedata.normalize(NORMALIZATION, text).lower())


class AnalyzedChunk(NamedTuple):
    """Postings of a chunk of documents, sorted by (local term, document): ``terms[term[i]]`` occurs
    ``tf[i]`` times in document ``doc[i]`` (0-based in the chunk); ``lengths`` counts each document's tokens."""

    terms: list[str]
    term: np.ndarray
    doc: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray


# bm25s's stopword lists (bm25s.stopwords.STOPWORDS_<suffix>), by code and by English name as bm25s accepts them
STOPWORD_LISTS = {**dict.fromkeys(("en", "english"), "EN"), **dict.fromkeys(("en_plus", "english_plus"), "EN_PLUS"),
                  **{name: language.upper() for code, language in (
                      ("de", "german"), ("nl", "dutch"), ("fr", "french"), ("es", "spanish"), ("pt", "portuguese"),
                      ("it", "italian"), ("ru", "russian"), ("sv", "swedish"), ("no", "norwegian"), ("zh", "chinese"),
                      ("tr", "turkish"), ("ko", "korean"), ("da", "danish")) for name in (code, language)}}


class Analyzer:
    """Tokenizes texts as the knowledge base's parameters say (picklable: it is sent to worker processes)."""

    def __init__(self, stemmer: str | None, stopwords: str | None):
        import bm25s.stopwords  # bm25s's public lists

        if stopwords and stopwords not in STOPWORD_LISTS:
            raise KnowledgeBaseError(f"unknown stopword list {stopwords!r}; use one of bm25s's (en, en_plus, de, fr, "
                                     "es, ...) or none", field="stopwords")
        self.stopwords = frozenset(getattr(bm25s.stopwords, f"STOPWORDS_{STOPWORD_LISTS[stopwords]}")
                                   if stopwords else ())
        self.stemmer_name = stemmer
        if stemmer:
            import Stemmer

            if stemmer not in Stemmer.algorithms():
                raise KnowledgeBaseError(f"unknown stemmer {stemmer!r}; PyStemmer has {', '.join(Stemmer.algorithms())}"
                                         " (or none)", field="stemmer")
        self._stemmer = None

    def __getstate__(self):
        return {"stopwords": self.stopwords, "stemmer_name": self.stemmer_name, "_stemmer": None}

    def _stem(self, words: list[str]) -> list[str]:
        if not self.stemmer_name:
            return words
        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer(self.stemmer_name)
        return self._stemmer.stemWords(words)

    def analyze(self, texts: list[str]) -> AnalyzedChunk:
        """Postings of ``texts``: one Python step per token, the rest in numpy."""
        words: dict[str, int] = {}
        word_ids, counts = [], np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            tokens = tokens_of(text)
            counts[i] = len(tokens)
            word_ids.extend([words.setdefault(token, len(words)) for token in tokens])
        unique = list(words)
        kept = [word for word in unique if word not in self.stopwords]
        stems = self._stem(kept)
        term_ids: dict[str, int] = {}
        stem_of_kept = [term_ids.setdefault(stem, len(term_ids)) for stem in stems]
        term_of_word = np.full(len(unique), -1, dtype=np.int64)
        if kept:
            kept_mask = np.fromiter((word not in self.stopwords for word in unique), dtype=bool, count=len(unique))
            term_of_word[kept_mask] = stem_of_kept
        term = term_of_word[np.asarray(word_ids, dtype=np.int64)]
        doc = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
        keep = term >= 0
        term, doc = term[keep], doc[keep]
        lengths = np.bincount(doc, minlength=len(texts)).astype(np.int32)
        keys, tf = np.unique(term * len(texts) + doc, return_counts=True)
        return AnalyzedChunk(list(term_ids), (keys // len(texts)).astype(np.int32),
                             (keys % len(texts)).astype(np.int32), tf.astype(np.int32), lengths)

    def query_terms(self, text: str) -> dict[str, int]:
        """Each query term with how often it occurs (a repeated term counts that many times, as in bm25s)."""
        return dict(Counter(self._stem([token for token in tokens_of(text) if token not in self.stopwords])))
