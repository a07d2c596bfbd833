"""Every shipped student recipe, DeepSpeed JSON and accelerate config is valid and says what it is for."""

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from kard_hf.parsing import parse_args
from kard_hf.distill import StudentDataArguments, StudentModelArguments, StudentTrainingArguments
from kard_hf.errors import ConfigError

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
    assert {p.stem for p in ACCELERATE} == {"single_gpu", "multi_gpu", "zero2", "zero3", "zero3_offload",
                                            "zero3_multinode"}


def parse_recipe(recipe: Path):
    """``(header, model arguments, training arguments)`` of a student recipe, whose header names its hardware and command."""
    header = recipe.read_text().split("\n\n")[0]
    assert "# Hardware:" in header and f"--config recipes/{recipe.parent.name}/{recipe.name}" in header
    model, _, training = parse_args((StudentModelArguments, StudentDataArguments, StudentTrainingArguments),
                                    ["--config", str(recipe.relative_to(ROOT)), "--use_cpu", "true"])
    return header, model, training


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recipe_parses_and_states_its_command_and_hardware(recipe, clean_global_state):
    header, model, training = parse_recipe(recipe)
    assert model.model_name_or_path == f"google/{recipe.parent.name}"
    assert training.method == recipe.stem.removesuffix("-lora") and model.use_lora == recipe.stem.endswith("-lora")
    assert training.learning_rate == (3e-4 if model.use_lora else 1e-4) and training.num_train_epochs == 3
    assert training.train_sampling_strategy == "group_by_length" and not training.fp16
    # what uses the hardware: resolved for this CPU run as before, no DDP search for unused parameters, compile opt-in
    assert training.optim == "adamw_torch" and training.dataloader_num_workers == 0 and training.tf32 is None
    assert training.ddp_find_unused_parameters is False and not training.torch_compile
    assert "torch_compile" in recipe.read_text()  # the opt-in is shown
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
    assert re.search(rf"accelerate launch --config_file recipes/accelerate_configs/{path.name}( --machine_rank \d)? "
                     "-m kard_hf.cli train", text)
    cluster = ClusterConfig.from_yaml_file(path)  # what accelerate launch reads
    if path.stem.startswith("zero"):
        assert cluster.distributed_type == "DEEPSPEED"
        json_path = ROOT / config["deepspeed_config"]["deepspeed_config_file"]
        assert json_path.stem == path.stem.removesuffix("_multinode") and json_path.is_file()
    else:
        assert config["distributed_type"] == ("NO" if path.stem == "single_gpu" else "MULTI_GPU")


def launch_commands(text: str) -> list[str]:
    """The ``accelerate launch`` command of each machine, in a README or config (``Machine N: ...``)."""
    return re.findall(r"Machine \d: `?(accelerate launch [^\n`]+)", text)


def test_multinode_config_launches_8_processes_on_each_of_2_machines(clean_global_state):
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    path = ROOT / "recipes" / "accelerate_configs" / "zero3_multinode.yaml"
    commands = launch_commands(path.read_text())
    assert len(commands) == 2 and commands == launch_commands((ROOT / "recipes" / "README.md").read_text())
    endpoints = set()
    for rank, command in enumerate(commands):
        argv = command.split()[2:]
        assert argv[argv.index("--machine_rank") + 1] == str(rank)
        # what accelerate launch does up to starting torchrun on this machine
        args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        cmd, env = prepare_deepspeed_cmd_env(args)
        assert cmd is None  # the standard launcher: torchrun on each machine, no ssh/pdsh from machine 0
        assert (args.nproc_per_node, args.nnodes, args.node_rank) == ("8", "2", rank)
        assert args.module and args.training_script == "kard_hf.cli" and args.training_script_args[0] == "train"
        assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_DEEPSPEED_ZERO3_INIT"] == "true"
        assert env["ACCELERATE_DEEPSPEED_CONFIG_FILE"] == "recipes/deepspeed/zero3.json"
        endpoints.add(args.rdzv_endpoint)
        recipe = args.training_script_args[args.training_script_args.index("--config") + 1]
        assert (ROOT / recipe).is_file() and "--deepspeed recipes/deepspeed/zero3.json" in command
    assert len(endpoints) == 1  # both machines meet at machine 0's address


def test_hardware_defaults_switch_on_what_a_gpu_offers_and_leave_a_cpu_as_it_was(monkeypatch):
    from kard_hf import hardware

    on_cpu = hardware.HardwareDefaults()
    on_cpu.resolve_hardware_defaults()
    assert (on_cpu.optim, on_cpu.tf32, on_cpu.dataloader_num_workers) == ("adamw_torch", None, 0)
    monkeypatch.setattr(hardware, "cuda_in_use", lambda use_cpu=False: not use_cpu)
    monkeypatch.setattr(hardware, "tf32_available", lambda: True)
    on_ampere = hardware.HardwareDefaults()
    on_ampere.resolve_hardware_defaults()
    assert (on_ampere.optim, on_ampere.tf32, on_ampere.dataloader_num_workers) == ("adamw_torch_fused", True, 2)
    monkeypatch.setattr(hardware, "tf32_available", lambda: False)  # e.g. a T4 or V100
    older = hardware.HardwareDefaults()
    older.resolve_hardware_defaults()
    assert older.tf32 is None and older.optim == "adamw_torch_fused"
    chosen = hardware.HardwareDefaults(optim="adafactor", tf32=False, dataloader_num_workers=0)
    chosen.resolve_hardware_defaults()
    assert (chosen.optim, chosen.tf32, chosen.dataloader_num_workers) == ("adafactor", False, 0)
    assert hardware.HardwareDefaults().ddp_find_unused_parameters is False


def test_sampled_passages_refuse_persistent_workers(tmp_path):
    with pytest.raises(ConfigError, match="dataloader_persistent_workers"):
        StudentTrainingArguments(output_dir=str(tmp_path), sample_passages=True, dataloader_num_workers=2,
                                 dataloader_persistent_workers=True, use_cpu=True)


@pytest.mark.parametrize("student", ["tiny_t5", "tiny_t5_lora", "tiny_causal"])
def test_a_student_step_uses_every_trainable_parameter(student, request, tmp_path):
    """What ddp_find_unused_parameters=False relies on: DDP fails a step that leaves a trainable parameter unused."""
    import copy

    from datasets import Dataset

    from distill_fixtures import train_rows
    from kard_hf.distill import StudentTrainer

    model = copy.deepcopy(request.getfixturevalue(student.removesuffix("_lora"))).train()
    tokenizer = request.getfixturevalue("causal_tokenizer" if student == "tiny_causal" else "t5_tokenizer")
    if student.endswith("_lora"):
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q", "v"]))
    args = StudentTrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, use_cpu=True,
                                    report_to="none", max_source_length=64, max_target_length=32)
    trainer = StudentTrainer(model=model, args=args, train_dataset=Dataset.from_list(train_rows()),
                             processing_class=tokenizer)
    trainer.compute_loss(model, next(iter(trainer.get_train_dataloader()))).backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused and any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("use_lora", [False, True])
def test_a_reranker_step_uses_every_trainable_parameter(use_lora, bert_tokenizer, tiny_bert_path, tmp_path):
    import datasets

    from kard_hf.knowledge import KnowledgeBase
    from kard_hf.knowledge.augment import add_reranker_pools
    from kard_hf.reranker import KardRerankerModel
    from kard_hf.reranker.candidates import build_candidates
    from kard_hf.reranker.commands import RerankerModelArguments
    from kard_hf.reranker.trainer import RerankerTrainer, RerankerTrainingArguments, apply_lora
    from reranker_fixtures import synthetic_world

    world = synthetic_world(num_entities=12, num_test=2)
    kb = KnowledgeBase.build(world["corpus"], show_progress=False)
    rows = build_candidates(add_reranker_pools(datasets.Dataset.from_list(world["train"]), "train", kb), split="train")
    model = KardRerankerModel.from_backbone(str(tiny_bert_path), projection_dim=16)
    args = RerankerTrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, use_cpu=True,
                                     report_to="none", query_max_length=24, passage_max_length=32)
    if use_lora:
        model = apply_lora(model, RerankerModelArguments(use_lora=True))
    trainer = RerankerTrainer(model=model, args=args, train_dataset=rows, processing_class=bert_tokenizer)
    model.train()
    trainer.compute_loss(model, next(iter(trainer.get_train_dataloader()))).backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused


@pytest.mark.slow
def test_two_rank_cli_training_searches_no_unused_parameters(tiny_t5_path, tmp_path):
    """``kard-hf train`` on 2 CPU ranks with the defaults: it trains, and DDP no longer warns about its search."""
    import subprocess
    import sys

    from distill_fixtures import save_processed

    processed = save_processed(tmp_path / "processed")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29731",
               "-m", "kard_hf.cli", "train", "--model_name_or_path", str(tiny_t5_path), "--dataset", str(processed),
               "--output_dir", str(tmp_path / "out"), "--max_steps", "2", "--per_device_train_batch_size", "2",
               "--save_strategy", "no", "--disable_tqdm", "true", "--use_cpu", "true"]
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert "did not find any unused parameters" not in done.stderr


# ---- decoder-only students of today ----------------------------------------------------------------------------

# recipe folder -> (Hub id, model_type, the recipes it ships)
DECODER_RECIPES = {
    "qwen2.5-0.5b-instruct": ("Qwen/Qwen2.5-0.5B-Instruct", "qwen2", {"ft", "rd", "kard"}),
    "qwen3-1.7b": ("Qwen/Qwen3-1.7B", "qwen3", {"kard", "kard-lora"}),
    "llama-3.2-1b-instruct": ("meta-llama/Llama-3.2-1B-Instruct", "llama", {"kard"}),
    "smollm2-360m-instruct": ("HuggingFaceTB/SmolLM2-360M-Instruct", "llama", {"kard"}),
}
DECODER_RECIPE_FILES = [ROOT / "recipes" / folder / f"{stem}.yaml"
                        for folder, (_, _, stems) in DECODER_RECIPES.items() for stem in sorted(stems)]


def test_the_decoder_only_recipes_ship():
    for folder, (_, _, stems) in DECODER_RECIPES.items():
        assert {p.stem for p in (ROOT / "recipes" / folder).glob("*.yaml")} == stems


@pytest.mark.parametrize("recipe", DECODER_RECIPE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_decoder_only_recipe_packs_in_bf16_with_flash_attention_and_peft_targets(recipe, clean_global_state):
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    from kard_hf.distill.modeling import attention_implementation

    header, model, training = parse_recipe(recipe)
    hub_id, model_type, _ = DECODER_RECIPES[recipe.parent.name]
    assert model.model_name_or_path == hub_id and training.method == recipe.stem.removesuffix("-lora")
    assert training.bf16 and not training.fp16 and training.padding_free and training.prompt_format == "auto"
    assert training.train_sampling_strategy == "random"  # length grouping is for the padded path
    assert model.attn_implementation == "flash_attention_2"
    assert attention_implementation(model.attn_implementation) == "sdpa"  # no flash-attn on this CPU machine
    assert model.use_lora == recipe.stem.endswith("-lora") and model.lora_target_modules is None
    if model.use_lora:  # peft's own map names the targets
        assert TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING[model_type] == ["q_proj", "v_proj"]
    if training.deepspeed:
        assert (ROOT / training.deepspeed).is_file()
        assert "accelerate launch --config_file recipes/accelerate_configs/zero3.yaml" in header


def test_lora_on_a_qwen2_student_takes_peft_targets(causal_tokenizer):
    from decoder_fixtures import chat_tokenizer, tiny_decoder
    from kard_hf.distill import add_lora

    model = add_lora(tiny_decoder(chat_tokenizer(causal_tokenizer, "qwen2"), "qwen2"),
                     StudentModelArguments(model_name_or_path="x", use_lora=True))
    assert sorted(model.peft_config["default"].target_modules) == ["q_proj", "v_proj"]
