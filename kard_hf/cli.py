"""The ``kard-hf`` command line: one entry point, one subcommand per pipeline step.

Subcommands are imported only when run, so ``kard-hf --help`` is instant. Each one takes
``--config recipe.yaml`` plus ``--key value`` overrides (see :mod:`kard_hf.arguments`). Errors
caused by bad input become one line on stderr and exit code 2. Under ``accelerate launch`` use
``accelerate launch -m kard_hf.cli <command> ...``.
"""

from __future__ import annotations

import errno
import importlib
import os
import pickle
import sys

from . import __version__
from .errors import KardError
from .fileio import command_scope

# OS errors a user causes on input or output (a path that is a file, a read-only folder, a full
# disk, a file over the size limit): one line each, like a KardError. Others are bugs: a traceback.
USER_OS_ERRORS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG,
                  errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ENOTEMPTY}


def os_error_line(error: OSError) -> str:
    """``path: reason`` for an OS error (both paths of a rename; the reason without errno's number)."""
    reason = error.strerror or os.strerror(error.errno) if error.errno else str(error)
    paths = [str(name) for name in (error.filename, error.filename2) if name is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason

# name -> (module:function taking argv, one-line summary), in pipeline order.
COMMANDS: dict[str, tuple[str, str]] = {
    "rationales": ("kard_hf.teacher.commands:rationales", "Sample teacher rationales (endpoint or local model), filter, save a dataset."),
    "build-kb": ("kard_hf.knowledge.commands:build_kb", "Index a passage corpus with BM25 into a knowledge base."),
    "augment": ("kard_hf.knowledge.commands:augment", "Retrieve passages for a rationale dataset into a processed DatasetDict."),
    "train": ("kard_hf.distill.commands:train", "Train a student: ft, rd or kard (knife, knife-teacher: KNIFE)."),
    "train-reranker": ("kard_hf.reranker.commands:train_reranker", "Train the ColBERT-style reranker with KL to BM25-by-rationale."),
    "evaluate": ("kard_hf.eval_commands:evaluate", "Answer a processed test split with a student: predictions, accuracy, table."),
    "predict": ("kard_hf.eval_commands:predict", "Answer new questions (a file or standard input) with a student."),
    "quickstart": ("kard_hf.benchmark.quickstart:quickstart", "Run the whole pipeline on the bundled benchmark and print the results table."),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: kard-hf <command> [--config recipe.yaml] [--key value ...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run 'kard-hf <command> --help' for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default: ``sys.argv[1:]``) to a subcommand; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        print(f"kard-hf {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"kard-hf: error: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, function_name = COMMANDS[name][0].split(":")
    command = getattr(importlib.import_module(module_name), function_name)
    try:
        with command_scope():
            command(rest)
    except KardError as e:
        print(f"kard-hf {name}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in USER_OS_ERRORS:
            raise
        print(f"kard-hf {name}: error: {os_error_line(e)}", file=sys.stderr)
        return 2
    except pickle.UnpicklingError:  # torch.load(weights_only=True) met a pickled object that is not a tensor
        print(f"kard-hf {name}: error: a model's weights file (pytorch_model.bin) pickles objects other than "
              "tensors; kard-hf never unpickles those (they can run code): convert it to safetensors", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kard-hf {name}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
