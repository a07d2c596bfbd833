"""Accelerator benchmark: student training, reranking and batched evaluation at Flan-T5 shapes, one table, one run.

    python benchmarks/bench_gpu.py                                   # CUDA: bf16, Flan-T5-base shape
    python benchmarks/bench_gpu.py --shapes flan-t5-base flan-t5-large --steps 30 --json gpu.json
    python benchmarks/bench_gpu.py --tiny                            # tiny shapes, the default without CUDA

Nothing is downloaded: the students are random-init T5s built from the real Flan-T5 config values written
below, the reranker a random-init BERT-base (LinkBERT-base's shape), the tokenizers are trained on the rows.
Rows have KARD's lengths: question + 1 passage ≈ 217 tokens -> rationale + answer ≈ 65 tokens.

- **Training** (bf16 on CUDA, fp32 on a CPU): released-style padding (every row padded to 512/128 at
  preprocessing, random batches, the stock Seq2SeqTrainer, as the released KARD code did) against kard_hf
  (StudentDataCollator + group_by_length, StudentTrainer), both with transformers' default trainer options
  (what the released code ran with). Then, on kard_hf's side, the options kard_hf turns on for CUDA
  (kard_hf.hardware: 2 data-loader workers, fused AdamW, TF32 where the GPU has it) and the opt-in
  torch.compile are added one at a time, so each "+" row's gain over the row above is what that option is
  worth; last, released-style padding with all of them, so both paddings are also compared with the same
  options. Timed after ``--warmup`` steps (compilation stays out). Tokens/s and MFU count the rows' real
  tokens (padding is waste, not work), so both padding styles do the same model FLOPs.
- **Reranking**: passages encoded per second, the released style (pairs padded to 512, the question
  re-encoded per candidate) against kard_hf's Reranker (encode each text once, dynamic padding).
- **Evaluation**: questions per second with 5 sampled rationales each, a per-question generate loop
  (the released evaluation) against the batched KARDPipeline.

Every side runs ``--repeats`` times, interleaved (A B C D A B C D ...); cells are medians (min-max).
MFU = model FLOPs per second / the device's dense bf16 peak (table PEAK_TFLOPS, or ``--peak_tflops``).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch
from bench_inference import bundled_questions, per_question_loop
from bench_reranker import random_text, released_style_scores
from bench_student_training import SOURCE_LENGTH, TARGET_LENGTH, bench_tokenizer, released_style, synthetic_rows
from harness import add_repeats_argument, cell, interleaved, timed
from transformers import BertConfig, Seq2SeqTrainer, T5Config, T5ForConditionalGeneration, TrainerCallback
from transformers import default_data_collator

from kard_hf.hardware import DATALOADER_WORKERS_ON_CUDA, tf32_available

# Values of google/flan-t5-base and google/flan-t5-large's config.json (the T5 v1.1 shapes).
SHAPES = {
    "flan-t5-base": dict(d_model=768, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12, d_kv=64,
                         vocab_size=32128, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
    "flan-t5-large": dict(d_model=1024, d_ff=2816, num_layers=24, num_decoder_layers=24, num_heads=16, d_kv=64,
                          vocab_size=32128, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
    "tiny": dict(d_model=64, d_ff=128, num_layers=1, num_decoder_layers=1, num_heads=4, d_kv=16, vocab_size=4096,
                 feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}
# LinkBERT-base (michiyasunaga/LinkBERT-base) is BERT-base with BERT's cased vocabulary.
RERANKER_SHAPES = {
    "linkbert-base": dict(vocab_size=28996, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                          intermediate_size=3072, max_position_embeddings=512),
    "tiny": dict(vocab_size=2048, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 max_position_embeddings=512),
}
# The training sides' trainer options: transformers' defaults, then kard_hf's CUDA defaults and the opt-in
# torch.compile added one at a time (TF32 only where the GPU has it).
TRANSFORMERS_DEFAULTS = {"dataloader_num_workers": 0, "optim": "adamw_torch", "tf32": False, "torch_compile": False}
ADDED_OPTIONS = [("2 data-loader workers", {"dataloader_num_workers": DATALOADER_WORKERS_ON_CUDA}),
                 ("fused AdamW", {"optim": "adamw_torch_fused"}),
                 ("TF32", {"tf32": True}),
                 ("torch.compile", {"torch_compile": True})]
RELEASED, KARD_HF = "released-style padding", "kard_hf collator + group_by_length"
# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, TFLOPS; first match of the device name wins.
PEAK_TFLOPS = [
    (r"H200", 989.0), (r"H100.*NVL", 835.0), (r"H100.*PCIe", 756.0), (r"H100", 989.0), (r"GH200", 989.0),
    (r"A100", 312.0), (r"L40S", 362.0), (r"\bL4\b", 121.0), (r"\bA10\b", 125.0),
]


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU by its ``torch.cuda.get_device_name()``, or None when not in the table."""
    return next((peak for pattern, peak in PEAK_TFLOPS if re.search(pattern, device_name)), None)


def t5_training_flops(config: T5Config, source_tokens: int, target_tokens: int) -> int:
    """Model FLOPs of one training pass (forward + backward) over one row of ``source -> target`` tokens.

    With d = d_model, a = num_heads x d_kv, f = d_ff, g = 3 matrices for a gated FFN (else 2), V = vocab,
    L_e / L_d encoder / decoder layers, S source and T target tokens, and 2 FLOPs per multiply-add:

        encoder   2 S L_e (4 d a + g d f)             q k v o projections and the FFN
                + 4 L_e S^2 a                         QK^T and attention x V
        decoder   2 T L_d (6 d a + g d f)             self q k v o, cross q o, FFN
                + 2 S L_d (2 d a)                     cross-attention k v of the encoder output
                + 4 L_d (T^2 + T S) a                 self- and cross-attention scores and sums
                + 2 T d V                             LM head
        training = 3 x forward                        (the backward: gradients of inputs and of weights)

    Embeddings, norms, softmax and the relative position bias are not matmuls and are left out.
    """
    d, f, V = config.d_model, config.d_ff, config.vocab_size
    a = config.num_heads * config.d_kv
    g = 3 if config.is_gated_act else 2
    S, T, Le, Ld = source_tokens, target_tokens, config.num_layers, config.num_decoder_layers
    encoder = 2 * S * Le * (4 * d * a + g * d * f) + 4 * Le * S * S * a
    decoder = 2 * T * Ld * (6 * d * a + g * d * f) + 2 * S * Ld * 2 * d * a + 4 * Ld * (T * T + T * S) * a
    return 3 * (encoder + decoder + 2 * T * d * V)


@dataclass
class Window:
    """What a training run did between the end of the warm-up and the last step."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time in the window
    rows: int = 0
    tokens: int = 0
    flops: int = 0
    options: dict | None = None  # the trainer options the run had, as read back from the trainer and torch


class Meter(TrainerCallback):
    """Times steps ``warmup+1 .. warmup+steps`` (synchronising CUDA at both ends) and counts their real tokens.

    Each batch's per-row lengths stay tensors (on the GPU, no sync) until the window ends.
    """

    def __init__(self, config: T5Config, warmup: int):
        self.config, self.warmup, self.window, self.start, self.lengths = config, warmup, Window(), None, []

    def count(self, inputs) -> None:
        self.lengths.append((inputs["attention_mask"].sum(dim=1), (inputs["labels"] != -100).sum(dim=1)))

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            synchronize()
            self.lengths, self.start = [], (time.perf_counter(), time.process_time())
        elif state.global_step == args.max_steps:
            synchronize()
            seconds, cpu_seconds = time.perf_counter() - self.start[0], time.process_time() - self.start[1]
            sources = [s for batch, _ in self.lengths for s in batch.tolist()]
            targets = [t for _, batch in self.lengths for t in batch.tolist()]
            self.window = Window(seconds, cpu_seconds, len(sources), sum(sources) + sum(targets),
                                 sum(t5_training_flops(self.config, s, t) for s, t in zip(sources, targets)))


def metered(trainer_class):
    """``trainer_class`` whose every training step reports its batch to the trainer's :class:`Meter`."""

    class Metered(trainer_class):
        def training_step(self, model, inputs, num_items_in_batch=None):
            self.meter.count(inputs)
            return super().training_step(model, inputs, num_items_in_batch)

    return Metered


def set_tf32(enabled: bool) -> None:
    """TF32 on or off for CUDA matmuls and convolutions, set directly for each run: transformers'
    ``enable_tf32`` is ``lru_cache``d, so ``tf32=`` given again with a value seen before sets nothing, and
    interleaved sides would inherit the previous side's setting."""
    precision = "tf32" if enabled else "ieee"
    torch.backends.cuda.matmul.fp32_precision = precision
    torch.backends.cudnn.fp32_precision = precision


def training_options(tf32: bool) -> list[tuple[str, str, dict]]:
    """``(setup, data style, trainer options)`` of every training side, in table order (see the module docstring)."""
    added = [(name, option) for name, option in ADDED_OPTIONS if tf32 or "tf32" not in option]
    options, sides = dict(TRANSFORMERS_DEFAULTS), [(RELEASED, "released", dict(TRANSFORMERS_DEFAULTS)),
                                                   (KARD_HF, "kard_hf", dict(TRANSFORMERS_DEFAULTS))]
    for name, option in added:
        options = {**options, **option}
        sides.append((f"+ {name}", "kard_hf", options))
    return sides + [(f"{RELEASED} + {', '.join(name for name, _ in added)}", "released", options)]


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def training_sides(shape: str, options, tmp: str) -> tuple[T5Config, dict]:
    """The training sides of one student shape (:func:`training_options`), each a run returning its Window."""
    from datasets import Dataset

    from kard_hf.distill import StudentDataCollator, StudentTrainer, StudentTrainingArguments

    cuda = torch.cuda.is_available()
    rows = synthetic_rows((options.warmup + options.steps) * options.batch_size)  # one epoch, the same rows
    tokenizer = bench_tokenizer(rows)
    config = T5Config(**SHAPES[shape], dropout_rate=0.0, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id)
    assert len(tokenizer) <= config.vocab_size
    collator = StudentDataCollator(tokenizer, method="kard", max_source_length=SOURCE_LENGTH,
                                   max_target_length=TARGET_LENGTH)
    data = {"released": (metered(Seq2SeqTrainer), released_style(rows, collator), "random",
                         {"data_collator": default_data_collator}),
            "kard_hf": (metered(StudentTrainer), Dataset.from_list(rows), "group_by_length",
                        {"processing_class": tokenizer})}

    def side(style: str, trainer_options: dict):
        trainer_class, dataset, strategy, kwargs = data[style]
        compiled = trainer_options["torch_compile"]

        def run():
            if compiled:  # compile anew (in the warm-up): 6 runs of new models and shapes would reach dynamo's
                torch._dynamo.reset()  # recompile limit, after which it runs the model eagerly without a word
            torch.manual_seed(0)
            model = T5ForConditionalGeneration(config)
            args = StudentTrainingArguments(
                output_dir=tmp, per_device_train_batch_size=options.batch_size,
                max_steps=options.warmup + options.steps, train_sampling_strategy=strategy, bf16=cuda,
                **trainer_options, torch_compile_backend=options.compile_backend if compiled else None,
                report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0,
                dataloader_pin_memory=cuda)
            set_tf32(trainer_options["tf32"])
            trainer = trainer_class(model=model, args=args, train_dataset=dataset, **kwargs)
            trainer.meter = Meter(config, options.warmup)
            trainer.add_callback(trainer.meter)
            trainer.train()
            trainer.meter.window.options = {
                "dataloader_num_workers": args.dataloader_num_workers, "optim": str(args.optim.value),
                "tf32": torch.backends.cuda.matmul.fp32_precision == "tf32", "torch_compile": args.torch_compile}
            return trainer.meter.window.seconds, trainer.meter.window

        return run

    sides = training_options(tf32=cuda and tf32_available())
    return config, {setup: side(style, trainer_options) for setup, style, trainer_options in sides}


def reranker_sides(shape: str, options) -> tuple[int, dict]:
    """Released-style pair encoding vs kard_hf's Reranker on a random-init BERT of ``shape``."""
    import random

    from kard_hf.reranker import KardRerankerConfig, KardRerankerModel, Reranker
    from kard_hf.benchmark.vocab import train_tokenizer

    torch.manual_seed(0)
    config = KardRerankerConfig(backbone=BertConfig(**RERANKER_SHAPES[shape]).to_dict(), projection_dim=128)
    model = KardRerankerModel(config).eval().to(device(), dtype=dtype())
    rng = random.Random(0)
    questions = [random_text(rng, 120) for _ in range(options.rerank_questions)]
    candidates = [[random_text(rng, rng.randint(50, 150)) for _ in range(options.candidates)] for _ in questions]
    ids = [[f"q{q}-p{c}" for c in range(options.candidates)] for q in range(len(questions))]
    tokenizer = train_tokenizer([text for row in candidates for text in row] + questions, "bert", 2000)
    return len(questions) * options.candidates, {
        "released style (pairs padded to 512, question per pair)":
            timed(lambda: released_style_scores(model, tokenizer, questions, candidates)),
        "kard_hf Reranker (each text once, dynamic padding)":
            timed(lambda: Reranker(model, tokenizer, batch_size=32, query_max_length=512,
                                   passage_max_length=512).score(questions, candidates, ids)),
    }


def evaluation_sides(shape: str, options) -> dict:
    """A per-question generate loop vs the batched KARDPipeline, 5 sampled rationales per question."""
    from kard_hf.data import PromptTemplate
    from kard_hf.distill.spec import StudentSpec
    from kard_hf.inference import Decoding, KARDPipeline

    examples, passages, pool, tokenizer = bundled_questions(options.eval_questions)
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(**SHAPES[shape], pad_token_id=0, eos_token_id=1,
                                                decoder_start_token_id=0)).eval().to(device(), dtype=dtype())
    pipeline = KARDPipeline(model, tokenizer, StudentSpec("kard", PromptTemplate(), 1, 512, 256),
                            batch_size=options.eval_batch_size)
    sampling = Decoding("sample", num_samples=5, max_new_tokens=options.max_new_tokens)

    def loop():
        torch.manual_seed(0)
        return per_question_loop(pipeline, examples, passages, sampling)

    return {"per-question generate loop (released)": timed(loop),
            "batched KARDPipeline": timed(lambda: pipeline(examples, candidates=pool, decoding=sampling, seed=0))}


def spread(values: list[float]) -> tuple[float, float]:
    return min(values), max(values)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_available() else torch.float32


def parse_args(argv=None):
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--tiny", action="store_true", default=not cuda,
                        help="tiny shapes and few steps (the default without CUDA): keeps the script working on a CPU")
    parser.add_argument("--shapes", nargs="+", choices=[s for s in SHAPES if s != "tiny"], default=["flan-t5-base"])
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per training run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, allocator)")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--compile_backend", default="inductor" if cuda else "eager",
                        help="torch.compile backend of the fast sides (eager on a CPU: dynamo without code generation)")
    parser.add_argument("--rerank_questions", type=int, default=16)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--eval_questions", type=int, default=128)
    parser.add_argument("--eval_batch_size", type=int, default=32)
    parser.add_argument("--max_new_tokens", type=int, default=64, help="about a rationale's length")
    parser.add_argument("--peak_tflops", type=float, default=None,
                        help="the device's dense bf16 peak in TFLOPS (default: PEAK_TFLOPS by device name)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    add_repeats_argument(parser)
    options = parser.parse_args(argv)
    if options.warmup < 1 or options.steps < 1:
        parser.error("--warmup and --steps must be at least 1 (the timing starts at the end of the warm-up)")
    if options.tiny:
        options.shapes = ["tiny"]
        options.steps, options.warmup, options.batch_size = min(options.steps, 2), min(options.warmup, 1), 4
        options.rerank_questions, options.candidates = 2, 8
        options.eval_questions, options.eval_batch_size, options.max_new_tokens = 4, 4, 8
    return options


def main(argv=None) -> dict:
    options = parse_args(argv)
    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name() if cuda else "CPU"
    peak = options.peak_tflops or (peak_tflops(name) if cuda else None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in options.shapes:
            config, sides = training_sides(shape, options, tmp)
            timings = interleaved(sides, options.repeats)
            base, previous = next(iter(sides)), None
            for setup in sides:
                windows = timings.extras[setup]
                gain = setup.startswith("+ ")  # the gain of the option this row adds to the row above
                flops_per_s = statistics.median(w.flops / w.seconds for w in windows)
                rows.append({"benchmark": "training", "unit": "samples/s", "shape": shape, "setup": setup,
                             "runs_s": timings.runs[setup], "flops": [w.flops for w in windows],
                             "per_second": statistics.median(w.rows / w.seconds for w in windows),
                             "per_second_spread": spread([w.rows / w.seconds for w in windows]),
                             "tokens_per_second": statistics.median(w.tokens / w.seconds for w in windows),
                             "mfu": flops_per_s / (peak * 1e12) if peak else None,
                             "speedup": timings.ratio(base, setup), "speedup_spread": timings.ratio_spread(base, setup),
                             "gain": timings.ratio(previous, setup) if gain else None,
                             "gain_spread": timings.ratio_spread(previous, setup) if gain else None,
                             "options": windows[0].options, "load": [timings.load_before, timings.load_after]})
                previous = setup
        reranker_shape = "tiny" if options.tiny else "linkbert-base"
        passages, sides = reranker_sides(reranker_shape, options)
        evaluation = evaluation_sides(options.shapes[0], options)
        for benchmark, unit, shape, work, group in (
                ("reranking", "passages/s", reranker_shape, passages, sides),
                ("evaluation, 5 samples", "questions/s", options.shapes[0], options.eval_questions, evaluation)):
            timings = interleaved(group, options.repeats)
            base = next(iter(group))
            for setup in group:
                rows.append({"benchmark": benchmark, "unit": unit, "shape": shape, "setup": setup,
                             "runs_s": timings.runs[setup], "per_second": timings.rate(setup, work),
                             "per_second_spread": timings.rate_spread(setup, work), "tokens_per_second": None,
                             "mfu": None, "speedup": timings.ratio(base, setup),
                             "speedup_spread": timings.ratio_spread(base, setup), "gain": None,
                             "gain_spread": None, "options": None, "load": [timings.load_before, timings.load_after]})
    result = {"device": name, "peak_tflops": peak, "dtype": str(dtype()).removeprefix("torch."),
              "repeats": options.repeats, "steps": options.steps, "warmup": options.warmup,
              "batch_size": options.batch_size, "rows": rows}
    print_table(result)
    if options.json:
        with open(options.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return result


COLUMNS = ("benchmark", "shape", "setup", "per second", "tokens/s", "MFU", "speed-up", "gain over the row above")


def print_table(result: dict) -> None:
    peak = f"{result['peak_tflops']:g} TFLOPS dense bf16" if result["peak_tflops"] else "unknown (give --peak_tflops)"
    print(f"\n{result['device']}, {result['dtype']}, peak {peak}; training: batch {result['batch_size']}, "
          f"{result['steps']} timed steps after {result['warmup']}; {result['repeats']} interleaved rounds per side; "
          f"load average before/after: {result['rows'][0]['load'][0][0]:.2f}/{result['rows'][-1]['load'][1][0]:.2f}\n")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in result["rows"]:
        tokens = f"{row['tokens_per_second']:,.0f}" if row["tokens_per_second"] is not None else "-"
        mfu = f"{100 * row['mfu']:.1f} %" if row["mfu"] is not None else "-"
        gain = f"{cell(row['gain'], row['gain_spread'])}x" if row["gain"] is not None else "-"
        print(f"| {row['benchmark']} ({row['unit']}) | {row['shape']} | {row['setup']} | "
              f"{cell(row['per_second'], row['per_second_spread'])} | {tokens} | {mfu} | "
              f"{cell(row['speedup'], row['speedup_spread'])}x | {gain} |")
    print("\nmedian (min-max) over the rounds; speed-up: over the first row of its benchmark (the released way); "
          "a '+' row adds one trainer option to the row above (gain: that option's worth); tokens/s and MFU count "
          "the rows' real tokens; MFU = model FLOPs/s (t5_training_flops) / peak")


if __name__ == "__main__":
    main()
