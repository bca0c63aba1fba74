"""Running notebooks in a fresh Jupyter kernel, and what a quiet run may print (for the tests
of the README's snippets and of examples/notebooks)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

#: tqdm's text bar (a kernel without ipywidgets): "\rsweep:  42%|████▏ | 13/31 [00:01<…]"
PROGRESS = re.compile(r"\r?sweep:[^\r\n]*\|[^\r\n]*")


def execute(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Run every cell of ``nb`` in a fresh python3 kernel working in ``folder``."""
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def stray_output(nb: nbformat.NotebookNode, *, progress: bool = False) -> list[str]:
    """What an executed notebook printed that a quiet run should not: an error, a warning,
    the solver's banner, or anything on stderr (but a sweep's progress bar with
    ``progress=True``)."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"{cell.source!r}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream":
                text = PROGRESS.sub("", out.text) if progress else out.text
                if out.name == "stderr" and (text.strip() or not progress):
                    found.append(f"{cell.source!r} on stderr: {out.text!r}")
                if re.search(r"Running HiGHS|Warning", text):
                    found.append(f"{cell.source!r}: {out.text!r}")
    return found
