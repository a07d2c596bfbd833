"""Steps run at the same time (kard_hf.scheduler, ``run_steps(jobs=N)``): each waits for those it reads from, at
most N run at once, each in a process of its own with its threads and its log; a failure stops the others and
names the step; a rerun skips what finished and resumes what was stopped."""

import json
import os
import time
from pathlib import Path

import pytest

from kard_hf.chain import Step, recorded_wall_seconds, run_steps, step_needs
from kard_hf.scheduler import Job, StepFailed, run_jobs


def _note(folder: Path, name: str, seconds: float = 0.0, resumed_seconds: float | None = None):
    """A step body that records when it started and ended, its threads, and prints a line."""
    def run(mode=None):
        import torch

        start = time.time()
        print(f"{name} says hello")
        time.sleep(seconds if mode is None or resumed_seconds is None else resumed_seconds)
        (folder / f"{name}.json").write_text(json.dumps({"start": start, "end": time.time(), "mode": mode,
                                                         "threads": torch.get_num_threads()}))
    return run


def _read(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def test_steps_wait_for_what_they_read_and_run_two_at_a_time(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    steps = [Step("make data", {"output_dir": str(tmp_path / "data")}, _note(out, "data")),
             Step("train a", {"dataset": str(tmp_path / "data"), "output_dir": str(tmp_path / "a")}, _note(out, "a", 1.0)),
             Step("train b", {"dataset": str(tmp_path / "data"), "output_dir": str(tmp_path / "b")}, _note(out, "b", 1.0)),
             Step("train c", {"dataset": str(tmp_path / "data"), "output_dir": str(tmp_path / "c")}, _note(out, "c", 0.2)),
             Step("evaluate a", {"student": str(tmp_path / "a"), "output_dir": str(tmp_path / "eval" / "a")},
                  _note(out, "eval-a")),
             Step("custom", {"seed": 0}, _note(out, "custom"), writes=(str(tmp_path / "extra"),), needs=("train c",)),
             Step("reads custom", {"model": str(tmp_path / "extra" / "model")}, _note(out, "reads-custom"))]
    assert step_needs(steps) == {"make data": set(), "train a": {"make data"}, "train b": {"make data"},
                                 "train c": {"make data"}, "evaluate a": {"train a"}, "custom": {"train c"},
                                 "reads custom": {"custom"}}
    lines = []
    timings = run_steps(steps, tmp_path / "run", jobs=2, threads=1, log=lines.append)
    assert list(timings) == [step.name for step in steps] and all(seconds > 0 for seconds in timings.values())
    spans = {name: _read(out, name) for name in ("data", "a", "b", "c", "eval-a", "custom", "reads-custom")}
    assert spans["data"]["end"] <= min(spans[n]["start"] for n in ("a", "b", "c"))
    assert spans["a"]["start"] < spans["b"]["end"] and spans["b"]["start"] < spans["a"]["end"]  # side by side
    assert spans["c"]["start"] >= min(spans["a"]["end"], spans["b"]["end"])  # never three at once
    assert spans["eval-a"]["start"] >= spans["a"]["end"] and spans["reads-custom"]["start"] >= spans["custom"]["end"]
    assert {span["threads"] for span in spans.values()} == {1} and {span["mode"] for span in spans.values()} == {None}
    steps_folder = tmp_path / "run" / ".steps"
    assert "a says hello" in (steps_folder / "train-a.log").read_text()  # each step's output in its own log
    assert not any("says hello" in line for line in lines)
    assert any(line == f"== train a (output: {steps_folder / 'train-a.log'})" for line in lines)
    assert sorted(p.name for p in steps_folder.glob("*.json")) == sorted(
        f"{name.replace(' ', '-')}.json" for name in timings)

    # the run's wall time from the markers: a and b side by side count once
    wall = recorded_wall_seconds(steps, tmp_path / "run")
    assert max(timings.values()) <= wall < sum(timings.values()) - 0.5
    marker = steps_folder / "train-a.json"  # an older kard_hf's marker, with no start: it ends at its mtime
    record = json.loads(marker.read_text())
    marker.write_text(json.dumps({key: value for key, value in record.items() if key != "started_at"}))
    end = record["started_at"] + record["seconds"]
    os.utime(marker, (end, end))
    assert recorded_wall_seconds(steps, tmp_path / "run") == pytest.approx(wall, abs=0.01)

    lines.clear()  # a rerun skips them all
    assert not any(run_steps(steps, tmp_path / "run", jobs=2, log=lines.append).values())
    assert sum(line.endswith("already complete, skipped") for line in lines) == len(steps)


def test_a_failed_step_stops_the_others_and_a_rerun_resumes_them(tmp_path):
    out = tmp_path / "out"
    out.mkdir()

    def fails(mode=None):
        print("about to fail")
        raise RuntimeError("the student diverged")

    steps = [Step("slow", {"output_dir": str(tmp_path / "slow")}, _note(out, "slow", 30.0, resumed_seconds=0.0)),
             Step("broken", {"output_dir": str(tmp_path / "broken")}, fails),
             Step("after broken", {"student": str(tmp_path / "broken")}, _note(out, "after"))]
    lines = []
    start = time.monotonic()
    with pytest.raises(StepFailed, match=r"step 'broken' failed \(exit code 1\); its output is in .*broken\.log"):
        run_steps(steps, tmp_path / "run", jobs=2, log=lines.append)
    assert time.monotonic() - start < 20  # the slow one was stopped, not waited for
    assert any("RuntimeError: the student diverged" in line for line in lines)  # the log's tail, printed
    assert "== slow: stopped" in lines
    steps_folder = tmp_path / "run" / ".steps"
    assert (steps_folder / "slow.started").is_file() and not (steps_folder / "slow.json").exists()
    assert not (out / "slow.json").exists() and not (out / "after.json").exists()

    steps[1] = Step("broken", {"output_dir": str(tmp_path / "broken")}, _note(out, "broken"))
    run_steps(steps, tmp_path / "run", jobs=2, log=lines.append)
    assert _read(out, "slow")["mode"] == "continue" and _read(out, "broken")["mode"] == "continue"
    assert _read(out, "after")["mode"] is None


def test_a_step_that_raises_a_kard_error_exits_2_with_its_message_in_the_log(tmp_path):
    from kard_hf.errors import ConfigError

    def bad(mode=None):
        raise ConfigError("no such file or folder: corpus.tsv", field="corpus")

    log = tmp_path / "bad.log"
    with pytest.raises(StepFailed, match=r"step 'bad' failed \(exit code 2\)"):
        run_jobs([Job("bad", bad, set(), log)], at_once=2, threads=1, started=lambda job: None,
                 finished=lambda job, seconds: None, log=lambda line: None)
    assert log.read_text().strip() == "error: field 'corpus': no such file or folder: corpus.tsv"


def test_a_step_runs_on_two_threads_after_its_parent_ran_torch_on_two(tmp_path):
    """GNU OpenMP keeps no fork handler: without the scheduler's pause, this child would wait forever for its
    parent's threads. Run in a fresh interpreter with a deadline, so a regression fails instead of hanging."""
    import subprocess
    import sys

    script = f"""
import json, torch
from pathlib import Path
from kard_hf.scheduler import Job, run_jobs
torch.set_num_threads(2)
x = torch.randn(600, 600)
for _ in range(5):
    x @ x  # the parent's OpenMP threads exist now
def step():
    y = torch.randn(600, 600)
    for _ in range(5):
        y @ y
    Path({str(tmp_path / 'done.json')!r}).write_text(json.dumps(torch.get_num_threads()))
run_jobs([Job("two threads", step, set(), Path({str(tmp_path / 'step.log')!r}))], at_once=2, threads=2,
         started=lambda job: None, finished=lambda job, seconds: None)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert json.loads((tmp_path / "done.json").read_text()) == 2


def test_jobs_that_wait_for_each_other_are_refused_not_waited_on(tmp_path):
    jobs = [Job("a", lambda: None, {"b"}, tmp_path / "a.log"), Job("b", lambda: None, {"a"}, tmp_path / "b.log")]
    with pytest.raises(ValueError, match="steps that wait for each other: a, b"):
        run_jobs(jobs, at_once=2, threads=1, started=lambda job: None, finished=lambda job, seconds: None)
