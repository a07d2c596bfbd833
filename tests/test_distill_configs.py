"""Every shipped student recipe, DeepSpeed JSON and accelerate config is valid and says what it is for."""

import json
import os
from pathlib import Path

import pytest
import yaml

from kard_hf.arguments import parse_args
from kard_hf.distill import StudentDataArguments, StudentModelArguments, StudentTrainingArguments

ROOT = Path(__file__).parent.parent
RECIPES = sorted(p for p in (ROOT / "recipes").glob("flan-t5-*/*.yaml") if not p.name.startswith("knife"))
DEEPSPEED = sorted((ROOT / "recipes" / "deepspeed").glob("*.json"))
ACCELERATE = sorted((ROOT / "recipes" / "accelerate_configs").glob("*.yaml"))


@pytest.fixture
def clean_global_state(monkeypatch):
    """Run from the repository root; forget any DeepSpeed config a TrainingArguments registers."""
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    monkeypatch.chdir(ROOT)
    saved = dict(os.environ)
    yield
    unset_hf_deepspeed_config()
    os.environ.clear()
    os.environ.update(saved)


def test_the_expected_recipes_ship():
    names = {f"{p.parent.name}/{p.stem}" for p in RECIPES}
    assert {f"flan-t5-{size}/{method}" for size in ("base", "large", "xl") for method in ("ft", "rd", "kard")} <= names
    assert {"flan-t5-large/kard-lora", "flan-t5-xl/kard-lora"} <= names
    assert {p.stem for p in DEEPSPEED} == {"zero2", "zero3", "zero3_offload"}
    assert {p.stem for p in ACCELERATE} == {"single_gpu", "multi_gpu", "zero2", "zero3", "zero3_offload"}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recipe_parses_and_states_its_command_and_hardware(recipe, clean_global_state):
    header = recipe.read_text().split("\n\n")[0]
    assert "# Hardware:" in header and f"--config recipes/{recipe.parent.name}/{recipe.name}" in header
    model, data, training = parse_args((StudentModelArguments, StudentDataArguments, StudentTrainingArguments),
                                       ["--config", str(recipe.relative_to(ROOT)), "--use_cpu", "true"])
    assert model.model_name_or_path == f"google/{recipe.parent.name}"
    assert training.method == recipe.stem.removesuffix("-lora") and model.use_lora == recipe.stem.endswith("-lora")
    assert training.learning_rate == (3e-4 if model.use_lora else 1e-4) and training.num_train_epochs == 3
    assert training.train_sampling_strategy == "group_by_length" and not training.fp16
    if training.deepspeed:
        assert (ROOT / training.deepspeed).is_file()
        assert "accelerate launch --config_file recipes/accelerate_configs/" in header


@pytest.mark.parametrize("path", DEEPSPEED, ids=lambda p: p.stem)
def test_deepspeed_config_is_valid(path, tiny_t5, clean_global_state):
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers.integrations.deepspeed import HfDeepSpeedConfig, HfTrainerDeepSpeedConfig

    config = json.loads(path.read_text())
    assert config["bf16"] == {"enabled": "auto"} and "fp16" not in config
    assert "scheduler" not in config  # DeepSpeed's WarmupLR would give a constant lr; the Trainer's scheduler runs
    assert config["train_micro_batch_size_per_gpu"] == config["gradient_accumulation_steps"] == "auto"
    zero = config["zero_optimization"]
    assert zero["stage"] == int(path.stem[4])
    if zero["stage"] == 3:
        assert zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert ("offload_param" in zero) == path.stem.endswith("offload")
    HfDeepSpeedConfig(config)
    args = StudentTrainingArguments(output_dir="out", per_device_train_batch_size=4, gradient_accumulation_steps=2,
                                    use_cpu=True, bf16=True, deepspeed=str(path.relative_to(ROOT)))
    filled = HfTrainerDeepSpeedConfig(config)
    filled.trainer_config_process(args)
    filled.trainer_config_finalize(args, tiny_t5, num_training_steps=10)
    validated = DeepSpeedConfig(filled.config)
    assert (validated.train_batch_size, validated.zero_optimization_stage) == (8, zero["stage"])
    assert filled.config["bf16"]["enabled"] is True


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_config_is_valid(path):
    from accelerate.commands.config.config_args import ClusterConfig

    text = path.read_text()
    config = yaml.safe_load(text)
    assert {"compute_environment", "distributed_type", "num_processes", "num_machines", "machine_rank"} <= set(config)
    assert f"accelerate launch --config_file recipes/accelerate_configs/{path.name} -m kard_hf.cli train" in text
    cluster = ClusterConfig.from_yaml_file(path)  # what accelerate launch reads
    if path.stem.startswith("zero"):
        assert cluster.distributed_type == "DEEPSPEED"
        json_path = ROOT / config["deepspeed_config"]["deepspeed_config_file"]
        assert json_path.stem == path.stem and json_path.is_file()
    else:
        assert config["distributed_type"] == ("NO" if path.stem == "single_gpu" else "MULTI_GPU")
