"""Exact resume (issue 24): a student whose run stopped mid-epoch and resumed with ``--resume_from_checkpoint
last`` ends with the weights of the uninterrupted run, under ``group_by_length`` (the students' default) too.

The stopped run is the uninterrupted run's folder cut back to its first checkpoint: what a ``kill -9``
after that checkpoint leaves (training is deterministic, so the killed run had written the same files).
"""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file

from test_faults import cli, one_error_line
from test_knowledge_augment import inputs, uninterrupted  # noqa: F401  (fixtures: a 180-row processed dataset)

KNIFE = ["--per_device_train_batch_size", 2, "--max_steps", 25, "--save_strategy", "steps", "--save_steps", 5,
         "--save_total_limit", 10, "--seed", 7, "--disable_tqdm", "true", "--report_to", "none"]
COMMON = [*KNIFE, "--max_train_samples", 20, "--max_target_length", 32]  # 10 steps an epoch


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def _train_stop_resume(tmp_path, argv):
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    result = cli(*argv, "--output_dir", whole)
    assert result.returncode == 0, result.stderr[-3000:]
    stopped.mkdir()
    shutil.copytree(whole / "checkpoint-5", stopped / "checkpoint-5")  # 5 of the epoch's 10 steps
    resumed = cli(*argv, "--output_dir", stopped, "--resume_from_checkpoint", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected, got = _weights(whole), _weights(stopped)
    differ = [name for name in expected if not torch.equal(expected[name], got[name])]
    assert not differ, differ
    return whole


@pytest.mark.parametrize("method", ["rd", "kard"])
def test_a_student_resumed_mid_epoch_ends_with_the_uninterrupted_weights(method, inputs, uninterrupted,  # noqa: F811
                                                                         tiny_t5_path, tmp_path):
    _train_stop_resume(tmp_path, ["train", "--method", method, "--model_name_or_path", tiny_t5_path, "--dataset",
                                  inputs / "whole", "--num_passages", 1, *COMMON])


def test_knife_resumed_mid_epoch_ends_with_the_uninterrupted_weights(inputs, uninterrupted,  # noqa: F811
                                                                     tiny_t5_path, tmp_path):
    (tmp_path / "teacher").mkdir()
    (tmp_path / "student").mkdir()
    teacher = _train_stop_resume(tmp_path / "teacher", ["train", "--method", "knife-teacher", "--model_name_or_path",
                                                        tiny_t5_path, "--dataset", inputs / "whole", *KNIFE])
    _train_stop_resume(tmp_path / "student", ["train", "--method", "knife", "--model_name_or_path", tiny_t5_path,
                                              "--teacher_model_name_or_path", teacher, "--dataset", inputs / "whole",
                                              *KNIFE])


def test_the_length_grouped_order_never_reads_the_global_random_state(inputs, uninterrupted,  # noqa: F811
                                                                      tiny_t5_path, tmp_path):
    """Why the resumes above are exact: a checkpoint restores the global random state at its mid-epoch value,
    so an order drawn from it would differ from the uninterrupted run's."""
    from kard_hf.cli import COMMANDS
    from kard_hf.distill.commands import load_splits
    from kard_hf.distill.modeling import load_student
    from kard_hf.distill.trainer import StudentTrainer

    model_args, data_args, args = COMMANDS["train"].parse(
        ["--method", "rd", "--model_name_or_path", str(tiny_t5_path), "--dataset", str(inputs / "whole"),
         "--per_device_train_batch_size", "1", "--output_dir", str(tmp_path / "unused"), "--report_to", "none"])
    train, _, _ = load_splits(data_args)
    model, tokenizer = load_student(model_args, args)
    trainer = StudentTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
    orders = []
    for state in (0, 1):  # the batches the Trainer feeds, in order, under two global random states
        torch.manual_seed(state)
        orders.append([batch["input_ids"].tolist() for batch in trainer.get_train_dataloader()])
    assert orders[0] == orders[1] and len({str(ids) for ids in orders[0]}) > 1


def test_a_pickled_rng_state_is_refused_naming_that_file(tmp_path, inputs, uninterrupted, tiny_t5_path):  # noqa: F811
    from argparse import Namespace

    argv = ["train", "--method", "rd", "--model_name_or_path", tiny_t5_path, "--dataset", inputs / "whole", *COMMON,
            "--output_dir", tmp_path / "run"]
    argv[argv.index("--max_steps") + 1] = 6  # the checkpoint at step 5 is resumed from, its RNG state read
    assert cli(*argv).returncode == 0
    torch.save({"python": Namespace(state=1)}, tmp_path / "run" / "checkpoint-5" / "rng_state.pth")
    result = cli(*argv, "--resume_from_checkpoint", tmp_path / "run" / "checkpoint-5")
    one_error_line(result, "checkpoint-5/rng_state.pth pickles objects other than tensors", "never unpickles")
