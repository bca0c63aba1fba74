"""Subcommands ``split``, ``devolve``, ``transfers`` and ``responsibilities`` of ``townfiscal``.

Added to the parser by :func:`townfiscal.cli.build_parser`; they read and write CSV/XLSX like
``allocate``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from townfiscal.cli._common import (
    CLIError,
    load_towns,
    money,
    pad,
    policy_arg,
    sheet_args,
    towns_arg,
    write_table,
)
from townfiscal.responsibility._devolution import devolve
from townfiscal.responsibility._matrix import (
    LEVELS,
    ResponsibilityMatrix,
    get_responsibility,
    list_responsibilities,
)
from townfiscal.responsibility._programmes import get_programmes, transfers
from townfiscal.responsibility._split import split_expenditure
from townfiscal.towns import read_table as read_any_table
from townfiscal.towns._workbook import SUFFIXES

__all__ = ["add_subcommands", "read_table"]

_LEVEL_ZH = {"central": "中央", "province": "省", "city": "市", "county": "县", "town": "镇"}


def read_table(path: str | Path, *, sheet: str | int | None = None,
               header_row: int | None = None) -> pd.DataFrame:
    """A table from a file, read by the library's one reader
    (:func:`townfiscal.towns.read_table`): ``.xlsx``, ``.xls``, ``.ods`` or ``.csv`` in any
    of the encodings it detects, its sheet and header row found under any title lines, with
    totals, notes and blank rows left out. Every cell is text, so that codes keep their
    digits (a number stored in Excel as ``441521101`` reads ``"441521101"``); thousands
    separators in numbers are removed; blank cells are missing values.

    Raises:
        FileNotFoundError: no such file.
        UnreadableFileError: an empty, damaged or mislabelled file (one line saying what it
            seems to be).
        ValidationError: an unsupported file type, or a sheet or header row the file lacks.
    """
    frame, _ = read_any_table(path, sheet=sheet, header_row=header_row)
    for j in range(frame.shape[1]):
        frame.isetitem(j, frame.iloc[:, j].map(_clean_cell, na_action="ignore").to_numpy())
    return frame


_NUMBER = re.compile(r"^\s*-?\d{1,3}(,\d{3})+(\.\d+)?\s*$")


def _clean_cell(v: object) -> object:
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if not isinstance(v, str):
        return v
    return v.replace(",", "").strip() if _NUMBER.match(v) else v.strip()


def _matrix(arg: str) -> ResponsibilityMatrix:
    p = Path(arg)
    if p.suffix.lower() in SUFFIXES:
        return ResponsibilityMatrix.from_frame(read_table(p), id=p.stem)
    return get_responsibility(arg)


def _matrix_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--matrix", default="guangdong-2020", metavar="ID",
                   help="responsibility matrix id, a matrix .toml file, or a .csv/.xlsx table "
                        "with item, zone, central…town and source columns "
                        "(default: guangdong-2020)")


def _yuan_line(label: str, amount: int, total: int) -> str:
    pct = 100.0 * amount / total if total else 0.0
    return f"  {label:<16} {amount:>18,} yuan  {pct:6.2f}%"


def _cmd_split(args: argparse.Namespace) -> int:
    m = _matrix(args.matrix)
    towns = load_towns(args) if args.towns else None
    spending = read_table(args.spending)
    s = split_expenditure(spending, m, towns=towns, unit=args.unit)
    total = int(s.totals["amount"])
    print(f"townfiscal split — matrix {m.id} ({m.hash}), {len(s.table):,} rows")
    print(_yuan_line("total 合计", total, total))
    for lvl in LEVELS:
        print(_yuan_line(f"{lvl} {_LEVEL_ZH[lvl]}", int(s.totals[lvl]), total))
    if args.out:
        rows = (s.table.set_index("code") if "code" in s.table.columns
                else s.table.rename_axis("row"))
        path = write_table(rows, args.out, sheet="支出责任", levels=True)
        print(f"wrote {len(s.table):,} rows to {path}")
    return 0


def _cmd_devolve(args: argparse.Namespace) -> int:
    towns = load_towns(args)
    moves = read_table(args.moves)
    d = devolve(towns, moves, matrix=args.matrix, cost_per_post=args.cost_per_post,
                operating_cost_per_post=args.operating_cost_per_post,
                capacity_follows=args.capacity_follows)
    total = int(d.counties["amount"].sum())
    print(f"townfiscal devolve — {int(d.transfers['posts'].sum()):,} posts to "
          f"{len(d.transfers):,} towns from {len(d.counties):,} counties, "
          f"{total:,} yuan a year follow the duties")
    c = d.counties
    for (city, county), n, posts, amount in zip(c.index.tolist(), c["towns"].tolist(),
                                                 c["posts"].tolist(), c["amount"].tolist(),
                                                 strict=True):
        print(f"  {pad(f'{city}{county}', 22)} {n:>4} towns {posts:>6,} posts "
              f"{amount:>16,} yuan/year")
    for key, (value, source) in sorted(d.parameters.items()):
        print(f"  default {key} = {value:,.0f}  [{source}]")
    ch = d.subsidy_change(args.policy, fund=args.fund)
    got = ch[ch["posts"] > 0]
    print(f"weak-town subsidy, policy {ch.attrs['policy']}, fund {int(ch.attrs['fund']):,} yuan:"
          f" receiving towns {int(got['change'].sum()):+,} yuan "
          f"({int(got['amount_before'].sum()):,} → {int(got['amount_after'].sum()):,}); "
          f"other towns {int(ch['change'].sum() - got['change'].sum()):+,} yuan")
    if args.out:
        path = write_table(d.transfers, args.out, sheet="财随事转")
        print(f"wrote {len(d.transfers):,} transfers to {path}")
    if args.towns_out:
        path = write_table(d.towns, args.towns_out, sheet="乡镇基础数据")
        print(f"wrote the updated towns table ({len(d.towns):,} rows) to {path}")
    if args.compare:
        path = write_table(ch, args.compare, sheet="补助变化")
        print(f"wrote the before/after subsidy comparison ({len(ch):,} towns) to {path}")
    return 0


def _cmd_transfers(args: argparse.Namespace) -> int:
    towns = load_towns(args)
    progs = get_programmes(args.programmes)
    include = [s.strip() for s in args.include.split(",") if s.strip()] if args.include else None
    tr = transfers(towns, args.policy, args.fund, programmes=progs, include=include)
    cols = tr.attrs["included"]
    total = int(tr["total"].sum())
    print(f"townfiscal transfers — policy {tr.attrs['policy']}, programmes {progs.id}, "
          f"{int((tr['total'] > 0).sum()):,} of {len(tr):,} units receive something")
    paid, published = tr.attrs["units_paid"], tr.attrs["published_counts"]
    for c in cols:
        p = progs[c]
        note = f"  {p.name_zh}, {paid[c]:,} units"
        if c in published:
            note += f" (the source counts {published[c]:,})"
        print(_yuan_line(c, int(tr[c].sum()), total) + note)
    print(_yuan_line("total", total, total))
    if args.out:
        path = write_table(tr, args.out, sheet="转移支付",
                           headers={c: f"{progs[c].name_zh}(元)" for c in cols})
        print(f"wrote {len(tr):,} rows to {path}")
    return 0


def _cmd_responsibilities(args: argparse.Namespace) -> int:
    if args.id is None:
        for mid in list_responsibilities():
            m = get_responsibility(mid)
            print(f"{m.id:<18} {len(m.items):>3} items  {m.title}")
        return 0
    m = _matrix(args.id)
    print(f"{m.id}: {m.title} (hash {m.hash})")
    zones = [args.zone] if args.zone else list(m.zones)
    for zone in zones:
        if zone not in m.zones:
            raise CLIError(f"unknown zone {zone!r}; expected one of {', '.join(m.zones)}")
        print(f"\nzone {zone}")
        print(m.table(zone).to_string(float_format=lambda v: f"{v:.4f}"))
    if args.sources:
        long = m.to_frame()
        if args.zone:
            long = long[long["zone"] == args.zone]
        print()
        for r in long.itertuples(index=False):
            print(f"  {r.item} / {r.zone} / {r.level} = {r.share:.4f}  [{r.source}]")
    return 0


def add_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``split``, ``devolve``, ``transfers`` and ``responsibilities`` to the command."""
    p = sub.add_parser("split", help="split spending among central/province/city/county/town")
    p.add_argument("spending", help="spending table (.csv/.xlsx): item, amount, zone "
                                    "(or code with --towns), one row per unit and item")
    _matrix_arg(p)
    p.add_argument("--towns", metavar="FILE",
                   help="towns table to look zones up by code (when the spending has none)")
    sheet_args(p)
    p.add_argument("--unit", choices=["yuan", "wan"], default="yuan",
                   help="unit of the amount column when its header does not say")
    p.add_argument("--out", metavar="FILE", help="write the split rows (.csv or .xlsx)")
    p.set_defaults(handler=_cmd_split)

    p = sub.add_parser("devolve", help="move posts from counties to towns (财随事转): "
                                       "transfers and the subsidy effect")
    p.add_argument("moves", help="moves table (.csv/.xlsx): code, posts [, county, "
                                 "cost_per_post, operating_cost, powers]")
    towns_arg(p)
    policy_arg(p)
    _matrix_arg(p)
    p.add_argument("--cost-per-post", type=money, metavar="YUAN",
                   help="yearly cost per post for moves without one (default: the matrix's)")
    p.add_argument("--operating-cost-per-post", type=money, metavar="YUAN",
                   help="yearly operating cost per post for moves without operating_cost")
    p.add_argument("--capacity-follows", action="store_true",
                   help="count the money moved as the town's disposable capacity too")
    p.add_argument("--out", metavar="FILE", help="write the transfer table (.csv or .xlsx)")
    p.add_argument("--towns-out", metavar="FILE", help="write the updated towns table")
    p.add_argument("--compare", metavar="FILE",
                   help="write each town's subsidy before and after")
    p.set_defaults(handler=_cmd_devolve)

    p = sub.add_parser("transfers", help="every transfer each town receives, with a total")
    towns_arg(p)
    policy_arg(p)
    p.add_argument("--programmes", default="guangdong-2020", metavar="ID",
                   help="programme set id or .toml file (default: guangdong-2020)")
    p.add_argument("--include", metavar="IDS",
                   help="comma-separated programme ids (default: the set's defaults)")
    p.add_argument("--out", metavar="FILE", help="write one row per town (.csv or .xlsx)")
    p.set_defaults(handler=_cmd_transfers)

    p = sub.add_parser("responsibilities",
                       help="list the responsibility matrices, or show one with its sources")
    p.add_argument("id", nargs="?", help="a matrix id: show its shares by level")
    p.add_argument("--zone", help="show one zone only")
    p.add_argument("--sources", action="store_true", help="list every share with its source")
    p.set_defaults(handler=_cmd_responsibilities)
