"""The README's snippets, unchanged, in a fresh Jupyter kernel and in a plain script."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from _notebooks import PROGRESS, execute, stray_output

README = Path(__file__).resolve().parents[1] / "README.md"
SECTIONS = ("## In a notebook", "## Comparing, sweeping, plotting, handing over")


def _snippets() -> list[str]:
    """The first ```python block under each of the README's notebook sections."""
    text = README.read_text(encoding="utf-8")
    out = []
    for heading in SECTIONS:
        rest = text[text.index(heading):]
        out.append(re.search(r"```python\n(.*?)```", rest, re.S).group(1))  # type: ignore[union-attr]
    return out


def _cells(code: str) -> list[str]:
    """One cell per top-level statement, as an analyst runs them; the comments above a
    statement go with it."""
    lines = code.splitlines()
    cells, start = [], 0
    for node in ast.parse(code).body:
        end = node.end_lineno or node.lineno
        cells.append("\n".join(lines[start:end]).strip("\n"))
        start = end
    return cells


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    cells = [c for code in _snippets() for c in _cells(code)]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    folder = tmp_path_factory.mktemp("readme-notebook")
    return execute(nb, folder)


def _outputs(nb: nbformat.NotebookNode, source_start: str) -> list[dict[str, object]]:
    cell = next(c for c in nb.cells if c.source.lstrip().startswith(source_start)
                or source_start in c.source.splitlines()[-1])
    return list(cell.outputs)


def test_the_readme_runs_in_a_kernel_without_stray_output(
        executed: nbformat.NotebookNode) -> None:
    """Every statement runs; nothing goes to stderr but a sweep's progress bar, no warning,
    no solver banner."""
    assert stray_output(executed, progress=True) == []


def test_figures_show_inline(executed: nbformat.NotebookNode) -> None:
    """plots.lorenz(...) as a cell's value displays as a PNG, not '<Figure size …>'."""
    outs = _outputs(executed, "plots.lorenz(")
    data = [o for o in outs if o.get("output_type") == "execute_result"]
    assert data, outs
    assert "image/png" in data[0]["data"]  # type: ignore[index]


def test_tables_show_as_html(executed: nbformat.NotebookNode) -> None:
    """alloc.shadow_prices and the formula table display as HTML tables."""
    for start in ("alloc.shadow_prices", 'fa[["name"'):
        outs = [o for o in _outputs(executed, start) if o.get("output_type") == "execute_result"]
        assert "text/html" in outs[0]["data"]  # type: ignore[index]


def test_the_readme_runs_as_a_plain_script(tmp_path: Path) -> None:
    """The same code as a script without a __main__ guard: exit 0, nothing on stderr but the
    sweep's progress bar."""
    script = tmp_path / "readme.py"
    script.write_text("\n".join(_snippets()), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert PROGRESS.sub("", proc.stderr).strip() == ""  # a progress bar, and nothing else
    assert "Running HiGHS" not in proc.stdout
