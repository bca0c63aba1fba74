"""``import townfiscal`` leaves the heavy optional dependencies for the calls that need them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Imported only by the calls that use them: solvers, sparse algebra, workbooks, plotting,
#: the service stack and the test tools.
HEAVY = ("scipy", "highspy", "pulp", "clarabel", "openpyxl", "matplotlib", "sqlalchemy",
         "litestar", "uvicorn", "hypothesis", "dask", "distributed", "tqdm", "python_calamine")


def loaded_after(code: str) -> list[str]:
    """The heavy top-level modules present in ``sys.modules`` after *code*, in a new process."""
    tops = "{m.split('.')[0] for m in sys.modules}"
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted({tops} & {set(HEAVY)!r})))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True)
    return list(json.loads(run.stdout.splitlines()[-1]))


def test_import_townfiscal_loads_no_heavy_module():
    """``import townfiscal`` imports none of scipy, the solvers, openpyxl, matplotlib, service."""
    assert loaded_after("import townfiscal") == []


def test_the_public_names_resolve_without_heavy_modules():
    """Every name in ``townfiscal.__all__`` (and the CLI's parser) is reachable without them."""
    code = ("import townfiscal as tf\n"
            "for name in tf.__all__:\n"
            "    getattr(tf, name)\n"
            "from townfiscal.cli._main import build_parser\n"
            "build_parser()")
    assert loaded_after(code) == []


def test_an_allocation_loads_only_what_it_uses():
    """The default allocation needs scipy's sparse rows, but no solver, workbook or plot library."""
    code = ("import townfiscal as tf\n"
            "tf.allocate(tf.load_example(), 'guangdong-2020', fund=2_000_000_000)")
    assert set(loaded_after(code)) <= {"scipy"}


@pytest.mark.parametrize("module", ["openpyxl"])
def test_a_workbook_imports_its_library_when_written(tmp_path, module):
    """Writing the allocation table imports openpyxl then, and the workbook reads back."""
    path = tmp_path / "a.xlsx"
    code = ("import townfiscal as tf\n"
            "a = tf.allocate(tf.load_example(), 'guangdong-2020', fund=2_000_000_000)\n"
            f"a.to_excel({str(path)!r})\n"
            f"assert len(tf.read_allocation({str(path)!r}).table) == 1002")
    assert module in loaded_after(code)
