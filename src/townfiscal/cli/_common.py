"""What the ``townfiscal`` subcommands share: common options, loading towns, writing tables."""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from townfiscal._files import atomic_path
from townfiscal.analysis.report import _KIND_ZH, _ZONE_ZH  # the 分配表's words
from townfiscal.policy import Policy, get_policy
from townfiscal.rules import read_towns, roll_forward
from townfiscal.towns import (
    COLUMNS,
    PRIOR,
    SOURCE,
    PlausibilityWarning,
    RollForwardWarning,
    Unit,
    describe_source,
    example_path,
    read_prior,
)

__all__ = [
    "CLIError",
    "by_group",
    "display_width",
    "load_towns",
    "money",
    "out_path",
    "pad",
    "policy_arg",
    "prior_args",
    "read_reported",
    "roll_reported",
    "sheet_args",
    "source_description",
    "summary",
    "towns_arg",
    "write_table",
    "yuan",
]

#: Chinese headers of the columns the command line's tables have (the 分配表's vocabulary: the
#: towns columns as the 乡镇基础数据 sheet heads them, money marked 元); others keep theirs.
TABLE_HEADERS: dict[str, str] = {
    "code": "行政区划代码",
    **{c.name: c.zh + ("(元)" if c.kind == "money" else "") for c in COLUMNS},
    "eligible": "是否补助对象",
    "amount": "金额(元)",
    "total": "合计(元)",
    "item": "事项",
    "row": "行",
    "central": "中央(元)",
    "province": "省(元)",
    "town": "镇(元)",
    "posts": "下放编制数",
    "powers": "下放事权",
    "personnel": "人员经费(元)",
    "operating": "公用经费(元)",
    "coefficient_before": "调整前综合系数",
    "coefficient_after": "调整后综合系数",
    "amount_before": "调整前补助(元)",
    "amount_after": "调整后补助(元)",
    "change": "增减(元)",
    "change_pct": "增减幅度(%)",
    "transfer": "随事转移资金(元)",
}
# "city" and "county" are levels of government in a split's rows but places in a towns table
_LEVEL_HEADERS = {"city": "市(元)", "county": "县(元)"}


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: two for wide and full-width characters (Chinese),
    none for combining marks, one otherwise (Unicode's East Asian Width)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad(text: str, width: int, *, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` terminal columns (left-aligned, or right)."""
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill

class CLIError(Exception):
    """An error to print as one line, without a traceback."""


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str], *, sheet: str = "towns",
                headers: dict[str, str] | None = None, levels: bool = False) -> Path:
    """Write *frame* to ``.csv`` (UTF-8 with BOM, so Excel reads the Chinese) or ``.xlsx``.

    Headers are written in Chinese (:data:`TABLE_HEADERS`, then *headers* for the command's
    own columns; *levels*: ``city`` and ``county`` are levels of government, 市(元) and
    县(元), not places), and so are zones, kinds of unit and yes/no.

    The file appears whole or not at all: it is written beside the target and moved into
    place when complete, with the permissions a new file gets (the umask's). Float columns
    that hold whole numbers (yuan) are written as integers, other floats to 12 significant
    digits.

    Raises
    ------
    ValueError
        For another file type.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        raise ValueError(f"cannot write {target.name}: use a .csv or .xlsx file name")
    frame = _chinese(_whole_money(frame), headers or {}, levels=levels)
    with atomic_path(target) as tmp:
        if suffix == ".csv":
            # 12 significant digits: a float's last digits are noise (0.30000000000000004)
            frame.to_csv(tmp, encoding="utf-8-sig", lineterminator="\n", float_format="%.12g")
        else:
            frame.to_excel(tmp, sheet_name=sheet, engine="openpyxl")
    return target


def out_path(path: str | os.PathLike[str]) -> Path:
    """An ``--out`` file name, checked to be ``.csv`` or ``.xlsx`` before anything runs long.

    Raises
    ------
    ValueError
        For another file type.
    """
    target = Path(path)
    if target.suffix.lower() not in {".csv", ".xlsx"}:
        raise ValueError(f"cannot write {target.name}: use a .csv or .xlsx file name")
    return target


def _chinese(frame: pd.DataFrame, headers: dict[str, str], *, levels: bool) -> pd.DataFrame:
    """*frame* with Chinese headers, zones, kinds and yes/no."""
    names = {**TABLE_HEADERS, **(_LEVEL_HEADERS if levels else {}), **headers}
    out = frame.copy()
    for col, zh in (("zone", _ZONE_ZH), ("kind", _KIND_ZH)):
        if col in out.columns:
            out[col] = out[col].map(lambda v, zh=zh: zh.get(v, v))
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = np.where(out[col].to_numpy(), "是", "否")
    out.index.name = names.get(str(out.index.name), out.index.name)
    return out.rename(columns=lambda c: names.get(str(c), c))


def _whole_money(frame: pd.DataFrame) -> pd.DataFrame:
    """*frame* with each float column whose values are whole numbers up to float noise
    (196100.0000000002, a sum of yuan) as integers; missing values stay missing."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype.kind != "f":
            continue
        arr = out[col].to_numpy(dtype=np.float64)
        finite = np.isfinite(arr)
        whole = np.round(arr[finite])
        noise = np.maximum(1e-6, 8 * np.finfo(np.float64).eps * np.abs(whole))
        if np.all(np.abs(arr[finite] - whole) <= noise):
            ints = np.zeros(arr.size, dtype=np.int64)
            ints[finite] = whole.astype(np.int64)
            out[col] = pd.arrays.IntegerArray(ints, ~finite)
    return out


def towns_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--towns",
        metavar="FILE",
        help="towns table (.xlsx/.xls/.ods/.csv/.parquet); default: the bundled Guangdong "
             "example",
    )
    p.add_argument(
        "--unit",
        choices=["yuan", "wan"],
        default="yuan",
        help="unit of money columns whose header does not say, when no 单位 line above the "
             "headers does (default: yuan)",
    )
    sheet_args(p)
    prior_args(p)


def prior_args(p: argparse.ArgumentParser) -> None:
    """``--prior`` (last year's allocation table) and the options to read it."""
    g = p.add_argument_group("last year's amounts (rolled forward into the towns table)")
    g.add_argument("--prior", metavar="FILE",
                   help="last year's 分配表 (as townfiscal allocate --out wrote it) or a "
                        "bureau's table with a code and an amount column: its amounts replace "
                        "the towns table's 上年补助, matched by code")
    g.add_argument("--prior-column", metavar="HEADER",
                   help="the amount column of the --prior table, when several could be it")
    g.add_argument("--prior-unit", choices=["yuan", "wan"],
                   help="unit of that column when neither its header nor a 单位 line says "
                        "(default: yuan)")


def sheet_args(p: argparse.ArgumentParser, what: str = "towns file") -> None:
    """``--sheet`` and ``--header-row``, for when the reader's detection guesses wrong."""
    p.add_argument("--sheet", metavar="NAME",
                   help=f"the {what}'s sheet, by name or 0-based number (default: the sheet "
                        "whose top rows hold the known headers)")
    p.add_argument("--header-row", type=_row_number, metavar="N",
                   help=f"the {what}'s header row as Excel numbers it (default: found among "
                        "the top 40 rows)")


def _row_number(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a row number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"rows are numbered from 1, as in Excel: {text!r}")
    return n


def policy_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        default="guangdong-2020",
        metavar="ID",
        help="policy id or a policy .toml file (default: guangdong-2020)",
    )
    p.add_argument(
        "--fund",
        type=yuan,
        metavar="YUAN",
        help="the fund to share out, yuan (default: the policy's)",
    )


def yuan(text: str) -> int:
    cleaned = text.replace(",", "").replace("_", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an amount of yuan: {text!r}") from None
    if value <= 0 or value != int(value):
        raise argparse.ArgumentTypeError(
            f"the fund must be a positive whole number of yuan: {text!r}"
        )
    return int(value)


def money(text: str) -> float:
    """An amount of yuan given on the command line: ``1,500,000`` or ``1_500_000``, ≥ 0, finite."""
    cleaned = text.replace(",", "").replace("_", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an amount of yuan: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a non-negative amount of yuan: {text!r}")
    return value


def load_towns(args: argparse.Namespace) -> pd.DataFrame:
    """The towns table the command names (default: the bundled example).

    For a file of the user's, what the reader found (sheet, header row, unit, rows skipped)
    and its warnings are printed to stderr, so that a wrong guess is seen at once.
    """
    if not args.towns:
        towns = read_towns(example_path(), unit=args.unit)
    else:
        towns = read_reported(args.towns, unit=args.unit, sheet=getattr(args, "sheet", None),
                              header_row=getattr(args, "header_row", None))
    if getattr(args, "prior", None):
        towns = roll_reported(towns, args.prior, column=getattr(args, "prior_column", None),
                              unit=getattr(args, "prior_unit", None),
                              policy=getattr(args, "policy", None))
    return towns


def roll_reported(towns: pd.DataFrame, path: str, *, column: str | None = None,
                  unit: Unit | None = None, policy: str | None = None,
                  out: TextIO | None = None) -> pd.DataFrame:
    """Roll last year's table forward into *towns*, printing what was read and the towns that
    appeared or vanished (to stderr by default)."""
    stream = sys.stderr if out is None else out
    pol = get_policy(policy) if policy else None
    with _warnings_printed(PlausibilityWarning, RollForwardWarning):
        prior = read_prior(path, column=column, unit=unit)
        rolled = roll_forward(towns, prior, policy=pol)
        info = rolled.attrs.get(PRIOR, {})
        what = "townfiscal's 分配表" if info.get("kind", "").startswith("分配表") else "a table"
        print(f"last year's amounts: {info.get('file')} ({what}, sheet {info.get('sheet')!r}, "
              f"column {info.get('amount_header')!r} in "
              f"{'万元' if info.get('unit') == 'wan' else '元'} by {info.get('unit_source')}): "
              f"{info.get('matched', 0):,} towns matched, {info.get('total', 0):,} yuan",
              file=stream)
    return rolled


def read_reported(path: str, *, unit: Unit = "yuan", sheet: str | None = None,
                  header_row: int | None = None, policy: Policy | None = None,
                  out: TextIO | None = None) -> pd.DataFrame:
    """Read a towns file, printing what was found and every warning (to stderr by default)."""
    stream = sys.stderr if out is None else out
    with _warnings_printed(PlausibilityWarning):
        towns = read_towns(path, unit=unit, sheet=sheet, header_row=header_row, policy=policy)
        report = source_description(towns)
        if report:
            print(report, file=stream)
    return towns


@contextmanager
def _warnings_printed(*shown: type[Warning]) -> Iterator[None]:
    """The warnings of the *shown* kinds raised in the block printed to stderr when it ends
    (after what the block printed), every time; any other warning passed on as raised."""
    with warnings.catch_warnings(record=True) as caught:
        for category in shown:
            warnings.simplefilter("always", category)
        yield
    for w in caught:
        if issubclass(w.category, shown):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def source_description(towns: pd.DataFrame) -> str:
    """What the reader found in the towns file (:func:`townfiscal.towns.describe_source`), or
    ``""`` for a table not read from a file."""
    info = towns.attrs.get(SOURCE)
    return describe_source(info) if isinstance(info, dict) else ""


def by_group(table: pd.DataFrame, amount: pd.Series, by: str) -> str:
    """Per city or county: towns, total, mean, least and most (yuan), lined up by terminal
    columns, with the 合计 (total) last."""
    column = {"city": "city", "county": "county"}[by]
    labels = table.loc[amount.index, column].astype(str)
    if by == "county":  # a county's name alone may repeat across cities
        labels = table.loc[amount.index, "city"].astype(str) + " " + labels
    frame = pd.DataFrame({"group": labels.to_numpy(), "amount": amount.to_numpy()})
    agg = frame.groupby("group", sort=True)["amount"].agg(["count", "sum", "mean", "min", "max"])
    width = max([display_width(str(g)) for g in agg.index] + [8]) + 2
    head = "地级市 city" if by == "city" else "县(市、区) county"
    lines = [f"  by {by}:",
             f"    {pad(head, width)} {'towns':>6} {'total (yuan)':>16} {'mean':>12} "
             f"{'least':>12} {'most':>12}"]
    for group, row in agg.iterrows():
        lines.append(f"    {pad(str(group), width)} {int(row['count']):>6} "
                     f"{int(row['sum']):>16,} {row['mean']:>12,.0f} {int(row['min']):>12,} "
                     f"{int(row['max']):>12,}")
    lines.append(f"    {pad('合计 total', width)} {len(amount):>6} {int(amount.sum()):>16,} "
                 f"{float(amount.mean()) if len(amount) else 0:>12,.0f} "
                 f"{int(amount.min()) if len(amount) else 0:>12,} "
                 f"{int(amount.max()) if len(amount) else 0:>12,}")
    return "\n".join(lines)


def summary(table: pd.DataFrame, amount: pd.Series, title: str) -> str:
    paid = amount[amount > 0]
    lines = [
        title,
        f"  towns covered   {len(amount):>15,} of {len(table):,} units",
        f"  total           {int(amount.sum()):>15,} yuan",
        f"  mean            {float(amount.mean()) if len(amount) else 0:>15,.0f} yuan",
        f"  min             {int(amount.min()) if len(amount) else 0:>15,} yuan",
        f"  max             {int(amount.max()) if len(amount) else 0:>15,} yuan",
        f"  towns paid      {len(paid):>15,}",
        "  by zone:",
    ]
    by_zone = pd.DataFrame({"zone": table.loc[amount.index, "zone"], "amount": amount})
    agg = by_zone.groupby("zone", sort=True)["amount"].agg(["count", "sum", "mean"])
    for zone, row in agg.iterrows():
        label = f"{zone} {_ZONE_ZH.get(str(zone), '')}"
        lines.append(
            f"    {pad(label, 24)} {int(row['count']):>5} towns {int(row['sum']):>15,} yuan"
            f"  mean {row['mean']:>12,.0f}"
        )
    return "\n".join(lines)
