"""Last year's amounts: read from last year's allocation table and rolled into this year's towns.

Growth control and hold-harmless compare each town with what it received last year, the
``prior_amount`` column. A bureau keeps that figure in last year's allocation table, not in
this year's towns table; :func:`read_prior` reads it from there and :func:`roll_forward` puts
it into this year's table, matching the towns by code and saying which towns appear or vanish.

Two kinds of table are read:

- a **分配表 the library wrote** (:func:`townfiscal.report.write_allocation`,
  ``Allocation.to_excel``, ``townfiscal allocate --out``): recognised by its 分配表 sheet with
  the 行政区划代码 and 分配金额(元) headers; the amounts are read from 分配金额(元), never from
  its 上年补助 column (the year before that);
- a **bureau's own table**: any sheet (found as :func:`~townfiscal.towns.read_table` finds
  one: under title and 单位 lines, past 说明 sheets, 合计 and note rows skipped) with a code
  column (代码, 区划代码, 乡镇代码, 行政区划代码, 统计用区划代码 or ``code``) and an amount
  column (分配金额, 补助金额, 补助资金, 金额, 上年补助, ``2020年补助``…, or ``amount``).

Codes are read as the towns table reads them (numbers stored by Excel, full-width digits, a
12-digit 统计用区划代码 ending in 000 cut to its 9 digits). The unit comes from the amount's
header (``补助金额(万元)``), else from a 单位 line above the headers, else from ``unit=``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal.towns._columns import _CODE_RE, _UNIT_RE, _WAN, _YUAN, Unit, _fold
from townfiscal.towns._plausible import PlausibilityWarning, implausible, message
from townfiscal.towns._validate import (
    _SCIENTIFIC_MESSAGE,
    _blank,
    _code_faults,
    _same_code,
    validate_towns,
)
from townfiscal.towns._workbook import ReadReport, numbers, read_table

__all__ = ["PRIOR", "RollForwardWarning", "prior_of", "read_prior", "roll_forward"]

PRIOR = "townfiscal.prior"
"""The ``attrs`` key under which a towns table keeps what :func:`roll_forward` did: the file
read, its sheet, headers and unit, the towns matched, and the codes that appeared or vanished."""

#: The sheet and headers by which a 分配表 the library wrote is recognised.
_ALLOCATION_SHEET = "分配表"
_ALLOCATION_CODE = "行政区划代码"
_ALLOCATION_AMOUNT = "分配金额(元)"

_CODE_HEADERS = {_fold(h) for h in ("行政区划代码", "区划代码", "代码", "乡镇代码",
                                    "统计用区划代码", "乡镇(街道)代码", "镇代码", "code",
                                    "town code")}
#: Amount headers, best first: the first rank any header reaches is the one read.
_AMOUNT_RANKS: tuple[frozenset[str], ...] = (
    frozenset(_fold(h) for h in ("分配金额", "补助金额", "分配资金", "补助资金", "分配额",
                                 "补助额", "本年补助", "本年分配", "本年补助金额",
                                 "本年分配金额", "amount")),
    frozenset(_fold(h) for h in ("金额", "资金", "补助", "下达金额", "下达资金", "本年金额")),
    frozenset(_fold(h) for h in ("上年补助", "上年补助额", "上年补助资金", "上年金额",
                                 "prior_amount", "prior amount")),
)
#: ``2020年补助``, ``2020年度补助资金``, ``2020年分配金额``: ranked with the first headers.
_YEAR = re.compile(r"^(?P<year>(?:19|20)\d{2})年度?(?:补助|分配)?(?:金额|资金|额)?$")

#: How many codes a warning lists before saying "and N more".
_LISTED = 12


class RollForwardWarning(UserWarning):
    """Rolling last year's amounts forward found towns that appear this year (no amount last
    year) or towns of last year's table that are not in this year's.

    The same facts are kept in ``towns.attrs["townfiscal.prior"]``.
    """


def _split_unit(header: str) -> tuple[str, str | None]:
    """A header without its unit marker, and the marker (folded): ``补助金额(万元)`` gives
    ``("补助金额", "万元")``."""
    m = _UNIT_RE.match(header)
    if m is None:
        return header, None
    return m["base"], _fold(m["unit"])


def _amount_rank(header: str) -> tuple[int, int] | None:
    """Where an amount header ranks (lower is better) and, for ``2020年补助``, its year."""
    base = _fold(_split_unit(header)[0])
    year = _YEAR.match(base)
    if year is not None:
        return 0, int(year["year"])
    for rank, names in enumerate(_AMOUNT_RANKS):
        if base in names:
            return rank, 0
    return None


def _known(text: str) -> bool:
    """Whether a cell is a code or an amount header (to find the header row and sheet)."""
    return _fold(_split_unit(text)[0]) in _CODE_HEADERS or _amount_rank(text) is not None


def _choose_columns(headers: tuple[str, ...], column: str | None, where: Problem
                    ) -> tuple[str, str, str]:
    """The code header, the amount header and why that amount column."""
    codes = [h for h in headers if _fold(_split_unit(h)[0]) in _CODE_HEADERS]
    shown = ", ".join(repr(h) for h in headers[:20])
    if not codes:
        raise ValidationError([Problem(
            "no code column: expected a header such as 行政区划代码, 区划代码, 乡镇代码 or 代码 "
            f"(the headers read are {shown})", file=where.file, sheet=where.sheet)],
            what=f"last year's table {where.file}")
    if column is not None:
        if column not in headers:
            raise ValidationError([Problem(
                f"no column {column!r}; the headers read are {shown}", file=where.file,
                sheet=where.sheet, value=column)], what=f"last year's table {where.file}")
        return codes[0], column, "as asked"
    ranked = [(r, h) for h in headers if (r := _amount_rank(h)) is not None]
    if not ranked:
        raise ValidationError([Problem(
            "no amount column: expected a header such as 分配金额, 补助金额, 金额, 上年补助 or "
            f"2020年补助 (the headers read are {shown}); name it with column=",
            file=where.file, sheet=where.sheet)], what=f"last year's table {where.file}")
    best = min(r for r, _ in ranked)[0]
    top = [(year, h) for (r, year), h in ranked if r == best]
    latest = max(year for year, _ in top)
    top = [(year, h) for year, h in top if year == latest]
    # the same amount in 元 and in 万元 (the library's 分配表 has both): 元 is exact
    in_yuan = [h for _, h in top if _split_unit(h)[1] in {_fold(u) for u in _YUAN}]
    names = {_fold(_split_unit(h)[0]) for _, h in top}
    if len(names) > 1:
        raise ValidationError([Problem(
            "more than one column could be last year's amount: "
            + ", ".join(repr(h) for _, h in top) + "; name the one to read with column= "
            "(--prior-column on the command line)", file=where.file, sheet=where.sheet)],
            what=f"last year's table {where.file}")
    chosen = in_yuan[0] if in_yuan else top[0][1]
    why = f"the year {latest}'s column" if latest else "its header"
    return codes[0], chosen, why


def _scale(header: str, report: ReadReport, unit: Unit | None, where: Problem
           ) -> tuple[float, str, str]:
    """Yuan per unit of the amount column, the unit's name, and where the unit was read."""
    marker = _split_unit(header)[1]
    if marker is not None and marker in {_fold(u) for u in _WAN}:
        return 10_000.0, "wan", f"the header {header!r}"
    if marker is not None and marker in {_fold(u) for u in _YUAN}:
        return 1.0, "yuan", f"the header {header!r}"
    if marker is not None:
        raise ValidationError([Problem(
            "unknown money unit in the header; expected 元 or 万元", file=where.file,
            sheet=where.sheet, header=header, lines=(report.header_row,))],
            what=f"last year's table {where.file}")
    if report.unit is not None:
        return (10_000.0 if report.unit == "wan" else 1.0), report.unit, \
            f"the unit line {report.unit_text!r}"
    report._check_unit_line(f"last year's table {where.file}")
    chosen = unit or "yuan"
    return (10_000.0 if chosen == "wan" else 1.0), chosen, (
        "unit= (no header or unit line says)" if unit else "the default (no header or unit "
        "line says; pass unit='wan' for 万元)")


def _source(path: Path, report: ReadReport) -> dict[str, Any]:
    """A 分配表's provenance (policy, fund) from its 来源 sheet, when it has one."""
    try:
        frame, _ = read_table(path, sheet="来源", header_row=1, what="allocation table")
    except (ValidationError, ValueError, OSError):
        return {}
    if "键" not in frame.columns or "值" not in frame.columns:
        return {}
    facts = dict(zip(frame["键"].astype(str), frame["值"], strict=True))
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v
            for k, v in facts.items() if k in ("policy_id", "fund", "written")}


def read_prior(
    path: str | PathLike[str],
    *,
    sheet: str | int | None = None,
    header_row: int | None = None,
    column: str | None = None,
    unit: Unit | None = None,
) -> pd.Series:
    """Read last year's amount per town from last year's allocation table.

    Reads a 分配表 the library wrote (its 分配金额(元) column) or a bureau's own table with a
    code column and an amount column, in any format :func:`~townfiscal.towns.read_table`
    reads (``.xlsx``, ``.xls``, ``.ods``, CSV in UTF-8, GBK or UTF-16), finding the sheet
    and the header row by itself.

    Parameters
    ----------
    path:
        Last year's table.
    sheet, header_row:
        The sheet (name or 0-based index) and the header row as Excel numbers it, when the
        reader's guess is wrong.
    column:
        The amount column's header as written, when several could be last year's amount (or
        none is named as expected).
    unit:
        ``"yuan"`` or ``"wan"`` (万元), for an amount whose header does not say and with no
        单位 line above the headers (default: yuan).

    Returns
    -------
    pandas.Series
        ``prior_amount`` in yuan (float64; NaN where the cell is blank), indexed by 9-digit
        ``code``, in the table's order. ``attrs["townfiscal.prior"]`` says what was read: the
        file, the sheet and header row, the code and amount headers, the unit and where it was
        read, whether the file is a 分配表 the library wrote (then its policy and fund too),
        the towns and the total.

    Raises
    ------
    FileNotFoundError
        No such file.
    UnreadableFileError
        The file is empty, damaged or not a table.
    ValidationError
        No code or amount column, several candidate amount columns, and every bad row at
        once: a code that is not a township's 9 digits, a code twice (both rows named), an
        amount that is not a number or is negative. Each problem names the file, the sheet,
        the row as Excel shows it, the header as written and the value.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import townfiscal as tf
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "2020.csv").write_text(
    ...     "2020年补助资金分配表\\n单位：万元\\n乡镇代码,乡镇名称,2020年补助\\n"
    ...     "441521100,甲镇,176.0475\\n441521101,乙镇,152.136\\n合计,,328.1835\\n",
    ...     encoding="utf-8")
    >>> prior = read_prior(folder / "2020.csv")
    >>> prior.to_dict()
    {'441521100': 1760475.0, '441521101': 1521360.0}
    >>> prior.attrs["townfiscal.prior"]["unit_source"]
    "the unit line '单位：万元'"
    """
    p = Path(path)
    frame, report = read_table(p, sheet=sheet, header_row=header_row, known=_known,
                               prefer_sheet=_ALLOCATION_SHEET, what="last year's table")
    where = Problem("", file=report.file, sheet=report.sheet)
    code_header, amount_header, why = _choose_columns(report.headers, column, where)
    library = (report.sheet == _ALLOCATION_SHEET and code_header == _ALLOCATION_CODE
               and amount_header == _ALLOCATION_AMOUNT)
    scale, unit_name, unit_source = _scale(amount_header, report, unit, where)
    what = f"last year's table {report.file}"
    lines = report.lines
    codes, well_formed, faults = _code_faults(frame[code_header].reset_index(drop=True))
    raw = frame[amount_header].reset_index(drop=True)
    amounts = numbers(raw).to_numpy(dtype=np.float64)
    blank = _blank(raw).to_numpy(dtype=bool)

    problems: list[Problem] = []

    def problem(message: str, i: int | np.integer[Any], header: str, value: Any,
                rows: tuple[int, ...] | None = None) -> Problem:
        code = str(codes.iat[int(i)])
        if isinstance(value, float) and value.is_integer():  # a workbook's -5 reads as -5.0
            value = int(value)
        return Problem(message, row=code if _CODE_RE.match(code) else None, column=None,
                       value=value, file=report.file, sheet=report.sheet,
                       lines=rows if rows is not None else (int(lines[int(i)]),), header=header)

    for at_row, fault in faults:
        problems.append(problem({
            "village": "a village's 12-digit code: last year's table must list townships (9 "
                       "digits, or 12 ending in 000)",
            "scientific": _SCIENTIFIC_MESSAGE,
            "other": "not a township code (9 digits, or a 12-digit 统计用区划代码 ending in 000)",
        }[fault], at_row, code_header, frame[code_header].iat[at_row]))
    for at in _same_code(codes, well_formed):
        problems.append(problem(
            "the same code twice: a town can have one amount last year; remove or merge the "
            "rows", at[0], code_header, codes.iat[at[0]], rows=tuple(int(lines[j]) for j in at)))
    bad = ~blank & ~np.isfinite(amounts)
    for i in np.flatnonzero(bad):
        problems.append(problem("not an amount of money", i, amount_header, raw.iat[int(i)]))
    for i in np.flatnonzero(~bad & (amounts < 0)):
        problems.append(problem("must not be negative", i, amount_header, raw.iat[int(i)]))
    if problems:
        raise ValidationError(problems, what=what)

    # to the fen: 176.0475 万元 is 1,760,475 yuan, not 1,760,475.0000000002
    yuan = np.where(blank, np.nan, np.round(amounts * scale, 2))
    prior = pd.Series(yuan, index=pd.Index(codes.to_numpy(dtype=object), name="code"),
                      name="prior_amount", dtype=np.float64)
    info: dict[str, Any] = {
        "file": report.file,
        "format": report.format,
        "sheet": report.sheet,
        "header_row": report.header_row,
        "kind": "分配表 written by townfiscal" if library else "table",
        "code_header": code_header,
        "amount_header": amount_header,
        "amount_reason": why,
        "unit": unit_name,
        "unit_source": unit_source,
        "towns": len(prior),
        "blank": int(blank.sum()),
        "total": round(float(np.nansum(yuan))),
    }
    if report.encoding:
        info["encoding"] = report.encoding
    skipped = [f"{s.line} {s.kind}" for s in report.skipped if s.kind != "blank"]
    if skipped:
        info["skipped"] = "; ".join(skipped)
    if library:
        info.update({f"source_{k}": v for k, v in _source(p, report).items()})
    findings = [*report.warnings, *implausible(
        pd.DataFrame({"prior_amount": yuan}, index=prior.index), lines=lines,
        headers={"prior_amount": amount_header},
        where=f"{report.file}, " + (f"sheet {report.sheet!r}, " if report.sheet else ""))]
    if findings:
        info["warnings"] = findings
        warnings.warn(message(findings, what), PlausibilityWarning, stacklevel=2)
    prior.attrs[PRIOR] = info
    return prior


def prior_of(towns: Any) -> dict[str, Any] | None:
    """What :func:`roll_forward` recorded on a towns table, for an allocation's provenance: a
    small flat JSON-friendly dict (file, kind, sheet, amount column, unit, towns matched, the
    codes that appeared and vanished, up to 50 each), or ``None`` when nothing was rolled."""
    info = getattr(towns, "attrs", {}).get(PRIOR)
    if not isinstance(info, dict) or "matched" not in info:
        return None
    out = {k: info.get(k) for k in ("file", "kind", "sheet", "amount_header", "unit",
                                    "matched", "total", "source_policy_id", "source_fund")}
    for key in ("appeared", "vanished"):
        codes = list(info.get(key) or [])
        out[key] = ", ".join(map(str, codes[:50])) + (
            f" and {len(codes) - 50} more" if len(codes) > 50 else "")
    return {k: v for k, v in out.items() if v not in (None, "")}


def _as_prior(prior: Any) -> pd.Series:
    """Last year's amounts as a Series of yuan by 9-digit code, from a file, a Series, a
    table with ``code`` and ``amount`` (or ``prior_amount``) columns, or anything with an
    ``amounts`` Series (an Allocation, a read-back AllocationWorkbook)."""
    if isinstance(prior, str | PathLike):
        return read_prior(prior)
    if isinstance(prior, pd.DataFrame):
        frame = prior.reset_index() if "code" not in prior.columns else prior
        amount = next((c for c in ("amount", "prior_amount") if c in frame.columns), None)
        if "code" not in frame.columns or amount is None:
            raise ValidationError([Problem(
                "last year's table needs a code column (or index) and an amount or "
                "prior_amount column", value=list(map(str, prior.columns)))],
                what="last year's table")
        series = pd.Series(frame[amount].to_numpy(), index=frame["code"].to_numpy(),
                           name="prior_amount")
    elif isinstance(prior, pd.Series):
        series = prior
    elif isinstance(getattr(prior, "amounts", None), pd.Series):
        series = prior.amounts
    else:
        raise TypeError("prior must be a file, a Series of yuan by code, a table with code "
                        f"and amount columns, or an Allocation; got {type(prior).__name__}")
    codes, well_formed, _ = _code_faults(pd.Series(series.index, dtype=object))
    values = pd.to_numeric(pd.Series(series.to_numpy()), errors="coerce").to_numpy(np.float64)
    problems = [Problem("not a township code (9 digits)", value=c)
                for c in pd.unique(codes[~well_formed])]
    problems += [Problem("the same code twice", row=c, value=c)
                 for c in pd.unique(codes[codes.duplicated()])]
    problems += [Problem("must be a non-negative amount of yuan", row=c, value=v)
                 for c, v in zip(codes, values, strict=True) if v < 0 or np.isinf(v)]
    if problems:
        raise ValidationError(problems, what="last year's amounts")
    out = pd.Series(values, index=pd.Index(codes.to_numpy(dtype=object), name="code"),
                    name="prior_amount", dtype=np.float64)
    out.attrs[PRIOR] = dict(series.attrs.get(PRIOR) or {"kind": type(prior).__name__,
                                                         "towns": len(out)})
    return out


def _listed(codes: np.ndarray[Any, Any], names: Mapping[str, str]) -> str:
    shown = [f"{c} {names[c]}" if names.get(c) else str(c) for c in codes[:_LISTED]]
    more = f" and {len(codes) - _LISTED} more" if len(codes) > _LISTED else ""
    return ", ".join(shown) + more


def roll_forward(
    towns: pd.DataFrame,
    prior: Any,
    *,
    covered: np.ndarray[Any, np.dtype[np.bool_]] | None = None,
    scope: str = "towns",
    stacklevel: int = 2,
) -> pd.DataFrame:
    """This year's towns with last year's amounts in ``prior_amount``, matched by code.

    The towns wing's function, which knows no policy: :func:`townfiscal.roll_forward`
    (documented there) says which towns a policy covers.

    Parameters
    ----------
    towns:
        This year's validated towns table.
    prior:
        Last year's table (a file :func:`read_prior` reads), a Series of yuan by code, a
        table with ``code`` and ``amount`` columns, or an Allocation.
    covered:
        Which of *towns* count as appearing when last year's table lacks them (default: all):
        a subdistrict no policy pays is not "new" for being absent from last year's 分配表.
    scope:
        How to call the covered towns in the report (``"towns guangdong-2020 covers"``).
    stacklevel:
        Of the :class:`RollForwardWarning`, for callers that wrap this function.
    """
    series = _as_prior(prior)
    info = dict(series.attrs.get(PRIOR, {}))
    index = towns.index
    mask = np.ones(len(index), dtype=bool) if covered is None else np.asarray(covered, bool)
    in_prior = index.isin(series.index)
    appear = index[mask & ~in_prior].to_numpy(dtype=object)
    vanish = series.index[~series.index.isin(index)].to_numpy(dtype=object)
    out = towns.copy()
    before = (out["prior_amount"].to_numpy(np.float64) if "prior_amount" in out.columns
              else np.full(len(out), np.nan))
    after = series.reindex(index).to_numpy(np.float64)
    out["prior_amount"] = after
    changed = ~((before == after) | (np.isnan(before) & np.isnan(after)))
    names = ({str(k): str(v) for k, v in out["name"].items()} if "name" in out.columns
             else {})
    info.update({
        "matched": int(in_prior.sum()),
        "appeared": appear.tolist(),
        "vanished": vanish.tolist(),
        "replaced": int((changed & ~np.isnan(before)).sum()),
        "scope": scope,
    })
    source = info.get("file", "last year's amounts")
    out.attrs[PRIOR] = info
    notes = []
    if appear.size:
        one = appear.size == 1
        notes.append(f"{appear.size} of the {int(mask.sum()):,} {scope} "
                     f"{'is' if one else 'are'} not in it (no amount last year: growth "
                     "control and hold-harmless do not bind "
                     f"{'it' if one else 'them'}): {_listed(appear, names)}")
    if vanish.size:
        one = vanish.size == 1
        notes.append(f"{vanish.size} of its towns {'is' if one else 'are'} not in this "
                     f"year's table (merged, renamed or recoded?): {_listed(vanish, {})}")
    if info["replaced"]:
        notes.append(f"it replaces the towns table's own 上年补助 for {info['replaced']:,} "
                     "towns")
    if notes:
        warnings.warn(f"last year's table {source}: " + "; ".join(notes), RollForwardWarning,
                      stacklevel=stacklevel)
    return validate_towns(out)
