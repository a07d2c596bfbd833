"""Votes, accuracy and reports: how a student's generations become one number (METHOD.md step 5)."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from ..data.formatting import extract_answer


@dataclass(frozen=True)
class Vote:
    """The answer of one question from its sampled generations.

    ``answer`` is the most voted option index (ties go to the option reached first), ``None``
    when no generation gave a usable answer; ``counts`` maps option index to votes.
    """

    answer: int | None
    counts: dict[int, int]
    parsed: list[int | None]


def vote(generations: list[str], num_options: int) -> Vote:
    """Majority vote over the answers parsed from ``generations``; unparsable generations do not vote."""
    parsed = [extract_answer(text, num_options) for text in generations]
    counts = Counter(answer for answer in parsed if answer is not None)
    if not counts:
        return Vote(None, {}, parsed)
    first = {answer: parsed.index(answer) for answer in counts}
    best = max(counts, key=lambda answer: (counts[answer], -first[answer]))
    return Vote(best, dict(sorted(counts.items())), parsed)


def accuracy(predictions: list[int | None], golds: list[int | None]) -> float:
    """Share of labeled questions answered right; a missing prediction counts as wrong."""
    pairs = [(p, g) for p, g in zip(predictions, golds) if g is not None]
    if not pairs:
        raise ValueError("no labeled question to score")
    return sum(p == g for p, g in pairs) / len(pairs)


def summarize(values: list[float]) -> dict:
    """``{"mean", "std", "runs"}`` (sample standard deviation; 0 for a single run)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": list(values)}


def format_table(rows: list[tuple[str, dict]], *, title: str = "accuracy (%)", columns: dict[str, str] | None = None) -> str:
    """A markdown table of ``(name, summarize(...))`` rows, as percentages with ± std over runs.

    With ``columns`` (``{key: header}``), each row holds ``{key: summarize(...)}`` and gets one cell per
    column (— where it has none); ``title`` then heads nothing.
    """
    def cell(summary: dict | None) -> str:
        if summary is None:
            return "—"
        return f"{100 * summary['mean']:.2f}" + (f" ± {100 * summary['std']:.2f}" if len(summary["runs"]) > 1 else "")

    headers = list(columns.values()) if columns else [title]
    cells = [[cell(values.get(key)) for key in columns] if columns else [cell(values)] for _, values in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    width = max([len("method"), *(len(name) for name, _ in rows)])
    line = lambda first, rest: "| " + " | ".join([f"{first:<{width}}"] + [f"{c:<{w}}" for c, w in zip(rest, widths)]) + " |"  # noqa: E731
    rule = "|" + "|".join("-" * (w + 2) for w in [width, *widths]) + "|"
    return "\n".join([line("method", headers), rule] + [line(name, row) for (name, _), row in zip(rows, cells)])
