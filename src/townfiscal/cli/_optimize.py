"""Options of ``townfiscal allocate`` that switch from formula amounts to the optimiser."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd

from townfiscal.analysis.report import write_allocation
from townfiscal.cli._common import by_group, money, out_path, summary
from townfiscal.optimize import (
    Cap,
    CapacityFloor,
    Constraint,
    Floor,
    GrowthCap,
    HoldHarmless,
    MaxMin,
    MinDeviation,
    MinShortfall,
    NeedOrder,
    Objective,
    Proportional,
    Rounding,
    TierOrder,
    allocate,
    fund_range,
)

__all__ = ["add_arguments", "add_constraint_arguments", "explain", "requested", "run",
           "run_range"]

_OBJECTIVES = ("proportional", "deviation", "relative", "maxmin", "shortfall")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the optimiser's options to the ``allocate`` subcommand."""
    g = p.add_argument_group(
        "optimiser (any of these allocates by linear programming instead of the formula)")
    _constraint_options(g)
    g.add_argument("--objective", choices=_OBJECTIVES,
                   help="proportional (default: every adjustment spread in proportion to the "
                        "formula amounts), least absolute deviation, relative deviation, "
                        "max-min capacity per person, or shortfall against expenditure; the "
                        "linear ones break their ties proportionally")
    g.add_argument("--solver", default="highs", help="highs (default), cbc, or a PuLP solver")
    g.add_argument("--time-limit", type=float, default=120.0, metavar="SECONDS",
                   help="solver time limit (default 120)")


def add_constraint_arguments(p: argparse.ArgumentParser) -> None:
    """Add the constraints' options alone (for ``townfiscal range``)."""
    _constraint_options(p.add_argument_group("constraints"))


def _constraint_options(g: Any) -> None:
    g.add_argument("--hold-harmless", nargs="?", const=1.0, type=float, metavar="RATIO",
                   help="no town below RATIO × last year's amount (default ratio 1.0)")
    g.add_argument("--growth-cap", type=float, metavar="RATE",
                   help="no town above (1 + RATE) × last year's amount, e.g. 0.15")
    g.add_argument("--floor", type=money, metavar="YUAN", help="every town gets at least YUAN")
    g.add_argument("--cap", type=money, metavar="YUAN", help="no town gets more than YUAN")
    g.add_argument("--need-order", action="store_true",
                   help="a needier town (higher coefficient) never gets less than a less needy one")
    g.add_argument("--tier-order", action="store_true",
                   help="a weaker tier never gets less than a stronger one (tier policies)")
    g.add_argument("--capacity-floor", type=float, metavar="SHARE",
                   help="capacity per person at least SHARE × the county average, e.g. 0.65")
    g.add_argument("--rounding", type=int, metavar="YUAN",
                   help="pay in whole units of YUAN (10000 = 万元; default whole yuan)")


def requested(args: argparse.Namespace) -> bool:
    """Whether any optimiser option was given."""
    return any(getattr(args, k, None) not in (None, False) for k in (
        "hold_harmless", "growth_cap", "floor", "cap", "need_order", "tier_order",
        "capacity_floor", "rounding", "objective")) or getattr(args, "solver", "highs") != "highs"


def constraints_of(args: argparse.Namespace) -> list[Constraint]:
    """The constraints the options ask for."""
    out: list[Constraint] = []
    if args.hold_harmless is not None:
        out.append(HoldHarmless(args.hold_harmless))
    if args.growth_cap is not None:
        out.append(GrowthCap(args.growth_cap))
    if args.floor is not None:
        out.append(Floor(args.floor))
    if args.cap is not None:
        out.append(Cap(args.cap))
    if args.need_order:
        out.append(NeedOrder())
    if args.tier_order:
        out.append(TierOrder())
    if args.capacity_floor is not None:
        out.append(CapacityFloor(args.capacity_floor))
    if args.rounding is not None:
        out.append(Rounding(args.rounding))
    return out


def objective_of(name: str | None) -> Objective:
    """The objective an ``--objective`` name stands for."""
    if name == "deviation":
        return MinDeviation()
    if name == "relative":
        return MinDeviation(relative=True)
    if name == "maxmin":
        return MaxMin()
    if name == "shortfall":
        return MinShortfall(need="expenditure")
    return Proportional()


def _allocate(args: argparse.Namespace, towns: pd.DataFrame) -> Any:
    return allocate(towns, args.policy, fund=args.fund, constraints=constraints_of(args),
                    objective=objective_of(args.objective), solver=args.solver,
                    time_limit=args.time_limit)


def explain(args: argparse.Namespace, towns: pd.DataFrame, code: str) -> str:
    """One town's amount under the optimiser: the formula's steps, then its own."""
    return str(_allocate(args, towns).explain(code))


def run(args: argparse.Namespace, towns: pd.DataFrame) -> int:
    """Allocate with the optimiser, print the summary, shadow prices; write ``--out``."""
    cons = constraints_of(args)
    alloc = _allocate(args, towns)
    title = (f"townfiscal allocate — policy {alloc.provenance['policy']}, fund "
             f"{alloc.fund:,} yuan (optimised: {', '.join(map(repr, cons)) or 'no constraints'})")
    print(summary(towns, alloc.amounts, title))
    if getattr(args, "by", None):
        print(by_group(towns, alloc.amounts, args.by))
    print(f"  status {alloc.status}; objective {alloc.objective_value:,.2f} "
          f"{alloc.objective_unit}; solver {alloc.provenance['solver_version']}, "
          f"build {alloc.build_seconds:.3f} s, solve {alloc.solve_seconds:.3f} s")
    prices: Any = alloc.shadow_prices
    print(f"  method: {alloc.result.method}")
    print("  shadow prices and towns held:")
    for family, row in prices.iterrows():
        price = float(row["shadow_price"])
        price = 0.0 if abs(price) < 1e-12 else price  # a solver's rounding noise, not a price
        # NaN: no single price, e.g. every town pinned by its own bounds (any price fits)
        shown = f"{price:>12.6g}" if np.isfinite(price) else f"{'not unique':>12}"
        print(f"    {family:<18} {shown} {row['unit']:<34} {int(row['binding']):>6} towns")
    if args.out:
        path = write_allocation(alloc, out_path(args.out))
        print(f"wrote the 分配表 of {len(alloc.amounts):,} towns to {path}")
    return 0


def run_range(args: argparse.Namespace, towns: pd.DataFrame) -> int:
    """Print the least and the most fund the constraints allow, and what sets each end."""
    cons = constraints_of(args)
    r = fund_range(towns, args.policy, cons, fund=args.fund)
    print(f"townfiscal range — policy {r.policy} "
          f"({', '.join(map(repr, cons)) or 'no constraints'})")
    for line in r.describe().splitlines():
        print(f"  {line}")
    return 0
