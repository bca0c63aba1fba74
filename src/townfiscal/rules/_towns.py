"""What a policy needs of a towns table, and the public readers that check it.

The towns wing validates a table on its own; a policy's needs (the columns its factors read,
positive denominators, a regional coefficient for every zone) depend on the rules, so they are
checked here, and :func:`validate_towns` and :func:`read_towns` are the towns wing's functions
with that check added.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal import towns as _towns
from townfiscal._errors import Problem, ValidationError
from townfiscal.policy import Policy
from townfiscal.rules._eligibility import eligible_mask
from townfiscal.rules._factors import factor_specs
from townfiscal.towns import Unit

__all__ = ["check_policy_needs", "read_towns", "roll_forward", "validate_towns"]


def read_towns(
    source: str | PathLike[str] | pd.DataFrame,
    *,
    unit: Unit = "yuan",
    sheet: str | int | None = None,
    header_row: int | None = None,
    policy: Policy | None = None,
    prior: Any = None,
) -> pd.DataFrame:
    """Read and validate a towns table from a file or a DataFrame.

    Reads the workbooks and CSV files finance bureaus send, as they are (see
    :doc:`/reading-workbooks`): ``.xlsx``/``.xlsm``, ``.xls`` and ``.ods`` workbooks,
    ``.csv`` in UTF-8 (with or without BOM), GBK/GB18030 or UTF-16, and ``.parquet``. It finds
    the data sheet (passing over a 说明 sheet) and the header row (under title and
    ``单位：万元`` lines), skips blank rows, 合计/小计/总计 rows and notes under the table, and
    records what it found in ``towns.attrs["townfiscal.source"]``.

    Headers may be the canonical English ones or the Chinese ones an analyst's workbook has
    (行政区划代码, 名称, 县(市、区), 地级市, 区域, 户籍人口, 常住人口, 财政供养人口, 面积, 可用财力,
    一般公共预算支出, 上年补助). Money columns are in yuan unless *unit* is ``"wan"`` (万元,
    10,000 yuan); a unit line above the headers (``单位：万元``) overrides *unit*, and a header
    marked ``(万元)`` or ``(元)`` overrides both for its column. Zones and kinds may be
    written in Chinese (东翼, 北部生态发展区, 镇, 乡, 街道 …). Codes may be numbers, written
    with full-width digits, or 12-digit 统计用区划代码 ending in 000 (cut to their 9-digit
    township code); numbers may have thousands separators and full-width digits.

    Parameters
    ----------
    source:
        A path or a DataFrame.
    unit:
        ``"yuan"`` or ``"wan"``: the unit of money columns whose header does not say, when no
        unit line does either.
    sheet:
        For a workbook: the sheet name or 0-based index. By default the towns sheet of an
        allocation table written by :func:`~townfiscal.write_allocation` (``乡镇基础数据``)
        when the workbook has one, else the visible sheet whose top rows hold the most known
        headers.
    header_row:
        The header row as Excel numbers it (1-based, title lines counted); by default the
        row among the top 40 with the most known headers.
    policy:
        When given, also check what the policy's formula needs (see :func:`validate_towns`).
    prior:
        Last year's allocation table, to take ``prior_amount`` from: a 分配表 the library wrote
        or a bureau's table with a code and an amount column (see :func:`roll_forward`, which
        this calls; with *policy*, the towns it covers that are missing from last year's
        table are the ones reported as new).

    Returns
    -------
    pandas.DataFrame indexed by ``code``, money in yuan.

    Raises
    ------
    ValidationError
        Listing every problem found; for a file, each names the file, the sheet, the row as
        Excel numbers it, the header as written and the value.
    UnreadableFileError
        A file that is empty, damaged or not a table (a PDF renamed ``.xlsx``): one line
        saying what it seems to be.
    FileNotFoundError
        When the file does not exist.

    Warns
    -----
    PlausibilityWarning
        One warning listing values no Chinese town has (the bounds and their reasons are on
        :doc:`/reading-workbooks`),
        money columns whose scale suggests the wrong unit, and a 合计 row that disagrees with
        the rows above it.

    Examples
    --------
    >>> towns = read_towns("测算表.xlsx", header_row=3)  # doctest: +SKIP
    >>> towns.attrs["townfiscal.source"]["sheet"]  # doctest: +SKIP
    '乡镇数据'
    """
    towns = _towns.read_towns_report(source, unit=unit, sheet=sheet, header_row=header_row,
                                     stacklevel=4)[0]
    if prior is not None:
        towns = _roll(towns, prior, policy)
    if policy is not None:
        what = ("towns table" if isinstance(source, pd.DataFrame)
                else f"towns file {Path(source).name}")
        check_policy_needs(towns, policy, what)
    return towns


def roll_forward(towns: pd.DataFrame, prior: Any, *, policy: Policy | None = None
                 ) -> pd.DataFrame:
    """This year's towns with last year's amounts in ``prior_amount``, from last year's table.

    Growth control and hold-harmless compare each town with last year's amount. This takes
    those amounts from last year's allocation table and matches them to this year's towns by
    code (9 digits; 12-digit 统计用区划代码 ending in 000 and codes stored as numbers are
    read as the towns table reads them).

    Parameters
    ----------
    towns:
        This year's towns table (validated here if it is not already).
    prior:
        Last year's table: a file — a 分配表 the library wrote (its 分配金额(元) column) or a
        bureau's table with a code column (代码, 区划代码, 乡镇代码, 行政区划代码) and an
        amount column (分配金额, 补助金额, 金额, 上年补助, 2020年补助…, in 元 or 万元 by
        its header or a 单位 line; see :func:`~townfiscal.read_prior` for the options) —
        or a Series of yuan by code, a table with ``code`` and ``amount`` columns, or last
        year's :class:`~townfiscal.Allocation`.
    policy:
        The policy this year's allocation follows: only the towns it covers count as new
        when last year's table lacks them (a subdistrict it never pays is not reported).

    Returns
    -------
    pandas.DataFrame
        A copy of *towns* whose ``prior_amount`` is last year's amount (NaN for a town not in
        last year's table: new this year, so growth control and hold-harmless do not bind it,
        as the policy's ``growth_control.new_towns`` rule says). ``attrs["townfiscal.prior"]``
        records the file, sheet, headers and unit read, the towns matched, and the codes that
        appeared or vanished; an allocation's workbook writes it to its 来源 sheet.

    Raises
    ------
    ValidationError
        A bad last year's table: every code that is not a township's, every code listed
        twice (naming both rows as Excel shows them), every amount that is not a number or is
        negative.

    Warns
    -----
    RollForwardWarning
        When towns appear (covered this year, absent last year) or vanish (in last year's
        table, not in this year's), naming them; or when it replaces amounts the towns table
        had.

    Examples
    --------
    >>> import pathlib, tempfile, warnings
    >>> import townfiscal as tf
    >>> towns = tf.load_example()
    >>> pol = tf.get_policy("guangdong-2020")
    >>> path = tf.formula_allocation(towns, pol).pipe(
    ...     tf.write_allocation, pathlib.Path(tempfile.mkdtemp()) / "2020分配表.xlsx",
    ...     policy=pol, towns=towns)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     next_year = roll_forward(towns, path, policy=pol)
    >>> int(next_year["prior_amount"].sum()), next_year.attrs["townfiscal.prior"]["matched"]
    (2000000000, 1002)
    >>> print(caught[0].message)  # the example had last year's amounts of its own
    last year's table 2020分配表.xlsx: it replaces the towns table's own 上年补助 for 839 towns
    """
    return _roll(towns, prior, policy)


def _roll(towns: pd.DataFrame, prior: Any, policy: Policy | None) -> pd.DataFrame:
    """:func:`roll_forward`'s work, its warning pointed at the caller of the public function."""
    towns = _towns.validate_towns(towns)
    covered = None if policy is None else eligible_mask(towns, policy)
    scope = "towns" if policy is None else f"towns {policy.id} covers"
    return _towns.roll_forward(towns, prior, covered=covered, scope=scope, stacklevel=4)


def validate_towns(
    frame: pd.DataFrame,
    *,
    unit: Unit = "yuan",
    policy: Policy | None = None,
    what: str = "towns table",
) -> pd.DataFrame:
    """Check a towns table and return a clean copy indexed by ``code``.

    Collects every problem before raising: missing required columns, malformed (not 9 digits)
    or duplicate codes, empty names, unknown zones or kinds, numbers that are missing,
    non-numeric, negative or not finite. With a *policy*, also the zero denominators of its
    per-capita factors among the towns it covers (e.g. a town with no fiscally-supported
    population cannot have a per-capita capacity).

    A table already validated (as returned by this function) is accepted again as it is.

    Parameters
    ----------
    frame:
        The table, with ``code`` as a column or as the index; English or Chinese headers.
    unit:
        ``"yuan"`` or ``"wan"`` (万元) for money columns whose header does not say.
    policy:
        Optional :class:`~townfiscal.Policy` whose needs are also checked.
    what:
        How to name the table in the error message.

    Returns
    -------
    pandas.DataFrame indexed by ``code`` (str), with the canonical columns first (money in
    yuan, people and km² as float64, ``prior_amount`` NaN where none) and any other columns
    kept after them.

    Raises
    ------
    ValidationError
        Whose ``.problems`` lists every problem with its row (town code), column and value.

    Examples
    --------
    >>> import townfiscal as tf
    >>> raw = tf.load_example().head(3).reset_index()   # code as a column
    >>> clean = validate_towns(raw)
    >>> clean.index.name, len(clean), str(clean["area_km2"].dtype)
    ('code', 3, 'float64')
    >>> raw.loc[0, "area_km2"] = -3.0
    >>> raw.loc[1, "zone"] = "south"
    >>> try:
    ...     validate_towns(raw)
    ... except tf.ValidationError as err:
    ...     print(err)
    towns table is invalid: 2 problems
      - town 440103002, column 'zone', value 'south': unknown zone; expected one of core, ...
      - town 440103001, column 'area_km2', value -3.0: must not be negative
    """
    towns = _towns.validate_towns(frame, unit=unit, what=what)
    if policy is not None:
        check_policy_needs(towns, policy, what)
    return towns


def check_policy_needs(
    towns: pd.DataFrame,
    policy: Policy,
    what: str = "towns table",
    covered: npt.NDArray[np.bool_] | None = None,
) -> None:
    """Columns the policy reads must exist; its per-capita denominators must be positive.

    Only the towns the policy covers are checked: pass their mask as *covered* when the
    caller has it already, else it is computed here.

    Raises
    ------
    ValidationError
        Naming each missing column, and each covered town with a blank or a zero where the
        policy reads or divides.
    """
    problems: list[Problem] = []
    specs = factor_specs(policy)
    needed = sorted({c for s in specs for c in (s.numerator, s.denominator) if c})
    for name in needed:
        if name not in towns.columns:
            problems.append(Problem(f"policy {policy.id} needs this column", column=name))
    if problems:
        raise ValidationError(problems, what=what)
    if covered is None:
        covered = eligible_mask(towns, policy)
    if not covered.any():
        return
    for name in needed:
        blank = covered & np.isnan(towns[name].to_numpy(dtype=np.float64))
        for code in towns.index[blank]:
            problems.append(
                Problem(
                    f"missing value: policy {policy.id} needs it for covered towns",
                    row=code,
                    column=name,
                )
            )
    zones = policy.get("regional_coefficient", {})
    if zones:
        zone = towns["zone"].to_numpy(dtype=object)
        no_zone = covered & ~np.isin(zone, np.array(list(zones), dtype=object))
        for i in np.flatnonzero(no_zone):
            problems.append(
                Problem(
                    f"policy {policy.id} has no regional coefficient for this zone",
                    row=towns.index[int(i)],
                    column="zone",
                    value=zone[i],
                )
            )
    for spec in specs:
        if spec.denominator is None:
            continue
        den = towns[spec.denominator].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            zero = covered & (den <= 0)
        for i in np.flatnonzero(zero):
            problems.append(
                Problem(
                    f"must be positive: policy {policy.id} divides by it for factor {spec.name!r}",
                    row=towns.index[int(i)],
                    column=spec.denominator,
                    value=_as_float(den[i]),
                )
            )
    if problems:
        raise ValidationError(problems, what=what)


def _as_float(value: Any) -> float:
    return float(value)
