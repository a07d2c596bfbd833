"""``kard-hf pipeline --dry_run``: check a pipeline before it runs, writing nothing.

For every step: its options parse as its command would parse them (a typo, a bad value, bf16 on a machine
with no GPU: the advice to pass ``--bf16 false``), every input it reads exists (a local path) or can be reached (a Hub id: in the local cache, or,
online, on the Hub), and where it writes. An input that an earlier step makes is not looked for. Offline
(``HF_HUB_OFFLINE=1``), a Hub id that is not in the cache is listed as one that will be downloaded when the
pipeline runs online: not a problem, a note. Every problem is found (not only the first); any problem is a
:class:`~kard_hf.errors.ConfigError`, exit code 2.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import KardError

# The options through which a step reads an input: what each names (a local file, or a folder or Hub id).
INPUT_OPTIONS = {"train_file": "file", "validation_file": "file", "test_file": "file", "train_rationales": "file",
                 "corpus": "file", "dataset": "dataset", "knowledge_base": "dataset", "model_name_or_path": "model",
                 "teacher_model_name_or_path": "model", "backbone": "model", "student": "model",
                 "reranker": "model"}


@dataclass
class Report:
    """What a dry run found: ``problems`` stop the run; ``downloads`` are Hub ids it could not check offline."""

    problems: list[str] = field(default_factory=list)
    downloads: dict[str, str] = field(default_factory=dict)  # Hub id -> the step that reads it


def hub_status(name: str, kind: str) -> str:
    """``cached``, ``offline`` (not cached and the Hub is not asked), ``found``, or why the Hub has no such id."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    repo_type = "dataset" if kind == "dataset" else "model"
    folder = Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{name.replace('/', '--')}" / "snapshots"
    if folder.is_dir() and any(folder.iterdir()):
        return "cached"
    if constants.HF_HUB_OFFLINE:
        return "offline"
    try:
        HfApi().repo_info(name, repo_type=repo_type, timeout=10)
    except RepositoryNotFoundError:
        return f"no {repo_type} {name!r} on the Hub (or it is private and no token can read it)"
    except Exception as e:  # no network: one line, not a retry loop
        return f"the Hub cannot be reached ({type(e).__name__})"
    return "found"


def check_inputs(step_name: str, options: dict, made: dict[str, str], report: Report) -> None:
    """Look for each input of one step; ``made`` maps the output folders of earlier steps to their step."""
    from .hub.repo import looks_like_a_local_path

    if options.get("teacher") == "transformers":
        options = {**options, "model_name_or_path": options.get("model")}
    for option, kind in INPUT_OPTIONS.items():
        value = options.get(option)
        if not isinstance(value, str) or not value or value in made or Path(value).exists():
            continue
        if kind == "file" or looks_like_a_local_path(value):
            report.problems.append(f"{step_name}: {option} {value}: no such file or folder")
            continue
        status = hub_status(value, kind)
        if status == "offline":
            report.downloads.setdefault(value, step_name)
        elif status not in ("cached", "found"):
            report.problems.append(f"{step_name}: {option} {value}: {status}")


def dry_run(steps, marker_of, *, log=print) -> Report:
    """Check ``steps`` (:class:`kard_hf.chain.Step`) and print the plan: each step, complete or to run, and
    where it writes; then the Hub ids to download, and the problems on stderr. Raises ConfigError when there is a problem."""
    from .errors import ConfigError

    report, made = Report(), {}
    for step in steps:
        output = step.options.get("output_dir")
        state = "complete" if marker_of(step).is_file() else "to run"
        log(f"{step.name}: {state}" + (f" -> {output}" if output else ""))
        if step.check is not None:
            try:
                step.check()
            except KardError as e:
                report.problems.append(f"{step.name}: {e}")
        check_inputs(step.name, step.options, made, report)
        if output:
            made[str(output)] = step.name
    if report.downloads:
        log("\nHub ids not in the local cache (HF_HUB_OFFLINE is set, so they are not looked up); they will be "
            "downloaded when the pipeline runs online:")
        log("\n".join(f"  {name} (step {step})" for name, step in report.downloads.items()))
    if report.problems:
        print("\n".join(["problems:", *(f"  {problem}" for problem in report.problems)]), file=sys.stderr)
        raise ConfigError(f"the dry run found {len(report.problems)} problem(s), listed above; nothing was run")
    return report
