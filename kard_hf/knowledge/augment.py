"""Retrieve knowledge for every question once, before training (METHOD.md steps 2 and 5).

Train rows get the passages that BM25 finds **with the teacher's rationale as the query**; eval
rows get the top-κ* candidates found **with the question** (for BM25 or the reranker at test
time) and the "silver" passages found with their first rationale (the oracle). Every distinct query
of every split is searched once, at the largest k any of these needs (:class:`Searches`), in batches
over every core, journaled so that a killed run resumes where it stopped
(:mod:`~kard_hf.knowledge.journal`). ``shard=(i, n)`` keeps every n-th question from the i-th, so
n machines can each write a complete output that ``merge-shards`` joins back.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from ..version import __version__
from ..data.formatting import format_question, format_target
from ..data.processed import POOL_COLUMNS, TRAIN_SPLIT, features_for, first_rationale
from ..data.schema import MCQExample
from ..errors import DataError
from .journal import journaled_search
from .kb import KnowledgeBase, SearchResults

logger = logging.getLogger(__name__)


def _question(example: MCQExample) -> str:
    return format_question(example.stem, example.options)


def _question_row(example: MCQExample) -> dict:
    return {"id": example.id, "stem": example.stem, "options": example.options, "answer": example.answer,
            "question": _question(example)}


class Searches:
    """Every search of an augmentation, each distinct query once at the largest k any consumer asks of it.

    A train row's rationale is searched for its passages (k=5) and for its reranker pool (k=32), and a
    question of several rationale rows for each row's pool: one search at 32 serves them all, the
    smaller lists cut from it. That is exact: the top k of a search is the first k of any larger top
    k (exact scores, ties by corpus order). :meth:`want` every need first, then :meth:`run`.
    """

    def __init__(self, kb: KnowledgeBase, *, num_threads: int = 1, journal: Path | None = None, name: str = "searches"):
        self.kb, self.num_threads, self.journal, self.name = kb, num_threads, journal, name
        self._wanted: dict[str, int] = {}
        self._found: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def want(self, queries: list[str], k: int) -> "Searches":
        for query in queries:
            self._wanted[query] = max(self._wanted.get(query, 0), k)
        return self

    def run(self) -> "Searches":
        """One journaled batch search per distinct k (journal/<name>.top<k>.*), of every query wanted at that k."""
        by_k: dict[int, list[str]] = {}
        for query, k in self._wanted.items():
            if query not in self._found:
                by_k.setdefault(k, []).append(query)
        for k, queries in sorted(by_k.items()):
            name = f"{self.name}.top{k}"
            rows, scores = journaled_search(self.kb, queries, k, journal=self.journal, name=name,
                                            num_threads=self.num_threads, desc=name)
            self._found.update(zip(queries, zip(rows, scores)))
        return self

    def rows(self, queries: list[str], k: int) -> list[np.ndarray]:
        """The top ``k`` index rows of each query (wanted and run before)."""
        return [self._found[query][0][:k] for query in queries]

    def results(self, queries: list[str], k: int) -> SearchResults:
        """The top ``k`` of each query (wanted and run before)."""
        if not queries:
            return SearchResults([], [], [])
        return self.kb.results(np.stack(self.rows(queries, k)), np.stack([self._found[q][1][:k] for q in queries]))


def augment_train(examples: list[MCQExample], kb: KnowledgeBase, *, passages: int, searches: Searches) -> list[dict]:
    """One row per (question, rationale) pair with the passages retrieved by the rationale."""
    pairs = _pairs(examples)
    found = searches.results([rationale for _, _, rationale in pairs], passages)
    return [{**_question_row(example), "rationale_index": index, "rationale": rationale,
             "target": format_target(rationale, example.answer_letter),
             "passages": found.texts[i], "passage_ids": found.ids[i], "passage_scores": found.scores[i]}
            for i, (example, index, rationale) in enumerate(pairs)]


def _pairs(examples: list[MCQExample]) -> list[tuple[MCQExample, int, str]]:
    """Every (question, rationale index, rationale) of a train split, checked: rationales exist, answers are known."""
    pairs = [(example, index, rationale) for example in examples for index, rationale in enumerate(example.rationales)]
    if not pairs:
        raise DataError("the train split has no rationales: generate them with 'kard-hf rationales' or pass "
                        "--train_rationales", field="rationales")
    unlabeled = next((number for number, example in enumerate(examples) if example.rationales and example.answer is None),
                     None)
    if unlabeled is not None:  # the rationale's target needs the gold letter
        raise DataError(f"train question {examples[unlabeled].id!r} (question {unlabeled + 1} of the train split) has "
                        "no gold answer", row=f"id {examples[unlabeled].id}", field="answer")
    return pairs


def augment_eval(examples: list[MCQExample], kb: KnowledgeBase, *, candidates: int, silver_passages: int,
                 searches: Searches) -> list[dict]:
    """One row per question with BM25-by-question candidates and rationale-retrieved silver passages."""
    rows = [_question_row(example) for example in examples]
    by_question = searches.results([row["question"] for row in rows], candidates)
    with_rationale = [i for i, example in enumerate(examples) if example.rationales]
    silver = searches.results([examples[i].rationales[0] for i in with_rationale], silver_passages)
    silver_of = {i: (silver.texts[j], silver.ids[j]) for j, i in enumerate(with_rationale)}
    for i, (row, example) in enumerate(zip(rows, examples)):
        texts, ids = silver_of.get(i, ([], []))
        row.update(rationales=example.rationales, candidates=by_question.texts[i], candidate_ids=by_question.ids[i],
                   candidate_scores=by_question.scores[i], silver_passages=texts, silver_ids=ids)
    return rows


def _pool_rows(rationales: list[str]) -> list[int]:
    """The rows that get a pool: those with a rationale."""
    return [i for i, rationale in enumerate(rationales) if rationale.strip()]


def want_pools(searches: Searches, rationales: list[str], questions: list[str], *, rationale_pool: int,
               question_pool: int) -> Searches:
    """``searches`` asked for the queries of :func:`reranker_pools`."""
    rows = _pool_rows(rationales)
    return searches.want([rationales[i] for i in rows], rationale_pool).want([questions[i] for i in rows],
                                                                           question_pool)


def reranker_pools(kb: KnowledgeBase, rationales: list[str], questions: list[str], *, rationale_pool: int,
                   question_pool: int, num_threads: int = 1, journal: Path | None = None,
                   split: str = TRAIN_SPLIT, searches: Searches | None = None) -> dict[str, list]:
    """The reranker's candidate pool of each (rationale, question) pair (METHOD.md step 4), as columns.

    A pool is the union of BM25's top ``rationale_pool`` passages for the rationale and top ``question_pool``
    for the question (rationale pool first, deduplicated), with every candidate's BM25 score for the
    rationale (the reranker's target) and for the question (its baseline). An empty rationale (an eval
    question the teacher never answered right) gets an empty pool. ``searches``: the split's searches, the
    pools' queries among them (:func:`want_pools`); without it they are searched here.
    """
    if searches is None:
        searches = want_pools(Searches(kb, num_threads=num_threads, journal=journal, name=f"{split}.pools"), rationales,
                              questions, rationale_pool=rationale_pool, question_pool=question_pool).run()
    rows = _pool_rows(rationales)
    columns = {column: [[] for _ in rationales] if column != "pool_rationale_size" else [0] * len(rationales)
               for column in POOL_COLUMNS}
    if not rows:  # an empty shard or split: the columns exist, with nothing in them
        return columns
    by_rationale = searches.rows([rationales[i] for i in rows], rationale_pool)
    by_question = searches.rows([questions[i] for i in rows], question_pool)
    for n, i in enumerate(rows):
        seen = set(by_rationale[n].tolist())
        pool = np.concatenate([by_rationale[n], [row for row in by_question[n].tolist() if row not in seen]])
        pool = pool.astype(np.int64)
        columns["pool_ids"][i], columns["pool_passages"][i] = kb.passages_at(pool)
        columns["pool_rationale_scores"][i] = kb.score_rows(rationales[i], pool).tolist()
        columns["pool_question_scores"][i] = kb.score_rows(questions[i], pool).tolist()
        columns["pool_rationale_size"][i] = len(by_rationale[n])
    return columns


def add_reranker_pools(dataset, split: str, kb: KnowledgeBase, *, rationale_pool: int = 32, question_pool: int = 32,
                       num_threads: int = 1, journal: Path | None = None, searches: Searches | None = None):
    """``dataset`` (one processed split) with the :data:`POOL_COLUMNS` of :func:`reranker_pools` added."""
    from ..data.processed import rationale_column

    rationales = [first_rationale(value) for value in dataset[rationale_column(split)]]
    columns = reranker_pools(kb, rationales, list(dataset["question"]), rationale_pool=rationale_pool,
                             question_pool=question_pool, num_threads=num_threads, journal=journal, split=split,
                             searches=searches)
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
    expected, plan, searches = {}, {}, Searches(kb, num_threads=num_threads, journal=journal)
    for split, examples in splits.items():  # every search of every split asked for, then run once
        if not examples:
            raise DataError(f"the {split} split is empty")
        kept = [e for e in examples if e.rationales] if split == TRAIN_SPLIT else examples
        if len(kept) < len(examples):
            logger.warning("%d of %d train questions have no rationale and are left out", len(examples) - len(kept),
                           len(examples))
        expected[split] = {"questions": len(kept), "ids_sha256": ids_digest([e.id for e in kept])}
        mine = kept[index::count]
        if split == TRAIN_SPLIT:
            pairs = _pairs(mine) if mine or count == 1 else []
            searches.want([rationale for _, _, rationale in pairs], train_passages)
            rationales, questions = [rationale for _, _, rationale in pairs], [_question(e) for e, _, _ in pairs]
        else:
            searches.want([_question(e) for e in mine], candidates)
            searches.want([e.rationales[0] for e in mine if e.rationales], silver_passages)
            rationales, questions = [first_rationale(e.rationales) for e in mine], [_question(e) for e in mine]
        if rationale_pool:
            want_pools(searches, rationales, questions, rationale_pool=rationale_pool, question_pool=question_pool)
        plan[split] = (mine, rationales, questions)  # rationales, questions: those of each output row
    searches.run()
    dataset_dict = datasets.DatasetDict()
    for split, (examples, rationales, questions) in plan.items():
        if split == TRAIN_SPLIT:
            rows = augment_train(examples, kb, passages=train_passages, searches=searches) if examples else []
        else:
            rows = augment_eval(examples, kb, candidates=candidates, silver_passages=silver_passages,
                                searches=searches) if examples else []
        features = features_for(split)
        columns = {column: [row[column] for row in rows] for column in features}
        if rationale_pool:  # the same columns as add_reranker_pools adds, without datasets re-hashing each one
            columns.update(reranker_pools(kb, rationales, questions, rationale_pool=rationale_pool,
                                          question_pool=question_pool, searches=searches))
            features = datasets.Features({**features, **features_for(split, POOL_COLUMNS)})
        dataset_dict[split] = datasets.Dataset.from_dict(columns, features=features)
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
