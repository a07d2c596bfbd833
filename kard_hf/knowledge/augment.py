"""Retrieve knowledge for every question once, before training (METHOD.md steps 2 and 5).

Train rows get the passages that BM25 finds **with the teacher's rationale as the query**; eval
rows get the top-κ* candidates found **with the question** (for BM25 or the reranker at test
time) and the "silver" passages found with their first rationale (the oracle). Each split is one
batched search over every core, journaled so that a killed run resumes where it stopped
(:mod:`~kard_hf.knowledge.journal`). ``shard=(i, n)`` keeps every n-th question from the i-th, so
n machines can each write a complete output that ``merge_shards`` joins back.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ..version import __version__
from ..data.formatting import format_question, format_target
from ..data.processed import POOL_COLUMNS, TRAIN_SPLIT, features_for
from ..data.schema import MCQExample
from ..errors import DataError
from .journal import journaled_search
from .kb import KnowledgeBase

logger = logging.getLogger(__name__)


def _question_row(example: MCQExample) -> dict:
    return {"id": example.id, "stem": example.stem, "options": example.options, "answer": example.answer,
            "question": format_question(example.stem, example.options)}


def _search(kb: KnowledgeBase, queries: list[str], k: int, num_threads: int, journal: Path | None, name: str):
    rows, scores = journaled_search(kb, queries, k, journal=journal, name=name, num_threads=num_threads, desc=name)
    return kb.results(rows, scores)


def augment_train(examples: list[MCQExample], kb: KnowledgeBase, *, passages: int, num_threads: int = 1,
                  journal: Path | None = None, split: str = TRAIN_SPLIT) -> list[dict]:
    """One row per (question, rationale) pair with the passages retrieved by the rationale."""
    pairs = [(example, index, rationale) for example in examples for index, rationale in enumerate(example.rationales)]
    if not pairs:
        raise DataError("the train split has no rationales: generate them with 'kard-hf rationales' or pass "
                        "--train_rationales", field="rationales")
    unlabeled = next((number for number, example in enumerate(examples) if example.rationales and example.answer is None),
                     None)
    if unlabeled is not None:  # the rationale's target needs the gold letter
        raise DataError(f"train question {examples[unlabeled].id!r} (question {unlabeled + 1} of the train split) has "
                        "no gold answer", row=f"id {examples[unlabeled].id}", field="answer")
    found = _search(kb, [rationale for _, _, rationale in pairs], passages, num_threads, journal, f"{split}.rationales")
    return [{**_question_row(example), "rationale_index": index, "rationale": rationale,
             "target": format_target(rationale, example.answer_letter),
             "passages": found.texts[i], "passage_ids": found.ids[i], "passage_scores": found.scores[i]}
            for i, (example, index, rationale) in enumerate(pairs)]


def augment_eval(examples: list[MCQExample], kb: KnowledgeBase, *, candidates: int, silver_passages: int,
                 num_threads: int = 1, journal: Path | None = None, split: str = "test") -> list[dict]:
    """One row per question with BM25-by-question candidates and rationale-retrieved silver passages."""
    rows = [_question_row(example) for example in examples]
    by_question = _search(kb, [row["question"] for row in rows], candidates, num_threads, journal, f"{split}.questions")
    with_rationale = [i for i, example in enumerate(examples) if example.rationales]
    silver = _search(kb, [examples[i].rationales[0] for i in with_rationale], silver_passages, num_threads, journal,
                     f"{split}.silver")
    silver_of = {i: (silver.texts[j], silver.ids[j]) for j, i in enumerate(with_rationale)}
    for i, (row, example) in enumerate(zip(rows, examples)):
        texts, ids = silver_of.get(i, ([], []))
        row.update(rationales=example.rationales, candidates=by_question.texts[i], candidate_ids=by_question.ids[i],
                   candidate_scores=by_question.scores[i], silver_passages=texts, silver_ids=ids)
    return rows


def reranker_pools(kb: KnowledgeBase, rationales: list[str], questions: list[str], *, rationale_pool: int,
                   question_pool: int, num_threads: int = 1, journal: Path | None = None,
                   split: str = TRAIN_SPLIT) -> dict[str, list]:
    """The reranker's candidate pool of each (rationale, question) pair (METHOD.md step 4), as columns.

    A pool is the union of BM25's top ``rationale_pool`` passages for the rationale and top ``question_pool``
    for the question (rationale pool first, deduplicated), with every candidate's BM25 score for the
    rationale (the reranker's target) and for the question (its baseline). An empty rationale (an eval
    question the teacher never answered right) gets an empty pool.
    """
    rows = [i for i, rationale in enumerate(rationales) if rationale.strip()]
    columns = {column: [[] for _ in rationales] if column != "pool_rationale_size" else [0] * len(rationales)
               for column in POOL_COLUMNS}
    if not rows:  # an empty shard or split: the columns exist, with nothing in them
        return columns
    by_rationale = _search(kb, [rationales[i] for i in rows], rationale_pool, num_threads, journal,
                           f"{split}.pool_rationales")
    by_question = _search(kb, [questions[i] for i in rows], question_pool, num_threads, journal, f"{split}.pool_questions")
    for n, i in enumerate(rows):
        rationale_ids = [str(passage) for passage in by_rationale.ids[n]]
        seen = set(rationale_ids)
        ids = rationale_ids + [str(passage) for passage in by_question.ids[n] if str(passage) not in seen]
        columns["pool_ids"][i] = ids
        columns["pool_passages"][i] = kb.texts(ids)
        columns["pool_rationale_scores"][i] = kb.score(rationales[i], ids).tolist()
        columns["pool_question_scores"][i] = kb.score(questions[i], ids).tolist()
        columns["pool_rationale_size"][i] = len(rationale_ids)
    return columns


def add_reranker_pools(dataset, split: str, kb: KnowledgeBase, *, rationale_pool: int = 32, question_pool: int = 32,
                       num_threads: int = 1, journal: Path | None = None):
    """``dataset`` (one processed split) with the :data:`POOL_COLUMNS` of :func:`reranker_pools` added."""
    from ..data.processed import first_rationale, rationale_column

    rationales = [first_rationale(value) for value in dataset[rationale_column(split)]]
    columns = reranker_pools(kb, rationales, list(dataset["question"]), rationale_pool=rationale_pool,
                             question_pool=question_pool, num_threads=num_threads, journal=journal, split=split)
    types = features_for(split, POOL_COLUMNS)
    for column in POOL_COLUMNS:
        dataset = dataset.add_column(column, columns[column], feature=types[column])
    return dataset


def augment_splits(splits: dict[str, list[MCQExample]], kb: KnowledgeBase, *, train_passages: int = 5,
            candidates: int = 100, silver_passages: int = 5, num_threads: int = 1, teacher: dict | None = None,
            rationale_filter: dict | None = None, validation_from_train: dict | None = None,
            journal: str | Path | None = None, shard: tuple[int, int] = (0, 1), rationale_pool: int = 32,
            question_pool: int = 32):
    """``(DatasetDict, manifest)``: the processed dataset of docs/data-format.md for the given splits, with the
    reranker's candidate pools (:func:`reranker_pools`) unless ``rationale_pool`` is 0.

    ``rationale_filter`` and ``validation_from_train`` are what the question loader recorded
    (:class:`kard_hf.data.arguments.QuestionDataArguments`); they go into the manifest as they are.
    ``journal``: a folder where searches are recorded and resumed from. ``shard=(i, n)``: only the
    questions ``i, i + n, i + 2n, ...`` of each split; the manifest records what the whole set is,
    so that :func:`~kard_hf.knowledge.shards.merge_datasets` can check that every question is present exactly once.
    """
    import datasets

    if not splits:
        raise DataError("no split to augment: pass a train, validation or test set")
    index, count = shard
    if not 0 <= index < count:
        raise DataError(f"shard {index} of {count} does not exist: need 0 <= shard_index < num_shards")
    journal = Path(journal) if journal is not None else None
    dataset_dict = datasets.DatasetDict()
    expected = {}
    for split, examples in splits.items():
        if not examples:
            raise DataError(f"the {split} split is empty")
        kept = [e for e in examples if e.rationales] if split == TRAIN_SPLIT else examples
        if len(kept) < len(examples):
            logger.warning("%d of %d train questions have no rationale and are left out", len(examples) - len(kept),
                           len(examples))
        expected[split] = {"questions": len(kept), "ids_sha256": ids_digest([e.id for e in kept])}
        mine = kept[index::count]
        if split == TRAIN_SPLIT:
            rows = (augment_train(mine, kb, passages=train_passages, num_threads=num_threads, journal=journal,
                                  split=split) if mine or count == 1 else [])
        else:
            rows = augment_eval(mine, kb, candidates=candidates, silver_passages=silver_passages,
                                num_threads=num_threads, journal=journal, split=split) if mine else []
        features = features_for(split)
        dataset_dict[split] = datasets.Dataset.from_list([{c: row[c] for c in features} for row in rows],
                                                         features=features)
        if rationale_pool:
            dataset_dict[split] = add_reranker_pools(dataset_dict[split], split, kb, rationale_pool=rationale_pool,
                                                     question_pool=question_pool, num_threads=num_threads,
                                                     journal=journal)
    manifest = {
        "kard_hf_version": __version__,
        "knowledge_base": {key: value for key, value in kb.manifest().items() if key != "format_version"},
        "retrieval": {"train_passages": train_passages, "candidates": candidates, "silver_passages": silver_passages,
                      "train_query": "rationale", "eval_query": "question", "rationale_pool": rationale_pool,
                      "question_pool": question_pool},
        "teacher": teacher,
        **({"rationale_filter": rationale_filter} if rationale_filter else {}),
        **({"validation_from_train": validation_from_train} if validation_from_train else {}),
        "splits": {split: len(dataset) for split, dataset in dataset_dict.items()},
    }
    if count > 1:
        manifest["shard"] = {"index": index, "count": count, "expected": expected}
    return dataset_dict, manifest


def ids_digest(ids: list[str]) -> str:
    """A SHA-256 of an ordered list of question ids."""
    return hashlib.sha256("\x1e".join(ids).encode()).hexdigest()
