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
from townfiscal._levels import levels, response
from townfiscal._rounding import rebalance_groups, round_to_total
from townfiscal.optimize._constraints import Constraint, Rounding
from townfiscal.optimize._context import FloatArray, IntArray, ModelContext, Quadratic
from townfiscal.optimize._ends import fund_ends, whole_unit_ends
from townfiscal.optimize._isotonic import ordered_optimum, scalable
from townfiscal.optimize._model import (
    FUND,
    Assembly,
    Lowered,
    Pwl,
    _family_bounds,
    _rows,
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
from townfiscal.optimize._objectives import Objective, Proportional
from townfiscal.optimize._polish import polish
from townfiscal.optimize._problem import (
    INFEASIBLE,
    OPTIMAL,
    TIME_LIMIT,
    UNBOUNDED,
    LinearProblem,
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

#: The most active-set steps the exact finish may take from a structured start before the
#: quadratic program is solved instead (each step is one sparse solve; the 41,352-unit need
#: order with 362 city caps takes 8).
WARM_STEPS = 40


@attrs.frozen(eq=False)
class OptimizationResult:
    """The solved model over the towns, in arrays (model order).

    ``x`` is the continuous optimum (yuan, real), ``amounts`` the whole-unit amounts (int64 yuan,
    summing to the fund), ``binding`` per constraint family a boolean array of the towns it
    holds at the optimum, ``lower_dual``/``upper_dual`` per town ∂objective/∂(its effective
    lower/upper bound) in objective units per yuan (``NaN`` when the solver gave no duals).
    ``method`` says how the optimum was found; ``scale`` is the proportional scale ``λ``
    of the quadratic objective (``NaN`` for a linear one).
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
    method: str = "linear program"
    scale: float = float("nan")


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
    tie_break: bool = True,
) -> OptimizationResult:
    """Allocate ``ctx.fund`` over ``ctx``'s towns under ``constraints``, minimising ``objective``.

    The default objective, :class:`Proportional`, is solved exactly by a breakpoint search
    when only per-town bounds and one family of group totals apply, and as a quadratic
    program otherwise. A linear objective is solved as a linear program; among its optima
    the one closest to ``objective.tie_break()`` is then chosen on the optimal face that
    complementary slackness with the LP's duals defines, so the answer does not depend on
    the row order or the solver (``tie_break=False`` returns the solver's optimal vertex).

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
    objective = objective if objective is not None else Proportional()
    rounding = _rounding_of(constraints)
    asm = assemble(ctx, constraints, objective, spend=spend)
    conflicts = prechecks(asm)
    if conflicts:
        raise InfeasibleError(conflicts, headline="the constraints cannot all be met")
    milp = rounding.exact == "milp"
    options = dict(options or {})
    if asm.quadratics:
        core = _quadratic(asm, solver, time_limit, options, scale, start)
    else:
        core = _linear(asm, objective, solver, time_limit, options, scale, start,
                       milp=milp, tie_break=tie_break)
    if core.status == TIME_LIMIT:
        warnings.warn(
            f"{core.solver} stopped at the time limit of {time_limit:g} s: the allocation is "
            "feasible but not proven optimal", SolverTimeLimitWarning, stacklevel=3)
    x = core.x
    t_round = time.perf_counter()
    amounts, method, extra_seconds = _round(asm, x, rounding, milp=milp, solver=solver,
                                            time_limit=time_limit, options=options,
                                            whole_model=not asm.quadratics)
    round_seconds = time.perf_counter() - t_round - extra_seconds
    tol = max(1e-6 * scale, 1e-6)
    binding = _binding(asm, x, tol)
    lower_dual, upper_dual, prices = _duals(asm, core, x, binding, objective, tol)
    return OptimizationResult(
        assembly=asm, objective=objective, x=x, amounts=amounts, status=core.status,
        objective_value=objective.evaluate(ctx, x),
        objective_rounded=objective.evaluate(ctx, amounts.astype(np.float64)),
        solver=core.solver, solver_version=core.version, build_seconds=core.build_seconds,
        solve_seconds=core.solve_seconds + extra_seconds, round_seconds=round_seconds,
        rounding=method, shadow_prices=prices, binding=binding, lower_dual=lower_dual,
        upper_dual=upper_dual, size=core.size, method=core.method, scale=core.scale,
    )


@attrs.frozen(eq=False)
class _Core:
    """The continuous optimum and what it came with, before rounding."""

    x: FloatArray
    status: str
    solver: str
    version: str
    build_seconds: float
    solve_seconds: float
    row_dual: FloatArray | None  # per row of the assembly's rows, objective units per yuan
    pwl: Pwl | None
    size: dict[str, int]
    method: str
    scale: float = float("nan")
    rows: Any = None  # the model's rows when a program was built (its duals are per row)


def _structured(asm: Assembly) -> bool:
    """Whether the quadratic objective can be solved by the breakpoint search alone."""
    return (not asm.separables and not asm.aux_rows and not asm.orderings
            and len(asm.groups) <= 1)


def _scale_of(asm: Assembly, fund_dual: float) -> float:
    """λ: the multiple of its target a town no bound holds gets, from the fund's price."""
    if not asm.quadratics or not np.isfinite(fund_dual):
        return float("nan")
    target = asm.quadratics[0].target
    _, width = asm.quadratic_terms()
    big = target >= 1.0
    if not np.any(big):
        return float("nan")
    # ∂/∂x (x − c)² / w = 2 μ at every unheld town, where x = c + μ·w
    return float(1.0 + 0.5 * fund_dual * np.median(width[big] / target[big]))


def _quadratic(asm: Assembly, solver: str, time_limit: float, options: Mapping[str, Any],
               scale: float, start: float) -> _Core:
    if _structured(asm):
        core = _breakpoints(asm, start)
        total = float(core.x.sum())
        short = asm.spend == "exact" and abs(total - asm.fund) > 1e-6 * max(1.0, asm.fund)
        # float64 sums near the fund carry ~1e-16 relative error per term: a group total at
        # its cap may sit a few thousandths of a yuan over it
        tol = max(1e-3, 1e-12 * asm.fund)
        if short or total > asm.fund * (1 + 1e-12) or violations(attrs.evolve(asm, unit=1),
                                                                  core.x, tol=tol):
            # the bounds and group totals cannot meet the fund: name what must give way
            _raise_elastic(asm, "highs", time_limit, options, scale)
        return core
    if solver.lower() == "highs":  # the default; "clarabel" asks for the interior point
        warm = _warm(asm, scale, start)
        if warm is not None:
            return warm
    low = lower(asm, scale=scale)
    build_seconds = time.perf_counter() - start
    sol = solve(low.problem, solver, time_limit=time_limit, options=options)
    _check(asm, sol, solver, time_limit, options, scale)
    assert sol.x is not None
    y = None if sol.row_dual is None else low.row_dual_yuan(sol.row_dual)
    m, ncol = low.problem.shape
    return _Core(low.x_yuan(sol.x), sol.status, sol.solver, sol.solver_version, build_seconds,
                 sol.seconds, y, low.pwl, {"rows": m, "columns": ncol,
                                           "nonzeros": int(low.problem.matrix.nnz)},
                 "quadratic program", _scale_of(asm, float(y[0]) if y is not None else np.nan),
                 low.rows)


def _breakpoints(asm: Assembly, start: float) -> _Core:
    """The exact optimum of the quadratic objective under bounds and group totals.

    In the scale ``λ``, each town gets ``clip(λ·w_i + (c_i − w_i), lo_i, hi_i)`` (``c`` the
    centre, ``w`` the width of its quadratic cost; ``c = w = t`` for a target of a yuan or
    more, so ``x_i = clip(λ·t_i, …)`` without cancellation). A group whose total is bounded
    confines its towns' scale to a window; the fund then fixes the one ``λ``.
    """
    center, width = asm.quadratic_terms()
    shift = center - width
    lo, hi = asm.lower, asm.upper
    n = asm.n
    t0 = time.perf_counter()
    win_lo = np.full(n, -np.inf)
    win_hi = np.full(n, np.inf)
    group_dual = np.zeros(0)
    gb = asm.groups[0] if asm.groups else None
    if gb is not None:
        glo, ghi = asm.to_units(gb.lower, True), asm.to_units(gb.upper, False)
        a = levels(shift, width, lo, hi, gb.group, glo)
        b = levels(shift, width, lo, hi, gb.group, ghi)
        member = gb.group >= 0
        win_lo[member] = a[gb.group[member]]
        win_hi[member] = b[gb.group[member]]
    lo2 = response(win_lo, shift, width, lo, hi)
    hi2 = response(win_hi, shift, width, lo, hi)
    lam = float(levels(shift, width, lo2, hi2, np.zeros(n, dtype=np.int64), [asm.fund])[0])
    if asm.spend == "at_most":
        lam = min(lam, 1.0)
    x = response(lam, shift, width, lo2, hi2)
    if gb is not None:
        group_lam = np.clip(lam, a, b)
        with np.errstate(invalid="ignore"):
            group_dual = 2.0 * np.where(np.isfinite(group_lam) & np.isfinite(lam),
                                        group_lam - lam, 0.0)
    seconds = time.perf_counter() - t0
    # ∂/∂x (x − c)² / w = 2 (λ − 1) at every town no bound holds
    fund_dual = 2.0 * (lam - 1.0) if np.isfinite(lam) else float("nan")
    y = np.concatenate([[fund_dual], group_dual])
    return _Core(x, OPTIMAL, "breakpoints", "townfiscal breakpoint search (exact)",
                 t0 - start, seconds, y, None,
                 {"rows": 1 + group_dual.size, "columns": n, "nonzeros": n + (
                     int((gb.group >= 0).sum()) if gb is not None else 0)},
                 "breakpoint search", _scale_of(asm, fund_dual))


def _warm_start(asm: Assembly) -> tuple[FloatArray, FloatArray, str] | None:
    """A structured optimum of ``asm`` with its group totals left out but for one family:
    the amounts (yuan), the order's separator columns (yuan) and how they were found.

    ``None`` where no structured solver applies (rows of their own, linear costs, two orders,
    targets under a yuan with an order)."""
    if asm.aux_rows or asm.separables or len(asm.orderings) > 1:
        return None
    if asm.orderings:
        if not scalable(asm):
            return None
        found = ordered_optimum(attrs.evolve(asm, groups=()))
        if found is None:
            return None
        return found.x, found.separators, "isotonic regression in the breakpoint search"
    core = _breakpoints(attrs.evolve(asm, groups=asm.groups[:1]), time.perf_counter())
    if not np.all(np.isfinite(core.x)):
        return None
    return core.x, np.zeros(0), "breakpoint search"


def _warm(asm: Assembly, scale: float, start: float) -> _Core | None:
    """The exact optimum from a structured start (:func:`_warm_start`): the active-set finish
    confirms it on the model as written and prices every row, or, where group totals were
    left out, corrects it a step at a time until every total holds. ``None`` if it does not
    settle (the caller then solves the quadratic program)."""
    t0 = time.perf_counter()
    found = _warm_start(asm)
    if found is None:
        return None
    x0, separators, method = found
    low = lower(asm, scale=scale)
    z0 = np.concatenate([x0 / low.scale, separators / low.scale])
    if z0.size != low.problem.shape[1]:
        return None
    # what holds is known exactly: a block's towns share one float, a clipped town its bound
    p = low.problem
    r = p.matrix @ z0
    done = polish(p, z0, max_steps=WARM_STEPS,
                  row_active=(r <= p.row_lower, r >= p.row_upper),
                  col_active=(z0 <= p.col_lower, z0 >= p.col_upper))
    if not done.converged:
        return None
    x = low.x_yuan(done.z)
    y = low.row_dual_yuan(done.row_dual)
    # the finish works in the model's units (万元): allow their float64 rounding on the total
    if violations(attrs.evolve(asm, unit=1), x, tol=max(1e-3, 1e-12 * asm.fund)):
        return None
    if done.steps and asm.groups:
        method += (f", then {done.steps} active-set step{'s' if done.steps > 1 else ''} to the "
                   "group totals")
    m, ncol = low.problem.shape
    return _Core(x, OPTIMAL, "structured", "townfiscal structured solve (exact), confirmed by "
                 "the active-set finish", t0 - start, time.perf_counter() - t0, y, low.pwl,
                 {"rows": m, "columns": ncol, "nonzeros": int(low.problem.matrix.nnz)},
                 method, _scale_of(asm, float(y[0])), low.rows)


def _check(asm: Assembly, sol: Solution, solver: str, time_limit: float,
           options: Mapping[str, Any], scale: float) -> None:
    if sol.status == INFEASIBLE:
        _raise_elastic(asm, solver if not sol.solver.startswith("clarabel") else "highs",
                       time_limit, options, scale)
    if sol.status == UNBOUNDED:
        raise SolverError("the model is unbounded; check the objective's weights",
                          status=UNBOUNDED, solver=sol.solver)


def _linear(asm: Assembly, objective: Objective, solver: str, time_limit: float,
            options: dict[str, Any], scale: float, start: float, *, milp: bool,
            tie_break: bool = True) -> _Core:
    low = lower(asm, scale=float(asm.unit) if milp else scale, integer=milp)
    build_seconds = time.perf_counter() - start
    lp_options = dict(options)
    if (solver.lower() == "highs" and "solver" not in lp_options and not milp
            and low.problem.shape[0] >= IPM_ROWS):
        lp_options["solver"] = "ipm"
    sol = solve(low.problem, solver, time_limit=time_limit, options=lp_options)
    _check(asm, sol, solver, time_limit, lp_options, scale)
    assert sol.x is not None
    assert sol.objective is not None
    x = low.x_yuan(sol.x)
    y = None if sol.row_dual is None else low.row_dual_yuan(sol.row_dual)
    m, ncol = low.problem.shape
    size = {"rows": m, "columns": ncol, "nonzeros": int(low.problem.matrix.nnz)}
    seconds = sol.seconds
    method = ("linear program (an optimal vertex: ties not broken)" if not tie_break
              else "linear program (ties not broken: no duals)")
    if tie_break and not milp and sol.status == OPTIMAL and sol.row_dual is not None:
        t0 = time.perf_counter()
        tied = _tie_break(asm, objective, low, sol, x, time_limit)
        seconds += time.perf_counter() - t0
        if tied is not None:
            x = tied
            method = f"linear program, ties broken by {objective.tie_break()!r}"
        else:
            method = "linear program (the tie-break failed; an optimal vertex)"
            warnings.warn("the proportional tie-break between optimal allocations failed; the "
                          "allocation is optimal but may depend on the row order",
                          RuntimeWarning, stacklevel=4)
    return _Core(x, sol.status, sol.solver, sol.solver_version, build_seconds, seconds, y,
                 low.pwl, size, method, rows=low.rows)


def _tie_break(asm: Assembly, objective: Objective, low: Lowered, sol: Solution,
               x_lp: FloatArray, time_limit: float) -> FloatArray | None:
    """Among the optima of a linear objective, the one closest to its tie-break objective.

    Every optimum of a linear program meets complementary slackness with any optimal dual
    solution: rows with a non-zero dual stay tight, columns with a non-zero reduced cost stay
    at their bound. Those conditions fix the optimal face; the tie-break objective (a
    quadratic with a unique minimum) is minimised over it, exactly like the default objective.
    """
    p = low.problem
    assert sol.x is not None
    assert sol.row_dual is not None
    y = sol.row_dual
    reduced = p.cost - p.matrix.T @ y
    tol = 1e-7 * max(1.0, float(np.max(np.abs(p.cost))) if p.cost.size else 1.0)
    at_lo = reduced > tol
    at_hi = reduced < -tol
    n, s = asm.n, low.scale
    # the LP substitutes each amount by its pieces: x_i = lo_i + Σ_j z_ij (lower(): not explicit)
    nseg = low.seg_town.size
    seg_len = p.col_upper[:nseg] * s
    full = np.where(at_hi[:nseg], seg_len, 0.0)
    open_ = np.where(~at_lo[:nseg] & ~at_hi[:nseg], seg_len, 0.0)
    lo_x = low.base + np.bincount(low.seg_town, weights=full, minlength=n)
    hi_x = lo_x + np.bincount(low.seg_town, weights=open_, minlength=n)
    lo_x = np.minimum(lo_x, hi_x)
    # rows priced by the optimum stay at the bound they hold
    rows = low.rows
    row_y = y[: rows.lower.size]
    tight_lo = row_y > tol
    tight_hi = row_y < -tol
    tie = objective.tie_break().compile(asm.ctx, 1.0)
    quad = attrs.evolve(asm, quadratics=tuple(q for q in tie if isinstance(q, Quadratic)),
                        separables=(), lower=lo_x, upper=hi_x)
    groups = []
    for gb in asm.groups:  # a family's rows, one per group in order (see _model._rows)
        glo, ghi = asm.to_units(gb.lower, True), asm.to_units(gb.upper, False)
        mine = rows.family == gb.family
        tl, th = tight_lo[mine], tight_hi[mine]
        groups.append(attrs.evolve(gb, lower=np.where(th, ghi, glo),
                                   upper=np.where(tl, glo, ghi)))
    quad = attrs.evolve(quad, groups=tuple(groups),
                        spend="exact" if (tight_lo[0] or tight_hi[0]) else asm.spend)
    if _structured(quad) and not asm.aux_rows:
        x = _breakpoints(quad, time.perf_counter()).x
    else:
        qlow = lower(quad, scale=s)
        q = qlow.problem
        m = rows.lower.size
        row_lo, row_hi = q.row_lower.copy(), q.row_upper.copy()
        row_lo[:m] = np.where(tight_hi, row_hi[:m], row_lo[:m])
        row_hi[:m] = np.where(tight_lo, row_lo[:m], row_hi[:m])
        col_lo, col_hi = q.col_lower.copy(), q.col_upper.copy()
        k_aux = low.n_aux
        if k_aux:
            a_lo, a_hi = at_lo[p.shape[1] - k_aux:], at_hi[p.shape[1] - k_aux:]
            col_hi[-k_aux:] = np.where(a_lo, col_lo[-k_aux:], col_hi[-k_aux:])
            col_lo[-k_aux:] = np.where(a_hi, col_hi[-k_aux:], col_lo[-k_aux:])
        q = attrs.evolve(q, row_lower=row_lo, row_upper=row_hi, col_lower=col_lo,
                         col_upper=col_hi)
        walked = _polished_from_structure(quad, qlow, q)
        if walked is None:
            try:
                qsol = solve(q, "clarabel", time_limit=time_limit)
            except SolverError:
                return None
            if qsol.x is None or qsol.status != OPTIMAL:
                return None
            walked = qlow.x_yuan(qsol.x)
        x = walked
    value = objective.evaluate(asm.ctx, x_lp)
    if objective.evaluate(asm.ctx, x) > value + 1e-6 * max(1.0, abs(value)):
        return None
    if violations(attrs.evolve(asm, unit=1), x, tol=1e-6 * max(1.0, asm.fund) ** 0.5):
        return None
    return x


def _polished_from_structure(quad: Assembly, qlow: Lowered, q: LinearProblem
                             ) -> FloatArray | None:
    """The optimum of the tie-break's program ``q`` (the optimal face of a linear program),
    walked to by the active-set finish from the structured optimum of ``quad`` (the same
    objective, bounds, order and totals without the face's equalities); ``None`` if there is
    no structured start or the walk does not settle."""
    found = _warm_start(quad)
    if found is None:
        return None
    z0 = np.concatenate([found[0] / qlow.scale, found[1] / qlow.scale])
    if z0.size != q.shape[1]:
        return None
    done = polish(q, np.clip(z0, q.col_lower, q.col_upper), max_steps=WARM_STEPS)
    return qlow.x_yuan(done.z) if done.converged else None


def _total_conflicts(asm: Assembly) -> list[Conflict]:
    """The fund against the least and the most total the other constraints allow: a fund a
    few yuan outside that range gives the elastic program a relaxation below its reporting
    tolerance, yet the constraints that set the end are known exactly (as in ``fund_range``).
    """
    try:
        least, most, least_by, most_by = fund_ends(asm)
    except InfeasibleError:
        return []
    fund = float(asm.fund)
    least, most = whole_unit_ends(least, most, asm.unit)
    if fund > most:
        by = ", ".join(most_by)
        return [Conflict(
            f"the fund is {fund:,.0f} yuan but the constraints that cap the total, {by}, "
            f"allow at most {most:,.0f} yuan, {fund - most:,.0f} yuan less (tf.fund_range "
            "gives the funds they allow): raise them or lower the fund",
            constraints=(FUND, *most_by), required=fund, available=float(most))]
    if asm.spend == "exact" and fund < least:
        by = ", ".join(least_by)
        return [Conflict(
            f"the fund is {fund:,.0f} yuan but the constraints that floor the total, {by}, "
            f"need at least {least:,.0f} yuan, {least - fund:,.0f} yuan more (tf.fund_range "
            "gives the funds they allow): lower them or raise the fund",
            constraints=(FUND, *least_by), required=float(least), available=fund)]
    return []


def _raise_elastic(asm: Assembly, solver: str, time_limit: float,
                   options: Mapping[str, Any] | None, scale: float) -> None:
    problem, meta = elastic_problem(asm, scale)
    sol = solve(problem, solver, time_limit=time_limit, options=options)
    details: list[Conflict] = []
    if sol.x is not None:
        details = elastic_conflicts(asm, sol.x, meta, scale)
    if not details:
        details = _total_conflicts(asm)
    if not details:
        details = [Conflict("the solver found the constraints infeasible, and no single family "
                            "explains it", constraints=tuple(sorted({m[0] for m in meta})))]
    raise InfeasibleError(
        details,
        headline="the constraints cannot all be met; the smallest relaxation that would "
                 "make them feasible (one of possibly several):")


def _round(asm: Assembly, x: FloatArray, rounding: Rounding, *, milp: bool, solver: str,
           time_limit: float, options: Mapping[str, Any] | None, whole_model: bool = True
           ) -> tuple[IntArray, str, float]:
    """Whole-unit amounts keeping the total and every constraint; (amounts, method, seconds).

    Largest remainders keep the order of the optimum: a town with more before rounding
    never ends with less. ``milp`` with ``whole_model`` means ``x`` is already the integer
    program's answer; without it (a quadratic objective) a small integer program rounds each
    town down or up next to the optimum.
    """
    u = int(rounding.unit)
    total = int(asm.fund) if asm.spend == "exact" else int(
        np.floor(float(x.sum()) / u + 1e-6)) * u
    if milp and whole_model:
        amounts = (np.round(x / u) * u).astype(np.int64)
        method, seconds = "milp", 0.0
    elif milp:
        amounts, seconds = _round_milp(asm, x, u, solver if solver != "clarabel" else "highs",
                                       time_limit, options)
        method = "milp"
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


def _duals(asm: Assembly, core: _Core, x: FloatArray, binding: dict[str, NDArray[np.bool_]],
           objective: Objective, tol: float) -> tuple[FloatArray, FloatArray, pd.DataFrame]:
    n = asm.n
    unit = f"{objective.unit} per yuan"
    families = [FUND, *list(binding)]
    quadratic = bool(asm.quadratics)
    if core.row_dual is None:
        nan = np.full(n, np.nan)
        prices = pd.DataFrame({
            "shadow_price": np.nan, "binding": [0] + [int(b.sum()) for b in binding.values()],
            "unit": unit}, index=pd.Index(families, name="family"))
        prices["meaning"] = ""
        return nan, nan, prices
    y = core.row_dual
    rows = core.rows if core.rows is not None else _rows(asm)
    if y.size != rows.lower.size:  # the breakpoint search prices the fund and group rows
        y = np.concatenate([y, np.zeros(rows.lower.size - y.size)])
    g = rows.a_town.T @ y
    grad = asm.quadratic_gradient(x)
    right = grad + (core.pwl.right_slope(x, tol) if core.pwl is not None else 0.0)
    left = grad + (core.pwl.left_slope(x, tol) if core.pwl is not None else 0.0)
    d_plus = right - g
    d_minus = left - g
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
    units = [unit] * len(families)
    meaning = ["objective gain per yuan of loosening each binding bound"] * len(families)
    meaning[0] = "objective change per extra yuan of fund"
    if quadratic and np.isfinite(core.scale):
        price[FUND] = core.scale
        units[0] = "× target"
        meaning[0] = (f"the proportional scale λ: every town no bound holds gets λ × its target; "
                      f"one more yuan of fund changes the objective by 2(λ − 1) = "
                      f"{2.0 * (core.scale - 1.0):.4g} {objective.unit} per yuan")
    prices = pd.DataFrame(
        {"shadow_price": [price.get(f, 0.0) for f in families],
         "binding": [count.get(f, 0) for f in families],
         "unit": units},
        index=pd.Index(families, name="family"))
    prices["meaning"] = meaning
    return lower_dual, upper_dual, prices
