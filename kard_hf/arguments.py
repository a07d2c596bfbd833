"""Command arguments: dataclasses filled from a YAML recipe plus ``--key value`` overrides.

Every command declares its arguments as dataclasses (``field(metadata={"help": ...})``,
validated in ``__post_init__``) and calls :func:`parse_args`. ``--config recipe.yaml`` sets
defaults; options given on the command line win. A recipe key that no dataclass knows is an
error, so a typo never passes silently.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Sequence

import yaml
from transformers import HfArgumentParser

from .errors import ConfigError


def load_recipe(path: str | Path) -> dict:
    """Read a YAML recipe into a dict; a missing file or a non-mapping raises :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("recipe not found", file=path)
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}", file=path) from None
    if not isinstance(recipe, dict):
        raise ConfigError("a recipe must be a mapping of option names to values", file=path)
    return recipe


def make_parser(dataclass_types: Sequence[type], *, prog: str | None = None,
                description: str | None = None) -> HfArgumentParser:
    """The parser of a command: its dataclasses' options plus ``--config recipe.yaml``."""
    parser = HfArgumentParser(list(dataclass_types), prog=prog, description=description)
    parser.add_argument("--config", type=str, default=None, help="YAML recipe whose keys set the defaults of the options below.")
    return parser


def option_value(argv: Sequence[str], name: str):
    """The value of ``--name`` in ``argv``, else the recipe's (``--config``) ``name``, else None."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument(f"--{name}", default=None)
    pre.add_argument("--config", default=None)
    known = pre.parse_known_args(list(argv))[0]
    value = getattr(known, name)
    return load_recipe(known.config).get(name) if value is None and known.config else value


def resume_from_checkpoint(value: str | None) -> str | bool | None:
    """``--resume_from_checkpoint`` of every trainer: ``last``/``true`` resume from output_dir's latest checkpoint."""
    return True if isinstance(value, str) and value.lower() in ("last", "true") else value


def parse_args(dataclass_types: Sequence[type] | HfArgumentParser, argv: Sequence[str] | None = None, *,
               prog: str | None = None, description: str | None = None, recipe: dict | None = None,
               source: str | None = None) -> tuple:
    """Parse ``argv`` (``--config FILE`` and ``--key value`` options) into instances of ``dataclass_types``
    (or of the dataclasses of a parser from :func:`make_parser`). ``recipe`` gives the recipe as a dict
    instead (``source`` names it in errors): :mod:`kard_hf.pipeline` passes each step its section."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = (dataclass_types if isinstance(dataclass_types, HfArgumentParser)
              else make_parser(dataclass_types, prog=prog, description=description))
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    given = pre.parse_known_args(argv)[0].config
    config_path = given or source
    if given:
        recipe = load_recipe(given)
    if recipe:
        dests = {action.dest: action for action in parser._actions}
        unknown = sorted(key for key in recipe if key not in dests or key == "config")
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(unknown)} (see --help)", file=config_path)
        parser.set_defaults(**recipe)
        for key in recipe:
            dests[key].required = False  # given by the recipe
    try:
        outputs = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e), file=config_path) from None
    return tuple(out for out in outputs if dataclasses.is_dataclass(out))
