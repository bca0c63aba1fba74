"""The ``townfiscal`` command."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence

from townfiscal._errors import InfeasibleError, ValidationError
from townfiscal._version import version
from townfiscal.analysis.report import write_allocation
from townfiscal.cli import _optimize as optimizer
from townfiscal.cli._common import (
    CLIError,
    by_group,
    display_width,
    load_towns,
    out_path,
    pad,
    policy_arg,
    prior_args,
    read_reported,
    roll_reported,
    sheet_args,
    summary,
    towns_arg,
)
from townfiscal.cli._fiscal import add_subcommands
from townfiscal.optimize import SolverError, data_hash
from townfiscal.policy import get_policy, list_policies
from townfiscal.rules import explain_formula, formula_allocation

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def _cmd_allocate(args: argparse.Namespace) -> int:
    if args.out:
        out_path(args.out)  # a wrong file type fails before the allocation runs
    towns = load_towns(args)
    if optimizer.requested(args):
        return optimizer.run(args, towns)
    policy = get_policy(args.policy)
    fa = formula_allocation(towns, policy, fund=args.fund)
    title = (f"townfiscal allocate — policy {policy.id}, fund {int(fa.attrs['fund']):,} yuan "
             "(formula amounts)")
    print(summary(towns, fa["amount"], title))
    if args.by:
        print(by_group(towns, fa["amount"], args.by))
    if args.out:
        provenance = {"policy_id": policy.id, "policy_hash": policy.hash,
                      "data_hash": data_hash(towns), "fund": int(fa.attrs["fund"]),
                      "method": fa.attrs.get("method"),
                      **{str(k): v for k, v in fa.attrs.items()
                         if str(k).startswith("towns_")}}
        path = write_allocation(fa, out_path(args.out), policy=policy, towns=towns,
                                provenance=provenance)
        print(f"wrote the 分配表 of {len(fa):,} towns to {path}")
    return 0


def _cmd_range(args: argparse.Namespace) -> int:
    return optimizer.run_range(args, load_towns(args))


def _cmd_explain(args: argparse.Namespace) -> int:
    towns = load_towns(args)
    if args.code not in towns.index:
        raise CLIError(f"no unit with code {args.code!r} in the towns table")
    if optimizer.requested(args):  # the formula's steps, then what the optimiser changed
        print(optimizer.explain(args, towns, args.code))
        return 0
    print(explain_formula(towns, args.policy, args.code, fund=args.fund))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    policy = get_policy(args.policy) if args.policy else None
    try:
        towns = read_reported(args.file, unit=args.unit, sheet=args.sheet,
                              header_row=args.header_row, policy=policy, out=sys.stdout)
        if args.prior:  # last year's table checked too, and matched to this year's towns
            towns = roll_reported(towns, args.prior, column=args.prior_column,
                                  unit=args.prior_unit, policy=args.policy, out=sys.stdout)
    except ValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"{args.file}: valid — {len(towns):,} units, columns: {', '.join(towns.columns)}")
    return 0


def _cmd_policies(args: argparse.Namespace) -> int:
    if args.id is None:
        for pid in list_policies():
            pol = get_policy(pid)
            print(f"{pol.id:<24} {pol.effective.isoformat()}  {pol.method:<14} {pol.title}")
        return 0
    pol = get_policy(args.id)
    print(f"{pol.id}: {pol.title}")
    if pol.title_zh:
        print(f"  {pol.title_zh}")
    print(
        f"  document: {pol.document}\n  effective {pol.effective.isoformat()}, method "
        f"{pol.method}, hash {pol.hash[:16]}"
    )
    if pol.effective_source:  # where the date comes from (a publication date, an assumption)
        for line in textwrap.wrap(f"date: {pol.effective_source}", width=92):
            print(f"  {line}")
    print(f"  {len(pol.parameters)} parameters, {len(pol.assumptions)} of them assumptions "
          "(values the published text does not give)")
    section = None
    for p in pol.parameters.values():
        head = p.path.split(".", 1)[0]
        if head != section:
            section = head
            print(f"\n  {pad(section, 44)} {pad('value', 30)} status")
        value = _value_text(p.value) + (f" ({p.unit})" if p.unit else "")
        status = "ASSUMPTION" if p.is_assumption else "published"
        print(f"    {pad(p.path, 42)} {pad(_clip(value, 30), 30)} {status}")
        if display_width(value) > 30:  # the whole value, under its row
            for line in textwrap.wrap(value, width=92):
                print(f"      = {line}")
        for line in textwrap.wrap(p.source, width=92):
            print(f"      {line}")
    return 0


def _value_text(value: object) -> str:
    """A parameter's value as a reader writes it: 2,000,000,000; town, township; 4405 汕头市."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{k} {_value_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(v) for v in value)
    return str(value)


def _clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns, with … where it was cut."""
    if display_width(text) <= width:
        return text
    out = ""
    for ch in text:
        if display_width(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from townfiscal.service import ServiceConfig, serve
    except ImportError as exc:
        raise CLIError(
            f"the service needs the 'service' extra: pip install 'townfiscal[service]' ({exc})"
        ) from None
    config = ServiceConfig.from_env(
        database=args.database,
        max_body_bytes=args.max_body_bytes,
        solve_time_limit=args.solve_time_limit,
    )
    serve(config, host=args.host, port=args.port, workers=args.workers)
    return 0


class _Version(argparse.Action):
    """``--version``: the installed version, read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"townfiscal {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed so that other modules can add subcommands)."""
    parser = argparse.ArgumentParser(
        prog="townfiscal",
        description="Fiscal transfers to towns: rules as data, formula amounts, allocation.",
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("allocate", help="allocate the fund over the towns and print a summary")
    towns_arg(p)
    policy_arg(p)
    p.add_argument("--out", metavar="FILE",
                   help="write the 分配表: an .xlsx workbook (per town, county and city totals, "
                        "parameters, provenance, the towns, shadow prices) or its per-town "
                        "sheet as .csv (UTF-8 with BOM)")
    p.add_argument("--by", choices=("city", "county"),
                   help="also print the towns, total, mean, least and most per city or county")
    optimizer.add_arguments(p)
    p.set_defaults(handler=_cmd_allocate)

    p = sub.add_parser(
        "range", help="the least and the most fund the constraints allow, and what sets each",
        description="Print the least and the most fund that can be allocated exactly under the "
        "policy's growth control and the constraints given, and what sets each end.")
    towns_arg(p)
    policy_arg(p)
    optimizer.add_constraint_arguments(p)
    p.set_defaults(handler=_cmd_range)

    p = sub.add_parser("explain", help="trace one town's amount step by step",
                       description="Trace one town's amount: the formula's steps with their "
                       "parameters and articles and, when optimiser options are given, what "
                       "the optimiser changed and which constraint held the town.")
    p.add_argument("code", help="the town's 9-digit code")
    towns_arg(p)
    policy_arg(p)
    optimizer.add_arguments(p)
    p.set_defaults(handler=_cmd_explain)

    p = sub.add_parser("validate", help="check a towns file; exit status 1 when invalid")
    p.add_argument("file", help="the towns file (.xlsx, .xls, .ods, .csv or .parquet)")
    p.add_argument("--unit", choices=["yuan", "wan"], default="yuan",
                   help="the unit of the file's money columns without a unit in their header "
                        "or a 单位 line above the headers (default: yuan)")
    sheet_args(p)
    p.add_argument("--policy", metavar="ID", help="also check what this policy needs")
    prior_args(p)
    p.set_defaults(handler=_cmd_validate)

    p = sub.add_parser("policies", help="list the policies, or show one with its sources")
    p.add_argument("id", nargs="?",
                   help="a policy id: show its parameters, each published or an assumption, "
                        "with its source")
    p.set_defaults(handler=_cmd_policies)

    p = sub.add_parser(
        "serve",
        help="serve the HTTP JSON API (needs the 'service' extra)",
        description="Serve the HTTP JSON API with uvicorn. TOWNFISCAL_API_TOKEN, when set, "
        "is required as 'Authorization: Bearer <token>' on every endpoint but /health; other "
        "TOWNFISCAL_* variables set the defaults of the options below.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    p.add_argument(
        "--database",
        metavar="PATH_OR_URL",
        help="SQLite file or SQLAlchemy URL for stored allocations "
        "(default: $TOWNFISCAL_DATABASE or ./townfiscal-service.sqlite3)",
    )
    p.add_argument("--max-body-bytes", type=int, metavar="N", help="request size limit (413)")
    p.add_argument(
        "--solve-time-limit", type=float, metavar="SECONDS", help="time limit of each solve"
    )
    p.add_argument("--workers", type=int, default=1,
                   help="server processes (default: 1); requests are computed in worker "
                        "processes shared among them, one per core by default "
                        "(TOWNFISCAL_WORKER_PROCESSES)")
    p.set_defaults(handler=_cmd_serve)

    add_subcommands(sub)  # split, devolve, transfers, responsibilities
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 invalid input, 2 error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except (ValidationError, InfeasibleError, SolverError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except (CLIError, FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


