"""Write a quickstart run's table into the docs from its results.json, never by hand.

    python benchmarks/quickstart_tables.py RESULTS.json docs/quickstart.md NAME

replaces the block between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` in the document with the
run's table: one row per quickstart row, each column's per-seed accuracies and their mean ± std, then the
library versions, torch's CPU kernels and threads, the seconds of each step and the total, all read from results.json.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def table(results: dict) -> str:
    """The Markdown of one run: accuracy table, versions, per-step seconds."""
    columns = results["columns"]
    header = "| row | " + " | ".join(f"{label}: per seed | **{label}**" for label in columns.values()) + " |"
    lines = [header, "|---" * (1 + 2 * len(columns)) + "|"]
    for row, cells in results["accuracy"].items():
        parts = []
        for split in columns:
            cell = cells[split]
            parts.append(" / ".join(f"{100 * run:.1f}" for run in cell["runs"]))
            parts.append(f"{100 * cell['mean']:.1f} ± {100 * cell['std']:.1f}")
        lines.append(f"| {row} | " + " | ".join(parts) + " |")
    versions = ", ".join(f"{name} {version}" for name, version in results.get("versions", {}).items())
    path = results.get("float_path")  # the thread count and CPU kernels move the weights too (docs/quickstart.md)
    if path:
        versions += f"; torch CPU kernels {path['cpu_capability']}, {path['threads']} threads"
    steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in results.get("seconds_per_step", {}).items()
                      if seconds >= 1)
    lines += ["", f"Seeds {results['seeds']}, preset {results['preset']}, {results['seconds'] / 60:.1f} min in all"
              + (f"; {versions}" if versions else "") + ".", "", f"Seconds per step (all seeds): {steps}."]
    return "\n".join(lines)


def main(results_path: str, document: str, name: str) -> None:
    results = json.loads(Path(results_path).read_text())
    path = Path(document)
    text = path.read_text()
    block = re.compile(rf"(<!-- results:{re.escape(name)} -->\n).*?(\n<!-- /results:{re.escape(name)} -->)", re.S)
    if not block.search(text):
        raise SystemExit(f"{document} has no <!-- results:{name} --> ... <!-- /results:{name} --> block")
    path.write_text(block.sub(lambda m: m.group(1) + table(results) + m.group(2), text))


if __name__ == "__main__":
    main(*sys.argv[1:])
