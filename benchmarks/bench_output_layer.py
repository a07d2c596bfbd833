"""The output layer at the target tokens only: kard_hf's StudentTrainer vs the stock Seq2SeqTrainer, in one run.

Both sides train the same decoder-only student on the same KARD-shaped rows (question + one passage as the prompt,
rationale + answer as the target; ``bench_student_training.synthetic_rows``), batched by the same
StudentDataCollator in the same random order, for the same optimizer steps. The stock side lets the model compute
its own loss, with logits at every position (prompt and padding included), as transformers' causal-LM loss and
TRL's SFTTrainer do; kard_hf runs the output layer only where a target token is
(``kard_hf.distill.losses.OutputLayerSelection``). The loss is the same; the table gives the training time and the peak
resident memory of the process that trained (each run is a forked child, measured by ``os.wait4``).

Shapes: ``quickstart`` has the layers of the quickstart's decoder-only student (hidden 128, 4 layers) and the
vocabulary of a tokenizer trained on the rows (3,315 tokens at 320 rows; the quickstart's has 3,000);
``qwen2.5-0.5b`` is Qwen2.5-0.5B's hidden size, heads and 151,936-token vocabulary with 2 of its 24 layers (a whole
0.5B step takes minutes on a CPU; with all 24 layers the output layer's share of the time and of the memory is
smaller, and what it saves a position the same).

    OMP_NUM_THREADS=1 python benchmarks/bench_output_layer.py --shape quickstart --steps 10 --batch_size 32
    OMP_NUM_THREADS=1 python benchmarks/bench_output_layer.py --shape qwen2.5-0.5b --steps 2 --batch_size 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import tempfile

import numpy as np
import torch
from datasets import Dataset
from transformers import Qwen2Config, Qwen2ForCausalLM, Seq2SeqTrainer

from bench_student_training import bench_tokenizer, clone, synthetic_rows, train_seconds
from harness import add_repeats_argument, cell, interleaved
from kard_hf.distill import StudentDataCollator, StudentTrainer, StudentTrainingArguments
from kard_hf.scheduler import pause_openmp

SHAPES = {
    "quickstart": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                       num_key_value_heads=2),
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=2, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936),
}


def in_child(function):
    """Run ``function`` in a forked child: ``(its result, the child's peak resident memory in MB)``."""
    reader, writer = multiprocessing.Pipe(duplex=False)
    pause_openmp()  # a child of a parent that ran torch on 2 threads would otherwise hang (kard_hf/scheduler.py)
    pid = os.fork()
    if pid == 0:  # the child: train, send the seconds, leave without running the parent's exit handlers
        try:
            writer.send(function())
        finally:
            os._exit(0)
    result = reader.recv()
    _, _, usage = os.wait4(pid, 0)
    return result, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=SHAPES, default="quickstart")
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per run")
    parser.add_argument("--batch_size", type=int, default=32)
    add_repeats_argument(parser)
    options = parser.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    rows = synthetic_rows(options.steps * options.batch_size)
    tokenizer = bench_tokenizer(rows, "causal")
    shape = dict(SHAPES[options.shape])
    vocab = max(shape.pop("vocab_size", 0), len(tokenizer))  # the tokenizer's ids fit; the rest are never targets
    config = Qwen2Config(vocab_size=vocab, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True, attn_implementation="sdpa",
                         max_position_embeddings=1024, **shape)
    initial = Qwen2ForCausalLM(config)
    collator = StudentDataCollator(tokenizer, method="kard", decoder_only=True, max_source_length=512,
                                   max_target_length=128)
    prompts, targets = collator.encode({k: [r[k] for r in rows] for k in rows[0]})
    dataset = Dataset.from_list(rows)
    setups = {"stock Seq2SeqTrainer: the model's loss, logits at every position": Seq2SeqTrainer,
              "kard_hf StudentTrainer: output layer at the target tokens": StudentTrainer}
    memory = {name: [] for name in setups}
    with tempfile.TemporaryDirectory() as tmp:
        def side(name, trainer_class):
            args = StudentTrainingArguments(output_dir=tmp, per_device_train_batch_size=options.batch_size,
                                            max_steps=options.steps, train_sampling_strategy="random",
                                            report_to="none", save_strategy="no", disable_tqdm=True, seed=0,
                                            dataloader_pin_memory=False)

            def run():
                seconds, peak = in_child(lambda: train_seconds(clone(initial), trainer_class, dataset, args,
                                                               processing_class=tokenizer, data_collator=collator))
                memory[name].append(peak)
                return seconds

            return run

        timings = interleaved({name: side(name, cls) for name, cls in setups.items()}, repeats=options.repeats)
    stock, ours = setups
    print(f"\nStudent: Qwen2-shaped decoder ({options.shape}: hidden {config.hidden_size}, {config.num_hidden_layers} "
          f"layers, vocabulary {config.vocab_size:,}), {sum(p.numel() for p in initial.parameters()) / 1e6:.1f}M "
          f"params, fp32 CPU, batch {options.batch_size}, {options.steps} steps per run, {torch.get_num_threads()} "
          f"threads; tokens per row: prompt mean {np.mean([len(p) for p in prompts]):.0f}, target mean "
          f"{np.mean([len(t) for t in targets]):.0f}; torch {torch.__version__}; {timings.describe()}\n")
    print("| side | seconds per step | speed-up | peak memory (MB) |")
    print("|---|---|---|---|")
    for name in setups:
        per_step = (timings.median(name) / options.steps, tuple(s / options.steps for s in timings.spread(name)))
        print(f"| {name} | {cell(*per_step, 3)} | {cell(timings.ratio(stock, name), timings.ratio_spread(stock, name))}x"
              f" | {np.median(memory[name]):.0f} ({min(memory[name]):.0f}-{max(memory[name]):.0f}) |")
    print("\nmedian (min-max) of the interleaved runs; peak memory: the training process's maximum resident set "
          "(weights, optimizer state and activations included)")


if __name__ == "__main__":
    main()
