"""The analysts' example notebooks run top to bottom in a fresh Jupyter kernel, quietly."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from _notebooks import execute, stray_output

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "examples" / "notebooks")
                   .glob("*.ipynb"))


def test_there_are_notebooks_for_the_journeys() -> None:
    """Allocate and explain, compare and sweep, project: one notebook each."""
    assert [p.stem for p in NOTEBOOKS] == ["allocate_and_explain", "compare_sweep_range",
                                          "project_five_years"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs_cleanly(path: Path, tmp_path: Path) -> None:
    """Every cell runs; nothing on stderr, no warning, no solver banner; figures as PNG."""
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "commit notebooks without outputs (the docs show them run)"
    execute(nb, tmp_path)
    assert stray_output(nb) == []
    for cell in nb.cells:
        if re.search(r"^(plots\.sweep|proj\.plot)\(", cell.source, re.M):
            results = [o for o in cell.outputs if o.output_type == "execute_result"]
            assert "image/png" in results[0]["data"]
