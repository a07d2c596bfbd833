"""Hub cards of kard_hf's artifacts, built with huggingface_hub's card classes from the templates in hub_cards/.

The metadata goes through :class:`~huggingface_hub.ModelCardData` / :class:`~huggingface_hub.DatasetCardData`
(so ``model-index`` is built from validated :class:`~huggingface_hub.EvalResult` entries), and the text is
rendered as ``ModelCard.from_template`` / ``DatasetCard.from_template`` render it, with undefined variables
an error (:func:`from_template`). ``base_model`` and ``datasets``
only ever hold Hub ids: a local folder is named by the Hub id its saved metadata records (see
:func:`hub_id`), or left out of the metadata, and the card's text says so.
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

import jinja2

from ..version import __version__
from .artifact import read_spec

CITATIONS = {
    "kard": """@inproceedings{kang2023knowledge,
  title={Knowledge-Augmented Reasoning Distillation for Small Language Models in Knowledge-Intensive Tasks},
  author={Kang, Minki and Lee, Seanie and Baek, Jinheon and Kawaguchi, Kenji and Hwang, Sung Ju},
  booktitle={Advances in Neural Information Processing Systems},
  year={2023}
}""",
    "knife": """@article{chan2022knife,
  title={KNIFE: Distilling Reasoning Knowledge From Free-Text Rationales},
  author={Chan, Aaron and Zeng, Zhiyuan and Lake, Wyatt and Joshi, Brihi and Chen, Hanjie and Ren, Xiang},
  journal={arXiv preprint arXiv:2212.09721},
  year={2022}
}""",
}

# A snapshot in a Hugging Face cache: <cache>/models--org--name/snapshots/<commit>.
_CACHE_SNAPSHOT = re.compile(r"^(models|datasets)--(.+)$")


def template(name: str) -> str:
    """The text of ``hub_cards/<name>.md.j2``, read as a package resource (editable install or wheel alike)."""
    return importlib.resources.files("kard_hf.hub_cards").joinpath(f"{name}.md.j2").read_text(encoding="utf-8")


def _is_repo_id(value: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def hub_id(path_or_id: str | Path | None, repo_type: str = "model") -> str | None:
    """The Hub id of a model or dataset named by a path or an id, or None when there is none to name.

    An existing local path has a Hub id only if it records one: a snapshot inside a Hugging Face
    cache (``models--org--name/snapshots/<commit>``), or a kard_hf artifact whose spec file
    (:func:`~kard_hf.hub.read_spec`) holds the ``hub_id`` it was pushed to. Anything else that is not an existing
    path is taken as an id if it is a valid one.
    """
    if path_or_id is None or str(path_or_id) == "":
        return None
    path = Path(path_or_id)
    if path.exists():
        parts = path.resolve().parts
        if len(parts) >= 3 and parts[-2] == "snapshots" and (match := _CACHE_SNAPSHOT.match(parts[-3])):
            if match.group(1) == f"{repo_type}s":
                return match.group(2).replace("--", "/")
        recorded = (read_spec(path) or {}).get("hub_id") if path.is_dir() else None
        return recorded if recorded and _is_repo_id(recorded) else None
    return str(path_or_id) if _is_repo_id(str(path_or_id)) else None


def describe(path_or_id: str | Path | None, repo_type: str = "model") -> str:
    """Markdown naming an input in a card's text: a Hub link, or a local folder's name with why the metadata omits it."""
    if path_or_id is None or str(path_or_id) == "":
        return "(none recorded)"
    found = hub_id(path_or_id, repo_type)
    if found:
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return f"[{found}](https://huggingface.co/{prefix}{found})"
    return (f"a local {repo_type} folder (`{Path(path_or_id).name}`) that records no Hub id, so the metadata "
            f"names no {'base model' if repo_type == 'model' else 'dataset'}")


# ``RepoCard.from_template`` renders with a default jinja2 environment, where a missing variable is an empty
# string. This is the same rendering (``card_data`` is the data's YAML, its fields are variables, the
# templates' whitespace is the same) with StrictUndefined, so that a missing value is an error.
_environment = jinja2.Environment(undefined=jinja2.StrictUndefined)


def plain(value) -> str:
    """A value as a card's prose shows it: a mapping as ``key: value; ...``, a list comma-separated, None as
    "none" (never a Python repr such as ``{'kind': ...}`` or ``[False]``)."""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {plain(item)}" for key, item in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(item) for item in value) or "none"
    return "none" if value is None else str(value)


def code(text) -> str:
    """``text`` as a Markdown code span, newlines written ``\\n``; "(empty)" for an empty one (an empty span
    renders as two stray backticks)."""
    text = plain(text).replace("\n", "\\n")
    return f"`{text}`" if text.strip() else "(empty)"


_environment.filters.update(plain=plain, code=code)


def from_template(card_class, data, template_name: str, **context):
    """``card_class.from_template(data, template_str=...)``, strict: a card of ``card_class`` from ``hub_cards/``."""
    text = _environment.from_string(template(template_name)).render(
        card_data=data.to_yaml(), **{**data.to_dict(), "kard_hf_version": __version__, "citations": CITATIONS,
                                     **context})
    return card_class(text)


def model_card(template_name: str, *, model_name: str, base_model=None, datasets=(), library_name: str = "transformers",
               tags=(), pipeline_tag: str | None = None, eval_results=None, **context):
    """A :class:`~huggingface_hub.ModelCard` from ``hub_cards/<template_name>.md.j2``.

    ``base_model`` and ``datasets`` may be paths or ids; the metadata keeps their Hub ids only, and
    the template gets ``base_model_text`` / ``datasets_text`` (see :func:`describe`) for its prose.
    """
    from huggingface_hub import ModelCard, ModelCardData

    dataset_ids = [found for found in (hub_id(d, "dataset") for d in datasets if d) if found]
    data = ModelCardData(model_name=model_name, library_name=library_name, base_model=hub_id(base_model),
                         datasets=dataset_ids or None, tags=["kard_hf", *tags], pipeline_tag=pipeline_tag,
                         eval_results=eval_results or None)
    return from_template(ModelCard, data, template_name, base_model_text=describe(base_model),
                         datasets_text=[describe(d, "dataset") for d in datasets if d], **context)


def dataset_card(template_name: str, *, tags=(), configs=None, pretty_name: str | None = None,
                 task_categories=None, **context):
    """A :class:`~huggingface_hub.DatasetCard` from ``hub_cards/<template_name>.md.j2``.

    ``configs`` (the ``configs:`` metadata) lets ``datasets.load_dataset(repo_id)`` read the files.
    """
    from huggingface_hub import DatasetCard, DatasetCardData

    extra = {"configs": configs} if configs else {}
    data = DatasetCardData(pretty_name=pretty_name, tags=["kard_hf", *tags], task_categories=task_categories, **extra)
    return from_template(DatasetCard, data, template_name, **context)


def saved_dataset_configs(splits) -> list[dict]:
    """``configs`` metadata for a DatasetDict saved with ``save_to_disk``: one Arrow file pattern per split."""
    return [{"config_name": "default",
             "data_files": [{"split": split, "path": f"{split}/*.arrow"} for split in splits]}]


def record_evaluation(folder: str | Path, metrics: dict, *, dataset: str | None, split: str, retrieval: str):
    """Add ``kard-hf evaluate``'s accuracy to the model card in ``folder`` as a ``model-index`` entry; return the card.

    The entry names the dataset by its Hub id when it has one (else by its folder name). Entries of an
    earlier evaluation with the same dataset, split and retrieval are replaced.
    """
    from huggingface_hub import EvalResult, ModelCard

    path = Path(folder) / "README.md"
    card = ModelCard.load(path)
    dataset_type = hub_id(dataset, "dataset") or Path(str(dataset)).name
    config = f"retrieval={retrieval}"
    result = EvalResult(task_type="multiple-choice", task_name="Multiple-choice question answering",
                        dataset_type=dataset_type, dataset_name=dataset_type, dataset_split=split,
                        dataset_config=None, metric_type="accuracy", metric_name=f"Accuracy ({retrieval})",
                        metric_value=round(float(metrics["accuracy"]["mean"]), 6), metric_config=config)
    kept = [r for r in card.data.eval_results or []
            if not (r.dataset_type == dataset_type and r.dataset_split == split and r.metric_config == config)]
    card.data.eval_results = kept + [result]
    card.data.model_name = card.data.model_name or Path(folder).name
    card.save(path)
    return card
