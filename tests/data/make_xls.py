"""Build ``bureau-2021.xls``, the legacy-Excel fixture of tests/test_read_workbooks.py.

No maintained Python library writes the old binary .xls format, so the fixture is made once
and committed: the rows come from tests/_workbooks.py (a 说明 sheet, then the data sheet with a
merged title, a 单位：万元 line, 12-digit codes, a blank row, a 合计 row and notes, from twelve
units of the bundled example), written as .xlsx with openpyxl and converted by LibreOffice.

Run from the repository root (needs LibreOffice's ``soffice`` on the PATH)::

    python tests/data/make_xls.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

import townfiscal as tf  # noqa: E402
from _workbooks import INSTRUCTIONS, bureau_rows, sample, write_xlsx  # noqa: E402


def main() -> None:
    rows = bureau_rows(sample(tf.load_example()), unit="wan", twelve_digit=True,
                       blank_after=(4,))
    with tempfile.TemporaryDirectory() as tmp:
        src = write_xlsx(Path(tmp) / "bureau-2021.xlsx", [("说明", INSTRUCTIONS),
                                                         ("测算表", rows)])
        subprocess.run(["soffice", "--headless", "--convert-to", "xls", "--outdir", tmp,
                        str(src)], check=True, capture_output=True, timeout=300)
        shutil.copy(Path(tmp) / "bureau-2021.xls", HERE / "bureau-2021.xls")
    print(f"wrote {HERE / 'bureau-2021.xls'}")


if __name__ == "__main__":
    main()
