"""The BM25 index core: pruned search is exact, streamed builds are chunk-independent, parameters are checked early."""

import json
import multiprocessing

import Stemmer
import bm25s
import numpy as np
import pytest

from kard_hf.cli import main
from kard_hf.errors import KnowledgeBaseError
from kard_hf.knowledge import BM25Parameters, KnowledgeBase
from kard_hf.bm25 import maxscore
from kard_hf.bm25.index import INDEX_FILES
from kard_hf.knowledge.kb import PASSAGE_FILES

METHODS = ["lucene", "robertson", "atire", "bm25l", "bm25+"]


def zipf_corpus(passages: int, seed: int = 0, vocabulary: int = 400) -> dict[str, list[str]]:
    """Short passages over a Zipf vocabulary: frequent words have long posting lists, as in real text."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocabulary)] + ["the", "and", "running", "runs"]
    texts = [" ".join(words[r % len(words)] for r in rng.zipf(1.2, size=rng.integers(3, 40))) for _ in range(passages)]
    return {"id": [f"p{i}" for i in range(passages)], "title": [f"t{i % 7}" for i in range(passages)], "text": texts}


def queries(corpus, count: int, seed: int = 1) -> list[str]:
    """Words of a passage, some repeated, plus words the corpus never has."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        words = corpus["text"][rng.integers(len(corpus["text"]))].split()
        picked = list(rng.choice(words, size=rng.integers(1, 25)))
        out.append(" ".join(picked + picked[:2] + ["zzunknown"] * int(rng.integers(0, 2))))
    return out + ["zzunknown only", "the and"]


@pytest.fixture(scope="module")
def corpus():
    return zipf_corpus(1500)


@pytest.mark.parametrize("method", METHODS)
def test_pruned_search_equals_exhaustive_and_bm25s(corpus, method):
    parameters = BM25Parameters(k1=1.2, b=0.75, method=method)
    kb = KnowledgeBase.build(corpus, parameters, show_progress=False, chunk_size=400)
    # Independent reference: bm25s scores every passage with the same variant and parameters.
    stemmer = Stemmer.Stemmer(parameters.stemmer).stemWords  # PyStemmer itself, as the index stems
    documents = [f"{title} {text}" for title, text in zip(corpus["title"], corpus["text"])]
    reference = bm25s.BM25(k1=1.2, b=0.75, method=method)
    reference.index(bm25s.tokenize(documents, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    for query in queries(corpus, 40):
        for k in (1, 5, 37):
            ids, scores = kb.exhaustive_search(query, k)
            found = kb.search([query], k=k)
            assert found.ids[0] == ids and found.scores[0] == scores, (query, k)
            np.testing.assert_array_equal(kb.score(query, ids), np.float32(scores))
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
        vocabulary = tokens.vocab
        inverse = {v: key for key, v in vocabulary.items()}
        query_tokens = [inverse[t] for t in tokens.ids[0] if inverse[t] in reference.vocab_dict]
        expected = reference.get_scores(query_tokens) if query_tokens else np.zeros(len(kb), np.float32)
        np.testing.assert_allclose(kb.score(query, corpus["id"]), expected, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("slab", [5, 64, 700, maxscore.SLAB])
def test_search_equals_exhaustive_to_the_bit_across_slabs(corpus, slab):
    """search() scores slabs of passages with MaxScore (dense or sparse slabs, lists added whole or
    looked up for candidates, the top k padded with unmatched rows); whatever the slab size it must
    give the exhaustive top k exactly (same rows, same float64 scores, ties by row)."""
    kb = KnowledgeBase.build(corpus, show_progress=False, chunk_size=400, slab_size=slab)
    for query in queries(corpus, 40, seed=3):
        terms = kb.analyzer.query_terms(query)
        every = kb.index.score(terms, np.arange(len(kb)))  # per-row scores, by another code path
        for k in (1, 10, 37, len(kb) + 5):
            rows, scores = kb.index.search(terms, k)
            expected = np.lexsort((np.arange(len(kb)), -every))[:k]
            np.testing.assert_array_equal(rows, expected)
            np.testing.assert_array_equal(scores, every[expected])
            np.testing.assert_array_equal(rows, kb.index.exhaustive(terms, k)[0])


def test_parallel_search_equals_serial(corpus):
    kb = KnowledgeBase.build(corpus, show_progress=False)
    batch = queries(corpus, 40)
    before = set(multiprocessing.active_children())
    serial = kb.search(batch, k=10, num_threads=1)
    assert set(multiprocessing.active_children()) <= before  # one thread means no worker process
    assert kb.search(batch, k=10, num_threads=2) == serial and set(multiprocessing.active_children()) - before
    assert kb.search(batch, k=10, num_threads=2) == serial


def test_streamed_build_does_not_depend_on_chunks_or_workers(corpus, tmp_path):
    parameters = BM25Parameters()
    records = list(zip(corpus["id"], corpus["title"], corpus["text"]))
    whole = KnowledgeBase.build_folder(tmp_path / "one", records, parameters, show_progress=False, num_proc=1,
                                       chunk_size=len(records))
    streamed = KnowledgeBase.build_folder(tmp_path / "many", iter(records), parameters, show_progress=False,
                                          num_proc=2, chunk_size=7)
    for name in [f"index/{f}" for f in INDEX_FILES] + [f"passages/{f}" for f in PASSAGE_FILES]:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes(), name
    assert whole.manifest() == streamed.manifest()
    assert not (tmp_path / "many" / "index" / "runs").exists()


@pytest.mark.parametrize("option, message", [("stemmer", "unknown stemmer 'klingon'"),
                                             ("stopwords", "unknown stopword list 'klingon'")])
def test_unknown_stemmer_or_stopwords_fail_before_the_corpus_is_read(option, message, tmp_path, capsys):
    def corpus_never_read():
        raise AssertionError("the corpus was read")
        yield

    with pytest.raises(KnowledgeBaseError, match=message):
        KnowledgeBase.build_folder(tmp_path / "kb", corpus_never_read(), BM25Parameters(**{option: "klingon"}))
    missing = tmp_path / "absent.tsv"  # the CLI checks the options before it opens the corpus
    assert main(["build-kb", "--corpus", str(missing), f"--{option}", "klingon", "--output_dir", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_streamed_build_refuses_duplicate_ids(tmp_path):
    records = [("a", "", "one text"), ("b", "", "two"), ("a", "", "three")]
    with pytest.raises(KnowledgeBaseError, match=r"duplicate passage id 'a' \(passages 1 and 3\)"):
        KnowledgeBase.build_folder(tmp_path / "kb", records, show_progress=False, num_proc=1, chunk_size=2)


def test_a_kb_of_the_bm25s_format_gets_a_one_line_rebuild_error(tmp_path, capsys, fixtures_dir):
    old = tmp_path / "old-kb"  # what kard_hf 0.1.0.dev0 saved: bm25s arrays under index/, an Arrow passages/
    (old / "index").mkdir(parents=True)
    for name in ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "vocab.index.json",
                 "params.index.json"):
        (old / "index" / name).write_bytes(b"")
    (old / "kard_hf_kb.json").write_text(json.dumps({
        "format_version": 1, "kard_hf_version": "0.1.0.dev0", "bm25s_version": "0.2.14", "fingerprint": "0" * 64,
        "num_passages": 2, "parameters": {"k1": 0.9, "b": 0.4, "method": "lucene", "stemmer": "english",
                                          "stopwords": "en", "index_title": True}}))
    with pytest.raises(KnowledgeBaseError, match=r"index format 1.*rebuild it with 'kard-hf build-kb'"):
        KnowledgeBase.load(old)
    code = main(["augment", "--knowledge_base", str(old), "--train_file", str(fixtures_dir / "medqa_usmle_hf_train.jsonl"),
                 "--train_rationales", str(fixtures_dir / "rationales"), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "rebuild it" in err


def test_a_kb_with_int32_postings_gets_a_one_line_rebuild_error(corpus, tmp_path):
    """Format 2 (kard_hf before 16-bit slab offsets): the same files without slabs.*, int32 postings.docs."""
    folder = tmp_path / "v2"
    KnowledgeBase.build(corpus, show_progress=False).save_pretrained(folder)
    for name in ("slabs.offsets", "slabs.numbers", "slabs.starts"):
        (folder / "index" / name).unlink()
    manifest = json.loads((folder / "kard_hf.json").read_text())
    del manifest["slab_size"]
    (folder / "kard_hf.json").write_text(json.dumps({**manifest, "format_version": 2}))
    with pytest.raises(KnowledgeBaseError, match=r"index format 2, this one reads 4\); rebuild it with 'kard-hf build-kb'"):
        KnowledgeBase.load(folder)


@pytest.mark.parametrize("slab_size", [0, maxscore.SLAB + 1])
def test_a_slab_larger_than_16_bit_offsets_allow_is_refused(corpus, slab_size):
    with pytest.raises(KnowledgeBaseError, match=rf"the slab size must be 1 to 65536 .*got {slab_size}"):
        KnowledgeBase.build(corpus, show_progress=False, slab_size=slab_size)
