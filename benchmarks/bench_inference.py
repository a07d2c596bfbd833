"""Batched KARDPipeline vs a per-question generate loop (the released code's way): both in one run, interleaved.

    python benchmarks/bench_inference.py [--questions 64] [--samples 5] [--batch_size 32] [--repeats 3]

One random-init T5 student (d_model 256, 4+4 layers, ~8M parameters) with a tokenizer trained on the bundled
benchmark reads the top BM25 passage of each test question. Greedy decoding checks that both sides predict
the same; self-consistency sampling (5 samples, top-k 50, top-p 0.95) is timed too. Every side runs
``--repeats`` times, interleaved (loop, batched, loop, batched ...); the table gives medians and min-max.
"""

from __future__ import annotations

import argparse

import torch
from harness import add_repeats_argument, cell, interleaved, timed

from kard_hf.benchmark.generator import BenchmarkConfig, generate
from kard_hf.data import PromptTemplate, format_question
from kard_hf.distill.spec import StudentSpec
from kard_hf.inference import Decoding, KARDPipeline, Retrieved
from kard_hf.knowledge import KnowledgeBase
from kard_hf.benchmark.vocab import train_tokenizer


def per_question_loop(pipeline: KARDPipeline, examples, passages, decoding: Decoding) -> list[list[str]]:
    """What the released evaluation does: one generate call per question, no batching across questions."""
    outputs = []
    for example, shown in zip(examples, passages):
        outputs += pipeline.generate([format_question(example.stem, example.options)], [shown], decoding)
    return outputs


def bundled_questions(count: int):
    """``count`` test questions of the bundled benchmark, their top-1 BM25 passage (texts, and as candidates)
    and a T5 tokenizer trained on its corpus."""
    benchmark = generate(BenchmarkConfig(num_train=500, num_validation=0, num_test=count))
    corpus = {key: [row.get(key, "") for row in benchmark.corpus] for key in ("id", "title", "text")}
    kb = KnowledgeBase.build(corpus, show_progress=False)
    examples = benchmark.splits["test"]
    found = kb.search([format_question(e.stem, e.options) for e in examples], k=1)
    return examples, found.texts, Retrieved(found.texts, found.ids), train_tokenizer(corpus["text"], "t5", 3000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_new_tokens", type=int, default=48)
    add_repeats_argument(parser)
    args = parser.parse_args()
    examples, passages, pool, tokenizer = bundled_questions(args.questions)
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=len(tokenizer), d_model=256, d_kv=32, d_ff=1024, num_layers=4,
                                                num_heads=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)).eval()
    spec = StudentSpec("kard", PromptTemplate(), 1, 256, 64)
    pipeline = KARDPipeline(model, tokenizer, spec, batch_size=args.batch_size)
    greedy = Decoding("greedy", max_new_tokens=args.max_new_tokens)
    sampling = Decoding("sample", num_samples=args.samples, max_new_tokens=args.max_new_tokens)

    def looped_sampling():
        torch.manual_seed(0)
        return per_question_loop(pipeline, examples, passages, sampling)

    timings = interleaved({
        "loop greedy": timed(lambda: per_question_loop(pipeline, examples, passages, greedy)),
        "batched greedy": timed(lambda: [p.generations for p in pipeline(examples, candidates=pool, decoding=greedy)]),
        "loop sample": timed(looped_sampling),
        "batched sample": timed(lambda: pipeline(examples, candidates=pool, decoding=sampling, seed=0)),
    }, repeats=args.repeats)
    same = sum(a == b for a, b in zip(timings.extras["batched greedy"][0], timings.extras["loop greedy"][0]))

    print(f"{args.questions} questions, top-1 BM25 passage, T5 student of "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, max {args.max_new_tokens} new tokens, "
          f"batch {args.batch_size}, {torch.get_num_threads()} threads; {timings.describe()}\n")
    print("| decoding | per-question loop (s) | batched KARDPipeline (s) | speed-up | speed-up by CPU time |")
    print("|---|---|---|---|---|")
    for name, loop, batched in (("greedy", "loop greedy", "batched greedy"),
                                (f"self-consistency, {args.samples} samples", "loop sample", "batched sample")):
        print(f"| {name} | {cell(timings.median(loop), timings.spread(loop), 1)} | "
              f"{cell(timings.median(batched), timings.spread(batched), 1)} | "
              f"{cell(timings.ratio(loop, batched), timings.ratio_spread(loop, batched), 1)}x | "
              f"{cell(timings.cpu_ratio(loop, batched), timings.cpu_ratio_spread(loop, batched), 1)}x |")
    print(f"\nmedian (min-max) of {args.repeats} interleaved runs; identical greedy generations: {same}/{len(examples)}")


if __name__ == "__main__":
    main()
