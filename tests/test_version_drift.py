"""benchmarks/version_drift.py: one line per quickstart stage, cheapest first, and the same lines from the same
stack (so a differing line between two stacks is theirs, not the run's)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

import version_drift  # noqa: E402

STAGES = ["environment", "benchmark", "rationales", "build-kb", "augment", "student init", "student pretraining",
          "train kard", "evaluate KARD (oracle passages) on test"]


def run(capsys, workdir) -> list[dict]:
    version_drift.main(["--workdir", str(workdir), "--preset", "fast", "--steps", "2"])
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.slow
def test_stages_in_order_and_the_same_on_one_stack(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    first = run(capsys, tmp_path / "a")
    assert [line["stage"] for line in first] == STAGES
    assert first[0]["transformers"] and first[0]["threads"] >= 1 and first[0]["cpu_capability"]
    assert all(len(line["sha256"]) >= 16 for line in first[1:])
    # the student's weights move at every trained stage
    init, pretrained, kard = (line["sha256"].split()[0] for line in first[5:8])
    assert len({init, pretrained, kard}) == 3
    assert run(capsys, tmp_path / "b") == first
