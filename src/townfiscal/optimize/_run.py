"""Build, check, solve, round and verify: the allocation model end to end, in arrays."""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from townfiscal._errors import Conflict, InfeasibleError
from townfiscal._rounding import rebalance_groups, round_to_total
from townfiscal.optimize._constraints import Constraint, Rounding
from townfiscal.optimize._context import FloatArray, IntArray, ModelContext
from townfiscal.optimize._model import (
    FUND,
    Assembly,
    Lowered,
    _family_bounds,
    assemble,
    clean_order,
    elastic_conflicts,
    elastic_problem,
    lower,
    order_binding,
    prechecks,
    violations,
    weakness_order,
)
from townfiscal.optimize._objectives import MinDeviation, Objective
from townfiscal.optimize._problem import (
    INFEASIBLE,
    TIME_LIMIT,
    UNBOUNDED,
    Solution,
    SolverError,
    SolverTimeLimitWarning,
)
from townfiscal.optimize._solver import DEFAULT_TIME_LIMIT, solve

__all__ = ["DEFAULT_SCALE", "OptimizationResult", "optimise"]

#: Yuan per model unit: the solver sees money in 万元 (10,000 yuan).
DEFAULT_SCALE = 10_000.0

#: From this many rows on, HiGHS's interior-point solver (with crossover) is used for the LP
#: unless the caller chose a HiGHS ``solver`` option: on the long order chains of tens of
#: thousands of towns it is about 2.5× faster than dual simplex (see docs/benchmarks.md).
IPM_ROWS = 5_000


@attrs.frozen(eq=False)
class OptimizationResult:
    """The solved model over the towns, in arrays (model order).

    ``x`` is the LP optimum (yuan, real), ``amounts`` the whole-unit amounts (int64 yuan,
    summing to the fund), ``binding`` per constraint family a boolean array of the towns it
    holds at the optimum, ``lower_dual``/``upper_dual`` per town ∂objective/∂(its effective
    lower/upper bound) in objective units per yuan (``NaN`` when the solver gave no duals).
    """

    assembly: Assembly
    objective: Objective
    x: FloatArray
    amounts: IntArray
    status: str
    objective_value: float
    objective_rounded: float
    solver: str
    solver_version: str
    build_seconds: float
    solve_seconds: float
    round_seconds: float
    rounding: str
    shadow_prices: pd.DataFrame
    binding: dict[str, NDArray[np.bool_]]
    lower_dual: FloatArray
    upper_dual: FloatArray
    size: dict[str, int]


def _rounding_of(constraints: Sequence[Constraint]) -> Rounding:
    found = [c for c in constraints if isinstance(c, Rounding)]
    return found[-1] if found else Rounding()


def optimise(
    ctx: ModelContext,
    constraints: Sequence[Constraint] = (),
    objective: Objective | None = None,
    *,
    solver: str = "highs",
    time_limit: float = DEFAULT_TIME_LIMIT,
    spend: Literal["exact", "at_most"] = "exact",
    options: Mapping[str, Any] | None = None,
    scale: float = DEFAULT_SCALE,
) -> OptimizationResult:
    """Allocate ``ctx.fund`` over ``ctx``'s towns under ``constraints``, minimising ``objective``.

    Raises
    ------
    InfeasibleError
        The pre-checks or the elastic re-solve found constraints that cannot all hold
        (``.details`` names the families and amounts).
    SolverError
        The solver failed, or stopped at the time limit without a feasible answer.
    """
    if spend not in ("exact", "at_most"):
        raise ValueError(f"spend must be 'exact' or 'at_most', got {spend!r}")
    start = time.perf_counter()
    objective = objective if objective is not None else MinDeviation()
    rounding = _rounding_of(constraints)
    asm = assemble(ctx, constraints, objective, spend=spend)
    conflicts = prechecks(asm)
    if conflicts:
        raise InfeasibleError(conflicts, headline="the constraints cannot all be met")
    milp = rounding.exact == "milp"
    low = lower(asm, scale=float(rounding.unit) if milp else scale, integer=milp)
    build_seconds = time.perf_counter() - start
    options = dict(options or {})
    if (solver.lower() == "highs" and "solver" not in options and not milp
            and low.problem.shape[0] >= IPM_ROWS):
        options["solver"] = "ipm"
    sol = solve(low.problem, solver, time_limit=time_limit, options=options)
    solve_seconds = sol.seconds
    if sol.status == INFEASIBLE:
        _raise_elastic(asm, solver, time_limit, options, scale)
    if sol.status == UNBOUNDED:
        raise SolverError("the model is unbounded; check the objective's weights",
                          status=UNBOUNDED, solver=sol.solver)
    if sol.status == TIME_LIMIT:
        warnings.warn(
            f"{sol.solver} stopped at the time limit of {time_limit:g} s: the allocation is "
            "feasible but not proven optimal", SolverTimeLimitWarning, stacklevel=3)
    assert sol.x is not None
    x = low.x_yuan(sol.x)
    t_round = time.perf_counter()
    amounts, method, extra_seconds = _round(asm, x, rounding, milp=milp, solver=solver,
                                            time_limit=time_limit, options=options)
    solve_seconds += extra_seconds
    round_seconds = time.perf_counter() - t_round - extra_seconds
    tol = max(1e-6 * scale, 1e-6)
    binding = _binding(asm, x, tol)
    lower_dual, upper_dual, prices = _duals(asm, low, sol, x, binding, objective, tol)
    m, ncol = low.problem.shape
    return OptimizationResult(
        assembly=asm, objective=objective, x=x, amounts=amounts, status=sol.status,
        objective_value=objective.evaluate(ctx, x),
        objective_rounded=objective.evaluate(ctx, amounts.astype(np.float64)),
        solver=sol.solver, solver_version=sol.solver_version, build_seconds=build_seconds,
        solve_seconds=solve_seconds, round_seconds=round_seconds, rounding=method,
        shadow_prices=prices, binding=binding, lower_dual=lower_dual, upper_dual=upper_dual,
        size={"rows": m, "columns": ncol, "nonzeros": int(low.problem.matrix.nnz)},
    )


def _raise_elastic(asm: Assembly, solver: str, time_limit: float,
                   options: Mapping[str, Any] | None, scale: float) -> None:
    problem, meta = elastic_problem(asm, scale)
    sol = solve(problem, solver, time_limit=time_limit, options=options)
    details: list[Conflict] = []
    if sol.x is not None:
        details = elastic_conflicts(asm, sol.x, meta, scale)
    if not details:
        details = [Conflict("the solver found the constraints infeasible, and no single family "
                            "explains it", constraints=tuple(sorted({m[0] for m in meta})))]
    raise InfeasibleError(
        details,
        headline="the constraints cannot all be met; the smallest relaxation that would "
                 "make them feasible (one of possibly several):")


def _round(asm: Assembly, x: FloatArray, rounding: Rounding, *, milp: bool, solver: str,
           time_limit: float, options: Mapping[str, Any] | None
           ) -> tuple[IntArray, str, float]:
    """Whole-unit amounts keeping the total and every constraint; (amounts, method, seconds)."""
    u = int(rounding.unit)
    total = int(asm.fund) if asm.spend == "exact" else int(
        np.floor(float(x.sum()) / u + 1e-6)) * u
    if milp:
        amounts = (np.round(x / u) * u).astype(np.int64)
        method, seconds = "milp", 0.0
    else:
        perm = weakness_order(asm)
        xc = clean_order(asm, x)
        codes = [str(c) for c in asm.ctx.codes[perm]]
        r = round_to_total(xc[perm], total, lower=asm.lower[perm], upper=asm.upper[perm],
                           unit=u, codes=codes)
        amounts = np.empty(asm.n, dtype=np.int64)
        amounts[perm] = r
        method, seconds = "largest_remainder", 0.0
        priority = np.empty(asm.n, dtype=np.int64)
        priority[perm] = np.arange(asm.n)
        for gb in asm.groups:
            moved = rebalance_groups(amounts, xc, gb.group, gb.lower, gb.upper,
                                     lower=asm.lower, upper=asm.upper, unit=u,
                                     priority=priority,
                                     ranks=[o.rank for o in asm.orderings])
            if moved is None:
                break
            amounts = moved
    broken = violations(asm, amounts.astype(np.float64))
    if broken and rounding.exact == "auto":
        amounts, seconds = _round_milp(asm, x, u, solver, time_limit, options)
        method = "milp_fallback"
        broken = violations(asm, amounts.astype(np.float64))
    if broken:
        raise InfeasibleError(
            broken, headline=f"no allocation in whole {u:,}-yuan units meets every constraint "
                             "(rounding the optimum breaks these; try Rounding(exact='milp'))")
    return amounts, method, seconds


def _round_milp(asm: Assembly, x: FloatArray, u: int, solver: str, time_limit: float,
                options: Mapping[str, Any] | None) -> tuple[IntArray, float]:
    """Choose round-down or round-up per town by a small integer program (all rows kept)."""
    v = x / u
    f = np.floor(v + 1e-9)
    r = np.clip(v - f, 0.0, 1.0)
    # amounts already whole stay as they are; the others go down or up by less than a unit
    lo = np.maximum(asm.lower, f * u)
    hi = np.minimum(asm.upper, np.where(r > 1e-9, f + 1, f) * u)
    lo = np.minimum(lo, hi)
    narrow = attrs.evolve(asm, lower=lo, upper=hi)
    low = lower(narrow, scale=float(u), integer=True, linear_cost=(1.0 - 2.0 * r) / u,
                with_objective_rows=False)
    sol = solve(low.problem, solver, time_limit=time_limit, options=options)
    seconds = sol.seconds
    if sol.x is None:
        # no rounding next to the optimum works: solve the whole model in whole units
        low = lower(asm, scale=float(u), integer=True)
        sol = solve(low.problem, solver, time_limit=time_limit, options=options)
        seconds += sol.seconds
        if sol.x is None:
            raise InfeasibleError(
                [Conflict(f"no allocation in whole {u:,}-yuan units meets every constraint",
                          constraints=("Rounding",))])
    return (np.round(low.x_yuan(sol.x) / u) * u).astype(np.int64), seconds


def _binding(asm: Assembly, x: FloatArray, tol: float) -> dict[str, NDArray[np.bool_]]:
    out: dict[str, NDArray[np.bool_]] = {}
    lows, highs = _family_bounds(asm)
    for fam, lo in lows.items():
        lo_t = asm.to_units(lo, True)
        hit = np.isfinite(lo_t) & (x <= lo_t + tol) & (lo_t >= asm.lower - tol)
        out[fam] = out.get(fam, np.zeros(asm.n, dtype=bool)) | hit
    for fam, hi in highs.items():
        hi_t = asm.to_units(hi, False)
        hit = np.isfinite(hi_t) & (x >= hi_t - tol) & (hi_t <= asm.upper + tol)
        out[fam] = out.get(fam, np.zeros(asm.n, dtype=bool)) | hit
    for o in asm.orderings:
        out[o.family] = order_binding(o.rank, x, tol)
    for gb in asm.groups:
        member = gb.group >= 0
        ng = len(gb.names)
        sums = np.bincount(gb.group[member], weights=x[member], minlength=ng)
        tight = (np.abs(sums - gb.lower) <= tol * max(1, asm.n)) | (
            np.abs(sums - gb.upper) <= tol * max(1, asm.n))
        out[gb.family] = member & np.concatenate([tight, [False]])[np.where(member, gb.group, ng)]
    for fam, margin in asm.margins:
        out[fam] = margin(asm.ctx, x) <= tol
    return out


def _duals(asm: Assembly, low: Lowered, sol: Solution, x: FloatArray,
           binding: dict[str, NDArray[np.bool_]], objective: Objective, tol: float
           ) -> tuple[FloatArray, FloatArray, pd.DataFrame]:
    n = asm.n
    unit = f"{objective.unit} per yuan"
    families = [FUND, *list(binding)]
    if sol.row_dual is None:
        nan = np.full(n, np.nan)
        prices = pd.DataFrame({
            "shadow_price": np.nan, "binding": [0] + [int(b.sum()) for b in binding.values()],
            "unit": unit}, index=pd.Index(families, name="family"))
        return nan, nan, prices
    y = low.row_dual_yuan(sol.row_dual)
    rows = low.rows
    g = rows.a_town.T @ y
    d_plus = low.pwl.right_slope(x, tol) - g
    d_minus = low.pwl.left_slope(x, tol) - g
    at_lo = x <= asm.lower + tol
    at_hi = x >= asm.upper - tol
    lower_dual = np.where(at_lo, np.maximum(d_plus, 0.0), 0.0)
    upper_dual = np.where(at_hi, np.minimum(d_minus, 0.0), 0.0)
    price: dict[str, float] = {FUND: float(y[rows.family == FUND].sum())}
    count: dict[str, int] = {FUND: 1 if abs(float(x.sum()) - asm.fund) <= tol * n else 0}
    lows, highs = _family_bounds(asm)
    for fam, hit in binding.items():
        count[fam] = int(hit.sum())
        if fam in lows or fam in highs:
            v = 0.0
            if fam in lows:
                v += float(np.sum(lower_dual[hit & at_lo & (asm.lower_family == fam)]))
            if fam in highs:
                v -= float(np.sum(upper_dual[hit & at_hi & (asm.upper_family == fam)]))
            price[fam] = v
        else:
            price[fam] = float(np.sum(np.abs(y[rows.family == fam])))
    prices = pd.DataFrame(
        {"shadow_price": [price.get(f, 0.0) for f in families],
         "binding": [count.get(f, 0) for f in families],
         "unit": unit},
        index=pd.Index(families, name="family"))
    prices["meaning"] = [
        "objective change per extra yuan of fund" if f == FUND
        else "objective gain per yuan of loosening each binding bound" for f in families]
    return lower_dual, upper_dual, prices
