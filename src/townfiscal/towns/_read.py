"""Reading a towns table from a file — a bureau's workbook or CSV as it is — or a DataFrame."""

from __future__ import annotations

import warnings
from os import PathLike
from typing import Any

import attrs
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal.towns._columns import Unit, _rename, known_header
from townfiscal.towns._content import VALIDATED
from townfiscal.towns._plausible import PlausibilityWarning, implausible, message
from townfiscal.towns._validate import Origin, _as_text, validate_towns
from townfiscal.towns._workbook import ReadReport, read_table

__all__ = ["SOURCE", "TOWNS_SHEET", "read_towns", "read_towns_report", "source_of"]

TOWNS_SHEET = "乡镇基础数据"
"""The name of the towns sheet in an allocation table (分配表) workbook."""

SOURCE = "townfiscal.source"
"""The ``attrs`` key under which a table read from a file keeps what the reader found there
(:meth:`ReadReport.to_dict`: file, format, sheet, header row, unit, skipped rows, encoding,
warnings)."""


def read_towns(
    source: str | PathLike[str] | pd.DataFrame,
    *,
    unit: Unit = "yuan",
    sheet: str | int | None = None,
    header_row: int | None = None,
) -> pd.DataFrame:
    """Read a towns table from a file (or take a DataFrame) and validate it.

    The towns wing's reader, which knows no policy: :func:`townfiscal.read_towns` (documented
    there) adds the check of what a policy needs.
    """
    return read_towns_report(source, unit=unit, sheet=sheet, header_row=header_row)[0]


def read_towns_report(
    source: str | PathLike[str] | pd.DataFrame,
    *,
    unit: Unit = "yuan",
    sheet: str | int | None = None,
    header_row: int | None = None,
    stacklevel: int = 3,
) -> tuple[pd.DataFrame, ReadReport | None]:
    """:func:`read_towns` that also returns the :class:`ReadReport` (``None`` for a DataFrame).

    The findings of the plausibility checks and of the 合计 check are one
    :class:`PlausibilityWarning` (and in the report's ``warnings`` and the table's attrs).
    """
    if isinstance(source, pd.DataFrame):
        towns = validate_towns(source, unit=unit)
        findings = implausible(towns)
        if findings:
            warnings.warn(message(findings, "towns table"), PlausibilityWarning,
                          stacklevel=stacklevel)
        return towns, None
    frame, report = read_table(source, sheet=sheet, header_row=header_row, known=known_header,
                               prefer_sheet=TOWNS_SHEET, what="towns file")
    # a file is untrusted input: a mark it brings (parquet keeps pandas' attrs) is not ours
    frame.attrs.pop(VALIDATED, None)
    what = f"towns file {report.file}"
    report._check_unit_line(what)
    origin = Origin(file=report.file, sheet=report.sheet, lines=report.lines,
                    headers=report.headers, header_row=report.header_row)
    try:
        towns = validate_towns(frame, unit=report.unit or unit, what=what, origin=origin)
    except ValidationError as exc:
        # A file whose content is not what its name says (text saved as .xlsx, a CSV named
        # .xls) fails as a table too; what it really is comes first, as the likelier cause.
        mislabelled = [n for n in report.notes if n.startswith("the file is named")]
        if not mislabelled:
            raise
        raise ValidationError([Problem(mislabelled[0], file=report.file), *exc.problems],
                              what=exc.what) from None
    written = _written(report)
    where = f"{report.file}, " + (f"sheet {report.sheet!r}, " if report.sheet else "")
    findings = [*report.warnings,
                *implausible(towns, lines=report.lines, headers=written, where=where)]
    notes = report.notes
    if "code" in written and written["code"] in frame.columns:
        position = list(frame.columns).index(written["code"])
        raw: pd.Series = frame.iloc[:, position]
        long = int(_as_text(raw).str.fullmatch(r"[1-9]\d{8}000").sum())
        if long:
            notes += (f"{long:,} codes are 12-digit 统计用区划代码, read as their 9-digit "
                      "township codes",)
    report = attrs.evolve(report, warnings=tuple(findings), notes=notes)
    towns.attrs[SOURCE] = report.to_dict()
    if findings:
        warnings.warn(message(findings, what), PlausibilityWarning, stacklevel=stacklevel)
    return towns, report


def _written(report: ReadReport) -> dict[str, str]:
    """The headers as written, by the canonical name each means (as validation maps them)."""
    out: dict[str, str] = {}
    _rename(pd.DataFrame(columns=pd.Index(report.headers, dtype=object)), "yuan", [], out)
    return out


def source_of(towns: Any) -> dict[str, Any] | None:
    """What a towns table read from a file says of that file, for an allocation's provenance:
    a small flat JSON-friendly dict (file, format, sheet, header row, unit, encoding, data
    rows, the rows skipped), or ``None`` for a table not read from a file."""
    info = getattr(towns, "attrs", {}).get(SOURCE)
    if not isinstance(info, dict):
        return None
    out = {k: info.get(k) for k in ("file", "format", "sheet", "header_row", "unit",
                                    "encoding", "rows")}
    skipped = [f"{s['line']} {s['kind']}" for s in info.get("skipped", [])]
    if info.get("blank_rows"):
        skipped.append(f"{info['blank_rows']} blank")
    out["skipped"] = "; ".join(skipped)
    return {k: v for k, v in out.items() if v not in (None, "")}
