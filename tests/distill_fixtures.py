"""A small processed DatasetDict (the output of ``kard-hf augment``) built from the fixture files, for student tests.

Train rows: one per (question, rationale) of tests/fixtures/rationales, with the question's planted
passage ``p-<key>`` first and two distractors after it (as BM25 by rationale would rank them).
Test rows: the two test questions, their planted passage among the candidates. Columns follow
kard_hf.data.processed.TRAIN_COLUMNS / EVAL_COLUMNS exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

from kard_hf.data import LETTERS, attach_rationales, format_question, format_target, load_mcq, read_rationales
from kard_hf.data.processed import EVAL_COLUMNS, TRAIN_COLUMNS
from kard_hf.data.store import save_dataset_dict

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST = {
    "kard_hf_version": "test",
    "knowledge_base": {"fingerprint": "sha256:fixture-corpus", "num_passages": 20, "k1": 0.9, "b": 0.4},
    "retrieval": {"train_passages": 3, "candidates": 4, "silver_passages": 1},
    "teacher": None,
    "splits": ["train", "test"],
}


def corpus() -> dict[str, str]:
    rows = (json.loads(line) for line in (FIXTURES / "corpus.jsonl").read_text().splitlines() if line.strip())
    return {row["id"]: row["text"] for row in rows}


def _ranked(key: str, distractors: list[str]) -> list[str]:
    return [f"p-{key}"] + distractors


def train_rows() -> list[dict]:
    texts = corpus()
    examples = attach_rationales(load_mcq(FIXTURES / "medqa_usmle_hf_train.jsonl"), read_rationales(FIXTURES / "rationales"))
    rows = []
    for n, example in enumerate(examples):
        ids = _ranked(example.id.removeprefix("train-"), [f"d-{2 * n:02d}", f"d-{2 * n + 1:02d}"])
        for index, rationale in enumerate(example.rationales):
            rows.append({
                "id": example.id, "stem": example.stem, "options": example.options, "answer": example.answer,
                "question": format_question(example.stem, example.options), "rationale_index": index,
                "rationale": rationale, "target": format_target(rationale, LETTERS[example.answer]),
                "passages": [texts[i] for i in ids], "passage_ids": ids,
                "passage_scores": [12.0 - i for i in range(len(ids))],
            })
    return rows


def eval_rows() -> list[dict]:
    texts = corpus()
    rationales = {json.loads(line)["id"]: json.loads(line)["rationale"]
                  for line in (FIXTURES / "test_rationales.jsonl").read_text().splitlines() if line.strip()}
    rows = []
    for example in load_mcq(FIXTURES / "medqa_usmle_hf_test.jsonl"):
        key = example.id.removeprefix("test-")
        ids = ["d-10", f"p-{key}", "d-11", "d-00"]
        rows.append({
            "id": example.id, "stem": example.stem, "options": example.options, "answer": example.answer,
            "question": format_question(example.stem, example.options), "rationales": [rationales[example.id]],
            "candidates": [texts[i] for i in ids], "candidate_ids": ids, "candidate_scores": [5.0, 4.0, 3.0, 2.0],
            "silver_passages": [texts[f"p-{key}"]], "silver_ids": [f"p-{key}"],
        })
    return rows


def processed_dataset_dict():
    from datasets import Dataset, DatasetDict

    train, test = train_rows(), eval_rows()
    assert all(tuple(row) == TRAIN_COLUMNS for row in train) and all(tuple(row) == EVAL_COLUMNS for row in test)
    return DatasetDict({"train": Dataset.from_list(train), "test": Dataset.from_list(test)})


def save_processed(path: Path, dataset_dict=None) -> Path:
    """Save a processed dataset (default: the fixture one) with its manifest to ``path``."""
    save_dataset_dict(dataset_dict if dataset_dict is not None else processed_dataset_dict(), MANIFEST, path)
    return path


def augment_fixture_questions(fixtures: Path, root: Path):
    """``(dataset_dict, manifest)``: the MedQA fixture questions and rationales augmented, as ``kard-hf augment``
    writes them, against a KB of the fixture corpus saved to ``root/kb``."""
    from kard_hf.knowledge import KnowledgeBase, read_corpus
    from kard_hf.knowledge.augment import augment_splits

    kb = KnowledgeBase.build(read_corpus(fixtures / "corpus.jsonl"), show_progress=False)
    kb.save_pretrained(root / "kb")
    train = attach_rationales(load_mcq(fixtures / "medqa_usmle_hf_train.jsonl"), read_rationales(fixtures / "rationales"))
    test = attach_rationales(load_mcq(fixtures / "medqa_usmle_hf_test.jsonl"),
                             read_rationales(fixtures / "test_rationales.jsonl"))
    return augment_splits({"train": train, "validation": test}, kb, candidates=8)
