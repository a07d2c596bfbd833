"""A tiny student trained through the real Trainer path with DeepSpeed ZeRO-2 and ZeRO-3 on CPU.

Each run is a subprocess (DeepSpeed keeps process-global state). Marked slow: the first run on a
machine JIT-compiles DeepSpeed's shared-memory comm op (~50 s idle, minutes on a loaded 2-core VM);
afterwards each run takes ~35 s here.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distill_fixtures import save_processed

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_with_deepspeed(config: str, model_path, processed, output_dir) -> dict:
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port()), "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    argv = [sys.executable, "-m", "kard_hf.cli", "train", "--model_name_or_path", str(model_path), "--dataset",
            str(processed), "--output_dir", str(output_dir), "--max_steps", "2", "--per_device_train_batch_size", "4",
            "--logging_steps", "1", "--save_strategy", "no", "--disable_tqdm", "true",
            "--deepspeed", f"recipes/deepspeed/{config}.json"]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((Path(output_dir) / "trainer_state.json").read_text())


@pytest.mark.parametrize("config", ["zero2", "zero3"])
def test_deepspeed_cpu_run_saves_a_loadable_student(config, tiny_t5_path, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForSeq2SeqLM

    processed = save_processed(tmp_path / "processed")
    state = train_with_deepspeed(config, tiny_t5_path, processed, tmp_path / "out")
    assert state["global_step"] == 2 and len([e for e in state["log_history"] if "loss" in e]) == 2
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "out")  # ZeRO-3: the gathered 16-bit weights
    initial = load_file(tiny_t5_path / "model.safetensors")
    trained = model.state_dict()
    assert all(trained[k].shape == v.shape for k, v in initial.items())
    assert any(not torch.equal(trained[k], v) for k, v in initial.items())
    assert "knowledge-augmented reasoning distillation" in (tmp_path / "out" / "README.md").read_text()
