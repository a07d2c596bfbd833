"""Command arguments: dataclasses filled from a YAML recipe plus ``--key value`` overrides.

Every command declares its arguments as dataclasses (``field(metadata={"help": ...})``,
validated in ``__post_init__``) and calls :func:`parse_args`. ``--config recipe.yaml`` sets
defaults; options given on the command line win. A recipe value means what the same value means on the
command line (each key sets its ``--key`` option, converted from the word the command line would get: a
``false`` turns off an option that defaults to true); a key given twice is an error. A recipe key that no dataclass knows, and a
value of the wrong type (a float for an integer option, a word for a number, ``yes`` for a
text option), is a one-line :class:`ConfigError` naming the recipe and the key, so a typo never
passes silently.
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


class _RecipeLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice in one mapping (YAML keeps the last one, silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"key '{key}' given twice, at lines {seen[key]} and {line}", file=self.name)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str, path: str | Path):
    """``text`` (the YAML file ``path``) parsed; a syntax error or a duplicated key is a one-line
    :class:`ConfigError` naming the line."""
    loader = _RecipeLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
        problem = " ".join(part for part in (getattr(e, "context", None), getattr(e, "problem", None)) if part)
        raise ConfigError(f"not valid YAML: {problem or str(e).splitlines()[0]}", file=path, row=where) from None
    finally:
        loader.dispose()


def load_recipe(path: str | Path) -> dict:
    """Read a YAML recipe into a dict; a missing file, bad YAML or a non-mapping raises :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("recipe not found", file=path)
    recipe = read_yaml(path.read_text(encoding="utf-8"), path) or {}
    if not isinstance(recipe, dict):
        raise ConfigError("a recipe must be a mapping of option names to values", file=path)
    return recipe


_TYPE_NAMES = {int: "an integer", float: "a number", str: "text"}


def _recipe_scalar(action: argparse.Action, value):
    """``value`` converted as the command line would convert it; TypeError/ValueError when it does not fit."""
    convert = action.type
    if isinstance(value, bool) and convert in (int, float, str):
        raise TypeError(f"expected {_TYPE_NAMES[convert]}, got {value!r} (YAML reads yes/no/on/off as booleans; "
                        "quote it if you mean text)")
    if convert is int and isinstance(value, float):
        if not value.is_integer():
            raise TypeError(f"expected an integer, got {value!r}")
        value = int(value)
    elif convert is not None and isinstance(value, (str, int, float)):
        value = convert(str(value))  # the word the command line would get, converted as it converts it
    elif convert in (int, float) and not isinstance(value, (int, float)) or convert is str and not isinstance(value, str):
        raise TypeError(f"expected {_TYPE_NAMES[convert]}, got {type(value).__name__} {value!r}")
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"expected one of {', '.join(map(str, action.choices))}, got {value!r}")
    return value


def recipe_value(action: argparse.Action, key: str, value, recipe_path):
    """A recipe value checked and converted for its option; a mismatch is a :class:`ConfigError` naming the key."""
    if value is None:
        return None
    try:
        if action.nargs in ("+", "*") or isinstance(action.nargs, int):
            items = value if isinstance(value, list) else [value]
            return [_recipe_scalar(action, item) for item in items]
        if isinstance(value, (list, dict)):  # options such as report_to or lr_scheduler_kwargs take these whole
            return value
        return _recipe_scalar(action, value)
    except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
        message = str(e) if isinstance(e, TypeError) or "expected" in str(e) else f"invalid value {value!r} ({e})"
        raise ConfigError(message, file=recipe_path, field=key) from None


def recipe_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Each destination's ``--dest`` action, which a recipe key sets. A boolean ``--x`` that defaults to true
    also has a ``--no_x`` action (``store_false``, no value) on the same destination; a recipe's ``x: false``
    is converted by ``--x``, as on the command line, never by ``--no_x``."""
    actions = {}
    for action in parser._actions:
        if f"--{action.dest}" in action.option_strings or action.dest not in actions:
            actions[action.dest] = action
    return actions


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's help with each option's default said once: not added where the help already says it, nor for
    a default of None or a flag that takes no value."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, argparse.SUPPRESS) or action.nargs == 0:
            return text
        return super()._get_help_string(action)


TRAINER_GROUP = "Trainer options (transformers' TrainingArguments; see its documentation)"
HUB_OPTIONS = ("push_to_hub", "hub_")
# The Trainer options a task sets most (where it writes, its budgets), kept with the command's own.
TASK_TRAINER_OPTIONS = ("output_dir", "overwrite_output_dir", "max_steps", "num_train_epochs", "learning_rate",
                        "per_device_train_batch_size", "seed", "use_cpu")


def _home(dtype: type, name: str) -> type:
    """The class of ``dtype``'s MRO that declares the field ``name`` (a subclass that redeclares it, to change its
    default or help, is its home)."""
    return next(cls for cls in dtype.__mro__ if name in vars(cls).get("__annotations__", {}))


def _concern(dtype: type, name: str) -> str:
    """The help heading of option ``name`` of ``dtype``: the command's own, LoRA, Hub, or the Trainer's."""
    home = _home(dtype, name)
    if name in TASK_TRAINER_OPTIONS:
        return "options"
    if name.startswith(HUB_OPTIONS):
        return "Hub"
    if home.__name__ == "LoraArguments":
        return "LoRA"
    if home.__module__.startswith("transformers.") or home.__name__ == "HardwareDefaults":
        return TRAINER_GROUP
    return "options"


def group_help(parser: argparse.ArgumentParser, dataclass_types: Sequence[type]) -> None:
    """Arrange the help by concern: ``--config`` first, then the command's own options (``--method`` first), then
    LoRA, then Hub, then the Trainer's own options under one heading; a ``--no_x`` says only what it does."""
    concern = {f.name: _concern(dtype, f.name) for dtype in dataclass_types for f in dataclasses.fields(dtype)}
    groups = {title: parser.add_argument_group(title) for title in ("LoRA", "Hub", TRAINER_GROUP)}
    own = parser._optionals
    own.title = "options"
    for action in list(own._group_actions):
        if isinstance(action, argparse._StoreFalseAction) and action.option_strings[0].startswith("--no_"):
            action.help = f"The same as --{action.dest} false."
        title = concern.get(action.dest, "options")
        if title != "options":
            own._group_actions.remove(action)
            groups[title]._group_actions.append(action)
    first = [a for a in own._group_actions if a.dest in ("help", "config")] + [
        a for a in own._group_actions if a.dest == "method"]
    own._group_actions[:] = first + [a for a in own._group_actions if a not in first]
    parser._action_groups[:] = [group for group in parser._action_groups if group._group_actions]


def make_parser(dataclass_types: Sequence[type], *, prog: str | None = None,
                description: str | None = None) -> HfArgumentParser:
    """The parser of a command: its dataclasses' options plus ``--config recipe.yaml``, its help grouped by concern
    (see :func:`group_help`) under a one-line usage."""
    parser = HfArgumentParser(list(dataclass_types), prog=prog, description=description, formatter_class=HelpFormatter,
                              usage=f"{prog or '%(prog)s'} [--config recipe.yaml] [--option value ...]")
    parser.add_argument("--config", type=str, default=None,
                        help="YAML recipe whose keys set the options (as --key value would); options given on the "
                             "command line win.")
    group_help(parser, dataclass_types)
    return parser


def option_value(argv: Sequence[str], name: str):
    """The value of ``--name`` in ``argv``, else the recipe's (``--config``) ``name``, else None."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument(f"--{name}", default=None)
    pre.add_argument("--config", default=None)
    known = pre.parse_known_args(list(argv))[0]
    value = getattr(known, name)
    return load_recipe(known.config).get(name) if value is None and known.config else value


def parse_args(dataclass_types: Sequence[type] | HfArgumentParser, argv: Sequence[str] | None = None, *,
               prog: str | None = None, description: str | None = None, recipe: dict | None = None,
               source: str | None = None) -> tuple:
    """Parse ``argv`` (``--config FILE`` and ``--key value`` options) into instances of ``dataclass_types``
    (or of the dataclasses of a parser from :func:`make_parser`). ``recipe`` gives the recipe as a dict
    instead (``source`` names it in errors): :mod:`kard_hf.chain` passes each step its section."""
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
        dests = recipe_actions(parser)
        unknown = sorted(key for key in recipe if key not in dests or key == "config")
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(unknown)} (see --help)", file=config_path)
        parser.set_defaults(**{key: recipe_value(dests[key], key, value, config_path) for key, value in recipe.items()})
        for key in recipe:
            dests[key].required = False  # given by the recipe
    try:
        outputs = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e), file=config_path) from None
    return tuple(out for out in outputs if dataclasses.is_dataclass(out))
