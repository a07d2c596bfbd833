"""A DatasetDict saved together with a ``kard_hf.json`` manifest (the artifact's spec, :mod:`kard_hf.hub.artifact`):
how rationale datasets (``kard-hf rationales``) and processed datasets (``kard-hf augment``) are stored, locally
or on the Hub."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from ..errors import DataError
from ..fileio import atomic_path
from ..hub import SPEC_NAME, dataset_kind, read_spec, write_spec

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CARD_TAGS = {"rationale_dataset": ["rationales", "chain-of-thought", "distillation"],
             "processed_dataset": ["knowledge-augmented-reasoning-distillation", "retrieval"]}


def save_dataset_dict(dataset_dict, manifest: dict, path: str | Path, *, card_template: str | None = None,
                      hub_id: str | None = None, **card_context) -> None:
    """Save the DatasetDict, its manifest and (with ``card_template``) its card together, atomically.

    ``hub_id`` (the repository the dataset is pushed to) is recorded in the manifest, so that a model trained
    from this folder can name the dataset in its card; its ``kind`` is ``card_template``'s (``processed-dataset``,
    ``rationale-dataset``), else the manifest's (:func:`~kard_hf.hub.dataset_kind`). The card's ``configs`` metadata lets
    ``datasets.load_dataset`` read a Hub copy of the folder as well as :func:`load_dataset_dict` does.
    """
    from ..hub import dataset_card, saved_dataset_configs

    full_manifest = {"format_version": FORMAT_VERSION, **manifest, "hub_id": hub_id}
    with atomic_path(path) as tmp:
        dataset_dict.save_to_disk(str(tmp))
        kind = card_template.replace("_", "-") if card_template else manifest.get("kind") or dataset_kind(manifest)
        write_spec(tmp, {**full_manifest, "kind": kind})
        if card_template:
            dataset_card(card_template, configs=saved_dataset_configs(dataset_dict), tags=CARD_TAGS[card_template],
                         task_categories=["question-answering"], manifest=full_manifest,
                         repo_id=hub_id or "<this repo id or a local folder>", **card_context).save(tmp / "README.md")


def load_dataset_dict(path_or_id: str | Path, *, revision: str | None = None):
    """``(DatasetDict, manifest)`` from a folder written by :func:`save_dataset_dict` or a Hub dataset id.

    A Hub dataset pushed by kard_hf (:func:`push_dataset_dict`) is that same folder.
    """
    import datasets

    from ..hub import resolve_folder

    path = resolve_folder(path_or_id, repo_type="dataset", what="dataset", revision=revision)
    if not (path / "dataset_dict.json").is_file():
        raise DataError("not a saved DatasetDict (no dataset_dict.json)", file=path_or_id)
    return datasets.load_from_disk(str(path)), read_spec(path) or {}


def read_manifest(path_or_id: str | Path) -> dict:
    """The ``kard_hf.json`` manifest of a dataset folder or Hub dataset; ``{}`` for a dataset without one."""
    path = Path(path_or_id)
    if path.is_dir():
        return read_spec(path) or {}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError

    try:
        return read_spec(Path(hf_hub_download(str(path_or_id), SPEC_NAME, repo_type="dataset")).parent) or {}
    except RemoteEntryNotFoundError:  # a dataset not made by kard_hf (e.g. GBaker/MedQA-USMLE-4-options)
        return {}
    except LocalEntryNotFoundError:
        logger.warning("%s: offline and no manifest in the cache; read as a dataset without one", path_or_id)
        return {}
    except Exception as e:  # offline, missing repo: the same "cannot load" as the splits would give
        raise DataError(f"cannot load the dataset's manifest: {e}", file=path_or_id) from None


def push_dataset_dict(dataset_dict, manifest: dict, repo_id: str, *, card_template: str, private: bool | None = None,
                      revision: str | None = None, **card_context) -> str:
    """Push the folder :func:`save_dataset_dict` writes (splits, manifest, card) as a dataset repository.

    Returns the commit URL; the token comes from HF_TOKEN or the login cache.
    """
    from ..hub import push_folder, require_token

    require_token()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dataset"
        save_dataset_dict(dataset_dict, manifest, folder, card_template=card_template, hub_id=repo_id, **card_context)
        return push_folder(folder, repo_id, repo_type="dataset", private=private, revision=revision,
                           commit_message=f"Upload {card_template.replace('_', ' ')} with kard_hf")
