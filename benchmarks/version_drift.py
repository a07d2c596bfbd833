"""Fingerprint the quickstart's first steps under this Python's libraries, to find where two stacks diverge.

    python benchmarks/version_drift.py --workdir /tmp/drift-a > a.jsonl          # one venv
    /other/venv/bin/python benchmarks/version_drift.py --workdir /tmp/drift-b > b.jsonl
    diff a.jsonl b.jsonl                                                        # the first differing line

It runs the quickstart's own steps for one seed (``kard_hf.benchmark.quickstart.seed_steps``): the benchmark,
rationales, knowledge base, augmented data and the student's initialisation, then ``--steps`` steps of the
denoising pretraining and of the KARD student, and that student's evaluation with the oracle passages on the
held-out split. After each it prints one JSON line: the stage and a SHA-256 of what it wrote (the files, the
rows, the tokenizer, the weights' tensors, the predictions). Stages are cheapest first, so the first line that
differs names the first step where the stacks part. The first line says what the sums depend on: the library
versions, torch's CPU kernel level and its thread count; the last two change floating-point sums, so they move
the weights even when every library is the same (docs/quickstart.md, "Why the numbers moved between library
versions").
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import sys
from importlib.metadata import version
from pathlib import Path


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="Empty or missing folder for the seed's artifacts.")
    parser.add_argument("--preset", default="full", help="Quickstart preset (full: the documented table's sizes).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=3, help="Pretraining and KARD training steps to fingerprint.")
    return parser


def digest_files(folder: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:16]


def digest_rows(folder: Path) -> str:
    """The processed dataset's rows (not its files, whose metadata names the datasets version)."""
    from kard_hf.data.store import load_dataset_dict

    sha = hashlib.sha256()
    splits = load_dataset_dict(folder)[0]
    for split in sorted(splits):
        for row in splits[split]:
            sha.update(json.dumps(row, sort_keys=True).encode())
    return sha.hexdigest()[:16]


def digest_weights(folder: Path) -> str:
    from safetensors.torch import load_file

    sha = hashlib.sha256()
    for name, tensor in sorted(load_file(folder / "model.safetensors").items()):
        sha.update(name.encode() + tensor.contiguous().numpy().tobytes())
    return sha.hexdigest()[:16]


def digest_predictions(folder: Path) -> str:
    lines = (folder / "predictions.jsonl").read_text().splitlines()
    kept = [{key: row[key] for key in ("id", "passage_ids", "rationales", "index")} for row in map(json.loads, lines)]
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:16]


def environment() -> dict:
    import torch

    libraries = ("torch", "transformers", "tokenizers", "datasets", "peft", "accelerate", "safetensors")
    return {"stage": "environment", **{name: version(name) for name in libraries},
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}


def fingerprints(workdir: Path, preset_name: str, seed: int, steps: int):
    """Yield ``{"stage": ..., "sha256": ...}`` for each stage, running the quickstart's steps in ``workdir``."""
    from kard_hf.benchmark.quickstart import PRESETS, seed_steps
    from kard_hf.chain import run_steps

    preset = dataclasses.replace(PRESETS[preset_name], pretrain_steps=steps, student_steps=steps)
    root = workdir / f"seed-{seed}"
    # the reranker's backbone is never loaded here: its steps are not run
    chain = {step.name: step for step in seed_steps(root, preset, seed, backbone="unused")}
    stages = {
        "benchmark": lambda: digest_files(root / "benchmark"),
        "rationales": lambda: digest_rows(root / "rationales"),
        "build-kb": lambda: digest_files(root / "kb" / "passages") + " index " + digest_files(root / "kb" / "index"),
        "augment": lambda: digest_rows(root / "processed"),
        "student init": lambda: digest_weights(root / "student-init") + " tokenizer "
        + hashlib.sha256((root / "student-init" / "tokenizer.json").read_bytes()).hexdigest()[:16],
        "student pretraining": lambda: digest_weights(root / "student-init"),
        "train kard": lambda: digest_weights(root / "kard"),
        "evaluate KARD (oracle passages) on test": lambda: digest_predictions(
            root / "eval" / "test" / "kard-oracle-passages"),
    }
    done = []
    for name, digest in stages.items():
        done.append(chain[name])
        with contextlib.redirect_stdout(sys.stderr):  # the commands' own tables and logs: stdout holds the JSON lines
            run_steps(done, root)
        yield {"stage": name, "sha256": digest()}


def main(argv: list[str] | None = None) -> None:
    args = make_parser().parse_args(argv)
    print(json.dumps(environment()), flush=True)
    for line in fingerprints(Path(args.workdir), args.preset, args.seed, args.steps):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
