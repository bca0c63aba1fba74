"""The worked Shanwei example runs and reproduces the seed's scale."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "shanwei_devolution.py"


def test_shanwei_example_runs(tmp_path, capsys):
    """2,230 posts, 267.6 million yuan a year, conserved per county, written to CSV."""
    module = runpy.run_path(str(EXAMPLE))
    module["main"](tmp_path)
    text = capsys.readouterr().out
    assert "posts moved                         2,230" in text
    assert "money following the duties    267,600,000 yuan a year" in text
    assert "Shanwei's 44 eligible towns" in text
    assert (tmp_path / "shanwei_subsidy_change.csv").exists()
