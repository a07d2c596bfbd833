"""Run the independent steps of a chain at the same time, each in a process of its own.

``kard-hf pipeline --jobs N`` and ``kard-hf quickstart`` hand their steps here: a step starts once every
step it needs has finished, at most ``at_once`` at a time, in the chain's order where several are ready.
Each runs in a forked process with ``threads`` torch threads and its output in a log file of its own (the
progress lines of two steps would interleave on one console); the parent prints a line when a step starts
and one when it ends. Why processes: small students use two cores poorly, and two one-thread steps side by
side get more done than one two-thread step after another (docs/quickstart.md has the measurements).

When a step fails, the steps still running are stopped (each resumes as a killed step does), the last lines
of the failed step's log are printed, and :class:`StepFailed` names it and its log.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import sys
import time
import traceback
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable

from .errors import KardError

TAIL_LINES = 20  # lines of a failed step's log printed with the error
OMP_PAUSE_HARD = 2  # omp_pause_resource_kind: free the threads and their state


class StepFailed(KardError):
    """A step run in a process of its own ended with an error (its log has the traceback)."""


@dataclass
class Job:
    """One step to run: ``run()`` does it, once every step named in ``needs`` has finished; its output goes to ``log``."""

    name: str
    run: Callable[[], object]
    needs: set[str]
    log: Path


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_fork() -> bool:
    """Whether steps can run side by side here (Linux and macOS can fork; Windows cannot)."""
    return "fork" in multiprocessing.get_all_start_methods()


def set_threads(threads: int) -> None:
    """Run torch (and the libraries that read the OpenMP variables, in processes started from here) on ``threads``."""
    import torch

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    torch.set_num_threads(threads)


def pause_openmp() -> None:
    """Free GNU OpenMP's threads before a fork. libgomp (torch's OpenMP on Linux) has no fork handler: a child
    that runs a parallel region on more than one thread, after its parent ran one, waits forever for threads
    that exist only in the parent. Paused, the parent's next region starts new threads, and so does the child's."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux: LLVM's and Intel's OpenMP handle a fork themselves
        return
    for path in sorted({line.split()[-1] for line in maps.splitlines() if "libgomp" in line}):
        with suppress(OSError, AttributeError):
            ctypes.CDLL(path).omp_pause_resource_all(OMP_PAUSE_HARD)


def _child(job: Job, threads: int, prepare: Callable[[], None]) -> None:
    """The body of a step's process: output to its log, ``threads`` threads, then the step; exit code 2 for a
    :class:`KardError` (the message is the log's last line), 1 for any other error (a traceback)."""
    fd = os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)  # noqa: SIM115
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the step's own thread count rules
    prepare()
    set_threads(threads)
    code = 0
    try:
        job.run()
    except KardError as error:
        print(f"error: {error}", file=sys.stderr)
        code = 2
    except BaseException:  # noqa: BLE001 - the parent reports every failure, with this traceback in the log
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip the parent's atexit handlers and the forked copies of its resources


def run_jobs(jobs: list[Job], *, at_once: int, threads: int, started: Callable[[Job], None],
             finished: Callable[[Job, float], None], log: Callable[[str], None] = print,
             prepare: Callable[[], None] = lambda: None) -> None:
    """Run ``jobs`` (in a valid order: each one's ``needs`` are earlier jobs or already done), ``at_once`` at a
    time, each forked with ``threads`` threads and ``prepare()`` called first in it. ``started(job)`` runs in
    this process before its fork, ``finished(job, seconds)`` once it ended well."""
    if not can_fork():
        raise KardError("steps side by side (jobs above 1) run in forked processes, and this platform cannot fork: "
                        "run them one after the other (jobs 1)")
    context = multiprocessing.get_context("fork")  # the steps are closures: a fork runs them as they are
    pending, names = list(jobs), {job.name for job in jobs}
    running: dict[object, tuple[Job, object, float]] = {}
    done: set[str] = set()
    try:
        while pending or running:
            for job in list(pending):
                if len(running) >= at_once:
                    break
                if (job.needs & names) <= done:
                    started(job)
                    log(f"== {job.name} (output: {job.log})")
                    sys.stdout.flush()
                    sys.stderr.flush()
                    pause_openmp()
                    process = context.Process(target=_child, args=(job, threads, prepare), name=job.name)
                    process.start()
                    running[process.sentinel] = (job, process, time.perf_counter())
                    pending.remove(job)
            if not running:
                raise ValueError(f"steps that wait for each other: {', '.join(job.name for job in pending)}")
            for sentinel in wait(list(running)):
                job, process, start = running.pop(sentinel)
                process.join()
                seconds = time.perf_counter() - start
                if process.exitcode != 0:
                    lines = job.log.read_text(encoding="utf-8", errors="replace").splitlines()[-TAIL_LINES:]
                    log("\n".join(f"   | {line}" for line in lines))
                    raise StepFailed(f"step '{job.name}' failed (exit code {process.exitcode}); its output is in "
                                     f"{job.log}")
                finished(job, seconds)
                done.add(job.name)
                log(f"== {job.name}: done in {seconds:.0f} s")
    finally:
        for job, process, _ in running.values():  # stopped here, each resumes as a killed step does
            process.terminate()
            process.join()
            log(f"== {job.name}: stopped")
