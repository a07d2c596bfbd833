"""Hub plumbing shared by every artifact: cards rendered from hub_cards/, folder push, path-or-id resolution.

Tokens are never passed as flags: huggingface_hub reads ``HF_TOKEN`` or the login cache itself.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from . import __version__
from .errors import ConfigError, InputError


@dataclass
class HubDatasetArguments:
    """``--push_to_hub``, ``--hub_dataset_id``, ``--hub_private_repo``: shared by the commands that publish a
    dataset repository (rationales, processed datasets, knowledge bases)."""

    push_to_hub: bool = field(default=False, metadata={"help": "Also push the result and its card to the Hub (token from HF_TOKEN or 'hf auth login')."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Hub dataset repository id for --push_to_hub."})
    hub_private_repo: bool | None = field(default=None, metadata={"help": "Create the Hub repository as private."})

    def __post_init__(self):
        if self.push_to_hub and not self.hub_dataset_id:
            raise ConfigError("--push_to_hub needs --hub_dataset_id", field="hub_dataset_id")


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

_environment = jinja2.Environment(
    loader=jinja2.FunctionLoader(
        lambda name: importlib.resources.files("kard_hf.hub_cards").joinpath(name).read_text(encoding="utf-8")),
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
)


def render_card(template: str, **context) -> str:
    """Render ``hub_cards/<template>.md.j2`` with ``context`` (plus ``kard_hf_version`` and ``citations``)."""
    return _environment.get_template(f"{template}.md.j2").render(
        kard_hf_version=__version__, citations=CITATIONS, **context)


def write_card(folder: str | Path, template: str, **context) -> Path:
    """Write the rendered card as ``folder/README.md`` (the file the Hub shows)."""
    path = Path(folder) / "README.md"
    path.write_text(render_card(template, **context), encoding="utf-8")
    return path


def push_folder(folder: str | Path, repo_id: str, *, repo_type: str = "model", private: bool | None = None,
                commit_message: str = "Upload with kard_hf") -> str:
    """Create ``repo_id`` if needed and upload ``folder`` to it; return the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    return api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type,
                             commit_message=commit_message).commit_url


def looks_like_a_local_path(path_or_id: str | Path) -> bool:
    """Whether a name that is not an existing folder was meant as a local path rather than a Hub id.

    The rule (docs/reliability.md): it starts with ``/``, ``.`` or ``~``, ends with
    ``/``, holds a backslash or more than one ``/`` (a Hub id is ``name`` or ``owner/name``), or
    its first part is an existing local folder (``outputs/kb`` when ``outputs/`` exists).
    """
    text = str(path_or_id)
    if text.startswith(("/", ".", "~")) or text.endswith("/") or "\\" in text or text.count("/") > 1:
        return True
    return "/" in text and Path(text.split("/")[0]).is_dir()


def refuse_missing_local_path(path_or_id: str | Path, *, what: str = "artifact") -> None:
    """Raise :class:`InputError` for a missing local path, so that a typo is never sent to the Hub as an id."""
    if not Path(path_or_id).exists() and looks_like_a_local_path(path_or_id):
        raise InputError(f"no such {what} folder (it looks like a local path, so it is not looked up on the Hub)",
                         file=path_or_id)


def resolve_folder(path_or_id: str | Path, *, repo_type: str = "model", what: str = "artifact") -> Path:
    """A local folder for ``path_or_id``: the folder itself, or a Hub snapshot (from the local cache when offline)."""
    path = Path(path_or_id)
    if path.is_dir():
        return path
    refuse_missing_local_path(path_or_id, what=what)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(path_or_id), repo_type=repo_type))
    except Exception as e:  # not found, offline without a cached copy, bad id: one message for all
        raise InputError(f"cannot find this {what} locally or on the Hub: {e}", file=path_or_id) from None
