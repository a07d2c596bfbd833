"""Batched KARDPipeline vs a per-question generate loop (the released code's way): both in one run.

    python benchmarks/bench_inference.py [--questions 200] [--samples 5] [--batch_size 32]

One random-init T5 student (d_model 256, 4+4 layers, ~8M parameters) with a tokenizer trained on the bundled
benchmark reads the top BM25 passage of each test question. Greedy decoding checks that both sides predict
the same; self-consistency sampling (5 samples, top-k 50, top-p 0.95) is timed. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch

from kard_hf.benchmark.generator import BenchmarkConfig, generate
from kard_hf.data import PromptTemplate, format_question
from kard_hf.distill.spec import StudentSpec
from kard_hf.inference import Decoding, KARDPipeline, Retrieved
from kard_hf.knowledge import KnowledgeBase
from kard_hf.vocab import train_tokenizer


def per_question_loop(pipeline: KARDPipeline, examples, passages, decoding: Decoding) -> list[list[str]]:
    """What the released evaluation does: one generate call per question, no batching across questions."""
    outputs = []
    for example, shown in zip(examples, passages):
        outputs += pipeline.generate([format_question(example.stem, example.options)], [shown], decoding)
    return outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_new_tokens", type=int, default=48)
    args = parser.parse_args()
    benchmark = generate(BenchmarkConfig(num_train=500, num_validation=0, num_test=args.questions))
    corpus = {key: [row.get(key, "") for row in benchmark.corpus] for key in ("id", "title", "text")}
    kb = KnowledgeBase.build(corpus, show_progress=False)
    tokenizer = train_tokenizer(corpus["text"], "t5", 3000)
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=len(tokenizer), d_model=256, d_kv=32, d_ff=1024, num_layers=4,
                                                num_heads=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)).eval()
    spec = StudentSpec("kard", PromptTemplate(), 1, 256, 64)
    examples = benchmark.splits["test"]
    found = kb.search([format_question(e.stem, e.options) for e in examples], k=1)
    pool = Retrieved(found.texts, found.ids)
    pipeline = KARDPipeline(model, tokenizer, spec, batch_size=args.batch_size)

    greedy = Decoding("greedy", max_new_tokens=args.max_new_tokens)
    start = time.perf_counter()
    batched_greedy = [p.generations for p in pipeline(examples, candidates=pool, decoding=greedy)]
    t_batched_greedy = time.perf_counter() - start
    start = time.perf_counter()
    looped_greedy = per_question_loop(pipeline, examples, found.texts, greedy)
    t_looped_greedy = time.perf_counter() - start
    same = sum(a == b for a, b in zip(batched_greedy, looped_greedy))

    sampling = Decoding("sample", num_samples=args.samples, max_new_tokens=args.max_new_tokens)
    start = time.perf_counter()
    pipeline(examples, candidates=pool, decoding=sampling, seed=0)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    torch.manual_seed(0)
    per_question_loop(pipeline, examples, found.texts, sampling)
    t_looped = time.perf_counter() - start

    print(f"{args.questions} questions, top-1 BM25 passage, T5 student of "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, max {args.max_new_tokens} new tokens, "
          f"batch {args.batch_size}, {torch.get_num_threads()} threads\n")
    print("| decoding | per-question loop (s) | batched KARDPipeline (s) | speed-up |")
    print("|---|---|---|---|")
    print(f"| greedy | {t_looped_greedy:.1f} | {t_batched_greedy:.1f} | {t_looped_greedy / t_batched_greedy:.1f}x |")
    print(f"| self-consistency, {args.samples} samples | {t_looped:.1f} | {t_batched:.1f} | {t_looped / t_batched:.1f}x |")
    print(f"\nidentical greedy generations: {same}/{len(examples)}")


if __name__ == "__main__":
    main()
