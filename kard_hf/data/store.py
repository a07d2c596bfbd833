"""A DatasetDict saved together with a ``kard_hf.json`` manifest: how rationale datasets (``kard-hf
rationales``) and processed datasets (``kard-hf augment``) are stored, locally or on the Hub."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import DataError
from ..fileio import atomic_path, read_json

logger = logging.getLogger(__name__)

MANIFEST_NAME = "kard_hf.json"
FORMAT_VERSION = 1


def save_dataset_dict(dataset_dict, manifest: dict, path: str | Path) -> None:
    """Save the DatasetDict and its manifest together, atomically."""
    with atomic_path(path) as tmp:
        dataset_dict.save_to_disk(str(tmp))
        (tmp / MANIFEST_NAME).write_text(json.dumps({"format_version": FORMAT_VERSION, **manifest}, indent=2) + "\n")


def load_dataset_dict(path_or_id: str | Path):
    """``(DatasetDict, manifest)`` from a folder written by :func:`save_dataset_dict` or a Hub dataset id.

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
        raise DataError(f"cannot load the dataset: {e}", file=path_or_id) from None
    return dataset_dict, manifest


def read_manifest(path_or_id: str | Path) -> dict:
    """The ``kard_hf.json`` manifest of a dataset folder or Hub dataset; ``{}`` for a dataset without one."""
    path = Path(path_or_id)
    if path.is_dir():
        return read_json(path / MANIFEST_NAME) if (path / MANIFEST_NAME).is_file() else {}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError

    try:
        return read_json(hf_hub_download(str(path_or_id), MANIFEST_NAME, repo_type="dataset"))
    except RemoteEntryNotFoundError:  # a dataset not made by kard_hf (e.g. GBaker/MedQA-USMLE-4-options)
        return {}
    except LocalEntryNotFoundError:
        logger.warning("%s: offline and no manifest in the cache; read as a dataset without one", path_or_id)
        return {}
    except Exception as e:  # offline, missing repo: the same "cannot load" as the splits would give
        raise DataError(f"cannot load the dataset's manifest: {e}", file=path_or_id) from None


def push_dataset_dict(dataset_dict, manifest: dict, repo_id: str, *, card_template: str, private: bool | None = None,
                      **card_context) -> None:
    """Push the splits, the manifest and a card rendered from ``hub_cards/<card_template>.md.j2``.

    The card keeps the metadata block that ``DatasetDict.push_to_hub`` wrote (configs, features),
    so ``datasets.load_dataset(repo_id)`` works as for any Hub dataset.
    """
    from huggingface_hub import DatasetCard, HfApi

    from ..hub import render_card

    full_manifest = {"format_version": FORMAT_VERSION, **manifest}
    dataset_dict.push_to_hub(repo_id, private=private)
    HfApi().upload_file(path_or_fileobj=(json.dumps(full_manifest, indent=2) + "\n").encode(),
                        path_in_repo=MANIFEST_NAME, repo_id=repo_id, repo_type="dataset")
    card = DatasetCard.load(repo_id)
    card.text = DatasetCard(render_card(card_template, manifest=full_manifest, **card_context)).text
    card.push_to_hub(repo_id)
