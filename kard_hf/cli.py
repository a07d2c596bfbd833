"""The ``kard-hf`` command line: one entry point, one subcommand per pipeline step.

Every command is a parser (dataclasses + ``--config recipe.yaml``, see :mod:`kard_hf.parsing`) and a
typed function that takes the parsed dataclasses, as TRL's scripts are; :data:`COMMANDS` names both, and
the modules are imported only when run, so ``kard-hf --help`` is instant. Errors caused by bad input
become one line on stderr and exit code 2. Under ``accelerate launch`` use
``accelerate launch -m kard_hf.cli <command> ...``.
"""

from __future__ import annotations

import errno
import importlib
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

from .version import __version__
from .console import readable_console
from .parsing import option_value, parse_args
from .errors import KardError
from .fileio import command_scope
from .hub.repo import fail_fast_on_the_hub

# OS errors a user causes on input or output (a path that is a file, a read-only folder, a full
# disk, a file over the size limit): one line each, like a KardError. Others are bugs: a traceback.
USER_OS_ERRORS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG,
                  errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ENOTEMPTY}


def os_error_line(error: OSError) -> str:
    """``path: reason`` for an OS error (both paths of a rename; the reason without errno's number)."""
    reason = error.strerror or os.strerror(error.errno) if error.errno else str(error)
    paths = [str(name) for name in (error.filename, error.filename2) if name is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


def unpickled_file(error: BaseException) -> str:
    """The file ``torch.load`` was reading when it refused ``error`` (its frame's ``f``), else "a weights file"."""
    found, frame = "a weights file", error.__traceback__
    while frame is not None:
        code = frame.tb_frame.f_code
        if code.co_name == "load" and Path(code.co_filename).parts[-2:] == ("torch", "serialization.py"):
            file = frame.tb_frame.f_locals.get("f")
            found = str(file) if isinstance(file, str | os.PathLike) else found
        frame = frame.tb_next
    return found


@dataclass(frozen=True)
class Family:
    """The values of a command's ``variant`` option that start with ``prefix`` (``knife`` for ``--method knife*``):
    they get their own parser, called with the value, and their own run function (both ``module:function``)."""

    prefix: str
    parser: str
    run: str


@dataclass(frozen=True)
class Command:
    """A subcommand: ``parser`` and ``run`` are ``module:function``; ``run(*parse_args(parser(), argv))``.

    ``variant`` names an option (``--method``) whose value, from the command line or the recipe, picks one of
    ``families`` (a method family with its own options and trainer); other values go to ``parser`` and ``run``.
    """

    summary: str
    parser: str
    run: str
    variant: str | None = None
    families: tuple[Family, ...] = ()

    def load(self, name: str):
        module, function = name.split(":")
        return getattr(importlib.import_module(module), function)

    def family(self, argv: list[str], recipe: dict | None = None) -> tuple[Family | None, str | None]:
        """The family that ``argv`` (or ``recipe``) picks with the variant option, and the option's value."""
        if not self.variant:
            return None, None
        value = option_value(argv, self.variant) or (recipe.get(self.variant) if recipe else None)
        picked = isinstance(value, str) and next((f for f in self.families if value.startswith(f.prefix)), None)
        return picked or None, value

    def make_parser(self, argv: list[str], recipe: dict | None = None):
        """The parser of the family that ``argv`` (or ``recipe``) picks, or the command's own."""
        family, value = self.family(argv, recipe)
        return self.load(family.parser)(value) if family else self.load(self.parser)()

    def parse(self, argv: list[str], *, recipe: dict | None = None, source: str | None = None) -> tuple:
        """The dataclasses of ``argv`` (and of ``recipe``, a recipe given as a dict, see :func:`parse_args`)."""
        return parse_args(self.make_parser(argv, recipe), argv, recipe=recipe, source=source)

    def __call__(self, argv: list[str], *, recipe: dict | None = None, source: str | None = None):
        """Parse ``argv`` (and ``recipe``) and run; returns what the run function returns."""
        family, _ = self.family(argv, recipe)
        return self.load(family.run if family else self.run)(*self.parse(argv, recipe=recipe, source=source))


# In pipeline order.
COMMANDS: dict[str, Command] = {
    "rationales": Command("Sample teacher rationales (endpoint, local model or registered teacher), filter, save a dataset.",
                          "kard_hf.teacher.commands:make_rationales_parser", "kard_hf.teacher.commands:rationales"),
    "build-kb": Command("Index a passage corpus with BM25 into a knowledge base.",
                        "kard_hf.knowledge.commands:make_build_kb_parser", "kard_hf.knowledge.commands:build_kb"),
    "augment": Command("Retrieve passages for a rationale dataset into a processed DatasetDict.",
                       "kard_hf.knowledge.commands:make_augment_parser", "kard_hf.knowledge.commands:augment"),
    "merge-shards": Command("Join the shards of 'augment --num_shards N' into one processed DatasetDict.",
                            "kard_hf.knowledge.commands:make_merge_shards_parser",
                            "kard_hf.knowledge.commands:merge_shards"),
    "train": Command("Train a student: ft, rd or kard (knife, knife-teacher: KNIFE).",
                     "kard_hf.distill.commands:make_train_parser", "kard_hf.distill.commands:train_student",
                     variant="method", families=(Family("knife", "kard_hf.knife.commands:make_knife_parser",
                                                        "kard_hf.knife.commands:train"),)),
    "train-reranker": Command("Train the ColBERT-style reranker with KL to BM25-by-rationale.",
                              "kard_hf.reranker.commands:make_train_reranker_parser",
                              "kard_hf.reranker.commands:train_reranker"),
    "evaluate": Command("Answer a processed test split with a student: predictions, accuracy, table.",
                        "kard_hf.inference.commands:make_evaluate_parser", "kard_hf.inference.commands:evaluate"),
    "predict": Command("Answer new questions (a file or standard input) with a student.",
                       "kard_hf.inference.commands:make_predict_parser", "kard_hf.inference.commands:predict"),
    "pipeline": Command("Run the whole chain on your data from one YAML; finished steps are skipped on a rerun.",
                        "kard_hf.chain:make_pipeline_parser", "kard_hf.chain:run_pipeline"),
    "quickstart": Command("Run the whole pipeline on the bundled benchmark and print the results table.",
                          "kard_hf.benchmark.quickstart:make_quickstart_parser", "kard_hf.benchmark.quickstart:quickstart"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: kard-hf <command> [--config recipe.yaml] [--key value ...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    lines += ["", "Run 'kard-hf <command> --help' for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default: ``sys.argv[1:]``) to a subcommand; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(f"kard-hf: error: no command given\n\n{_usage()}", file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        print(f"kard-hf {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"kard-hf: error: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    fail_fast_on_the_hub()
    readable_console()
    try:
        with command_scope():
            COMMANDS[name](rest)
    except KardError as e:
        print(f"kard-hf {name}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in USER_OS_ERRORS:
            raise
        print(f"kard-hf {name}: error: {os_error_line(e)}", file=sys.stderr)
        return 2
    except pickle.UnpicklingError as e:  # torch.load(weights_only=True) met a pickled object that is not a tensor
        print(f"kard-hf {name}: error: {unpickled_file(e)} pickles objects other than tensors; kard-hf never "
              "unpickles those (they can run code): convert it to safetensors", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kard-hf {name}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
