"""Benchmark reading a towns workbook: the library's reader against the openpyxl path it replaced.

The files: the first ``--towns`` units of the bundled example (1,000 by default; also 10,000
drawn by ``tf.make_towns``), written with openpyxl as a plain ``.xlsx`` (headers on row 1, the
only shape the old path could read) and as a bureau's ``.xlsx`` (a 说明 sheet, then a merged
title, a ``单位：万元`` line, 12-digit codes, a 合计 row and notes), which only the new path
reads.

Columns, all measured in this run, each figure the median of ``--repeats`` interleaved runs:

- ``before``: the reader as it was, kept below as :func:`old_read_towns`: openpyxl opens the
  workbook once to choose the sheet and pandas reads it with openpyxl, then the table is
  validated (the same ``validate_towns`` as now);
- ``after``: ``tf.read_towns``: python-calamine reads the sheets, the reader finds the sheet,
  the header row, the unit and the rows to skip, validates with the rows' Excel numbers and
  checks plausibility;
- ``after ÷ before``: below 1 is faster.

Rows: ``file → table`` is the reading alone (``pd.read_excel`` with openpyxl against
``towns.read_table``), ``read_towns`` the whole call including validation.

Run:  python benchmarks/bench_read.py [--towns 1000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

import townfiscal as tf
from townfiscal.towns import read_table, validate_towns
from townfiscal.towns._columns import known_header

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _workbooks import INSTRUCTIONS, ZH, bureau_rows, write_xlsx

TOWNS_SHEET = "乡镇基础数据"


# --- the old path, as townfiscal 0.1.0 read an .xlsx (src/townfiscal/towns/_read.py) -------


def _old_towns_sheet(path: Path) -> str | int:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    try:
        return TOWNS_SHEET if TOWNS_SHEET in workbook.sheetnames else 0
    finally:
        workbook.close()


def old_read_frame(path: Path) -> pd.DataFrame:
    """The old file → table step: openpyxl to choose the sheet, pandas' openpyxl engine."""
    return pd.read_excel(path, sheet_name=_old_towns_sheet(path), dtype=object,
                         engine="openpyxl")


def old_read_towns(path: Path) -> pd.DataFrame:
    """The old ``read_towns`` for an .xlsx: read, then validate."""
    return validate_towns(old_read_frame(path), unit="yuan", what=f"towns file {path.name}")


# --- the runs -------------------------------------------------------------------------------


def plain_xlsx(towns: pd.DataFrame, path: Path) -> Path:
    frame = towns.reset_index().rename(columns=ZH)
    frame.to_excel(path, index=False, engine="openpyxl")
    return path


def median_seconds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():  # interleaved: a busy machine's load falls on all alike
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--towns", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    example = tf.load_example()
    tables = {args.towns: example.head(args.towns) if args.towns <= len(example)
              else tf.make_towns(args.towns), 10_000: tf.make_towns(10_000)}
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}; medians of "
          f"{args.repeats} runs\n")
    print(f"{'towns':>7}  {'file':<7} {'step':<14} {'before':>10} {'after':>10} "
          f"{'after ÷ before':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for n, towns in tables.items():
            plain = plain_xlsx(towns, Path(tmp) / f"plain-{n}.xlsx")
            bureau = write_xlsx(Path(tmp) / f"bureau-{n}.xlsx", [
                ("说明", INSTRUCTIONS),
                ("测算表", bureau_rows(towns, unit="wan", twelve_digit=True))])
            # the same table both ways, before timing anything
            pd.testing.assert_frame_equal(old_read_towns(plain), tf.read_towns(plain),
                                          check_dtype=False)
            t = median_seconds({
                "old frame": lambda p=plain: old_read_frame(p),
                "new frame": lambda p=plain: read_table(p, known=known_header,
                                                        prefer_sheet=TOWNS_SHEET),
                "old towns": lambda p=plain: old_read_towns(p),
                "new towns": lambda p=plain: tf.read_towns(p),
                "bureau": lambda p=bureau: tf.read_towns(p),
            }, args.repeats)
            for step, old, new in (("file → table", t["old frame"], t["new frame"]),
                                   ("read_towns", t["old towns"], t["new towns"])):
                print(f"{n:>7,}  {'plain':<7} {step:<14} {old:>9.3f}s {new:>9.3f}s "
                      f"{new / old:>15.2f}")
            print(f"{n:>7,}  {'bureau':<7} {'read_towns':<14} {'(fails)':>10} "
                  f"{t['bureau']:>9.3f}s {'':>15}")


if __name__ == "__main__":
    main()
