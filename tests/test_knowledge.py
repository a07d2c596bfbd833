"""Knowledge base (build, search, score, save/load) and augment, as a library and through the CLI."""

import json
import shutil

import numpy as np
import pytest

from kard_hf.cli import main
from kard_hf.data.processed import EVAL_COLUMNS, POOL_COLUMNS, TRAIN_COLUMNS
from kard_hf.data.store import load_dataset_dict
from kard_hf.errors import InputError, KnowledgeBaseError
from kard_hf.knowledge import BM25Parameters, KnowledgeBase, read_corpus

PLANTED = {"veltram", "quessa", "harrowgate", "brindle", "omberlin", "calder", "irisfen", "dunmore"}


@pytest.fixture(scope="module")
def kb(fixtures_dir):
    return KnowledgeBase.build(read_corpus(fixtures_dir / "corpus.jsonl"), show_progress=False)


@pytest.fixture(scope="module")
def saved_kb(kb, tmp_path_factory):
    path = tmp_path_factory.mktemp("kb") / "kb"
    kb.save_pretrained(path)
    return path


def test_search_finds_the_planted_passage(kb):
    results = kb.search(["The grey crane nests among the reeds of the Irisfen marshes.",
                         "Cellulase breaks down the cellulose of bark"], k=3)
    assert [ids[0] for ids in results.ids] == ["p-irisfen", "p-brindle"]
    assert results.texts[0][0].startswith("Each spring the grey crane")
    assert all(a >= b for scores in results.scores for a, b in zip(scores, scores[1:]))


def test_score_equals_search_scores(kb):
    query = "river river salt ferries of Veltram on the Orvane"  # repeated terms count as in search
    results = kb.search([query], k=len(kb))
    ids, scores = results.ids[0], np.array(results.scores[0])
    shuffled = np.random.default_rng(0).permutation(len(ids))
    np.testing.assert_allclose(kb.score(query, [ids[i] for i in shuffled]), scores[shuffled], rtol=1e-5)
    assert kb.score("zzz unknown words", ["p-veltram"]).tolist() == [0.0]
    with pytest.raises(KnowledgeBaseError, match="unknown passage id 'nope'"):
        kb.score(query, ["nope"])


def test_k_is_capped_and_validated(kb):
    assert len(kb.search(["river"], k=1000).ids[0]) == len(kb)
    with pytest.raises(KnowledgeBaseError, match="k must be at least 1"):
        kb.search(["river"], k=0)


def test_save_load_round_trip(kb, saved_kb):
    again = KnowledgeBase.from_pretrained(saved_kb)
    queries = ["indigo dye island", "Which metal is mined at Calder?"]
    assert again.search(queries, k=4) == kb.search(queries, k=4)
    assert again.fingerprint == kb.fingerprint and again.parameters == kb.parameters
    assert (saved_kb / "README.md").read_text().count(kb.fingerprint) == 1


def test_fingerprint_changes_with_the_corpus(fixtures_dir, kb):
    passages = read_corpus(fixtures_dir / "corpus.jsonl")
    passages["text"][0] += " (revised)"
    assert KnowledgeBase.build(passages, show_progress=False).fingerprint != kb.fingerprint


def test_load_rejects_incomplete_folder_and_other_parameters(saved_kb, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(saved_kb, broken)
    (broken / "index" / "postings.scores").unlink()
    with pytest.raises(KnowledgeBaseError, match="index/postings.scores is missing"):
        KnowledgeBase.load(broken)
    with pytest.raises(KnowledgeBaseError, match=r"field 'parameters.k1': built with k1=0.9, but 1.2 was asked for"):
        KnowledgeBase.load(saved_kb, expected=BM25Parameters(k1=1.2))


@pytest.mark.parametrize("lines, message", [
    ([], "the corpus has no passages"),
    ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "line 2, field 'id': duplicate passage id 'a'"),
    ([{"id": "a"}], "line 1, field 'text': missing or empty field"),
    ([{"id": "a", "text": "   "}], "line 1, field 'text': the passage text is empty"),
])
def test_bad_corpus(tmp_path, lines, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(KnowledgeBaseError, match=message):
        read_corpus(path)


def test_dpr_style_tsv(tmp_path):
    path = tmp_path / "psgs.tsv"
    path.write_text("id\ttext\ttitle\n1\tAaron is a prophet.\tAaron\n2\tThe Nile is a river.\tNile\n")
    passages = read_corpus(path)
    assert passages == {"id": ["1", "2"], "title": ["Aaron", "Nile"], "text": ["Aaron is a prophet.", "The Nile is a river."]}


def _run(*argv) -> int:
    return main([str(a) for a in argv])


def test_build_kb_then_augment_end_to_end(fixtures_dir, tmp_path):
    assert _run("build-kb", "--corpus", fixtures_dir / "corpus.jsonl", "--output_dir", tmp_path / "kb") == 0
    recipe = tmp_path / "augment.yaml"
    recipe.write_text(f"knowledge_base: {tmp_path / 'kb'}\ntrain_file: {fixtures_dir / 'medqa_usmle_hf_train.jsonl'}\n"
                      f"train_rationales: {fixtures_dir / 'rationales'}\ntest_file: {fixtures_dir / 'medqa_usmle_hf_test.jsonl'}\n"
                      f"test_rationales: {fixtures_dir / 'test_rationales.jsonl'}\ncandidates: 8\n")
    assert _run("augment", "--config", recipe, "--output_dir", tmp_path / "processed", "--train_passages", 3) == 0
    dataset, manifest = load_dataset_dict(tmp_path / "processed")
    assert dataset["train"].column_names == list(TRAIN_COLUMNS + POOL_COLUMNS)  # + the reranker's candidate pools
    assert dataset["test"].column_names == list(EVAL_COLUMNS + POOL_COLUMNS)
    assert len(dataset["train"]) == 6  # 6 questions x 2 rationales, the wrong one of each dropped by the answer filter
    for row in dataset["train"]:
        key = row["id"].removeprefix("train-")
        assert len(row["passage_ids"]) == 3 and row["target"].endswith(f"\nAnswer: {'ABCD'[row['answer']]}")
        if row["rationale_index"] == 0:  # the fixture's correct rationale retrieves the planted passage
            assert row["passage_ids"][0] == f"p-{key}", row
    for row in dataset["test"]:
        assert len(row["candidate_ids"]) == 8 and row["silver_ids"][0] == f"p-{row['id'].removeprefix('test-')}"
    assert manifest["knowledge_base"]["fingerprint"] == KnowledgeBase.load(tmp_path / "kb").fingerprint
    assert manifest["retrieval"]["candidates"] == 8 and manifest["splits"] == {"train": 6, "test": 2}
    assert manifest["rationale_filter"]["splits"]["train"]["dropped"] == 6


def test_cli_errors_are_one_line_and_leave_nothing(fixtures_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "fine"}\n{"id": "b"\n')
    assert _run("build-kb", "--corpus", bad, "--output_dir", tmp_path / "kb") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{bad}, line 2: not valid JSON" in err
    assert not (tmp_path / "kb").exists() and not list(tmp_path.glob(".kb*"))

    _run("build-kb", "--corpus", fixtures_dir / "corpus.jsonl", "--output_dir", tmp_path / "kb")
    unknown = tmp_path / "r.jsonl"
    unknown.write_text('{"id": "train-nobody", "rationale": "text"}\n')
    code = _run("augment", "--knowledge_base", tmp_path / "kb", "--train_file", fixtures_dir / "medqa_usmle_hf_train.jsonl",
                "--train_rationales", unknown, "--output_dir", tmp_path / "out")
    assert code == 2 and "not in the dataset: 'train-nobody'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

    recipe = tmp_path / "typo.yaml"
    recipe.write_text("knowlege_base: x\n")
    assert _run("augment", "--config", recipe, "--output_dir", tmp_path / "o") == 2
    assert "unknown option(s) knowlege_base" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "build-kb" in out and "augment" in out


def test_from_pretrained_by_hub_id_from_the_local_cache(saved_kb, kb, tmp_path, monkeypatch):
    import huggingface_hub.constants

    from hub_cache import populate_hub_cache

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    populate_hub_cache(saved_kb, "someone/fixture-kb", tmp_path / "hub", repo_type="dataset")
    loaded = KnowledgeBase.from_pretrained("someone/fixture-kb")
    assert loaded.fingerprint == kb.fingerprint and loaded.search(["Orvane"], k=2) == kb.search(["Orvane"], k=2)
    with pytest.raises(InputError, match="cannot find this knowledge base locally or on the Hub"):
        KnowledgeBase.from_pretrained("someone/missing-kb")


def test_processed_dataset_card_records_teacher_kb_and_retrieval(kb):
    from kard_hf.hub import dataset_card

    manifest = {"kard_hf_version": "0", "knowledge_base": kb.manifest(), "splits": {"train": 3},
                "retrieval": {"train_passages": 5, "candidates": 100, "silver_passages": 5},
                "teacher": {"model": "gpt-3.5-turbo", "prompt_sha256": "abc123"}}
    card = str(dataset_card("processed_dataset", manifest=manifest, repo_id="someone/processed"))
    assert kb.fingerprint in card and "gpt-3.5-turbo" in card and "abc123" in card and "top 100 candidates" in card


def test_check_fingerprints_compares_what_it_is_given(kb, caplog):
    from kard_hf.data import PromptTemplate
    from kard_hf.data.processed import check_fingerprints
    from kard_hf.distill.spec import StudentSpec

    ok, other = {"knowledge_base": {"fingerprint": kb.fingerprint}}, {"knowledge_base": {"fingerprint": "0" * 64}}
    check_fingerprints(knowledge_base=kb, manifest=ok, dataset="data/ok")
    check_fingerprints(knowledge_base=kb, manifest={}, dataset="data/imported")  # nothing recorded: nothing to compare
    with pytest.raises(KnowledgeBaseError, match="data/other, field 'knowledge_base': its fingerprint .* differs"):
        check_fingerprints(knowledge_base=kb, manifest=other, dataset="data/other")
    trained_here, trained_elsewhere = (StudentSpec("kard", PromptTemplate(), 1, 64, 32, fingerprint)
                                       for fingerprint in (kb.fingerprint, "1" * 64))
    check_fingerprints(knowledge_base=kb, spec=trained_here, student="s")
    with pytest.raises(KnowledgeBaseError, match="of the knowledge base the student s was trained with"):
        check_fingerprints(knowledge_base=kb, spec=trained_elsewhere, student="s")  # predict: the KB is searched
    with caplog.at_level("WARNING", logger="kard_hf.data.processed"):  # evaluate: the dataset's passages are read
        check_fingerprints(knowledge_base=kb, manifest=ok, dataset="data/ok", spec=trained_elsewhere, student="s")
    assert [r.getMessage() for r in caplog.records] == [
        f"the student was trained with knowledge base {'1' * 12}, the dataset uses {kb.fingerprint[:12]}"]
