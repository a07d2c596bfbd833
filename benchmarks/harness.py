"""Figures that hold: every benchmark side runs several times, interleaved A B A B, and is reported as a median.

A shared machine drifts (other jobs start and stop), so one run per side, or all of A then all of B, can move a
ratio by 2x. :func:`interleaved` runs the sides in turn, ``repeats`` times; :class:`Timings` gives each side's
median and spread (min-max) and the ratio of two sides with the range of the per-round ratios; the machine's
load average is recorded before and after, and printed with every table. Each call's CPU time (this process
and its children) is kept too: when the load average exceeds the cores, wall-clock time measures the other
jobs as much as ours, while the CPU time of a single-threaded side still measures its own work.

    from harness import add_repeats_argument, interleaved
    timings = interleaved({"released": run_released, "kard_hf": run_ours}, repeats=3)  # each returns seconds
    print(timings.describe())
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MIN_REPEATS = 3


def add_repeats_argument(parser: argparse.ArgumentParser, default: int = MIN_REPEATS) -> None:
    """``--repeats N`` (at least 3): how many interleaved rounds every side runs."""

    def at_least_three(text: str) -> int:
        value = int(text)
        if value < MIN_REPEATS:
            raise argparse.ArgumentTypeError(f"at least {MIN_REPEATS} repeats give a median and a spread")
        return value

    parser.add_argument("--repeats", type=at_least_three, default=default,
                        help=f"interleaved rounds per side (>= {MIN_REPEATS}); the tables report the median")


def timed(function: Callable[[], object]) -> Callable[[], tuple[float, object]]:
    """A side for :func:`interleaved` that times all of ``function`` and keeps what it returns."""

    def side():
        start = time.perf_counter()
        result = function()
        return time.perf_counter() - start, result

    return side


@dataclass
class Timings:
    """Each side's measurements (one per round, in order) and the load average around them."""

    runs: dict[str, list[float]]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    extras: dict[str, list] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # CPU seconds of each whole call (set-up included)

    def median(self, side: str) -> float:
        return statistics.median(self.runs[side])

    def spread(self, side: str) -> tuple[float, float]:
        return min(self.runs[side]), max(self.runs[side])

    def rate(self, side: str, work: float) -> float:
        """Median work per second (``work`` units done in each run)."""
        return work / self.median(side)

    def rate_spread(self, side: str, work: float) -> tuple[float, float]:
        low, high = self.spread(side)
        return work / high, work / low

    def ratio(self, slow: str, fast: str) -> float:
        """How many times faster ``fast`` is than ``slow``: the ratio of the median times."""
        return self.median(slow) / self.median(fast)

    def ratio_spread(self, slow: str, fast: str) -> tuple[float, float]:
        """The lowest and highest ratio of one round's two runs (they ran next to each other)."""
        ratios = [s / f for s, f in zip(self.runs[slow], self.runs[fast])]
        return min(ratios), max(ratios)

    def cpu_ratio(self, slow: str, fast: str) -> float:
        """Like :meth:`ratio`, from the CPU seconds of the calls."""
        return statistics.median(self.cpu[slow]) / statistics.median(self.cpu[fast])

    def cpu_ratio_spread(self, slow: str, fast: str) -> tuple[float, float]:
        ratios = [s / f for s, f in zip(self.cpu[slow], self.cpu[fast])]
        return min(ratios), max(ratios)

    def describe(self) -> str:
        """One line: rounds, the load average (1, 5, 15 min) before and after, and the cores."""
        fmt = lambda load: "/".join(f"{x:.2f}" for x in load)
        return (f"{len(next(iter(self.runs.values())))} interleaved rounds per side; load average (1/5/15 min) "
                f"before {fmt(self.load_before)}, after {fmt(self.load_after)}; {os.cpu_count()} cores")


def interleaved(sides: dict[str, Callable[[], float | tuple[float, object]]], repeats: int = MIN_REPEATS) -> Timings:
    """Run every side once per round, in the given order, for ``repeats`` rounds (A B A B ...).

    Each side returns the seconds it measured itself (so set-up can stay out of the timing), or
    ``(seconds, extra)`` where ``extra`` is kept in ``Timings.extras[side]`` (e.g. outputs to compare).
    """
    load_before = os.getloadavg()
    runs = {name: [] for name in sides}
    cpu = {name: [] for name in sides}
    extras: dict[str, list] = {}
    for _ in range(repeats):
        for name, side in sides.items():
            cpu_start = cpu_seconds()
            result = side()
            cpu[name].append(cpu_seconds() - cpu_start)
            if isinstance(result, tuple):
                result, extra = result
                extras.setdefault(name, []).append(extra)
            runs[name].append(float(result))
    return Timings(runs, load_before, os.getloadavg(), extras, cpu)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cell(value: float, spread: tuple[float, float], digits: int = 2) -> str:
    """``median (min-max)`` for a table cell."""
    return f"{value:.{digits}f} ({spread[0]:.{digits}f}-{spread[1]:.{digits}f})"
