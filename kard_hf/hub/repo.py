"""Moving artifacts to and from the Hub: folder push, path-or-id resolution, and one-line errors.

Tokens are never passed as flags: huggingface_hub reads ``HF_TOKEN`` or the login cache itself,
and nothing here writes a token anywhere.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, HubError, InputError


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


def require_token() -> None:
    """Raise :class:`HubError` now, before any work, when no Hub token is configured for a push."""
    from huggingface_hub import get_token

    if not get_token():
        raise HubError("pushing to the Hub needs a token: set HF_TOKEN or run 'hf auth login'")


@contextmanager
def hub_errors(repo_id: str, action: str):
    """Turn huggingface_hub's HTTP errors about ``repo_id`` into one-line :class:`HubError` messages."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        yield
    except RevisionNotFoundError:
        raise HubError(f"cannot {action} {repo_id}: no such revision") from None
    except RepositoryNotFoundError:
        raise HubError(f"cannot {action} {repo_id}: no such repository, or it is private and the token "
                       "(HF_TOKEN or 'hf auth login') cannot read it") from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status in (401, 403):
            raise HubError(f"cannot {action} {repo_id}: the Hub refused the token ({status}); set HF_TOKEN or run "
                           "'hf auth login' with a token that may write to it") from None
        raise HubError(f"cannot {action} {repo_id}: {str(e).strip().splitlines()[0]}") from None


def push_folder(folder: str | Path, repo_id: str, *, repo_type: str = "model", private: bool | None = None,
                revision: str | None = None, commit_message: str = "Upload with kard_hf") -> str:
    """Create ``repo_id`` (and ``revision``, a branch) if needed and upload ``folder`` to it; return the commit URL."""
    from huggingface_hub import HfApi

    require_token()
    api = HfApi()
    with hub_errors(repo_id, "push to"):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        return api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, revision=revision,
                                 commit_message=commit_message).commit_url


HUB_RETRIES = 1
DATA_FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".parquet", ".arrow", ".txt", ".gz", ".yaml", ".yml")


def fail_fast_on_the_hub(retries: int = HUB_RETRIES) -> None:
    """Hub calls retry ``retries`` times, not five over ~25 s, and without a warning line per retry.

    huggingface_hub retries a failed request (no network, a refused connection, HTTP 5xx) with a
    doubling wait and logs each retry; no setting shortens that, so the default of its
    ``http_backoff`` functions is lowered here. A Hub failure then reaches the command's one-line
    error within seconds.
    """
    import inspect
    import logging

    from huggingface_hub.utils import _http

    for function in (_http.http_backoff, _http.http_stream_backoff):
        inspect.unwrap(function).__kwdefaults__["max_retries"] = retries
    logging.getLogger("huggingface_hub.utils._http").setLevel(logging.ERROR)


def looks_like_a_local_path(path_or_id: str | Path) -> bool:
    """Whether a name that is not an existing folder was meant as a local path rather than a Hub id.

    The rule (docs/reliability.md): it starts with ``/``, ``.`` or ``~``, ends with ``/``, holds a
    backslash or more than one ``/`` (a Hub id is ``name`` or ``owner/name``), ends with a data file's
    suffix (``data/psgs_w100.tsv``), or its first part is an existing local folder (``outputs/kb`` when
    ``outputs/`` exists).
    """
    text = str(path_or_id)
    if text.startswith(("/", ".", "~")) or text.endswith("/") or "\\" in text or text.count("/") > 1:
        return True
    if text.lower().endswith(DATA_FILE_SUFFIXES):
        return True
    return "/" in text and Path(text.split("/")[0]).is_dir()


def refuse_missing_local_path(path_or_id: str | Path, *, what: str = "artifact") -> None:
    """Raise :class:`InputError` for a missing local path, so that a typo is never sent to the Hub as an id."""
    if not Path(path_or_id).exists() and looks_like_a_local_path(path_or_id):
        raise InputError(f"no such file or folder (a local path, so it is not looked up on the Hub as a {what})",
                         file=path_or_id)


def resolve_folder(path_or_id: str | Path, *, repo_type: str = "model", what: str = "artifact",
                   revision: str | None = None) -> Path:
    """A local folder for ``path_or_id``: the folder itself, or a Hub snapshot (from the local cache when offline)."""
    path = Path(path_or_id)
    if path.is_dir():
        return path
    refuse_missing_local_path(path_or_id, what=what)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(path_or_id), repo_type=repo_type, revision=revision))
    except Exception as e:  # not found, offline without a cached copy, bad id: one message for all
        raise InputError(f"cannot find this {what} locally or on the Hub: {hub_failure(e)}", file=path_or_id) from None


def hub_failure(error: Exception) -> str:
    """Why a Hub download failed, in one line: offline, the variables that make it so; else the error's first line."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return ("not in the local Hub cache, and HF_HUB_OFFLINE is set, so the Hub is not asked (unset "
                "HF_HUB_OFFLINE, HF_DATASETS_OFFLINE and TRANSFORMERS_OFFLINE to download it)")
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
