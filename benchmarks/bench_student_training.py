"""Student training throughput: kard_hf's StudentTrainer vs the released KARD code's style, in one run.

Released style: every input padded to 512 tokens and every target to 128 at preprocessing time,
random batches, the stock Seq2SeqTrainer. kard_hf: the StudentDataCollator tokenizes late and pads
each batch to its longest row, and the StudentTrainer groups rows of similar length (default).
A middle row shows dynamic padding alone (random batches).

Same random-init T5 student (t5-small-shaped by default; --small for a quicker, smaller one), same
rows, same number of optimizer steps; every setup runs ``--repeats`` times, interleaved, and the table
gives the median samples/s with the min-max. Rows follow a realistic KARD length distribution: question +
one passage ≈ 220 tokens, rationale + answer ≈ 60 tokens (log-normal spread).

    OMP_NUM_THREADS=1 python benchmarks/bench_student_training.py --steps 4 --repeats 3   # a markdown table

``--student decoder`` times a decoder-only student instead (a random-init Qwen2-shaped model, sdpa attention,
prompt + target as one sequence) three ways against the released padding (every row padded to 512 + 128):
dynamically padded random batches, length-grouped batches, and padding-free packing (``padding_free``). It
reports real (non-pad) tokens per second, and the **limit**: the released padding's padded tokens per real
token, the speed-up over it that a side computing real tokens only could reach if time went by tokens; each
side's speed-up is given as a share of that limit.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

import numpy as np
import torch
from datasets import Dataset
from transformers import (Qwen2Config, Qwen2ForCausalLM, Seq2SeqTrainer, T5Config, T5ForConditionalGeneration,
                          default_data_collator)

from kard_hf.distill import StudentDataCollator, StudentTrainer, StudentTrainingArguments
from kard_hf.benchmark.vocab import train_tokenizer
from harness import add_repeats_argument, cell, interleaved

SOURCE_LENGTH, TARGET_LENGTH = 512, 128


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """Processed-dataset rows whose token lengths follow KARD's (words of a closed vocabulary, ~1 token each)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(3000)]
    text = lambda mean: " ".join(rng.choice(words, size=max(4, int(rng.lognormal(np.log(mean), 0.45)))))
    return [{"id": str(i), "rationale_index": 0, "question": text(65), "passages": [text(115)],
             "target": text(55) + "\nAnswer: B"} for i in range(n)]


def released_decoder_style(rows, collator):
    """Decoder-only rows padded to 512 + 128 tokens (prompt and padding labelled -100), the released padding."""
    prompts, targets = collator.encode({k: [r[k] for r in rows] for k in rows[0]})
    width, pad = SOURCE_LENGTH + TARGET_LENGTH, collator.tokenizer.pad_token_id
    sequences = [(p[:SOURCE_LENGTH], t[:TARGET_LENGTH]) for p, t in zip(prompts, targets)]
    return Dataset.from_dict({
        "input_ids": [p + t + [pad] * (width - len(p) - len(t)) for p, t in sequences],
        "attention_mask": [[1] * (len(p) + len(t)) + [0] * (width - len(p) - len(t)) for p, t in sequences],
        "labels": [[-100] * len(p) + t + [-100] * (width - len(p) - len(t)) for p, t in sequences],
    })


def released_style(rows, collator):
    """Pre-tokenized rows padded to 512 / 128 (labels padded with -100), as the released preprocessing did."""
    prompts, targets = collator.encode({k: [r[k] for r in rows] for k in rows[0]})
    pad = collator.tokenizer.pad_token_id
    return Dataset.from_dict({
        "input_ids": [p[:SOURCE_LENGTH] + [pad] * (SOURCE_LENGTH - len(p[:SOURCE_LENGTH])) for p in prompts],
        "attention_mask": [[1] * len(p[:SOURCE_LENGTH]) + [0] * (SOURCE_LENGTH - len(p[:SOURCE_LENGTH])) for p in prompts],
        "labels": [t[:TARGET_LENGTH] + [-100] * (TARGET_LENGTH - len(t[:TARGET_LENGTH])) for t in targets],
    })


def train_seconds(model, trainer_class, dataset, args, **kwargs) -> float:
    """Seconds of ``trainer.train()`` (building the trainer is not timed)."""
    trainer = trainer_class(model=model, args=args, train_dataset=dataset, **kwargs)
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per run")
    parser.add_argument("--batch_size", type=int, default=8)
    add_repeats_argument(parser)
    parser.add_argument("--small", action="store_true", help="a 4-layer d_model=256 student instead of t5-small's shape")
    parser.add_argument("--student", choices=("t5", "decoder"), default="t5",
                        help="t5 (released style vs kard_hf) or decoder (padded, length-grouped, padding-free)")
    options = parser.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    rows = synthetic_rows(options.steps * options.batch_size)  # one epoch: every setup trains on the same rows
    if options.student == "decoder":
        return decoder_main(rows, options)
    tokenizer = bench_tokenizer(rows)
    shape = (dict(d_model=256, d_kv=64, d_ff=1024, num_layers=4, num_heads=4) if options.small else
             dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8))
    config = T5Config(vocab_size=len(tokenizer), dropout_rate=0.0, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id, **shape)
    initial = T5ForConditionalGeneration(config)
    collator = StudentDataCollator(tokenizer, method="kard", max_source_length=SOURCE_LENGTH,
                                   max_target_length=TARGET_LENGTH)
    prompts, targets = collator.encode({k: [r[k] for r in rows] for k in rows[0]})
    dataset = Dataset.from_list(rows)
    setups = {
        "released style: padded to 512/128, random batches": (Seq2SeqTrainer, released_style(rows, collator), "random",
                                                               {"data_collator": default_data_collator}),
        "kard_hf collator, random batches": (StudentTrainer, dataset, "random", {"processing_class": tokenizer}),
        "kard_hf default: collator + group_by_length": (StudentTrainer, dataset, "group_by_length",
                                                         {"processing_class": tokenizer}),
    }
    with tempfile.TemporaryDirectory() as tmp:
        def side(trainer_class, data, strategy, kwargs):
            args = StudentTrainingArguments(output_dir=tmp, per_device_train_batch_size=options.batch_size,
                                            max_steps=options.steps, train_sampling_strategy=strategy,
                                            report_to="none", save_strategy="no", disable_tqdm=True, seed=0,
                                            dataloader_pin_memory=False)
            return lambda: train_seconds(clone(initial), trainer_class, data, args, **kwargs)

        timings = interleaved({name: side(*setup) for name, setup in setups.items()}, repeats=options.repeats)
    samples = options.steps * options.batch_size
    base = next(iter(setups))
    print(f"\nStudent: T5 {sum(p.numel() for p in initial.parameters()) / 1e6:.1f}M params, fp32 CPU, batch "
          f"{options.batch_size}, {options.steps} steps per run, {torch.get_num_threads()} threads; tokens per row: "
          f"prompt mean {np.mean([len(p) for p in prompts]):.0f}, target mean {np.mean([len(t) for t in targets]):.0f}; "
          f"{timings.describe()}\n")
    print("| setup | samples/s | speed-up | speed-up by CPU time |")
    print("|---|---|---|---|")
    for name in setups:
        print(f"| {name} | {cell(timings.rate(name, samples), timings.rate_spread(name, samples))} | "
              f"{cell(timings.ratio(base, name), timings.ratio_spread(base, name))}x | "
              f"{cell(timings.cpu_ratio(base, name), timings.cpu_ratio_spread(base, name))}x |")
    print("\nmedian (min-max) of the interleaved runs; speed-up: ratio of the medians (range of the per-round ratios), "
          "of wall-clock training time and of the whole run's CPU time")


def decoder_main(rows, options) -> None:
    """The decoder-only student: released padding (the baseline), padded, length-grouped and padding-free sides."""
    tokenizer = bench_tokenizer(rows, "causal")
    shape = (dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=2) if options.small else
             dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=6, num_attention_heads=8,
                  num_key_value_heads=4))
    config = Qwen2Config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True, attn_implementation="sdpa",
                         max_position_embeddings=1024, **shape)
    initial = Qwen2ForCausalLM(config)
    collator = StudentDataCollator(tokenizer, method="kard", decoder_only=True, max_source_length=SOURCE_LENGTH,
                                   max_target_length=TARGET_LENGTH)
    prompts, targets = collator.encode({k: [r[k] for r in rows] for k in rows[0]})
    real = sum(min(len(p), SOURCE_LENGTH) + min(len(t), TARGET_LENGTH) for p, t in zip(prompts, targets))
    limit = len(rows) * (SOURCE_LENGTH + TARGET_LENGTH) / real
    dataset, mine = Dataset.from_list(rows), {"processing_class": tokenizer}
    setups = {  # name: (trainer class, data, sampling, padding_free, trainer kwargs)
        "released padding: 512 + 128 per row, random batches": (Seq2SeqTrainer, released_decoder_style(rows, collator),
                                                                "random", False, {"data_collator": default_data_collator}),
        "padded: each batch to its longest row, random batches": (StudentTrainer, dataset, "random", False, mine),
        "length-grouped: padded, group_by_length": (StudentTrainer, dataset, "group_by_length", False, mine),
        "padding-free: packed rows, position_ids": (StudentTrainer, dataset, "random", True, mine),
    }
    with tempfile.TemporaryDirectory() as tmp:
        def side(trainer_class, data, strategy, padding_free, kwargs):
            args = StudentTrainingArguments(output_dir=tmp, per_device_train_batch_size=options.batch_size,
                                            max_steps=options.steps, train_sampling_strategy=strategy,
                                            padding_free=padding_free, report_to="none", save_strategy="no",
                                            disable_tqdm=True, seed=0, dataloader_pin_memory=False)
            return lambda: train_seconds(clone(initial), trainer_class, data, args, **kwargs)

        timings = interleaved({name: side(*setup) for name, setup in setups.items()}, repeats=options.repeats)
    base = next(iter(setups))
    print(f"\nStudent: Qwen2-shaped decoder {sum(p.numel() for p in initial.parameters()) / 1e6:.1f}M params, sdpa, "
          f"fp32 CPU, batch {options.batch_size}, {options.steps} steps per run, {torch.get_num_threads()} threads; "
          f"tokens per row: prompt mean {np.mean([len(p) for p in prompts]):.0f}, target mean "
          f"{np.mean([len(t) for t in targets]):.0f}; {real} real tokens per run; limit (released padded tokens per "
          f"real token) {limit:.2f}x; {timings.describe()}\n")
    print("| setup | real tokens/s | speed-up over the released padding | share of the limit | by CPU time |")
    print("|---|---|---|---|---|")
    for name in setups:
        speedup = timings.ratio(base, name)
        print(f"| {name} | {cell(timings.rate(name, real), timings.rate_spread(name, real), 0)} | "
              f"{cell(speedup, timings.ratio_spread(base, name))}x | {100 * speedup / limit:.0f} % | "
              f"{cell(timings.cpu_ratio(base, name), timings.cpu_ratio_spread(base, name))}x |")
    print(f"\nmedian (min-max) of the interleaved runs; limit {limit:.2f}x = {len(rows)} rows x "
          f"{SOURCE_LENGTH + TARGET_LENGTH} tokens / {real} real tokens")


def bench_tokenizer(rows, kind: str = "t5"):
    """A BPE tokenizer trained on the rows' words and the prompt template's (one token per word, about)."""
    return train_tokenizer([r["question"] + " " + r["passages"][0] + " " + r["target"] for r in rows[:200]] +
                           ["Answer the following question by reasoning step by step. Question: Knowledge: "
                            "Explanation: Answer:"], kind, vocab_size=4000 if kind == "t5" else 8000)


def clone(model):
    """A fresh copy of ``model`` (every run starts from the same weights)."""
    clone = type(model)(model.config)
    clone.load_state_dict(model.state_dict())
    return clone


if __name__ == "__main__":
    main()
