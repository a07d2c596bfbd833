"""The floors of docs/architecture.md, enforced: the import-linter contract in .importlinter holds on kard_hf, and
it breaks (naming the import) when a module imports from a floor above its own."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the kard_hf package under ``root``, with the repository's contract."""
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.argv = ['lint-imports', '--no-cache', '--config', sys.argv[1]]; lint_imports_command()",
                           str(ROOT / ".importlinter")], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                          capture_output=True, text=True)


def test_every_import_runs_downhill():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_back_up_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "kard_hf", tmp_path / "kard_hf", ignore=shutil.ignore_patterns("__pycache__"))
    schema = tmp_path / "kard_hf" / "data" / "schema.py"
    schema.write_text(schema.read_text() + "\n\ndef _upward():\n    from ..inference import base  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "kard_hf.data.schema -> kard_hf.inference.base" in result.stdout
