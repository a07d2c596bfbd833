"""The ``kard-hf`` command line: one entry point, one subcommand per pipeline step.

Subcommands are imported only when run, so ``kard-hf --help`` is instant. Each one takes
``--config recipe.yaml`` plus ``--key value`` overrides (see :mod:`kard_hf.arguments`). Errors
caused by bad input become one line on stderr and exit code 2. Under ``accelerate launch`` use
``accelerate launch -m kard_hf.cli <command> ...``.
"""

from __future__ import annotations

import importlib
import sys

from . import __version__
from .errors import KardError

# name -> (module:function taking argv, one-line summary), in pipeline order.
COMMANDS: dict[str, tuple[str, str]] = {
    "rationales": ("kard_hf.teacher.commands:rationales", "Sample teacher rationales (endpoint or local model), filter, save a dataset."),
    "build-kb": ("kard_hf.knowledge.commands:build_kb", "Index a passage corpus with BM25 into a knowledge base."),
    "augment": ("kard_hf.knowledge.commands:augment", "Retrieve passages for a rationale dataset into a processed DatasetDict."),
    "merge-shards": ("kard_hf.knowledge.commands:merge_shards", "Join the shards of 'augment --num_shards N' into one processed DatasetDict."),
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
        command(rest)
    except KardError as e:
        print(f"kard-hf {name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kard-hf {name}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
