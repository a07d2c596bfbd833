"""What caching the frozen KNIFE teacher's states would save: a student step with the teacher's forward vs without.

Both sides train the same student on the same batches; "cached" reuses teacher outputs computed
once before timing (what a cache would give), "on the fly" runs the no-grad teacher forward every
step (what kard_hf does). Both run ``--repeats`` times, interleaved; one table of medians (min-max). Run alone:

    PYTHONPATH=. python benchmarks/knife_teacher_cost.py [--steps 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch
from harness import add_repeats_argument, cell, interleaved

from kard_hf.knife import KnifeLossWeights, KnifeT5Config, KnifeT5ForMultipleChoice, knife_loss

BATCH, CHOICES, TASK_TOKENS, RATIONALE_TOKENS = 4, 4, 48, 64


def model(seed: int) -> KnifeT5ForMultipleChoice:
    torch.manual_seed(seed)  # a t5-small-like shape, reduced to be quick on two CPU cores
    return KnifeT5ForMultipleChoice(KnifeT5Config(vocab_size=8000, d_model=256, d_kv=32, d_ff=1024, num_layers=4,
                                                  num_heads=8, decoder_start_token_id=0, dropout_rate=0.0))


def batches(steps: int):
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        task = torch.randint(2, 8000, (BATCH, CHOICES, TASK_TOKENS), generator=g)
        rationale = torch.randint(2, 8000, (BATCH, CHOICES, RATIONALE_TOKENS), generator=g)
        full = torch.cat([task, rationale], -1)
        ones = torch.ones_like(full)
        bottleneck = torch.cat([torch.ones_like(task), torch.zeros_like(rationale)], -1)
        yield ({"input_ids": task, "attention_mask": torch.ones_like(task)},
               {"input_ids": full, "attention_mask": ones, "bottleneck_mask": bottleneck})


def step(student, optimizer, student_inputs, teacher_out):
    out = student(**student_inputs)
    loss, _ = knife_loss(KnifeLossWeights(), student_encoder=[out.encoder_last_hidden_state],
                         teacher_encoder=[teacher_out.encoder_last_hidden_state], task_mask=student_inputs["attention_mask"],
                         student_decoder=[out.decoder_last_hidden_state], teacher_decoder=[teacher_out.decoder_last_hidden_state],
                         student_scores=out.logits, teacher_scores=teacher_out.logits,
                         choice_mask=torch.ones(BATCH, CHOICES, dtype=torch.bool))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def run(cached: bool, steps: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds per student step, after one untimed warm-up step."""
    student, teacher = model(0).train(), model(1).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4)
    data = list(batches(steps))
    with torch.no_grad():
        precomputed = [teacher(**t) for _, t in data] if cached else None
    step(student, optimizer, data[0][0], precomputed[0] if cached else teacher(**data[0][1]))  # warm-up
    start, cpu_start = time.perf_counter(), time.process_time()
    for i, (s, t) in enumerate(data):
        if cached:
            teacher_out = precomputed[i]
        else:
            with torch.no_grad():
                teacher_out = teacher(**t)
        step(student, optimizer, s, teacher_out)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu_start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed student steps per run")
    add_repeats_argument(parser)
    options = parser.parse_args()
    torch.set_num_threads(2)
    timings = interleaved({"on the fly": lambda: run(False, options.steps), "cached": lambda: run(True, options.steps)},
                          repeats=options.repeats)
    # CPU time of the timed steps: the whole call's would count the set-up, where the cached side runs the teacher
    timings.cpu = timings.extras
    print(f"{options.steps} steps per run; {timings.describe()}\n")
    print(f"| student step ({BATCH} questions × {CHOICES} choices, task {TASK_TOKENS} + rationale {RATIONALE_TOKENS} "
          "tokens) | s/step | relative | relative by CPU time |")
    print("|---|---|---|---|")
    for name, label in (("on the fly", "teacher forward on the fly (kard_hf)"),
                        ("cached", "teacher states cached (upper bound of a cache)")):
        print(f"| {label} | {cell(timings.median(name), timings.spread(name), 3)} | "
              f"{cell(timings.ratio(name, 'on the fly'), timings.ratio_spread(name, 'on the fly'))} | "
              f"{cell(timings.cpu_ratio(name, 'on the fly'), timings.cpu_ratio_spread(name, 'on the fly'))} |")
    print(f"\nmedian (min-max) of {options.repeats} interleaved runs")


if __name__ == "__main__":
    main()
