"""Cards state what the run did: the model class it trained, the steps and epochs it ran (not the
``num_train_epochs`` asked for, when ``max_steps`` stopped it), whether it read passages; and no raw
Python object or empty code span reaches a card. Driven through ``kard-hf train`` (FT with max_steps,
KARD, KNIFE on BART); tests/test_quickstart.py applies :func:`card_faults` to every quickstart card."""

import json
import re

import pytest

from distill_fixtures import save_processed
from kard_hf.cli import main
from knife_fixtures import save_processed as save_knife_processed

FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def card_faults(text: str) -> list[str]:
    """What a card must never show, outside its code blocks: an empty code span, a Python dict, list or None
    repr, a boolean wrapped in a list."""
    prose = FENCE.sub("", text.split("\n---\n", 1)[-1])  # the YAML header holds lists by design
    patterns = {"empty code span": r"(?<!`)``(?!`)|` +`", "Python dict": r"\{'", "Python list of text": r"\['",
                "wrapped boolean": r"\[(True|False)\]", "repr": r"<\w+[ .][^>]*object at"}
    return [f"{name}: {match.group(0)!r}" for name, pattern in patterns.items()
            for match in [re.search(pattern, prose)] if match]


def test_card_faults_finds_what_it_looks_for():
    assert card_faults("---\nx\n---\nPrompt: instruction ``, t") == ["empty code span: '``'"]
    assert card_faults("---\nx\n---\n| teacher | {'kind': 'x'} | title indexed: [False]") == [
        "Python dict: \"{'\"", "wrapped boolean: '[False]'"]
    assert card_faults("---\ntags: ['a']\n---\n```python\nx = ['a']\n```\nfine `code`") == []


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    return save_processed(tmp_path_factory.mktemp("processed") / "medqa")


def _train(model, dataset, out, *extra):
    argv = ["train", "--model_name_or_path", str(model), "--dataset", str(dataset), "--output_dir", str(out),
            "--per_device_train_batch_size", "4", "--save_strategy", "no", "--disable_tqdm", "true",
            "--report_to", "none", "--use_cpu", "true", *extra]
    assert main(argv) == 0
    card = (out / "README.md").read_text()
    state = json.loads((out / "trainer_state.json").read_text()) if (out / "trainer_state.json").is_file() else None
    return card, state


def test_an_ft_card_that_stopped_at_max_steps_says_the_steps_it_ran_and_reads_no_passages(tiny_t5_path, processed,
                                                                                        tmp_path):
    card, state = _train(tiny_t5_path, processed, tmp_path / "ft", "--method", "ft", "--max_steps", "3",
                         "--num_train_epochs", "3")
    assert state["global_step"] == 3 and state["epoch"] < 3
    assert "- steps: 3\n" in card and f"- epochs: {round(state['epoch'], 2)}\n" in card
    assert "num_train_epochs" not in card and "3.0" not in card
    # FT reads no passage: no knowledge base, no passage budget
    about = card.split("## Citation")[0]
    assert "sha256:fixture-corpus" not in about and "passage" not in about.lower(), about
    assert "The student reads the question and writes the answer letter." in card
    assert card_faults(card) == []


def test_a_kard_card_names_its_knowledge_base_and_passages(tiny_t5_path, processed, tmp_path):
    card, state = _train(tiny_t5_path, processed, tmp_path / "kard", "--method", "kard", "--max_steps", "2",
                         "--num_passages", "1")
    assert "sha256:fixture-corpus" in card and "(passages are cut first)" in card and "k = 1 passage(s)" in card
    assert f"- steps: {state['global_step']}\n" in card and card_faults(card) == []


def test_a_knife_bart_card_names_bart(tiny_bart_path, fixtures_dir, tmp_path):
    data = save_knife_processed(fixtures_dir, tmp_path / "processed")
    card, _ = _train(tiny_bart_path, data, tmp_path / "teacher", "--method", "knife-teacher", "--max_steps", "2")
    assert "a BART encoder-decoder\n(`KnifeBartForMultipleChoice`, model type `knife_bart`)" in card
    assert "T5" not in card and "knife_t5" not in card
    assert "from kard_hf.knife import KnifeBartForMultipleChoice" in card and "- Training: 2 steps (" in card
    assert card_faults(card) == []
