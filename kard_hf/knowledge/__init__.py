"""The knowledge base (passages + BM25 index) and the augmentation step that retrieves from it."""

from ..bm25.corpus import CorpusColumns, read_corpus
from .kb import BM25Parameters, KnowledgeBase, SearchResults, corpus_fingerprint

__all__ = ["BM25Parameters", "CorpusColumns", "KnowledgeBase", "SearchResults", "corpus_fingerprint", "read_corpus"]
