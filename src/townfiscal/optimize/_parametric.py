"""Many funds, one model: the allocation read at each fund without re-solving from scratch.

A sweep over the fund asks the same question many times with one number changed. For the
default objective (:class:`Proportional`) under per-town bounds, the fund and at most one
family of group totals, the answer is piecewise linear in the fund at both of its stages:

- the formula's growth-controlled split, ``clip(ν·w_i, lo_i, hi_i)`` (the targets): its
  breakpoints in ``ν`` (where a town reaches a growth bound) do not depend on the fund, so
  they are sorted once (:class:`FormulaPath`) and each fund's ``ν`` is a search in the sorted
  totals and one linear solve;
- the allocation, ``clip(λ·t_i, lo_i, hi_i)`` around those targets: the targets are the
  formula amounts *for that fund*, rounded to whole yuan, so its breakpoints move with the
  fund; :meth:`FundModel.solve_many` runs the breakpoint searches of all the funds in one
  pass over a funds × towns matrix and rounds every fund at once, and
  :meth:`FundModel.solve` runs ``optimize._run``'s own search for one fund.

:class:`FundModel` holds what does not depend on the fund (the formula's eligibility,
coefficients and growth bounds, the model's frame and constraints, built once) and
:meth:`FundModel.solve` reads one fund off it through the same functions
:func:`~townfiscal.allocate` calls, so the amounts are those of ``allocate`` to the yuan.
Where the shape does not allow it (orders, several group families, linear objectives)
:func:`fund_model` returns ``None`` and the caller re-solves per fund.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd

from townfiscal._errors import InfeasibleError, ValidationError
from townfiscal._rounding import _bound_units, round_to_total
from townfiscal.optimize._allocation import _MODEL_COLUMNS
from townfiscal.optimize._constraints import (
    Cap,
    CapacityFloor,
    Constraint,
    Floor,
    GroupTotal,
    GrowthCap,
    HoldHarmless,
    Rounding,
)
from townfiscal.optimize._context import FloatArray, IntArray, ModelContext, Primitive
from townfiscal.optimize._model import (
    Assembly,
    assemble,
    lower,
    prechecks,
    violations,
    weakness_order,
)
from townfiscal.optimize._objectives import MinDeviation, Objective, Proportional
from townfiscal.optimize._problem import OPTIMAL
from townfiscal.optimize._run import (
    DEFAULT_SCALE,
    IPM_ROWS,
    _check,
    _quadratic,
    _round,
    _rounding_of,
    _structured,
    _tie_break,
)
from townfiscal.optimize._solver import DEFAULT_TIME_LIMIT, WarmHighs
from townfiscal.policy import Policy
from townfiscal.rules._formula import FormulaComputation, compute_formula, growth_infeasible
from townfiscal.rules._growth import CappedPath, capped_proportional

__all__ = ["FormulaPath", "FundModel", "FundSolution", "fund_model"]

#: How a sweep solved a scenario (the ``solved_by`` column of :func:`townfiscal.sweep`).
PARAMETRIC = "parametric path"
COLD = "cold re-solve"


@attrs.frozen(eq=False)
class FormulaPath:
    """The formula's capped proportional split as a function of the fund, sorted once.

    ``clip(ν·w_i, lo_i, hi_i)`` summed over the towns is piecewise linear in ``ν`` with a
    breakpoint where a town reaches a bound; the breakpoints and the totals at them depend on
    the weights and bounds only. :meth:`amounts` reads any fund off them with one search and
    one linear solve, in the same arithmetic as
    :func:`townfiscal.rules.capped_proportional` (so bit for bit the same amounts), and
    :meth:`rounded` rounds them as the formula does.
    """

    weights: FloatArray
    lower: FloatArray  # the formula's growth bounds as given (rounded against these)
    upper: FloatArray
    unit: int
    codes: tuple[str, ...]
    free: np.ndarray[Any, np.dtype[np.bool_]]
    fixed_total: float  # what the towns that cannot move hold
    base: FloatArray  # every town at its lower bound (≥ 0)
    path: CappedPath | None  # the free towns' total in ν (None when ``ok`` is False)
    need: float
    room: float
    ok: bool  # False: the bounds cross or no town can move; read nothing off (re-solve)
    policy: Any = None  # names its growth-control parameters when a fund is out of reach

    @classmethod
    def build(cls, weights: FloatArray, lower: FloatArray, upper: FloatArray, unit: int,
              codes: Sequence[str], policy: Any = None) -> FormulaPath:
        """The path of ``Σ clip(ν·w, lower, upper)`` (``lower``/``upper`` as the formula has
        them: the rounding reads the bounds as given, the split the lower bound at 0 or more)."""
        w = np.asarray(weights, dtype=np.float64)
        lo = np.maximum(np.asarray(lower, dtype=np.float64), 0.0)
        hi = np.asarray(upper, dtype=np.float64)
        ok = bool(np.all(w >= 0) and np.all(np.isfinite(w)) and not np.any(lo > hi))
        free = (w > 0) & (hi > lo)
        ok = ok and bool(free.any())
        path = CappedPath.of(w[free], lo[free], hi[free]) if ok else None
        return cls(weights=w, lower=np.asarray(lower, dtype=np.float64),
                   upper=hi, unit=int(unit), codes=tuple(codes), free=free,
                   fixed_total=float(lo[~free].sum()), base=lo, path=path,
                   need=float(lo.sum()), room=float(hi.sum()), ok=ok, policy=policy)

    def amounts(self, fund: int) -> FloatArray:
        """The unrounded split of ``fund`` (yuan per town), as ``capped_proportional``.

        Raises
        ------
        InfeasibleError
            The growth floors need more than the fund, or the caps allow less (the very
            error the formula raises: it is asked to explain).
        """
        total = float(fund)
        if (not self.ok or self.need > total * (1 + 1e-12)
                or self.room < total * (1 - 1e-12)):
            exact, _ = capped_proportional(self.weights, fund, self.lower, self.upper,
                                           codes=list(self.codes))
            return exact
        assert self.path is not None
        lam = self.path.scale(total - self.fixed_total)
        x = self.base.copy()
        x[self.free] = np.clip(lam * self.weights[self.free], self.base[self.free],
                               self.upper[self.free])
        return x

    def rounded(self, fund: int) -> tuple[FloatArray, IntArray]:
        """The unrounded and the rounded formula amounts at ``fund`` (yuan per town)."""
        try:
            exact = self.amounts(fund)
            return exact, round_to_total(exact, fund, self.lower, self.upper, unit=self.unit,
                                         codes=self.codes)
        except InfeasibleError as exc:  # as the formula says it: the parameter and the room
            if self.policy is None:
                raise
            raise growth_infeasible(exc, self.policy, self.lower, self.upper, fund) from None


#: The formula's columns that change with the fund (set per fund in the model's frame).
FUND_COLUMNS = ("proportional", "unrounded", "amount", "target")

#: Constraints that read only the towns' own columns (none of :data:`FUND_COLUMNS` unless
#: named in an argument), so what they compile to is the same at every fund.
_FUND_FREE = (Floor, Cap, HoldHarmless, GrowthCap, GroupTotal, CapacityFloor)


@attrs.frozen(eq=False)
class _Compiled(Constraint):
    """A constraint compiled once, standing in for it at every fund (same name, same
    primitives: :func:`~townfiscal.optimize.assemble` names and merges them as usual)."""

    original: Constraint
    primitives: tuple[Primitive, ...]

    @property
    def name(self) -> str:
        return self.original.name

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        return list(self.primitives)


def _fund_free(c: Constraint) -> bool:
    """Whether ``c`` compiles to the same primitives at every fund."""
    if type(c) not in _FUND_FREE or not attrs.has(type(c)):
        return False
    fields: Any = attrs.fields(type(c))  # type: ignore[arg-type]  # attrs.has() above
    return not any(isinstance(getattr(c, f.name), str) and getattr(c, f.name) in FUND_COLUMNS
                   for f in fields)


def _precompiled(constraints: Sequence[Constraint], ctx: ModelContext
                 ) -> tuple[Constraint, ...]:
    """``constraints`` with those that do not depend on the fund compiled once."""
    return tuple(_Compiled(c, tuple(c.compile(ctx))) if _fund_free(c) else c
                 for c in constraints)


@attrs.frozen(eq=False)
class FundSolution:
    """One fund read off a :class:`FundModel`: whole-yuan amounts (model order) and more."""

    fund: int
    amounts: IntArray
    x: FloatArray
    status: str
    objective_value: float
    solver: str
    method: str
    seconds: float


@attrs.frozen(eq=False, repr=False)
class FundModel:
    """Everything of an allocation that does not depend on the fund, built once.

    Made by :func:`fund_model`. :meth:`formula` gives the formula amounts at a fund,
    :meth:`solve` the allocation, each equal to what :func:`~townfiscal.formula_allocation`
    and :func:`~townfiscal.allocate` return for that fund.
    """

    comp: FormulaComputation
    frame: pd.DataFrame  # the model's towns (allocate's frame), its fund columns to be set
    path: FormulaPath
    constraints: tuple[Constraint, ...]
    objective: Objective
    spend: Literal["exact", "at_most"]
    solver: str
    time_limit: float
    options: Mapping[str, Any]
    allocates: bool  # False: only the formula can be read off (the model's shape is not one)
    compiled: tuple[Constraint, ...] = ()  # the constraints, those free of the fund compiled
    warm: bool = False  # a linear program HiGHS re-solves from the last fund's basis
    tie_break: bool = True
    _base: Assembly | None = None  # the assembly at the model's own fund
    _order: IntArray = attrs.field(factory=lambda: np.zeros(0, dtype=np.int64))
    _codes: tuple[str, ...] = ()  # in rounding order
    _highs: dict[str, WarmHighs] = attrs.field(factory=dict, repr=False)

    @property
    def codes(self) -> pd.Index:
        """The eligible towns, in model order."""
        return self.frame.index

    def _facts(self) -> list[tuple[str, str]]:
        return [
            ("policy", self.comp.policy.id),
            ("towns", f"{len(self.frame):,}"),
            ("objective", repr(self.objective)),
            ("constraints", ", ".join(map(repr, self.constraints)) or "none"),
            ("solver", self.solver),
            ("allocates", ("yes, the linear program re-solved warm" if self.warm else "yes")
             if self.allocates else "no, formula amounts only"),
        ]

    def __repr__(self) -> str:
        return "FundModel(" + ", ".join(f"{k} {v}" for k, v in self._facts()) + ")"

    def _repr_html_(self) -> str:
        """A compact summary for Jupyter: policy, towns, objective, constraints, solver."""
        from townfiscal._html import facts_card

        return facts_card("Fund model", self._facts())

    def formula(self, fund: int) -> IntArray:
        """The formula amounts at ``fund`` (int64 yuan, model order)."""
        return self.path.rounded(int(fund))[1]

    def context(self, fund: int) -> ModelContext:
        """The model context ``allocate`` builds for ``fund``."""
        return self._context(fund, FUND_COLUMNS)[0]

    def _context(self, fund: int, columns: tuple[str, ...]) -> tuple[ModelContext, FloatArray]:
        """The context at ``fund`` with ``columns`` (of :data:`FUND_COLUMNS`: those the
        model reads) set to their values at that fund; and the formula amounts (targets)."""
        fund = int(fund)
        exact, amount = self.path.rounded(fund)
        target = amount.astype(np.float64)
        frame = self.frame.copy(deep=False)  # the fund's columns are replaced, not written
        weights = self.path.weights
        wsum = float(weights.sum())
        have = list(frame.columns)
        for name in columns:
            if name not in have:
                continue
            values = {"unrounded": exact, "amount": amount, "target": target}.get(name)
            if values is None:  # proportional
                values = fund * weights / wsum if wsum > 0 else np.zeros(weights.size)
            frame.isetitem(have.index(name), values)
        frame.attrs["fund"] = fund
        return ModelContext(frame, fund, all_towns=self.comp.towns), target

    @property
    def _reads(self) -> tuple[str, ...]:
        """The fund's columns the model reads: the target alone when every constraint was
        compiled once and the objective names no fund column, else all of them."""
        if all(isinstance(c, _Compiled | Rounding) for c in self.compiled) and (
                type(self.objective) in (Proportional, MinDeviation)
                and not (isinstance(self.objective.target, str)
                         and self.objective.target in FUND_COLUMNS)):
            return ("target",)
        return FUND_COLUMNS

    def _value(self, ctx: ModelContext, target: FloatArray, x: FloatArray) -> float:
        """The objective at ``x``; for the default objective in its own arithmetic, from the
        targets at hand."""
        obj = self.objective
        if type(obj) is Proportional and obj.target is None:
            return float(np.sum((x - target) ** 2 / np.maximum(target, 1.0)))
        return obj.evaluate(ctx, x)

    @property
    def warm_count(self) -> int:
        """How many of the linear programs so far HiGHS re-solved from the last basis."""
        highs = self._highs.get("lp")
        return 0 if highs is None else highs.warm

    def resolve(self, fund: int) -> FundSolution | None:
        """The allocation at ``fund`` of a linear objective (``warm`` models), as
        :func:`~townfiscal.allocate` gives it, the linear program re-solved from the
        previous fund's basis; ``None`` when the tie-break failed (``allocate`` then
        returns the vertex with a warning: re-solve the fund with it).

        Raises
        ------
        InfeasibleError
            The fund cannot meet the constraints.
        """
        if not self.warm:
            raise ValueError("this model is not a linear program HiGHS re-solves warm")
        try:
            return _resolve(self, fund)
        except _TieBreakFailed:
            return None

    def solve_many(self, funds: Sequence[int]) -> list[FundSolution | None]:
        """The allocations at ``funds`` at once: every fund's breakpoint search in one pass
        over a matrix (funds × towns), then each fund's rounding.

        For the default objective under per-town bounds that are the same at every fund of
        ``funds`` (no group family, whole fund spent, no integer rounding); ``None`` for a
        fund this cannot settle (one the bounds cannot meet, or whose rounding breaks a
        bound): :meth:`solve` answers it (and explains a failure as ``allocate`` does).
        """
        k = len(funds)
        out: list[FundSolution | None] = [None] * k
        obj = self.objective
        base = self._base
        if (not k or not self.allocates or base is None or self.spend != "exact"
                or type(obj) is not Proportional
                or _rounding_of(self.constraints).exact == "milp"):
            return out
        start = time.perf_counter()
        n = base.n
        f = np.asarray([int(v) for v in funds], dtype=np.float64)
        exact = np.zeros((k, n))
        ok = np.ones(k, dtype=bool)
        for i, fund in enumerate(funds):
            try:
                exact[i] = self.path.amounts(int(fund))
            except InfeasibleError:
                ok[i] = False
        if not ok.any() or not self._same_bounds([int(v) for v in f[ok]]):
            return out
        path = self.path
        targets = np.zeros((k, n))
        formula = _Rounder.of(path.lower, path.upper, path.unit, path.codes)
        targets[ok] = formula.rows(exact[ok], [int(v) for v in f[ok]])
        if obj.target is not None:
            targets[:] = base.quadratics[0].target
        width = np.maximum(targets, 1.0)
        lo, hi = base.lower, base.upper
        lam = _scales(targets - width, width, lo, hi, f)
        x = np.clip(targets - width + lam[:, None] * width, lo, hi)
        x = np.where(width > 0, x, np.clip(targets - width, lo, hi))
        ok &= np.isfinite(lam) & (np.abs(x.sum(axis=1) - f) <= 1e-6 * np.maximum(1.0, f))
        shared = (time.perf_counter() - start) / k
        unit = int(base.unit)
        perm = self._order
        codes = self._codes
        rounder = _Rounder.of(lo[perm], hi[perm], unit, codes)
        rows = np.flatnonzero(ok).tolist()
        rounded: dict[int, IntArray] = {}
        try:
            every = rounder.rows(x[rows][:, perm], [int(funds[i]) for i in rows])
            rounded = dict(zip(rows, every, strict=True))
        except InfeasibleError:  # a row the bounds cannot round: the others one by one
            for i in rows:
                try:
                    rounded[i] = rounder.rows(x[i][perm][None, :], [int(funds[i])])[0]
                except InfeasibleError:
                    continue
        for i in rows:
            if i not in rounded:
                continue
            t0 = time.perf_counter()
            fund = int(funds[i])
            amounts = np.empty(n, dtype=np.int64)
            amounts[perm] = rounded[i]
            if violations(attrs.evolve(base, fund=float(fund)), amounts.astype(np.float64)):
                continue
            value = float(np.sum((x[i] - targets[i]) ** 2 / width[i]))
            out[i] = FundSolution(fund=fund, amounts=amounts, x=x[i], status=OPTIMAL,
                                  objective_value=value, solver="breakpoints",
                                  method="breakpoint search",
                                  seconds=time.perf_counter() - t0 + shared)
        return out

    def _same_bounds(self, funds: Sequence[int]) -> bool:
        """Whether the model's per-town bounds are the same at every fund of ``funds`` (the
        fund caps a town with no cap of its own, and tiny floors count from a share of it)."""
        base = self._base
        assert base is not None
        for fund in (min(funds), max(funds)):
            try:
                asm = assemble(self._context(fund, self._reads)[0], self.compiled,
                               self.objective, spend=self.spend)
            except (InfeasibleError, ValidationError):
                return False
            if asm.groups or not (np.array_equal(asm.lower, base.lower)
                                  and np.array_equal(asm.upper, base.upper)):
                return False
        return True

    def _checked_assembly(self, fund: int) -> tuple[ModelContext, FloatArray, Assembly]:
        """The context, target and assembled model at ``fund``, as ``allocate`` builds them.

        Raises
        ------
        InfeasibleError
            The pre-checks find constraints the fund cannot meet."""
        ctx, target = self._context(fund, self._reads)
        asm = assemble(ctx, self.compiled, self.objective, spend=self.spend)
        conflicts = prechecks(asm)
        if conflicts:
            raise InfeasibleError(conflicts, headline="the constraints cannot all be met")
        return ctx, target, asm

    def solve(self, fund: int) -> FundSolution:
        """The allocation at ``fund``, as :func:`~townfiscal.allocate` gives it.

        Raises
        ------
        InfeasibleError
            The fund cannot meet the constraints (the same conflicts ``allocate`` names).
        """
        if not self.allocates:
            raise ValueError("this model's shape has no parametric path: re-solve per fund")
        start = time.perf_counter()
        ctx, target, asm = self._checked_assembly(fund)
        core = _quadratic(asm, self.solver, self.time_limit, self.options, DEFAULT_SCALE, start)
        rounding = _rounding_of(self.constraints)
        amounts, _, _ = _round(asm, core.x, rounding, milp=rounding.exact == "milp",
                               solver=self.solver, time_limit=self.time_limit,
                               options=dict(self.options), whole_model=False)
        return FundSolution(
            fund=int(fund), amounts=amounts, x=core.x, status=core.status,
            objective_value=self._value(ctx, target, core.x), solver=core.solver,
            method=core.method, seconds=time.perf_counter() - start)


def _resolve(model: FundModel, fund: int) -> FundSolution:
    """A linear objective's allocation at ``fund``, as ``allocate`` finds it, with the
    linear program re-solved by HiGHS from the previous fund's basis."""
    start = time.perf_counter()
    ctx, _, asm = model._checked_assembly(fund)
    low = lower(asm, scale=DEFAULT_SCALE)
    highs = model._highs.setdefault("lp", WarmHighs(model.time_limit, model.options))
    sol = highs.solve(low.problem)
    _check(asm, sol, model.solver, model.time_limit, model.options, DEFAULT_SCALE)
    assert sol.x is not None
    x = low.x_yuan(sol.x)
    method = "linear program (an optimal vertex: ties not broken)"
    if model.tie_break and sol.status == OPTIMAL and sol.row_dual is not None:
        tied = _tie_break(asm, model.objective, low, sol, x, model.time_limit)
        if tied is None:  # as allocate: its warning and its vertex
            raise _TieBreakFailed
        x = tied
        method = f"linear program, ties broken by {model.objective.tie_break()!r}"
    amounts, _, _ = _round(asm, x, _rounding_of(model.constraints), milp=False,
                           solver=model.solver, time_limit=model.time_limit,
                           options=dict(model.options), whole_model=True)
    return FundSolution(
        fund=int(fund), amounts=amounts, x=x, status=sol.status,
        objective_value=model.objective.evaluate(ctx, x), solver=sol.solver, method=method,
        seconds=time.perf_counter() - start)


@attrs.frozen(eq=False)
class _Rounder:
    """:func:`~townfiscal._rounding.round_to_total` for many rows of amounts under the same
    bounds and unit: whole units by largest remainder, in its arithmetic and its order of
    ties (remainder, then amount, then position), every row at once. Rows it cannot settle in
    one hand-out (more units missing than amounts with room, a total not in whole units, or
    bounds that cannot reach it) go through ``round_to_total`` itself, which also raises its
    errors."""

    lower: FloatArray | None
    upper: FloatArray | None
    unit: int
    codes: tuple[str, ...]
    lo_units: FloatArray
    hi_units: FloatArray

    @classmethod
    def of(cls, lower: FloatArray | None, upper: FloatArray | None, unit: int,
           codes: Sequence[str]) -> _Rounder:
        n, u = len(codes), int(unit)
        return cls(lower, upper, u, tuple(codes), _bound_units(lower, n, u, np.ceil, -np.inf),
                   _bound_units(upper, n, u, np.floor, np.inf))

    def rows(self, values: FloatArray, totals: Sequence[int]) -> IntArray:
        """Each row of ``values`` rounded to whole units adding up to its total (yuan)."""
        k, n = values.shape
        u = self.unit
        out = np.empty((k, n), dtype=np.int64)
        tot = np.asarray([int(t) for t in totals], dtype=np.int64)
        lo_u, hi_u = self.lo_units, self.hi_units
        scaled = values / u
        base = np.floor(scaled + 1e-6)
        base = np.minimum(np.maximum(base, lo_u), hi_u)
        remainder = scaled - base
        missing = (tot // u).astype(np.float64) - base.sum(axis=1)
        up = missing > 0
        room = np.where(up[:, None], hi_u - base, base - lo_u)
        key = np.where(up[:, None], remainder, -remainder)
        tie = np.where(up[:, None], scaled, -scaled)
        has = room > 0
        need = np.abs(missing)
        fine = ((tot % u) == 0) & (has.sum(axis=1) >= need) & np.all(np.isfinite(values), axis=1)
        fine &= ~np.any(lo_u > hi_u)
        position = np.broadcast_to(np.arange(n), (k, n))
        order = np.lexsort((position, -tie, -key, ~has), axis=-1)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, position, axis=-1)
        chosen = has & (rank < need[:, None])
        step = np.where(up, 1.0, -1.0)[:, None]
        rounded = (base + np.where(chosen, step, 0.0)).astype(np.int64) * u
        for i in range(k):
            if fine[i]:
                out[i] = rounded[i]
            else:
                out[i] = round_to_total(values[i], int(tot[i]), self.lower, self.upper, unit=u,
                                        codes=self.codes)
        return out


def _scales(shift: FloatArray, width: FloatArray, lo: FloatArray, hi: FloatArray,
            funds: FloatArray) -> FloatArray:
    """Per row ``k``, the ``λ`` with ``Σ_i clip(shift_ki + λ·width_ki, lo_i, hi_i) = funds_k``
    (the breakpoint search of :func:`townfiscal._levels.levels`, every row at once); NaN
    where the bounds alone decide (the fund at or beyond what they allow)."""
    k, n = shift.shape
    lo_k = np.broadcast_to(lo, (k, n))
    hi_k = np.broadcast_to(hi, (k, n))
    moving = (width > 0) & (hi_k > lo_k)
    fixed_at = np.clip(shift, lo_k, hi_k)
    base = np.where(moving, lo_k, fixed_at).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(moving, (lo_k - shift) / width, np.inf)
        b = np.where(moving, (hi_k - shift) / width, np.inf)
    pos = np.concatenate([a, b], axis=1)
    dslope = np.concatenate([np.where(moving, width, 0.0),
                             np.where(moving & np.isfinite(b), -width, 0.0)], axis=1)
    order = np.argsort(pos, axis=1, kind="stable")
    pos = np.take_along_axis(pos, order, axis=1)
    dslope = np.take_along_axis(dslope, order, axis=1)
    slope = np.maximum(np.cumsum(dslope, axis=1), 0.0)  # after each event
    finite = np.isfinite(pos)
    gap = np.diff(np.where(finite, pos, 0.0), axis=1, prepend=0.0)
    gap[:, 0] = 0.0
    rise = np.zeros_like(pos)
    rise[:, 1:] = slope[:, :-1] * gap[:, 1:]
    total = base[:, None] + np.cumsum(np.where(finite, rise, 0.0), axis=1)
    total = np.where(finite, total, np.inf)
    count = (total <= funds[:, None]).sum(axis=1)
    j = np.maximum(count - 1, 0)[:, None]
    p_j = np.take_along_axis(pos, j, axis=1)[:, 0]
    t_j = np.take_along_axis(total, j, axis=1)[:, 0]
    s_j = np.take_along_axis(slope, j, axis=1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(s_j > 0, p_j + (funds - t_j) / s_j, np.nan)
    lam = np.where((count > 0) & (funds > base), lam, np.nan)
    out: FloatArray = lam
    return out


class _TieBreakFailed(Exception):
    """The tie-break failed: let allocate re-solve the fund (and warn as it does)."""


def fund_model(
    towns: pd.DataFrame,
    policy: Policy | str,
    funds: Sequence[int],
    *,
    constraints: Sequence[Constraint] = (),
    objective: Objective | None = None,
    solver: str = "highs",
    time_limit: float = DEFAULT_TIME_LIMIT,
    spend: Literal["exact", "at_most"] = "exact",
    solver_options: Mapping[str, Any] | None = None,
    tie_break: bool = True,
) -> FundModel | None:
    """Build the model of ``towns`` under ``policy`` once, for reading many ``funds`` off it.

    Takes the arguments of :func:`~townfiscal.allocate`. Returns ``None`` when no fund of
    ``funds`` lets the formula run (the caller then re-solves each fund and reports why); a
    model whose ``allocates`` is ``False`` when the allocation's shape is not the breakpoint
    search's (orders, several group families, rows or piecewise-linear costs of a linear
    objective): its formula amounts can still be read off, and a linear program solved by
    HiGHS (no solver options, no integer rounding, fewer rows than the interior-point
    threshold) is ``warm``: :meth:`FundModel.resolve` re-solves it from the last basis.
    """
    objective = objective if objective is not None else Proportional()
    comp: FormulaComputation | None = None
    for f in dict.fromkeys(int(f) for f in funds):
        try:
            comp = compute_formula(towns, policy, f)
            break
        except (InfeasibleError, ValidationError):
            continue
    if comp is None:
        return None
    table = comp.table
    codes = [str(c) for c in table.index]
    path = FormulaPath.build(table[comp.weight_column].to_numpy(dtype=np.float64),
                             table["lower"].to_numpy(dtype=np.float64),
                             table["upper"].to_numpy(dtype=np.float64),
                             int(comp.policy.get("rounding.unit", 1)), codes,
                             policy=comp.policy)
    # allocate's frame (its fund columns are set per fund by FundModel.context)
    frame = table.copy()
    frame["target"] = table["amount"].to_numpy(np.float64)
    extra = [c for c in _MODEL_COLUMNS if c in comp.towns.columns and c not in frame.columns]
    frame = frame.join(comp.towns.loc[frame.index, extra])
    model = FundModel(comp=comp, frame=frame, path=path, constraints=tuple(constraints),
                      objective=objective, spend=spend, solver=solver, time_limit=time_limit,
                      options=dict(solver_options or {}), allocates=False)
    if len(table) == 0:
        return model
    try:
        ctx = model.context(comp.fund)
        asm = assemble(ctx, constraints, objective, spend=spend)
        compiled = _precompiled(constraints, ctx)
    except (InfeasibleError, ValidationError):
        return model
    if asm.quadratics and _structured(asm):
        perm = weakness_order(asm)
        return attrs.evolve(model, allocates=True, compiled=compiled, base=asm, order=perm,
                            codes=tuple(str(c) for c in asm.ctx.codes[perm]))
    if (not asm.quadratics and solver.lower() == "highs" and not model.options
            and _rounding_of(constraints).exact != "milp"
            and lower(asm, scale=DEFAULT_SCALE).problem.shape[0] < IPM_ROWS):
        return attrs.evolve(model, warm=True, compiled=compiled, tie_break=tie_break)
    return model
