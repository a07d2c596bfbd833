"""The processed dataset that ``kard-hf augment`` writes and every trainer and evaluator reads.

A ``DatasetDict`` saved with ``save_to_disk`` plus a ``kard_hf.json`` manifest (the KB
fingerprint, retrieval settings and teacher). Columns are documented in docs/data-format.md;
the constants below are the single source of truth for them.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError
from ..fileio import atomic_path, read_json

MANIFEST_NAME = "kard_hf.json"
FORMAT_VERSION = 1

QUESTION_COLUMNS = ("id", "stem", "options", "answer", "question")
# One train row per (question, rationale) pair; passages were retrieved with the rationale as the query.
TRAIN_COLUMNS = QUESTION_COLUMNS + ("rationale_index", "rationale", "target", "passages", "passage_ids", "passage_scores")
# One eval row per question; candidates were retrieved with the question, silver passages with its first rationale.
EVAL_COLUMNS = QUESTION_COLUMNS + ("rationales", "candidates", "candidate_ids", "candidate_scores", "silver_passages",
                                   "silver_ids")
TRAIN_SPLIT = "train"


def columns_for(split: str) -> tuple[str, ...]:
    return TRAIN_COLUMNS if split == TRAIN_SPLIT else EVAL_COLUMNS


def require_columns(dataset, required, *, file=None, split: str | None = None, purpose: str = "") -> None:
    """Raise :class:`DataError` naming the missing columns of one split."""
    missing = [column for column in required if column not in dataset.column_names]
    if missing:
        why = f" (needed {purpose})" if purpose else ""
        raise DataError(f"split {split!r} lacks column(s) {', '.join(missing)}{why}; was it made by 'kard-hf augment'?",
                        file=file, field=missing[0])


def save_processed(dataset_dict, manifest: dict, path: str | Path) -> None:
    """Save the DatasetDict and its manifest together, atomically."""
    with atomic_path(path) as tmp:
        dataset_dict.save_to_disk(str(tmp))
        (tmp / MANIFEST_NAME).write_text(json.dumps({"format_version": FORMAT_VERSION, **manifest}, indent=2) + "\n")


def load_processed(path_or_id: str | Path):
    """``(DatasetDict, manifest)`` from a folder written by :func:`save_processed` or a Hub dataset id.

    A Hub dataset pushed by kard_hf carries the manifest as a file of its repository.
    """
    import datasets

    path = Path(path_or_id)
    if path.is_dir():
        if not (path / "dataset_dict.json").is_file():
            raise DataError("not a saved DatasetDict (no dataset_dict.json)", file=path)
        manifest_path = path / MANIFEST_NAME
        manifest = read_json(manifest_path) if manifest_path.is_file() else {}
        return datasets.load_from_disk(str(path)), manifest
    from huggingface_hub import hf_hub_download

    try:
        dataset_dict = datasets.load_dataset(str(path_or_id))
        manifest = read_json(hf_hub_download(str(path_or_id), MANIFEST_NAME, repo_type="dataset"))
    except Exception as e:  # offline, missing repo, missing manifest: all "cannot load"
        raise DataError(f"cannot load the processed dataset: {e}", file=path_or_id) from None
    return dataset_dict, manifest
