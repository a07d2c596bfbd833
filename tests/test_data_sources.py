"""Real data in, exactly: the released KARD files, the Hub copies of the three datasets, and no silent loss.

Fixtures in the original layouts: tests/fixtures/released/ as the KARD authors released their data
(``data/medqa_usmle_hf/train.json``, one object a line without ids, and the teacher's
``chatgpt_output/medqa_usmle_hf/train/00000.json`` ... named by row number, several responses per
file, some wrong); tests/fixtures/hub/<owner>--<name>/ laid out as the Hub repositories are, in the
file types they serve (MedQA: JSONL; OpenBookQA and StrategyQA: Parquet).
"""

import json
from pathlib import Path

import pytest

from kard_hf.cli import main
from kard_hf.data import ColumnMapping, attach_rationales, extract_answer, load_mcq, load_mcq_splits, read_rationales
from kard_hf.data.store import load_dataset_dict
from kard_hf.errors import DataError, InputError

from teacher_server import ChatServer
from test_teacher_endpoint import online_to_loopback  # noqa: F401 (autouse: the teacher may call the loopback server)

FIXTURES = Path(__file__).parent / "fixtures"
RELEASED = FIXTURES / "released"
RELEASED_QUESTIONS = RELEASED / "data" / "medqa_usmle_hf" / "train.json"
RELEASED_RATIONALES = RELEASED / "chatgpt_output" / "medqa_usmle_hf" / "train"
HUB = FIXTURES / "hub"
REPO = Path(__file__).resolve().parents[1]


def run(*argv) -> int:
    return main([str(a) for a in argv])


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    path = tmp_path_factory.mktemp("kb") / "kb"
    assert run("build-kb", "--corpus", FIXTURES / "corpus.jsonl", "--output_dir", path) == 0
    return path


# --- The three defects of issue 13, each against the original layout ---------------------------------------------

def test_defect_1_a_released_rationale_folder_matches_questions_by_row_number():
    questions = load_mcq(RELEASED_QUESTIONS, format="kard")  # the released question file has no ids
    examples = attach_rationales(questions, read_rationales(RELEASED_RATIONALES), source=RELEASED_RATIONALES)
    for row, example in enumerate(examples):
        released = json.loads((RELEASED_RATIONALES / f"{row:05d}.json").read_text())
        assert example.rationales == [choice["message"]["content"] for choice in released["choices"]]
    assert "Veltram" in examples[0].rationales[0] and "Calder" in examples[5].rationales[0]


def test_defect_2_imported_rationales_are_filtered_unless_asked_not_to(kb, tmp_path):
    common = ["augment", "--knowledge_base", kb, "--train_file", FIXTURES / "medqa_usmle_hf_train.jsonl",
              "--train_rationales", FIXTURES / "rationales"]
    assert run(*common, "--output_dir", tmp_path / "filtered") == 0
    train, manifest = load_dataset_dict(tmp_path / "filtered")
    targets = [(row["rationale"], row["answer"]) for row in train["train"]]
    assert len(targets) == 6 and all(extract_answer(text, 4) == answer for text, answer in targets)
    assert manifest["rationale_filter"]["filter"] == {"kind": "answer"}
    assert manifest["rationale_filter"]["splits"]["train"] == {
        "kept": 6, "dropped": 6, "questions_without_rationale": 0, "questions_without_rationale_ids": []}

    assert run(*common, "--filter", "none", "--output_dir", tmp_path / "all") == 0  # only when asked explicitly
    everything, manifest = load_dataset_dict(tmp_path / "all")
    contradicting = [row for row in everything["train"] if extract_answer(row["rationale"], 4) != row["answer"]]
    assert len(everything["train"]) == 12 and len(contradicting) == 6
    assert manifest["rationale_filter"]["filter"] == {"kind": "none"}


def test_defect_3_a_gap_in_the_endings_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [
        {"sent1": "Which?", "sent2": "", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d", "label": 0},
        {"sent1": "Which one?", "sent2": "", "ending0": "a", "ending1": "b", "ending3": "d", "label": 1}])
    with pytest.raises(DataError) as info:  # not a 3-option question with option D lost
        load_mcq(path, format="kard")
    assert str(info.value).startswith(f"{path}, line 2, field 'ending2': ending2 is missing but ending3 is there")


# --- Released layout end to end, the one file-name rule --------------------------------------------------------------

def test_augment_imports_the_released_layout_filters_and_lists_questions_left_without(kb, tmp_path):
    out = tmp_path / "processed"
    assert run("augment", "--knowledge_base", kb, "--train_file", RELEASED_QUESTIONS, "--train_rationales",
               RELEASED_RATIONALES, "--output_dir", out, "--train_passages", 2) == 0
    dataset, manifest = load_dataset_dict(out)
    counts = manifest["rationale_filter"]["splits"]["train"]
    # 5 files x 3 responses (1 wrong, 1 without a stated answer) + 1 file with 2 wrong responses
    assert (counts["kept"], counts["dropped"]) == (5, 12)
    assert counts["questions_without_rationale"] == 1 and counts["questions_without_rationale_ids"] == ["4"]
    assert manifest["rationale_filter"]["sources"] == {"train": [str(RELEASED_RATIONALES)]}
    assert sorted(dataset["train"]["id"]) == ["0", "1", "2", "3", "5"]
    for row in dataset["train"]:
        assert row["target"].endswith(f"So, the answer is ({'ABCD'[row['answer']]}).\nAnswer: {'ABCD'[row['answer']]}")


def test_file_name_rule_digits_are_rows_other_keys_are_ids(tmp_path):
    questions = load_mcq(FIXTURES / "medqa_usmle_hf_train.jsonl")  # ids like train-veltram
    both = attach_rationales(questions, {"00002": ["by row"], "train-veltram": ["by id"]})
    assert both[2].rationales[-1] == "by row" and both[0].rationales[-1] == "by id"
    with pytest.raises(DataError, match=r"rationales for 1 question\(s\) not in the dataset: '00006'"):
        attach_rationales(load_mcq(FIXTURES / "medqa_usmle_hf_train.jsonl"), {"00006": ["past the last row"]})
    digits = write_jsonl(tmp_path / "q.jsonl", [{"id": "7", "question": "Q?", "options": ["a", "b"], "answer": 0},
                                                {"id": "0", "question": "R?", "options": ["a", "b"], "answer": 1}])
    with pytest.raises(DataError, match="both a row number and the id of a question at another row: '0'"):
        attach_rationales(load_mcq(digits), {"0": ["which one?"]})


def test_dataset_rationales_are_filtered_unless_kard_hf_rationales_did(tmp_path):
    from datasets import DatasetDict

    from kard_hf.data import examples_to_dataset
    from kard_hf.data.arguments import QuestionDataArguments
    from kard_hf.data.store import save_dataset_dict

    unfiltered = attach_rationales(load_mcq(FIXTURES / "medqa_usmle_hf_train.jsonl"), read_rationales(FIXTURES / "rationales"))
    dataset = DatasetDict({"train": examples_to_dataset(unfiltered)})
    save_dataset_dict(dataset, {}, tmp_path / "plain")  # rationales from elsewhere: no teacher, no filter recorded
    splits, manifest = QuestionDataArguments(dataset=str(tmp_path / "plain")).load()
    assert [len(e.rationales) for e in splits["train"]] == [1] * 6
    assert manifest["rationale_filter"]["sources"] == {"train": [str(tmp_path / "plain")]}

    save_dataset_dict(dataset, {"teacher": {"filter": {"kind": "none"}}}, tmp_path / "made")  # kard-hf rationales
    extra = write_jsonl(tmp_path / "extra.jsonl", [{"id": "00000", "rationale": "Maybe Silka. So, the answer is (B)."},
                                                  {"id": "train-quessa", "rationale": "Indigo dye. So, the answer is (B)."}])
    splits, manifest = QuestionDataArguments(dataset=str(tmp_path / "made"), train_rationales=str(extra)).load()
    assert [len(e.rationales) for e in splits["train"]] == [2, 3, 2, 2, 2, 2]  # its own kept, the extra ones filtered
    assert splits["train"][1].rationales[-1] == "Indigo dye. So, the answer is (B)."
    counts = manifest["rationale_filter"]["splits"]["train"]
    assert (counts["kept"], counts["dropped"], counts["questions_without_rationale_ids"]) == (1, 1, ["train-veltram"])
    both = write_jsonl(tmp_path / "both.jsonl", [{"id": "train-quessa", "rationale": "a", "rationales": ["b"]}])
    with pytest.raises(DataError, match="line 1, field 'rationale': expected one of 'rationale'"):
        read_rationales(both)


def test_validation_from_train_groups_rationales_by_question(kb, tmp_path):
    out = tmp_path / "processed"
    assert run("augment", "--knowledge_base", kb, "--train_file", RELEASED_QUESTIONS, "--train_rationales",
               RELEASED_RATIONALES, "--filter", "none", "--validation_from_train", "0.34", "--split_seed", "1",
               "--output_dir", out) == 0
    dataset, manifest = load_dataset_dict(out)
    train_ids, validation_ids = set(dataset["train"]["id"]), set(dataset["validation"]["id"])
    assert len(validation_ids) == 2 and len(train_ids) == 4 and not train_ids & validation_ids
    released = read_rationales(RELEASED_RATIONALES)
    for row in dataset["validation"]:  # every rationale of a validation question is on the validation side only
        assert row["rationales"] == released[f"{int(row['id']):05d}"]
        assert not set(row["rationales"]) & set(dataset["train"]["rationale"])
    assert manifest["validation_from_train"] == {"fraction": 0.34, "seed": 1, "questions": 2, "grouped_by": "question"}
    assert run("augment", "--knowledge_base", kb, "--train_file", RELEASED_QUESTIONS, "--validation_file",
               RELEASED_QUESTIONS, "--validation_from_train", "0.5", "--output_dir", tmp_path / "x") == 2


def test_extra_test_splits_are_augmented_like_test(kb, tmp_path, capsys):
    test = FIXTURES / "medqa_usmle_hf_test.jsonl"
    out = tmp_path / "processed"
    assert run("augment", "--knowledge_base", kb, "--train_file", RELEASED_QUESTIONS, "--train_rationales",
               RELEASED_RATIONALES, "--test_file", test, "--extra_splits", f"test_seen={RELEASED_QUESTIONS}",
               "--candidates", "3", "--output_dir", out) == 0
    dataset, manifest = load_dataset_dict(out)
    assert list(dataset) == ["train", "test", "test_seen"] and manifest["splits"]["test_seen"] == 6
    assert dataset["test_seen"].column_names == dataset["test"].column_names
    assert all(len(ids) == 3 for ids in dataset["test_seen"]["candidate_ids"])
    for bad, message in [("test_seen", "is not NAME=FILE"), (f"test={test}", "use --test_file"),
                         (f"seen-2={test}", "is not NAME=FILE")]:
        assert run("augment", "--knowledge_base", kb, "--train_file", RELEASED_QUESTIONS, "--extra_splits", bad,
                   "--output_dir", tmp_path / "x") == 2
        assert message in capsys.readouterr().err
    assert run("augment", "--knowledge_base", kb, "--train_file", RELEASED_QUESTIONS, "--extra_splits",
               f"a={test}", f"a={test}", "--output_dir", tmp_path / "x") == 2
    assert "given twice" in capsys.readouterr().err


def test_a_validation_split_carved_by_rationales_is_recorded_through_augment(kb, tiny_t5_path, tmp_path):
    rationales, processed = tmp_path / "rationales", tmp_path / "processed"
    assert run("rationales", "--train_file", RELEASED_QUESTIONS, "--validation_from_train", "0.5", "--teacher",
               "transformers", "--model", tiny_t5_path, "--n", "1", "--max_new_tokens", "4", "--filter", "none",
               "--output_dir", rationales) == 0
    questions, manifest = load_dataset_dict(rationales)
    assert (len(questions["train"]), len(questions["validation"])) == (3, 3)
    assert not set(questions["train"]["id"]) & set(questions["validation"]["id"])
    assert manifest["validation_from_train"]["questions"] == 3
    assert run("augment", "--dataset", rationales, "--knowledge_base", kb, "--output_dir", processed) == 0
    assert load_dataset_dict(processed)[1]["validation_from_train"] == manifest["validation_from_train"]


def test_processed_card_shows_the_filter_counts(kb):
    from kard_hf.hub import dataset_card
    from kard_hf.knowledge.kb import KnowledgeBase

    manifest = {"kard_hf_version": "0", "knowledge_base": KnowledgeBase.load(kb).manifest(), "splits": {"train": 5},
                "retrieval": {"train_passages": 5, "candidates": 100, "silver_passages": 5}, "teacher": None,
                "rationale_filter": {"filter": {"kind": "answer"}, "splits": {"train": {
                    "kept": 5, "dropped": 12, "questions_without_rationale": 1, "questions_without_rationale_ids": ["4"]}}}}
    card = str(dataset_card("processed_dataset", manifest=manifest, repo_id="someone/processed"))
    assert "| train | 5 | 12 | 1 |" in card and "`answer`" in card


# --- Strict loading ------------------------------------------------------------------------------------------------

KARD = {"sent1": "Stem?", "sent2": "", "ending0": "a", "ending1": "b", "label": 1}


@pytest.mark.parametrize("row, field, message", [
    ({**KARD, "ending1": 7}, "ending1", "expected text, got int 7"),
    ({**KARD, "label": "1"}, "label", "expected an integer, got str '1'"),
    ({**KARD, "label": 1.0}, "label", "expected an integer, got float"),
    ({**KARD, "label": True}, "label", "expected an integer, got bool"),
    ({**KARD, "label": 2}, "label", "not an option index 0..1"),
    ({**KARD, "sent1": None}, "sent1", "missing field"),
    ({**KARD, "id": None}, "id", "the id is null"),
    ({**KARD, "sent2": 3}, "sent2", "expected text"),
])
def test_kard_fields_have_their_types(tmp_path, row, field, message):
    path = write_jsonl(tmp_path / "q.jsonl", [KARD, row])
    with pytest.raises(DataError) as info:
        load_mcq(path)
    assert f"{path}, line 2, field '{field}'" in str(info.value) and message in str(info.value)


def test_kard_rules_null_sent2_and_unlabeled(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{**KARD, "sent2": None}, {**KARD, "label": -1, "extra": [1]}])
    first, second = load_mcq(path)
    assert first.stem == "Stem?" and second.answer is None and (first.id, second.id) == ("0", "1")


def medqa_row(**changes):
    row = json.loads((HUB / "GBaker--MedQA-USMLE-4-options" / "phrases_no_exclude_train.jsonl").read_text().splitlines()[0])
    return {**row, **changes}


@pytest.mark.parametrize("row, field, message", [
    (medqa_row(options={"A": "x", "B": "y", "D": "z"}), "options.C", "option C is missing but option D is there"),
    (medqa_row(options={"A": "x", "B": 2, "C": "z", "D": "w"}, answer="x", answer_idx="A"), "options.B", "expected text"),
    (medqa_row(answer_idx="E"), "answer_idx", "not one of the option letters ABCD"),
    (medqa_row(answer="Ampicillin"), "answer", "is not option D"),
    (medqa_row(answer_idx=None), "answer_idx", "missing field"),
])
def test_medqa_rows_are_checked(tmp_path, row, field, message):
    path = write_jsonl(tmp_path / "phrases_no_exclude_train.jsonl", [medqa_row(), row])
    with pytest.raises(DataError) as info:
        load_mcq(path, format="medqa")
    assert f"line 2, field '{field}'" in str(info.value) and message in str(info.value)


def test_generic_columns_that_match_nothing_are_errors(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"qid": "1", "q": "Q?", "opts": ["a", "b"], "gold": "b"}])
    ok = load_mcq(path, columns=ColumnMapping(id="qid", question="q", options="opts", answer="gold"))
    assert (ok[0].id, ok[0].answer) == ("1", 1)
    for mapping, column in ((ColumnMapping(question="q", options="opts", answer="golden"), "golden"),
                            (ColumnMapping(id="id", question="q", options="opts"), "id"),
                            (ColumnMapping(question="question", options="opts"), "question")):
        with pytest.raises(DataError, match=f"line 1, field '{column}': no column '{column}'; the rows have 'qid', 'q'"):
            load_mcq(path, columns=mapping)
    with pytest.raises(InputError, match="column options .* apply to the 'columns' format, not 'kard'"):
        load_mcq(path, format="kard", columns=ColumnMapping(question="q"))


def test_generic_answers_never_guess(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"question": "1+1?", "options": ["1", "2", "3"], "answer": "2"}])
    with pytest.raises(DataError, match="the answer '2' is ambiguous: option B's text, or the index/letter of option C"):
        load_mcq(path)
    later = write_jsonl(tmp_path / "r.jsonl", [{"question": "Q?", "options": ["a", "b"], "answer": "b"},
                                               {"question": "R?", "options": ["a", "b"]}])
    with pytest.raises(DataError, match="line 2, field 'answer': missing field"):
        load_mcq(later)
    unlabeled = load_mcq(write_jsonl(tmp_path / "u.jsonl", [{"question": "Q?", "options": ["a", "b"]}]))
    assert unlabeled[0].answer is None


def test_json_files_are_arrays_or_one_object_a_line(tmp_path):
    assert [e.stem for e in load_mcq(RELEASED_QUESTIONS)][:1] == ["Which river flows through the city of Veltram?"]
    assert len(load_mcq(FIXTURES / "strategyqa_train.json")) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('"just a string"')
    with pytest.raises(DataError, match="expected a JSON array of objects, or one JSON object a line"):
        load_mcq(bad)


# --- The Hub copies, in their schemas and file types ---------------------------------------------------------------

HUB_SOURCES = {  # folder, named format, config, {split: questions}, first train question (id, answer, options)
    "medqa": ("GBaker--MedQA-USMLE-4-options", None, {"train": 4, "test": 2},
              ("0", 3, ["Ampicillin", "Ceftriaxone", "Doxycycline", "Nitrofurantoin"])),
    "openbookqa": ("allenai--openbookqa", "main", {"train": 4, "validation": 2, "test": 2},
                   ("7-980", 3, ["puppies learning new tricks", "children growing up and getting old",
                                 "flowers wilting in a vase", "plants sprouting, blooming and wilting"])),
    "strategyqa": ("ChilleD--StrategyQA", None, {"train": 4, "test": 2}, ("b8677742616fef051f00", 0, ["yes", "no"])),
}


@pytest.mark.parametrize("fmt", sorted(HUB_SOURCES))
def test_hub_copies_load_by_name_and_by_detection(fmt):
    folder, config, sizes, (first_id, answer, options) = HUB_SOURCES[fmt]
    named = load_mcq_splits(str(HUB / folder), fmt, config=config)
    assert {split: len(examples) for split, examples in named.items()} == sizes
    assert (named["train"][0].id, named["train"][0].answer, named["train"][0].options) == (first_id, answer, options)
    assert {s: [e.to_dict() for e in x] for s, x in load_mcq_splits(str(HUB / folder)).items()} == \
        {s: [e.to_dict() for e in x] for s, x in named.items()}


def test_hub_file_types_are_what_the_hub_serves():
    assert sorted(p.name for p in (HUB / "GBaker--MedQA-USMLE-4-options").glob("*.jsonl")) == [
        "phrases_no_exclude_test.jsonl", "phrases_no_exclude_train.jsonl"]
    assert len(list((HUB / "allenai--openbookqa" / "main").glob("*.parquet"))) == 3
    assert len(list((HUB / "ChilleD--StrategyQA" / "data").glob("*.parquet"))) == 2
    one_file = load_mcq(HUB / "ChilleD--StrategyQA" / "data" / "test-00000-of-00001-bae602f3ee37f4ca.parquet")
    assert [e.answer for e in one_file] == [1, 0]


@pytest.mark.parametrize("fmt", sorted(HUB_SOURCES))
def test_hub_copy_end_to_end_rationales_augment_train(fmt, kb, tiny_t5_path, tmp_path):
    folder, config, sizes, _ = HUB_SOURCES[fmt]
    rationales, processed, student = tmp_path / "rationales", tmp_path / "processed", tmp_path / "student"
    source = ["--dataset", HUB / folder, "--dataset_format", fmt, *(["--dataset_config", config] if config else [])]
    with ChatServer(wrong_odd_choices=True) as server:
        assert run("rationales", *source, "--model", "teacher-x", "--base_url", server.base_url, "--prompt",
                   "obqa" if fmt == "openbookqa" else fmt, "--n", "2", "--generate_splits", "train", "test",
                   "--output_dir", rationales) == 0
    questions, manifest = load_dataset_dict(rationales)
    assert {split: len(questions[split]) for split in questions} == sizes
    assert manifest["teacher"]["splits"]["train"]["kept"] == sizes["train"]  # the wrong half dropped
    assert run("augment", "--dataset", rationales, "--knowledge_base", kb, "--output_dir", processed,
               "--train_passages", 2, "--candidates", 4) == 0
    dataset, processed_manifest = load_dataset_dict(processed)
    assert len(dataset["train"]) == sizes["train"] and "rationale_filter" not in processed_manifest  # filtered before
    assert all(extract_answer(row["rationale"], len(row["options"])) == row["answer"] for row in dataset["train"])
    assert run("train", "--model_name_or_path", tiny_t5_path, "--dataset", processed, "--output_dir", student,
               "--max_steps", 2, "--per_device_train_batch_size", 2, "--save_strategy", "no", "--disable_tqdm",
               "true", "--max_source_length", 128, "--max_target_length", 48) == 0
    assert (student / "model.safetensors").is_file()


# --- Recipes name Hub ids; nothing points at a loading script --------------------------------------------------------

def test_rationale_recipes_need_no_local_file():
    import yaml

    ids = {"medqa": "GBaker/MedQA-USMLE-4-options", "obqa": "allenai/openbookqa", "strategyqa": "ChilleD/StrategyQA"}
    for recipe in sorted((REPO / "recipes" / "rationales").glob("*.yaml")):
        values = yaml.safe_load(recipe.read_text())
        assert values["dataset"] == ids[recipe.stem.split("_")[0]], recipe
        assert not any(key.endswith("_file") for key in values), recipe


def test_no_recipe_or_doc_points_at_a_loading_script():
    scripted = ("bigbio/med_qa", "wics/strategy-qa", "facebook/wiki_dpr")
    texts = [p for folder in ("recipes", "docs") for p in (REPO / folder).rglob("*") if p.is_file()]
    texts += [REPO / "README.md"]
    found = [(p.name, name) for p in texts for name in scripted if name in p.read_text(errors="ignore")]
    assert not found
