"""Reading a towns table from a file: csv, xlsx or parquet, English or Chinese headers."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import pandas as pd

from townfiscal._errors import MissingExtraError, Problem, ValidationError
from townfiscal.towns._columns import Unit
from townfiscal.towns._content import VALIDATED
from townfiscal.towns._validate import validate_towns

__all__ = ["TOWNS_SHEET", "read_towns"]

def read_towns(
    source: str | PathLike[str] | pd.DataFrame,
    *,
    unit: Unit = "yuan",
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a towns table from a file (or take a DataFrame) and validate it.

    The towns wing's reader, which knows no policy: :func:`townfiscal.read_towns` (documented
    there) adds the check of what a policy needs.
    """
    if isinstance(source, pd.DataFrame):
        return validate_towns(source, unit=unit)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no such towns file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in {".csv", ".txt"}:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        elif suffix in {".xlsx", ".xlsm"}:
            frame = pd.read_excel(
                path, sheet_name=_towns_sheet(path) if sheet is None else sheet,
                dtype=object, engine="openpyxl")
        elif suffix == ".parquet":
            try:
                frame = pd.read_parquet(path)
            except ImportError as exc:  # pandas names no module: pyarrow is the extra's
                raise MissingExtraError.needs("reading a .parquet file", "pyarrow",
                                              "parquet") from exc
        else:
            raise ValidationError(
                [
                    Problem(
                        f"unsupported file type {suffix!r}; use .csv, .xlsx or .parquet",
                        value=str(path),
                    )
                ],
                what=f"towns file {path.name}",
            )
    except (ValidationError, MissingExtraError):
        raise
    except (ValueError, KeyError, OSError, ImportError) as exc:
        raise ValidationError(
            [Problem(f"cannot read the file: {exc}", value=str(path))],
            what=f"towns file {path.name}",
        ) from exc
    # a file is untrusted input: a mark it brings (parquet keeps pandas' attrs) is not ours
    frame.attrs.pop(VALIDATED, None)
    return validate_towns(frame, unit=unit, what=f"towns file {path.name}")


TOWNS_SHEET = "乡镇基础数据"
"""The name of the towns sheet in an allocation table (分配表) workbook."""


def _towns_sheet(path: Path) -> str | int:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    try:
        return TOWNS_SHEET if TOWNS_SHEET in workbook.sheetnames else 0
    finally:
        workbook.close()
