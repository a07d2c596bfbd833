"""Retrieve knowledge for every question once, before training (METHOD.md steps 2 and 5).

Train rows get the passages that BM25 finds **with the teacher's rationale as the query**; eval
rows get the top-κ* candidates found **with the question** (for BM25 or the reranker at test
time) and the "silver" passages found with their first rationale (the oracle). Each split is one
batched search, so the cost is that of the queries, not of a Python loop over them.
"""

from __future__ import annotations

import logging

from .. import __version__
from ..data.formatting import format_question, format_target
from ..data.processed import TRAIN_SPLIT, features_for
from ..data.schema import MCQExample
from ..errors import DataError
from .kb import KnowledgeBase

logger = logging.getLogger(__name__)


def _question_row(example: MCQExample) -> dict:
    return {"id": example.id, "stem": example.stem, "options": example.options, "answer": example.answer,
            "question": format_question(example.stem, example.options)}


def augment_train(examples: list[MCQExample], kb: KnowledgeBase, *, passages: int, num_threads: int = 1) -> list[dict]:
    """One row per (question, rationale) pair with the passages retrieved by the rationale."""
    pairs = [(example, index, rationale) for example in examples for index, rationale in enumerate(example.rationales)]
    if not pairs:
        raise DataError("the train split has no rationales: generate them with 'kard-hf rationales' or pass "
                        "--train_rationales", field="rationales")
    skipped = sum(1 for example in examples if not example.rationales)
    if skipped:
        logger.warning("%d of %d train questions have no rationale and are left out", skipped, len(examples))
    unlabeled = next((number for number, example in enumerate(examples) if example.rationales and example.answer is None),
                     None)
    if unlabeled is not None:  # the rationale's target needs the gold letter
        raise DataError(f"train question {examples[unlabeled].id!r} (question {unlabeled + 1} of the train split) has "
                        "no gold answer", row=f"id {examples[unlabeled].id}", field="answer")
    found = kb.search([rationale for _, _, rationale in pairs], k=passages, num_threads=num_threads,
                      show_progress=True)
    return [{**_question_row(example), "rationale_index": index, "rationale": rationale,
             "target": format_target(rationale, example.answer_letter),
             "passages": found.texts[i], "passage_ids": found.ids[i], "passage_scores": found.scores[i]}
            for i, (example, index, rationale) in enumerate(pairs)]


def augment_eval(examples: list[MCQExample], kb: KnowledgeBase, *, candidates: int, silver_passages: int,
                 num_threads: int = 1) -> list[dict]:
    """One row per question with BM25-by-question candidates and rationale-retrieved silver passages."""
    rows = [_question_row(example) for example in examples]
    by_question = kb.search([row["question"] for row in rows], k=candidates, num_threads=num_threads,
                            show_progress=True)
    with_rationale = [i for i, example in enumerate(examples) if example.rationales]
    silver = kb.search([examples[i].rationales[0] for i in with_rationale], k=silver_passages,
                       num_threads=num_threads)
    silver_of = {i: (silver.texts[j], silver.ids[j]) for j, i in enumerate(with_rationale)}
    for i, (row, example) in enumerate(zip(rows, examples)):
        texts, ids = silver_of.get(i, ([], []))
        row.update(rationales=example.rationales, candidates=by_question.texts[i], candidate_ids=by_question.ids[i],
                   candidate_scores=by_question.scores[i], silver_passages=texts, silver_ids=ids)
    return rows


POOL_COLUMNS = ("pool_ids", "pool_passages", "pool_rationale_scores", "pool_question_scores", "pool_rationale_size")


def reranker_pools(kb: KnowledgeBase, rationales: list[str], questions: list[str], *, rationale_pool: int,
                   question_pool: int, num_threads: int = 1) -> dict[str, list]:
    """The reranker's candidate pool of each (rationale, question) pair (METHOD.md step 4), as columns.

    A pool is the union of BM25's top ``rationale_pool`` passages for the rationale and top ``question_pool``
    for the question (rationale pool first, deduplicated), with every candidate's BM25 score for the
    rationale (the reranker's target) and for the question (its baseline). An empty rationale (an eval
    question the teacher never answered right) gets an empty pool.
    """
    rows = [i for i, rationale in enumerate(rationales) if rationale.strip()]
    by_rationale = kb.search([rationales[i] for i in rows], k=rationale_pool, num_threads=num_threads)
    by_question = kb.search([questions[i] for i in rows], k=question_pool, num_threads=num_threads)
    columns = {column: [[] for _ in rationales] if column != "pool_rationale_size" else [0] * len(rationales)
               for column in POOL_COLUMNS}
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
                       num_threads: int = 1):
    """``dataset`` (one processed split) with the :data:`POOL_COLUMNS` of :func:`reranker_pools` added."""
    import datasets

    from ..data.processed import first_rationale, rationale_column

    rationales = [first_rationale(value) for value in dataset[rationale_column(split)]]
    columns = reranker_pools(kb, rationales, list(dataset["question"]), rationale_pool=rationale_pool,
                             question_pool=question_pool, num_threads=num_threads)
    strings, floats = datasets.List(datasets.Value("string")), datasets.List(datasets.Value("float32"))
    types = {"pool_ids": strings, "pool_passages": strings, "pool_rationale_scores": floats,
             "pool_question_scores": floats, "pool_rationale_size": datasets.Value("int64")}
    for column in POOL_COLUMNS:
        dataset = dataset.add_column(column, columns[column], feature=types[column])
    return dataset


def augment(splits: dict[str, list[MCQExample]], kb: KnowledgeBase, *, train_passages: int = 5,
            candidates: int = 100, silver_passages: int = 5, num_threads: int = 1, teacher: dict | None = None,
            rationale_filter: dict | None = None, validation_from_train: dict | None = None,
            rationale_pool: int = 32, question_pool: int = 32):
    """``(DatasetDict, manifest)``: the processed dataset of docs/data-format.md for the given splits, with the
    reranker's candidate pools (:func:`reranker_pools`) unless ``rationale_pool`` is 0.

    ``rationale_filter`` and ``validation_from_train`` are what the question loader recorded
    (:class:`kard_hf.data.arguments.QuestionDataArguments`); they go into the manifest as they are.
    """
    import datasets

    if not splits:
        raise DataError("no split to augment: pass a train, validation or test set")
    dataset_dict = datasets.DatasetDict()
    for split, examples in splits.items():
        if not examples:
            raise DataError(f"the {split} split is empty")
        rows = (augment_train(examples, kb, passages=train_passages, num_threads=num_threads) if split == TRAIN_SPLIT
                else augment_eval(examples, kb, candidates=candidates, silver_passages=silver_passages,
                                  num_threads=num_threads))
        features = features_for(split)
        dataset_dict[split] = datasets.Dataset.from_list([{c: row[c] for c in features} for row in rows],
                                                         features=features)
        if rationale_pool:
            dataset_dict[split] = add_reranker_pools(dataset_dict[split], split, kb, rationale_pool=rationale_pool,
                                                     question_pool=question_pool, num_threads=num_threads)
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
    return dataset_dict, manifest
