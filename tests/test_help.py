"""Help a person can use: ``--config`` first, the command's own options (``--method`` first, then data, model and
budgets), then LoRA, Hub and the Trainer's own options under one heading; one default per option; a ``--no_x``
that says only what it does. Driven through the real ``kard-hf <command> --help``."""

import re

import pytest

from kard_hf.cli import COMMANDS, main

HEADINGS = ["options:", "LoRA:", "Hub:", "Trainer options (transformers' TrainingArguments; see its documentation):"]


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def options(text: str) -> list[tuple[str, str]]:
    """``(option, its help)`` for every option in ``text``, in order."""
    body = "\n".join(line for line in text.split("\n\n", 1)[1].splitlines() if line not in HEADINGS)
    entries = re.split(r"\n(?=  -)", body)
    return [(entry.split()[0].rstrip(","), " ".join(entry.split())) for entry in entries if entry.startswith("  -")]


def test_train_help_shows_method_data_and_model_first_and_names_knife(capsys):
    text = help_text(capsys, "train")
    head = "\n".join(text.splitlines()[:40])
    for option in ("--config", "--method", "--dataset", "--model_name_or_path", "--output_dir", "--max_steps"):
        assert f"  {option} " in head, option
    assert "knife" in head and text.index("--config") < text.index("--method") < text.index("--dataset")
    assert text.splitlines()[0] == "usage: kard-hf train [--config recipe.yaml] [--option value ...]"


@pytest.mark.parametrize("argv", [[name] for name in COMMANDS] + [["train", "--method", "knife"]],
                         ids=lambda argv: "-".join(argv))
def test_help_is_grouped_with_one_default_per_option(argv, capsys):
    text = help_text(capsys, *argv)
    found = [line for line in text.splitlines() if line in HEADINGS]
    assert found == [h for h in HEADINGS if h in found] and found[0] == "options:"  # in this order
    listed = options(text)
    assert [name for name, _ in listed[:2]] == ["-h", "--config"]
    for name, help_ in listed:
        said, _, appended = help_.rpartition("(default: ")
        assert not appended or "default" not in said.lower(), help_  # argparse's "(default: x)" only if not said
        if name.startswith("--no_"):
            assert help_.endswith(f"The same as --{name[5:]} false."), help_
    if "Trainer options" in text:
        trainer = text.split(HEADINGS[-1])[1]
        assert "--gradient_accumulation_steps" in trainer and "--method " not in trainer
        assert "--lora_r" not in trainer and "--push_to_hub" not in trainer
