"""The data layer: loaders for each original format, validation errors, formatting, answer extraction."""

import json

import pytest

from kard_hf.data import (ColumnMapping, PromptTemplate, attach_rationales, examples_to_dataset, extract_answer,
                          format_question, load_mcq, read_rationales)
from kard_hf.errors import DataError


def test_kard_format_loads_medqa_rows(fixtures_dir):
    examples = load_mcq(fixtures_dir / "medqa_usmle_hf_train.jsonl")
    assert len(examples) == 6
    first = examples[0]
    assert (first.id, first.options, first.answer) == ("train-veltram", ["Orvane", "Silka", "Medran", "Tolluk"], 0)
    assert first.stem == "Which river flows through the city of Veltram?"


def test_obqa_without_ids_gets_row_numbers(fixtures_dir):
    examples = load_mcq(fixtures_dir / "obqa.jsonl")
    assert [e.id for e in examples] == ["0", "1"]
    assert examples[0].answer == 1


def test_strategyqa_both_formats_agree(fixtures_dir):
    kard = {e.stem: (e.options, e.answer) for e in load_mcq(fixtures_dir / "strategyqa_kard.jsonl")}
    original = {e.stem: (e.options, e.answer) for e in load_mcq(fixtures_dir / "strategyqa_train.json")}
    assert kard == original
    assert original["Are more people today related to Genghis Khan than Julius Caesar?"] == (["yes", "no"], 0)


def test_generic_csv_with_letters_and_column_mapping(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('qid,q,a,b,c,gold\n1,What is 2+2?,3,4,5,B\n2,Sky colour?,blue,red,green,blue\n')
    mapping = ColumnMapping(id="qid", question="q", option_columns=("a", "b", "c"), answer="gold")
    examples = load_mcq(path, columns=mapping)
    assert [(e.id, e.answer) for e in examples] == [("1", 1), ("2", 0)]


def test_canonical_dataset_round_trip(tmp_path, fixtures_dir):
    examples = attach_rationales(load_mcq(fixtures_dir / "medqa_usmle_hf_train.jsonl"),
                                 read_rationales(fixtures_dir / "rationales"))
    examples_to_dataset(examples).save_to_disk(str(tmp_path / "ds"))
    again = load_mcq(tmp_path / "ds")
    assert [e.to_dict() for e in again] == [e.to_dict() for e in examples]


def test_format_question_eight_options():
    assert format_question("Pick one.", ["a", "b"]) == "Pick one. A. a B. b"
    assert format_question("Q?", list("12345678")).endswith("G. 7 H. 8")


def test_prompt_template_layouts():
    template = PromptTemplate()
    with_knowledge = template.render("Q? A. x B. y", ["p1", "p2"])
    assert with_knowledge.index("Question: Q?") < with_knowledge.index("Knowledge: p1 p2") < with_knowledge.index("Explanation:")
    assert "Knowledge:" not in template.render("Q? A. x B. y")
    assert template.render("Q?", answer_only=True).endswith("Answer:")


@pytest.mark.parametrize("text, expected", [
    ("The river is the Orvane.\nAnswer: A", 0),
    ("... So, the answer is (C).", 2),
    ("First I thought (A). Answer: D", 3),
    ("the answer is b", 1),
    ("A patient has a fever. The best choice is (B)", 1),
    ("A patient has a fever and needs rest.", None),
    ("Answer: E", None),  # only four options
    ("", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text, 4) == expected


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


GOOD = {"id": "q1", "sent1": "Stem?", "ending0": "a", "ending1": "b", "label": 1}


@pytest.mark.parametrize("row, field, message", [
    ({k: v for k, v in GOOD.items() if k != "sent1"}, "sent1", "missing field"),
    ({**GOOD, "label": 2}, "label", "not an option index"),
    ({**GOOD, "ending1": " "}, "options[1]", "option B is empty"),
    ({k: v for k, v in GOOD.items() if k != "label"}, "label", "missing field"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, row, field, message):
    path = _write_jsonl(tmp_path / "bad.jsonl", [GOOD | {"id": "q0"}, row])
    with pytest.raises(DataError) as info:
        load_mcq(path, format="kard")
    text = str(info.value)
    assert str(path) in text and "line 2" in text and f"field '{field}'" in text and message in text


def test_bad_bytes_and_truncated_json(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"id": "q2", "sent1": "caf\xe9"}\n')
    with pytest.raises(DataError, match="line 2: not valid UTF-8"):
        load_mcq(path, format="kard")
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD)[:20] + "\n")
    with pytest.raises(DataError, match="line 2: not valid JSON .*truncated"):
        load_mcq(path, format="kard")


def test_duplicate_ids(tmp_path):
    path = _write_jsonl(tmp_path / "dup.jsonl", [GOOD, GOOD])
    with pytest.raises(DataError, match=r"line 2, field 'id': duplicate question id 'q1' \(first seen at line 1\)"):
        load_mcq(path)


def test_rationales_for_unknown_question(fixtures_dir, tmp_path):
    examples = load_mcq(fixtures_dir / "medqa_usmle_hf_train.jsonl")
    path = _write_jsonl(tmp_path / "r.jsonl", [{"id": "train-veltram", "rationale": "ok"}, {"id": "nope", "rationale": "x"}])
    with pytest.raises(DataError, match=r"r.jsonl, field 'id': rationales for 1 question\(s\) not in the dataset: 'nope'"):
        attach_rationales(examples, read_rationales(path), source=path)


def test_released_rationale_files(fixtures_dir):
    rationales = read_rationales(fixtures_dir / "rationales")
    assert len(rationales) == 6 and all(len(texts) == 2 for texts in rationales.values())
    assert rationales["train-veltram"][0].startswith("Veltram lies on the Orvane")
