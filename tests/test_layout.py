"""The wings' import contracts (pyproject.toml) hold, and they do catch an arrow pointing up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "townfiscal"

pytest.importorskip("importlinter")


def lint_imports(source_root: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` with the project's contracts on the package under *source_root*."""
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())", "--config", str(ROOT / "pyproject.toml"),
         "--no-cache"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)


def copy_with(tmp_path: Path, module: str, extra: str) -> Path:
    """A copy of the package with *extra* appended to *module* (a path inside the package)."""
    root = tmp_path / "src"
    shutil.copytree(PACKAGE, root / "townfiscal",
                    ignore=shutil.ignore_patterns("__pycache__", "*.gz", "*.otf", "*.csv"))
    with (root / "townfiscal" / module).open("a", encoding="utf-8") as fh:
        fh.write(extra)
    return root


def test_the_package_keeps_its_contracts(tmp_path):
    """The layers, the acyclic modules and the untouched public face all hold today."""
    run = lint_imports(PACKAGE.parent, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 kept, 0 broken" in run.stdout


def test_an_upward_import_inside_a_function_breaks_the_layers(tmp_path):
    """The towns table importing the rules, even inside a function, fails the lint."""
    root = copy_with(tmp_path, "towns/_read.py",
                     "\n\ndef _up():\n    from townfiscal.rules import eligibility\n"
                     "    return eligibility\n")
    run = lint_imports(root, tmp_path)
    assert run.returncode == 1
    assert "townfiscal.towns is not allowed to import townfiscal.rules" in run.stdout


def test_a_cycle_inside_a_wing_and_an_import_of_the_package_face_fail(tmp_path):
    """A module importing a sibling that imports it back, or ``townfiscal`` itself, fails."""
    root = copy_with(tmp_path, "optimize/_model.py",
                     "\n\ndef _back():\n    from townfiscal import __version__\n"
                     "    from townfiscal.optimize._allocation import allocate\n"
                     "    return allocate, __version__\n")
    run = lint_imports(root, tmp_path)
    assert run.returncode == 1
    assert "._model -> ._allocation" in run.stdout
    assert "townfiscal.optimize._model -> townfiscal (l." in run.stdout
