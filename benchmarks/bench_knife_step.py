"""Where a KNIFE training step's CPU time goes, on the quickstart-sized T5 model (the KNIFE commands documented before the quickstart trained KNIFE from its BART student; docs/benchmarks.md).

The data is the bundled benchmark's (3 rationales per training question from its teacher), the tokenizer
the quickstart's kind (T5, 3000 BPE tokens), the model the documented T5 (d_model 128, 2 layers, 4 heads),
batch 32 questions × 4 choices. Both steps run through the real trainers (KnifeTeacherTrainer,
KnifeTrainer), profiled with cProfile on a CPU-time clock (``time.process_time``), so other jobs on the
machine do not count. Run alone, under the timing lock:

    flock /work/timing.lock python benchmarks/bench_knife_step.py profile          # the breakdown
    flock /work/timing.lock python benchmarks/bench_knife_step.py compare --repeats 5

``profile`` breaks down a teacher step, a student step that runs the teacher, and a student step of a
later epoch with ``cache_teacher_states`` (the teacher's targets read back). ``compare`` times, through
``harness.py`` (interleaved repeats, median and min-max, the load average before and after), the CPU time
per step (steps 2 to n, so the trainer's start-up is left out) of the student step without and with the
cache, and the teacher step with T5's default dropout (0.1, what the documented commands get) and without
(a training choice, not an exact saving).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import datasets
import torch
from harness import add_repeats_argument, cell, interleaved
from transformers import TrainerCallback

from kard_hf.benchmark.generator import BenchmarkConfig, generate
from kard_hf.benchmark.teacher import PROMPT, BenchmarkTeacher
from kard_hf.knife import KnifeCollator, KnifeDistillationCollator, KnifeT5Config, KnifeT5ForMultipleChoice
from kard_hf.knife.arguments import KnifeTeacherTrainingArguments, KnifeTrainingArguments
from kard_hf.knife.trainer import KnifeTeacherTrainer, KnifeTrainer
from kard_hf.teacher.base import SamplingParams
from kard_hf.benchmark.vocab import train_tokenizer

BATCH = 32
# Functions whose cumulative CPU time the profile reports (substring of "file:line(function)").
PARTS = {"data collator": "collator.py", "model forward": "modeling.py:", "backward": "(backward)",
         "optimizer step": "(step)", "teacher targets (no grad)": "(_teacher_targets)"}


def rows_and_tokenizer(questions: int):
    """Training rows ``id, stem, options, answer, rationale`` (3 per question) and a quickstart-kind tokenizer."""
    benchmark = generate(BenchmarkConfig(seed=0, num_train=questions, num_validation=0, num_test=0, num_test_seen=0))
    teacher, rows = BenchmarkTeacher(error_rate=0.0), []
    for question in benchmark.splits["train"]:
        for text in teacher.complete(PROMPT.render(question), 3, SamplingParams(seed=0)).texts:
            rows.append({"id": question.id, "stem": question.stem, "options": question.options,
                         "answer": question.answer, "rationale": text})
    texts = [row["text"] for row in benchmark.corpus] + [row["rationale"] for row in rows]
    return datasets.Dataset.from_list(rows), train_tokenizer(texts, "t5", vocab_size=3000)


def knife_model(tokenizer, seed: int, dropout: float = 0.1) -> KnifeT5ForMultipleChoice:
    torch.manual_seed(seed)
    return KnifeT5ForMultipleChoice(KnifeT5Config(
        vocab_size=len(tokenizer), d_model=128, d_kv=32, d_ff=256, num_layers=2, num_heads=4, dropout_rate=dropout,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id))


def common(output_dir: str, steps: int) -> dict:
    return {"output_dir": output_dir, "max_steps": steps, "per_device_train_batch_size": BATCH,
            "learning_rate": 3e-3, "report_to": "none", "save_strategy": "no", "logging_strategy": "no",
            "disable_tqdm": True, "use_cpu": True, "dataloader_num_workers": 0}


def teacher_trainer(rows, tokenizer, steps: int, output_dir: str, dropout: float = 0.1) -> KnifeTeacherTrainer:
    return KnifeTeacherTrainer(model=knife_model(tokenizer, 0, dropout),
                               args=KnifeTeacherTrainingArguments(**common(output_dir, steps)),
                               data_collator=KnifeCollator(tokenizer, with_rationale=True), train_dataset=rows)


def student_trainer(rows, tokenizer, teacher, steps: int, output_dir: str, cache: bool) -> KnifeTrainer:
    collator = KnifeDistillationCollator(student=KnifeCollator(tokenizer),
                                         teacher=KnifeCollator(tokenizer, with_rationale=True))
    trainer = KnifeTrainer(knife_model(tokenizer, 1), KnifeTrainingArguments(**common(output_dir, steps),
                                                                             cache_teacher_states=cache),
                           teacher=teacher, train_dataset=rows, data_collator=collator)
    if cache:  # fill the cache as epoch 1 does (the rows are exactly one epoch); what is then timed is epoch 2
        trainer.train()
        assert len(trainer.teacher_cache) == len(rows)
    return trainer


def cpu_seconds(function) -> float:
    start = time.process_time()
    function()
    return time.process_time() - start


class StepClock(TrainerCallback):
    """CPU time at the end of every step: the differences are whole steps (batch collation included), without
    the trainer's start-up and end."""

    def __init__(self):
        self.ends: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.process_time())


def cpu_seconds_per_step(trainer) -> float:
    clock = StepClock()
    trainer.add_callback(clock)
    trainer.train()
    return (clock.ends[-1] - clock.ends[0]) / (len(clock.ends) - 1)


def profile(trainer, steps: int, label: str) -> None:
    profiler = cProfile.Profile(timer=time.process_time)
    total = cpu_seconds(lambda: profiler.runcall(trainer.train))
    stats = pstats.Stats(profiler)
    cumulative: dict[str, float] = {}
    for (file, line, function), (_, _, _, cum, _) in stats.stats.items():
        where = f"{file}:{line}({function})"
        for part, needle in PARTS.items():
            if needle in where and (part != "model forward" or function == "forward"):
                cumulative[part] = max(cumulative.get(part, 0.0), cum)
    print(f"\n{label}: {steps} steps, {total:.2f} s CPU in train() (profiled), {total / steps * 1000:.0f} ms/step")
    print("| part | CPU ms/step | share |\n|---|---|---|")
    for part, seconds in cumulative.items():
        print(f"| {part} | {seconds / steps * 1000:.0f} | {seconds / total:.0%} |")
    stats.sort_stats("tottime").print_stats(12)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("profile", "compare"))
    parser.add_argument("--steps", type=int, default=8)
    add_repeats_argument(parser, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # CPU time is then the work done, not threads spinning
    rows, tokenizer = rows_and_tokenizer(questions=args.steps * BATCH // 3 + 1)
    rows = rows.select(range(args.steps * BATCH))  # one epoch is exactly the timed steps
    teacher = knife_model(tokenizer, 0).eval()
    with tempfile.TemporaryDirectory() as tmp:
        student = lambda cache: student_trainer(rows, tokenizer, teacher, args.steps, str(Path(tmp) / "s"), cache)  # noqa: E731
        if args.mode == "profile":
            profile(teacher_trainer(rows, tokenizer, args.steps, str(Path(tmp) / "t")), args.steps, "teacher step")
            profile(student(False), args.steps, "student step, teacher run every step")
            profile(student(True), args.steps, "student step, teacher targets cached (epoch 2)")
            return
        variants = {"student step, teacher run every step": lambda: student(False),
                    "student step, teacher targets cached (epoch 2)": lambda: student(True),
                    "teacher step, dropout 0.1 (T5 default)": lambda: teacher_trainer(rows, tokenizer, args.steps, tmp),
                    "teacher step, dropout 0": lambda: teacher_trainer(rows, tokenizer, args.steps, tmp, dropout=0.0)}
        timings = interleaved({label: lambda make=make: cpu_seconds_per_step(make()) for label, make in variants.items()},
                              args.repeats)
    print(f"{args.steps} steps per run, CPU time of steps 2-{args.steps}, one torch thread; {timings.describe()}\n")
    print(f"| batch {BATCH} × 4 choices | CPU ms/step | relative to the first of its pair |")
    print("|---|---|---|")
    labels = list(variants)
    for i, label in enumerate(labels):
        first = labels[i - i % 2]
        low, high = timings.spread(label)
        print(f"| {label} | {cell(timings.median(label) * 1000, (low * 1000, high * 1000), 0)} | "
              f"{cell(timings.ratio(label, first), timings.ratio_spread(label, first))} |")
    print(f"\nmedian (min-max) of {args.repeats} interleaved runs; relative: ratio of the medians (range of the "
          "per-round ratios)")


if __name__ == "__main__":
    main(sys.argv[1:])
