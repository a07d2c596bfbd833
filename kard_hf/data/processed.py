"""Columns of the processed dataset that ``kard-hf augment`` writes and every trainer and evaluator reads.

It is saved with :func:`kard_hf.data.store.save_dataset_dict` (a ``kard_hf.json`` manifest
records the KB fingerprint, retrieval settings and teacher). Columns are documented in
docs/data-format.md; the constants below are the single source of truth for them. :func:`check_fingerprints`
is the one check, used by every command, that a knowledge base, a processed dataset and a student belong together.
"""

from __future__ import annotations

import dataclasses
import logging

from ..errors import DataError, KnowledgeBaseError

logger = logging.getLogger(__name__)

QUESTION_COLUMNS = ("id", "stem", "options", "answer", "question")
# One train row per (question, rationale) pair; passages were retrieved with the rationale as the query.
TRAIN_COLUMNS = QUESTION_COLUMNS + ("rationale_index", "rationale", "target", "passages", "passage_ids", "passage_scores")
# One eval row per question; candidates were retrieved with the question, silver passages with its first rationale.
EVAL_COLUMNS = QUESTION_COLUMNS + ("rationales", "candidates", "candidate_ids", "candidate_scores", "silver_passages",
                                   "silver_ids")
# The reranker's candidate pool of each row (kard-hf augment; only what train-reranker reads).
POOL_COLUMNS = ("pool_ids", "pool_passages", "pool_rationale_scores", "pool_question_scores", "pool_rationale_size")
TRAIN_SPLIT = "train"
# retrieval mode at test time -> the (passages, passage ids) columns of an eval row that it reads
RETRIEVAL_COLUMNS = {"none": (), "bm25": ("candidates", "candidate_ids"), "reranker": ("candidates", "candidate_ids"),
                     "oracle": ("silver_passages", "silver_ids")}
RETRIEVAL_MODES = tuple(RETRIEVAL_COLUMNS)


def columns_for(split: str) -> tuple[str, ...]:
    return TRAIN_COLUMNS if split == TRAIN_SPLIT else EVAL_COLUMNS


def rationale_column(split: str) -> str:
    """Where a split keeps its teacher rationale: ``rationale`` on train rows, the list ``rationales`` on eval rows."""
    return "rationale" if split == TRAIN_SPLIT else "rationales"


def first_rationale(value) -> str:
    """A row's rationale from :func:`rationale_column`'s cell: the train text, or the first eval rationale ("" if none)."""
    return value if isinstance(value, str) else (value[0] if value else "")


def require_columns(dataset, required, *, file=None, split: str | None = None, purpose: str = "") -> None:
    """Raise :class:`DataError` naming the missing columns of one split."""
    missing = [column for column in required if column not in dataset.column_names]
    if missing:
        why = f" (needed {purpose})" if purpose else ""
        raise DataError(f"split {split!r} lacks column(s) {', '.join(missing)}{why}; was it made by 'kard-hf augment'?",
                        file=file, field=missing[0])


def _types() -> dict:
    import datasets

    string, strings, floats = datasets.Value("string"), datasets.List(datasets.Value("string")), datasets.List(
        datasets.Value("float32"))
    return {"id": string, "stem": string, "options": strings, "answer": datasets.Value("int64"), "question": string,
            "rationale_index": datasets.Value("int64"), "rationale": string, "target": string, "passages": strings,
            "passage_ids": strings, "passage_scores": floats, "rationales": strings, "candidates": strings,
            "candidate_ids": strings, "candidate_scores": floats, "silver_passages": strings, "silver_ids": strings,
            "pool_ids": strings, "pool_passages": strings, "pool_rationale_scores": floats,
            "pool_question_scores": floats, "pool_rationale_size": datasets.Value("int64")}


def features_for(split: str, columns: tuple[str, ...] | None = None):
    """The Arrow features of a processed split (or of its ``columns``), so that empty lists and unlabeled answers
    keep their types."""
    import datasets

    types = _types()
    return datasets.Features({column: types[column] for column in columns or columns_for(split)})


def evaluated_columns(retrieval: str, reads_rationale: bool) -> tuple[str, ...]:
    """The columns an evaluation with ``retrieval`` reads (and the rationales, for a student that reads one)."""
    return ("id", "stem", "options", "answer") + RETRIEVAL_COLUMNS[retrieval] + (
        ("rationales",) if reads_rationale else ())


def leave_out(dataset, *, retrieval: str, reads_rationale: bool, split: str, file=None):
    """``(usable rows, {"left_out_without_<what>": ids})``: questions none of whose teacher rationales was kept
    have no silver passages (retrieval ``oracle``) and no rationale to read; they are left out, with a warning.
    :class:`DataError` if no question is left."""
    # (column, metrics key, what they lack)
    needed = ("silver_ids", "silver_passages", "silver passages") if retrieval == "oracle" else (
        ("rationales", "rationale", "a teacher rationale") if reads_rationale else None)
    if not needed:
        return dataset, {}
    column, key, what = needed
    usable = [i for i, values in enumerate(dataset[column]) if values]
    if not usable:
        raise DataError(f"no question of the {split} split has {what}", file=file, field=column)
    if len(usable) == len(dataset):
        return dataset, {}
    kept = set(usable)
    ids = [row_id for i, row_id in enumerate(dataset["id"]) if i not in kept]
    logger.warning("%d question(s) have no %s (none of their teacher rationales was kept) and are left out: "
                   "%s", len(ids), what, ", ".join(ids[:10]))
    return dataset.select(usable), {f"left_out_without_{key}": ids}


def check_fingerprints(*, knowledge_base=None, manifest: dict | None = None, dataset=None, spec=None,
                       student=None) -> None:
    """The one fingerprint check of every command (docs/reliability.md), on whichever of the three it is given.

    - ``knowledge_base`` with a processed dataset's ``manifest``: refused when the dataset records another KB
      (another fingerprint: corpus, BM25 parameters or normalisation, so retrieval and the reranker's targets
      would differ); the same corpus with other BM25 parameters is named parameter by parameter.
    - a student's ``spec`` (its ``knowledge_base_fingerprint``) against where its passages come from: the dataset,
      when one is given (a warning: evaluating on passages of another KB is a measurement, not a mistake), else the
      ``knowledge_base`` it searches (refused: its retrieval would not be the one it learnt from).
    ``dataset`` and ``student`` name them in the messages.
    """
    record = (manifest or {}).get("knowledge_base") or {}
    if knowledge_base is not None and manifest is not None:
        actual = dataclasses.asdict(knowledge_base.parameters)
        differ = [name for name, value in (record.get("parameters") or {}).items()
                  if name in actual and actual[name] != value]
        if differ and record.get("corpus_fingerprint") == knowledge_base.corpus_fingerprint:
            said = ", ".join(f"{name}={actual[name]!r} (the dataset's: {record['parameters'][name]!r})"
                             for name in differ)
            raise KnowledgeBaseError(f"same corpus but other BM25 parameters than the dataset {dataset} was "
                                     f"augmented with: {said}; rebuild it with those parameters", field="knowledge_base")
        recorded = record.get("fingerprint")
        if recorded and recorded != knowledge_base.fingerprint:
            raise KnowledgeBaseError(f"its fingerprint {knowledge_base.fingerprint[:12]} differs from the "
                                     f"{recorded[:12]} that the dataset {dataset} was augmented with", file=dataset,
                                     field="knowledge_base")
    trained = getattr(spec, "knowledge_base_fingerprint", None)
    if not trained:
        return
    if manifest is not None:
        recorded = record.get("fingerprint")
        if recorded and trained != recorded:
            logger.warning("the student was trained with knowledge base %s, the dataset uses %s", trained[:12],
                           recorded[:12])
    elif knowledge_base is not None and trained != knowledge_base.fingerprint:
        raise KnowledgeBaseError(f"its fingerprint {knowledge_base.fingerprint[:12]} differs from the {trained[:12]} "
                                 f"of the knowledge base the student {student} was trained with", field="knowledge_base")
