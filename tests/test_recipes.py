"""A recipe means what the command line means: for every option of every command (and of each
``kard-hf pipeline`` section), the value a YAML recipe gives equals the value the same option gets on the
command line: booleans both ways (``--x false`` and a recipe's ``x: false`` of an option that defaults to
true), optional values and null, lists, choices, numbers and text. And a recipe's own faults (a key given
twice, a syntax error) are one line naming where."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
import yaml

from kard_hf.parsing import recipe_actions
from kard_hf.cli import COMMANDS, main
from kard_hf.errors import InputError, KardError

# The fewest options each command needs to parse (placeholders: parsing reads no file).
BASE = {"rationales": {"output_dir": "out", "dataset": "data", "model": "m"}, "build-kb": {"corpus": "c.jsonl", "output_dir": "out"},
        "augment": {"knowledge_base": "kb", "output_dir": "out", "dataset": "data"},
        "merge-shards": {"shards": ["a", "b"], "output_dir": "out"},
        "train": {"model_name_or_path": "m", "dataset": "data"},
        "train-reranker": {"dataset": "data", "knowledge_base": "kb"},
        "evaluate": {"student": "s", "dataset": "data", "output_dir": "out"}, "predict": {"student": "s"},
        "pipeline": {"output_dir": "out"}, "quickstart": {}}
METHODS = ["ft", "rd", "kard", "knife", "knife-teacher"]
# Options whose parsing reaches outside the arguments (a DeepSpeed or FSDP config file, the accelerator).
SKIP = {"config", "help", "deepspeed", "fsdp_config", "parallelism_config", "accelerator_config", "method"}


def samples(action: argparse.Action) -> list[tuple[list[str], object]]:
    """``(command-line words, YAML value)`` pairs that set ``action`` to a value other than its default (and,
    for a boolean, to each of true and false)."""
    default = action.default
    if action.choices is not None:
        choice = next(c for c in action.choices if c != getattr(default, "value", default))
        return [([str(choice)], choice)]
    kind = action.type
    if getattr(kind, "__name__", "") == "string_to_bool":
        return [(["false"], False), (["true"], True)] + ([(["1"], 1)] if action.nargs == "?" else [])
    if action.nargs == "+":
        item = 3 if kind is int else "a"
        return [([str(item), str(item)], [item, item]), ([str(item)], item)]  # a YAML scalar is a one-item list
    if kind is int:
        return [([str((default or 0) + 2)], (default or 0) + 2), (["7"], 7.0)]  # 7.0: a whole number is an integer
    if kind is float:
        return [([str((default or 0.25) / 2)], (default or 0.25) / 2), (["3"], 3)]
    if kind in (str, Path) or kind is None and action.nargs != 0:
        return [(["word with spaces"], "word with spaces"), (["12"], 12)]  # a number is text for a text option
    return []


def outcome(command: str, argv: list[str], dest: str, parse=None):
    """What ``command`` makes of ``argv``: its dataclasses' fields, or the error's message (without its place).
    A value the option's type refuses is ``refused`` both ways: argparse exits, a recipe names its key."""
    try:
        parsed = parse() if parse else COMMANDS[command].parse(list(map(str, argv)))
    except InputError as e:
        return ("refused", None) if e.field == dest else ("error", e.message)
    except KardError as e:
        return "error", str(e)
    except SystemExit:
        return "refused", None
    return "parsed", {f.name: getattr(d, f.name) for d in parsed for f in dataclasses.fields(d) if f.init}


def words(options: dict) -> list[str]:
    argv = []
    for key, value in options.items():
        argv += [f"--{key}", *(map(str, value) if isinstance(value, list) else [str(value)])]
    return argv


def parsers():
    for command, spec in COMMANDS.items():
        for method in METHODS if spec.variant else [None]:
            yield command, method, spec.make_parser(["--method", method] if method else [])


@pytest.mark.parametrize("command, method, parser", list(parsers()),
                         ids=[f"{c}-{m}" if m else c for c, m, _ in parsers()])
def test_each_option_from_a_recipe_equals_the_command_line(command, method, parser, tmp_path):
    base = {**BASE[command], **({"method": method} if method else {})}
    kinds, checked = set(), 0
    for dest, action in recipe_actions(parser).items():
        if dest in SKIP or dest in base or dest.startswith("no_"):
            continue
        for cli_words, yaml_value in samples(action):
            recipe = tmp_path / "recipe.yaml"
            recipe.write_text(yaml.safe_dump({**base, dest: yaml_value}))
            from_yaml = outcome(command, ["--config", recipe], dest)
            from_cli = outcome(command, [*words(base), f"--{dest}", *cli_words], dest)
            assert from_yaml == from_cli, f"{command} {method or ''} {dest}: {cli_words} vs {yaml_value!r}"
            if from_cli[0] == "parsed":
                checked += 1
                kinds.add("bool" if isinstance(yaml_value, bool) else "choice" if action.choices else
                          "list" if action.nargs == "+" else type(yaml_value).__name__)
        if action.default is None and action.nargs != 0:  # optional: null in a recipe is the default
            recipe = tmp_path / "recipe.yaml"
            recipe.write_text(yaml.safe_dump({**base, dest: None}))
            assert outcome(command, ["--config", recipe], dest) == outcome(command, words(base), dest)
    assert checked and "bool" in kinds or command in ("quickstart", "predict"), (command, kinds)


def test_a_false_in_a_recipe_turns_off_an_option_that_defaults_to_true(tmp_path):
    """What issue 28 met: ``index_title: false`` indexed titles, ``train_passage_encoder: False`` trained them."""
    recipe = tmp_path / "kb.yaml"
    recipe.write_text("corpus: c.jsonl\noutput_dir: out\nindex_title: false\n")
    (kb,) = [d for d in COMMANDS["build-kb"].parse(["--config", str(recipe)]) if hasattr(d, "index_title")]
    assert kb.index_title is False
    recipe.write_text("dataset: data\nknowledge_base: kb\ntrain_passage_encoder: False\nuse_lora: false\n")
    parsed = {k: v for d in COMMANDS["train-reranker"].parse(["--config", str(recipe)]) for k, v in vars(d).items()}
    assert parsed["train_passage_encoder"] is False and parsed["use_lora"] is False
    # The command line still wins over the recipe, both ways.
    parsed = {k: v for d in COMMANDS["train-reranker"].parse(["--config", str(recipe), "--train_passage_encoder"])
              for k, v in vars(d).items()}
    assert parsed["train_passage_encoder"] is True


SECTIONS = {"rationales": "rationales", "build_kb": "build-kb", "augment": "augment", "train": "train",
            "train_reranker": "train-reranker", "evaluate": "evaluate"}


@pytest.mark.parametrize("section", list(SECTIONS) + ["students"])
def test_each_pipeline_section_reads_options_as_its_command(section, tmp_path):
    """A section's option reaches its step as the command line would give it, for every option type."""
    from kard_hf.chain import pipeline_steps

    command = SECTIONS.get(section, "train")
    spec = COMMANDS[command]
    parser = spec.make_parser(["--method", "kard"] if spec.variant else [])
    pipeline = {"output_dir": str(tmp_path / "run"), "build_kb": {"corpus": "c.jsonl"},
                "augment": {"dataset": "data"}, "train": {"model_name_or_path": "m"}, "students": {"kard": {}},
                "train_reranker": {}, "rationales": {"dataset": "data", "model": "m"}}
    checked = 0
    for dest, action in recipe_actions(parser).items():
        if dest in SKIP or dest in ("output_dir", "dataset", "knowledge_base", "corpus", "model_name_or_path", "student",
                                    "split", "name", "reranker", "overwrite_output_dir", "resume_from_checkpoint"):
            continue
        for cli_words, yaml_value in samples(action):
            config = {**pipeline, section: {**pipeline.get(section, {}), dest: yaml_value}}
            if section == "students":
                config["students"] = {"kard": {dest: yaml_value}}
            path = tmp_path / "pipeline.yaml"
            path.write_text(yaml.safe_dump(config))
            (args,) = COMMANDS["pipeline"].parse(["--config", str(path)])
            step = next(s for s in pipeline_steps(args) if s.name.split()[0].replace("-", "_") in
                        (section, "train" if section == "students" else section))
            if step.options.get(dest) is not yaml_value:
                continue  # the pipeline sets this option itself (a table row's retrieval)
            options = {k: v for k, v in step.options.items() if k != dest}
            from_cli = outcome(command, [*words(options), f"--{dest}", *cli_words], dest)
            from_section = outcome(command, [], dest, parse=step.check)
            assert from_section == from_cli, f"{section}.{dest}: {cli_words} vs {yaml_value!r}"
            checked += from_cli[0] == "parsed"
    assert checked > 5


@pytest.mark.parametrize("text, expected", [
    ("corpus: a.jsonl\noutput_dir: out\ncorpus: b.jsonl\n", "key 'corpus' given twice, at lines 1 and 3"),
    ("output_dir: out\ntrain:\n  max_steps: 2\n  max_steps: 3\n", "key 'max_steps' given twice, at lines 3 and 4"),
    ("corpus: [a.jsonl\noutput_dir: out\n", "line 2, column 11: not valid YAML"),
    ("corpus: a.jsonl\n  output_dir: out\n", "line 2, column 13: not valid YAML: mapping values are not allowed here"),
])
@pytest.mark.parametrize("command", ["build-kb", "pipeline"])
def test_a_key_given_twice_or_bad_yaml_is_one_line(text, expected, command, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    assert main([command, "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{recipe}" in err and expected in err, err
