"""Write a quickstart run's table into the docs from its results.json, never by hand.

    python benchmarks/quickstart_tables.py RESULTS.json docs/quickstart.md NAME [full|summary]

replaces the block between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` in the document with the
run's table: one row per quickstart row, each column's per-seed accuracies and their mean ± std, then the
library versions, torch's CPU kernels and threads (of the run that wrote results.json) and the seconds of each
seed's steps, all read from results.json. ``summary`` (the README's) keeps the means ± std, each seed's minutes
and the versions.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def table(results: dict, style: str = "full") -> str:
    """The Markdown of one run: accuracy table, versions, per-step seconds (``summary``: means and versions)."""
    if style not in ("full", "summary"):
        raise SystemExit(f"unknown style {style!r}; expected full or summary")
    columns, full = results["columns"], style == "full"
    header = "| row | " + " | ".join(f"{label}: per seed | **{label}**" if full else label
                                     for label in columns.values()) + " |"
    lines = [header, "|---" * (1 + (2 if full else 1) * len(columns)) + "|"]
    for row, cells in results["accuracy"].items():
        parts = []
        for split in columns:
            cell = cells[split]
            if full:
                parts.append(" / ".join(f"{100 * run:.1f}" for run in cell["runs"]))
            parts.append(f"{100 * cell['mean']:.1f} ± {100 * cell['std']:.1f}")
        lines.append(f"| {row} | " + " | ".join(parts) + " |")
    versions = ", ".join(f"{name} {version}" for name, version in results.get("versions", {}).items())
    path = results.get("float_path")  # the thread count and CPU kernels move the weights too (docs/quickstart.md)
    if path:
        threads = path["threads"]
        versions += f"; torch CPU kernels {path['cpu_capability']}, {threads} thread{'s' if threads > 1 else ''} a step"
    # each seed's steps as that seed ran them (a seed reused from an earlier run keeps its own record), else the
    # command's; the command's own time says nothing when it reused finished seeds
    per_seed = results.get("seconds_per_seed") or {"all": results.get("seconds_per_step", {})}
    wall = results.get("wall_seconds_per_seed") or {seed: sum(seconds.values()) for seed, seconds in per_seed.items()}
    minutes = ", ".join(f"seed {seed} {seconds / 60:.1f} min" for seed, seconds in wall.items())
    lines += ["", f"Seeds {results['seeds']}, preset {results['preset']}; wall time: {minutes}"
              + (f"; {versions}" if versions else "") + "."]
    if full:
        for seed, seconds in per_seed.items():
            evaluations = [value for name, value in seconds.items() if name.startswith("evaluate ")]
            shown = {name: value for name, value in seconds.items() if not name.startswith("evaluate ")}
            shown[f"{len(evaluations)} evaluations"] = sum(evaluations)
            steps = ", ".join(f"{name} {value:.0f} s" for name, value in shown.items() if value >= 1)
            lines += ["", f"Seconds per step, seed {seed}: {steps}."]
    return "\n".join(lines)


def main(results_path: str, document: str, name: str, style: str = "full") -> None:
    results = json.loads(Path(results_path).read_text())
    path = Path(document)
    text = path.read_text()
    block = re.compile(rf"(<!-- results:{re.escape(name)} -->\n)(?:.*?\n)?(<!-- /results:{re.escape(name)} -->)", re.S)
    if not block.search(text):
        raise SystemExit(f"{document} has no <!-- results:{name} --> ... <!-- /results:{name} --> block")
    path.write_text(block.sub(lambda m: m.group(1) + table(results, style) + "\n" + m.group(2), text))


if __name__ == "__main__":
    main(*sys.argv[1:])
