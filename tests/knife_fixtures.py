"""A small processed DatasetDict (the columns of kard_hf.data.processed) built from the fixture files, for KNIFE tests.

Train rows: one per (question, rationale) whose answer matches the gold one (as ``kard-hf rationales``
keeps them); test rows: the two test questions with their rationales. Passages are left empty:
KNIFE uses no retrieval.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from kard_hf.data import LETTERS, extract_answer, format_question, format_target, load_mcq, read_rationales
from kard_hf.data.processed import EVAL_COLUMNS, TRAIN_COLUMNS
from kard_hf.data.store import save_dataset_dict


def _train_rows(fixtures: Path) -> list[dict]:
    rationales = read_rationales(fixtures / "rationales")
    rows = []
    for example in load_mcq(fixtures / "medqa_usmle_hf_train.jsonl"):
        for index, rationale in enumerate(rationales.get(example.id, [])):
            if extract_answer(rationale, len(example.options)) != example.answer:
                continue
            rows.append({"id": example.id, "stem": example.stem, "options": example.options, "answer": example.answer,
                         "question": format_question(example.stem, example.options), "rationale_index": index,
                         "rationale": rationale, "target": format_target(rationale, LETTERS[example.answer]),
                         "passages": [], "passage_ids": [], "passage_scores": []})
    return rows


def _test_rows(fixtures: Path) -> list[dict]:
    rationales = read_rationales(fixtures / "test_rationales.jsonl")
    return [{"id": e.id, "stem": e.stem, "options": e.options, "answer": e.answer,
             "question": format_question(e.stem, e.options), "rationales": rationales.get(e.id, []),
             "candidates": [], "candidate_ids": [], "candidate_scores": [], "silver_passages": [], "silver_ids": []}
            for e in load_mcq(fixtures / "medqa_usmle_hf_test.jsonl")]


def processed_dataset_dict(fixtures: Path) -> datasets.DatasetDict:
    train = datasets.Dataset.from_list(_train_rows(fixtures))
    test = datasets.Dataset.from_list(_test_rows(fixtures))
    assert tuple(train.column_names) == TRAIN_COLUMNS and tuple(test.column_names) == EVAL_COLUMNS
    return datasets.DatasetDict({"train": train, "test": test})


def save_processed(fixtures: Path, path: Path) -> Path:
    save_dataset_dict(processed_dataset_dict(fixtures), {"teacher": None, "splits": ["train", "test"]}, path)
    return path
