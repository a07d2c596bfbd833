"""What two trainer defaults are worth, measured on a CPU: DDP's unused-parameter search and data-loader workers.

    python benchmarks/bench_trainer_options.py [--steps 6] [--repeats 3]

- **ddp_find_unused_parameters** true (transformers' default for a model without activation checkpointing)
  against false (kard_hf's): 2 CPU ranks (``torchrun --nproc_per_node 2``, gloo, one thread each) train the
  same small T5 student on the same KARD-length rows; the seconds of the steps after a warm-up step, rank 0.
- **data-loader workers**: how long the StudentDataCollator takes to tokenize and pad one batch of 16
  KARD-length rows on one core. Without workers the training loop waits that long before every step;
  with workers it overlaps the step.

Each side runs ``--repeats`` times, interleaved; medians (min-max).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

from harness import add_repeats_argument, cell, interleaved

WORKER_SHAPE = dict(d_model=256, d_kv=64, d_ff=1024, num_layers=4, num_heads=4)


def worker(find_unused: bool, steps: int, batch_size: int) -> None:
    """One rank of the DDP run: train, then rank 0 prints the wall-clock and CPU seconds of the steps after the first."""
    import torch
    from bench_gpu import Meter
    from bench_student_training import bench_tokenizer, synthetic_rows
    from datasets import Dataset
    from transformers import T5Config, T5ForConditionalGeneration

    from kard_hf.distill import StudentTrainer, StudentTrainingArguments

    rows = synthetic_rows((steps + 1) * batch_size * 2)  # 2 ranks, one epoch
    tokenizer = bench_tokenizer(rows)
    config = T5Config(vocab_size=len(tokenizer), dropout_rate=0.0, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id, **WORKER_SHAPE)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        args = StudentTrainingArguments(output_dir=tmp, per_device_train_batch_size=batch_size, max_steps=steps + 1,
                                        ddp_find_unused_parameters=find_unused, use_cpu=True, report_to="none",
                                        save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0)
        trainer = StudentTrainer(model=T5ForConditionalGeneration(config), args=args,
                                 train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        meter = Meter(config, warmup=1)
        trainer.add_callback(meter)
        trainer.train()
    if int(os.environ.get("RANK", 0)) == 0:
        print(f"SECONDS {meter.window.seconds} CPU {meter.window.cpu_seconds} WORLD {args.world_size}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ddp_run(find_unused: bool, steps: int, batch_size: int) -> tuple[float, float]:
    """Wall-clock and rank 0's CPU seconds of ``steps`` DDP steps on 2 CPU ranks (a fresh torchrun each time)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
               __file__, "--worker", "--find_unused", str(find_unused).lower(), "--steps", str(steps),
               "--batch_size", str(batch_size)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [
        os.path.dirname(os.path.abspath(__file__)), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    found = re.findall(r"^SECONDS (\S+) CPU (\S+) WORLD (\d+)$", done.stdout, flags=re.M)
    if done.returncode or not found or found[-1][2] != "2":
        raise RuntimeError(f"the DDP run failed or was not 2 ranks:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return float(found[-1][0]), float(found[-1][1])


def collation_seconds(batches: int = 20, batch_size: int = 16) -> float:
    """Seconds the StudentDataCollator takes for one batch of KARD-length rows (mean of ``batches``)."""
    import torch
    from bench_student_training import bench_tokenizer, synthetic_rows

    from kard_hf.distill import StudentDataCollator

    torch.set_num_threads(1)
    rows = synthetic_rows(batches * batch_size, seed=1)
    collator = StudentDataCollator(bench_tokenizer(rows), method="kard", max_source_length=512, max_target_length=256)
    start = time.perf_counter()
    for n in range(batches):
        collator(rows[n * batch_size:(n + 1) * batch_size])
    return (time.perf_counter() - start) / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed DDP steps per run (after one warm-up step)")
    parser.add_argument("--batch_size", type=int, default=4, help="rows per rank and step")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--find_unused", choices=["true", "false"], help=argparse.SUPPRESS)
    add_repeats_argument(parser)
    options = parser.parse_args()
    if options.worker:
        worker(options.find_unused == "true", options.steps, options.batch_size)
        return
    ddp = interleaved({"true": lambda: ddp_run(True, options.steps, options.batch_size),
                       "false": lambda: ddp_run(False, options.steps, options.batch_size)}, options.repeats)
    ddp.cpu = ddp.extras  # rank 0's CPU time in the timed steps (the whole torchrun's would count its start-up)
    collate = interleaved({"collate": collation_seconds}, options.repeats)
    print(f"DDP: 2 CPU ranks x 1 thread, T5 {WORKER_SHAPE}, batch {options.batch_size} per rank, {options.steps} "
          f"timed steps; {ddp.describe()}\n")
    print("| ddp_find_unused_parameters | seconds | steps/s | speed-up | speed-up by CPU time |")
    print("|---|---|---|---|---|")
    for name in ("true", "false"):
        print(f"| {name}{' (transformers default)' if name == 'true' else ' (kard_hf default)'} | "
              f"{cell(ddp.median(name), ddp.spread(name))} | "
              f"{cell(ddp.rate(name, options.steps), ddp.rate_spread(name, options.steps))} | "
              f"{cell(ddp.ratio('true', name), ddp.ratio_spread('true', name))}x | "
              f"{cell(ddp.cpu_ratio('true', name), ddp.cpu_ratio_spread('true', name))}x |")
    low, high = collate.spread("collate")
    print(f"\nStudentDataCollator, one batch of 16 KARD-length rows on one core: {1000 * collate.median('collate'):.1f} ms "
          f"({1000 * low:.1f}-{1000 * high:.1f}); {collate.describe()}")


if __name__ == "__main__":
    main()
