"""The one resume rule of every training command (``train``, ``train --method knife*``, ``train-reranker``).

``--resume_from_checkpoint`` is ``last`` (or ``true``: the newest *complete* ``checkpoint-N`` of
``output_dir``, or a fresh start when there is none) or a checkpoint folder (which must be
complete). The Trainer writes ``trainer_state.json`` last, after the weights, optimizer and RNG
states, so a checkpoint is complete exactly when that file holds valid JSON: a run killed while
saving leaves a ``checkpoint-N`` without it, or with it truncated, and that one is skipped.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from .errors import ConfigError
from .fileio import claim_training_output

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
LATEST = ("last", "true")
NONE = ("", "false", "none", "no")


def incomplete(checkpoint: str | Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed from, or None when it is complete."""
    state = Path(checkpoint) / STATE_FILE
    if not state.is_file():
        return f"no {STATE_FILE} (the save was interrupted)"
    try:
        json.loads(state.read_bytes().decode("utf-8"))["global_step"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return f"{STATE_FILE} is truncated or not a trainer state (the save was interrupted)"
    return None


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoint-N`` in ``output_dir`` (incomplete ones are skipped with a warning)."""
    folder = Path(output_dir)
    found = sorted(((int(m[1]), path) for path in folder.iterdir() if path.is_dir() and (m := _CHECKPOINT.match(path.name))),
                   reverse=True) if folder.is_dir() else []
    for _, path in found:
        problem = incomplete(path)
        if problem is None:
            return path
        logger.warning("skipping %s: %s", path, problem)
    return None


def claim_trainer_output(args, *inputs) -> None:
    """Claim a trainer's ``output_dir`` before any work (:func:`kard_hf.fileio.claim_training_output`): locked for
    the command; an existing one is continued only when ``--resume_from_checkpoint`` is given; never an input.
    Only the process that saves claims it (under ``accelerate``, every rank runs the command)."""
    value = args.resume_from_checkpoint
    if args.should_save:
        claim_training_output(args.output_dir, resuming=value is not None and str(value).strip().lower() not in NONE,
                              inputs=inputs)


def resolve_checkpoint(value, output_dir: str | Path) -> str | None:
    """What to hand ``Trainer.train(resume_from_checkpoint=...)`` for ``--resume_from_checkpoint value``."""
    if value is None or str(value).strip().lower() in NONE:
        return None
    if str(value).strip().lower() in LATEST:
        checkpoint = last_complete_checkpoint(output_dir)
        if checkpoint is None:
            logger.warning("no complete checkpoint in %s: training starts from the beginning", output_dir)
            return None
        logger.info("resuming from %s", checkpoint)
        return str(checkpoint)
    path = Path(value)
    if not path.is_dir():
        raise ConfigError(f"expected 'last', 'true' or a checkpoint folder, got {value!r} (no such folder)",
                          field="resume_from_checkpoint")
    problem = incomplete(path)
    if problem is not None:
        raise ConfigError(f"cannot resume: {problem}; use --resume_from_checkpoint last for the newest complete one",
                          file=path, field="resume_from_checkpoint")
    return str(path)
