"""``tf.allocate`` and its result, :class:`Allocation`."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal._trace import Step, Trace
from townfiscal._version import version
from townfiscal.optimize._constraints import Constraint
from townfiscal.optimize._context import ModelContext
from townfiscal.optimize._model import FUND
from townfiscal.optimize._objectives import Objective, Proportional
from townfiscal.optimize._run import OptimizationResult, optimise
from townfiscal.optimize._solver import DEFAULT_TIME_LIMIT, solver_output
from townfiscal.policy import Policy
from townfiscal.rules._explain import formula_steps
from townfiscal.rules._formula import FormulaComputation, compute_formula
from townfiscal.towns import VALIDATED, content_key, prior_of, source_of

__all__ = ["Allocation", "allocate", "data_hash", "register_writer"]

#: Writers of an allocation to a file, by file suffix. The analysis wing, which owns the
#: 分配表 workbook, registers its writer for ``.xlsx`` when it is imported (``import
#: townfiscal`` always imports it). The analysis wing imports this module, never the reverse,
#: so :meth:`Allocation.to_excel` keeps the arrows between the wings pointing one way.
_WRITERS: dict[str, Callable[[Allocation, Path], Path]] = {}


def register_writer(suffix: str, writer: Callable[[Allocation, Path], Path]) -> None:
    """Make *writer* the one that writes allocations to files ending in *suffix* (``.xlsx``)."""
    _WRITERS[suffix.lower()] = writer

#: Columns of the towns table the catalogue may read, carried into the model.
_MODEL_COLUMNS = ("fiscal_capacity", "expenditure", "supported_population",
                  "registered_population", "resident_population", "area_km2")


#: Data hashes already computed, by the table's content key (see
#: :mod:`townfiscal.towns._content`): hashing a table with pandas takes milliseconds, its key
#: a fraction of one. The key changes with any change of the table, so a table changed in
#: place is hashed anew; the oldest entries go first.
_HASHES: OrderedDict[str, str] = OrderedDict()
_HASHES_KEPT = 64
_HASHES_LOCK = threading.Lock()  # the service may compute in threads


def _hash_of(towns: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, towns.columns)).encode())
    h.update(pd.util.hash_pandas_object(towns, index=True).to_numpy().tobytes())
    return h.hexdigest()


def data_hash(towns: pd.DataFrame, *, key: str | None = None) -> str:
    """SHA-256 of a towns table's index, columns and values (order-sensitive).

    Remembered by the table's content key (computed here, or *key* when the caller has just
    computed it for this very table), so hashing the same table again costs only the key.
    """
    key = content_key(towns) if key is None else key
    if key is None:
        return _hash_of(towns)
    with _HASHES_LOCK:
        found = _HASHES.get(key)
        if found is not None:
            _HASHES.move_to_end(key)
            return found
    found = _hash_of(towns)
    with _HASHES_LOCK:
        _HASHES[key] = found
        while len(_HASHES) > _HASHES_KEPT:
            _HASHES.popitem(last=False)
    return found


def _model_frame(comp: FormulaComputation) -> pd.DataFrame:
    """The towns the model allocates over: the formula table, then ``target`` (its amounts)
    and the towns' columns the catalogue may read, taken by position (no join on codes)."""
    table, towns = comp.table, comp.towns
    take = (np.flatnonzero(comp.eligible) if comp.eligible is not None
            else towns.index.get_indexer(table.index))
    extra: dict[str, Any] = {"target": table["amount"].to_numpy(np.float64)}
    for c in _MODEL_COLUMNS:
        if c in towns.columns and c not in table.columns:
            extra[c] = towns[c].to_numpy()[take]
    return pd.concat([table, pd.DataFrame(extra, index=table.index, copy=False)], axis=1)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if np.isfinite(v) else "—"


@attrs.frozen(eq=False)
class Allocation:
    """The result of :func:`allocate`.

    Attributes
    ----------
    amounts
        int64 yuan per eligible town (index: code), summing to the fund exactly.
    fund
        The fund, yuan.
    status
        ``"optimal"``, or ``"time_limit"`` when the solver stopped early with a feasible
        (unproven) answer — a :class:`~townfiscal.SolverTimeLimitWarning` is issued then.
    objective_value
        The objective at the optimum before rounding, in ``objective_unit``;
        ``objective_rounded`` the same at the whole-unit amounts.
    shadow_prices
        Per constraint family: ``shadow_price`` (for ``Fund``: the objective change per
        extra yuan of fund; for other families: the objective gain per yuan of loosening
        each binding bound), ``binding`` (towns held), ``unit``, ``meaning``. A price is NaN
        where no single one exists, as when every town is pinned by its own bounds (last
        year's amounts, held harmless, at an unchanged fund): any price would fit.
    solver, solve_seconds, build_seconds
        The solver used, its time, and the time to build the model (seconds).
    provenance
        Policy id and hash, data hash, fund, constraints, objective, library and solver
        versions, time of the run.
    """

    amounts: pd.Series
    fund: int
    status: str
    objective_value: float
    objective_rounded: float
    objective_unit: str
    shadow_prices: pd.DataFrame
    solver: str
    solve_seconds: float
    build_seconds: float
    provenance: dict[str, Any]
    result: OptimizationResult = attrs.field(repr=False)
    formula: FormulaComputation = attrs.field(repr=False)

    def __repr__(self) -> str:
        return (f"Allocation({len(self.amounts):,} towns, fund {self.fund:,} yuan, "
                f"status {self.status!r}, objective {self.objective_value:,.6g} "
                f"{self.objective_unit}, solver {self.solver!r})")

    @property
    def binding(self) -> pd.DataFrame:
        """Boolean per town (rows) and constraint family (columns): which constraints bind."""
        return pd.DataFrame(self.result.binding, index=self.amounts.index)

    def to_frame(self) -> pd.DataFrame:
        """One row per eligible town.

        Columns: ``name, county, city``; ``target`` (yuan, the objective's target — the
        formula amount by default); ``optimum`` (the optimum before rounding, yuan);
        ``amount`` (int64 yuan); ``prior_amount``; ``change`` (amount − prior, yuan) and
        ``change_pct``; ``lower``/``upper`` (effective bounds, yuan); ``binding`` (the
        families holding the town, comma-separated); ``lower_dual``/``upper_dual``
        (objective change per yuan of the town's bound).
        """
        res = self.result
        table = self.formula.table
        out = table[[c for c in ("name", "county", "city") if c in table.columns]].copy()
        ctx = res.assembly.ctx
        out["target"] = self._target()
        out["optimum"] = res.x
        out["amount"] = self.amounts.to_numpy()
        prior = ctx.towns["prior_amount"].to_numpy(np.float64) if (
            "prior_amount" in ctx.towns) else np.full(len(out), np.nan)
        out["prior_amount"] = prior
        out["change"] = out["amount"] - prior
        with np.errstate(divide="ignore", invalid="ignore"):
            out["change_pct"] = np.where(prior > 0, 100.0 * (out["amount"] - prior) / prior,
                                         np.nan)
        out["lower"] = res.assembly.lower
        out["upper"] = res.assembly.upper
        names = list(res.binding)
        if names:
            flags = np.stack([res.binding[f] for f in names], axis=1)
            out["binding"] = [", ".join(n for n, b in zip(names, row, strict=True) if b)
                              for row in flags.tolist()]
        else:
            out["binding"] = ""
        out["lower_dual"] = res.lower_dual
        out["upper_dual"] = res.upper_dual
        return out

    def _target(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The objective's target per town (yuan, model order): the formula amounts unless the
        objective names another."""
        ctx = self.result.assembly.ctx
        target = self.result.objective.tie_break().target
        return ctx.per_town("target" if target is None else target, what="objective target")

    def explain(self, code: str) -> Trace:
        """How one town's amount came about: the formula, then what the optimiser changed.

        The trace holds the formula's steps (inputs, factors, coefficient, share, growth
        control, rounding, each with its parameters and articles), then the target, the
        effective bounds and the families that set them, the optimum and the constraints
        that moved it there (with their bound values), the rounding, and the amount.

        Raises
        ------
        KeyError
            When ``code`` is not an eligible town of this allocation.
        """
        code = str(code)
        if code not in self.amounts.index:
            raise KeyError(f"{code!r} is not among the {len(self.amounts):,} towns allocated")
        i = int(np.flatnonzero(self.amounts.index == code)[0])
        res = self.result
        asm = res.assembly
        steps = formula_steps(self.formula, code)
        target = float(self._target()[i])
        steps.append(Step("target", "the objective's target for this town", target, "yuan",
                          note=f"objective: {res.objective!r}"))
        lo, hi = float(asm.lower[i]), float(asm.upper[i])
        steps.append(Step(
            "bounds", "max of the floors … min of the caps", f"[{_fmt(lo)}, {_fmt(hi)}]",
            "yuan", note=f"lower set by {asm.lower_family[i] or 'non-negativity'}, upper by "
                         f"{asm.upper_family[i] or 'the fund'}"))
        x = float(res.x[i])
        held = [f for f, b in res.binding.items() if b[i]]
        why = self._why(i, held, target, x)
        steps.append(Step("optimum", f"the optimum before rounding ({res.method})", x, "yuan",
                          note=why))
        amount = int(self.amounts.iloc[i])
        steps.append(Step("rounding", f"{res.rounding}, unit {asm.unit:,} yuan; the total "
                          "stays the fund exactly", amount - x, "yuan"))
        steps.append(Step("amount", "allocated", amount, "yuan"))
        return Trace(code=code, name=str(self.formula.table.at[code, "name"])
                     if "name" in self.formula.table else "", policy=self.formula.policy.id,
                     steps=tuple(steps), amount=amount)

    def _why(self, i: int, held: list[str], target: float, x: float) -> str:
        res = self.result
        asm = res.assembly
        moved = x - target
        if abs(moved) < 0.5:
            head = "at its target"
        else:
            way = "raised" if moved > 0 else "lowered"
            head = f"{way} by {_fmt(abs(moved))} yuan from the target"
        if not held:
            prices = res.shadow_prices
            fund_price = (float(prices["shadow_price"].to_numpy(np.float64)[0])
                          if FUND in prices.index else np.nan)
            unit = str(prices["unit"].iloc[0])
            if abs(moved) < 0.5:
                return head + "; no constraint binds"
            if np.isfinite(res.scale) and target > 0:
                share = x / target
                if abs(share - res.scale) <= 1e-6 * max(1.0, res.scale):
                    why = ("with every other town no bound holds, to pay for the floors"
                           if res.scale < 1 else
                           "with every other town no bound holds, to share what the caps free")
                    return f"{head}; scaled by λ = {res.scale:.6g} {why}"
                return (f"{head}; scaled by {share:.6g} (the fund-wide scale is λ = "
                        f"{res.scale:.6g}): its group total or an order holds it")
            return (head + "; no constraint holds it: it absorbs part of the difference "
                    f"between the fund and the targets (fund shadow price {fund_price:.4g} "
                    f"{unit})")
        parts = []
        bounds = {b.family: b for b in asm.bounds}
        for fam in held:
            b = bounds.get(fam)
            if b is not None:
                if b.lower is not None and np.isfinite(b.lower[i]) and x <= b.lower[i] + asm.unit:
                    whole = (f"; {_fmt(asm.lower[i])} in whole {asm.unit:,}-yuan units"
                             if abs(asm.lower[i] - b.lower[i]) >= 0.5 else "")
                    value = "" if _fmt(b.lower[i]) in b.describe else (
                        f": at least {_fmt(b.lower[i])} yuan")
                    parts.append(f"{fam} ({b.describe}{value}{whole})")
                elif b.upper is not None and np.isfinite(b.upper[i]):
                    whole = (f"; {_fmt(asm.upper[i])} in whole {asm.unit:,}-yuan units"
                             if abs(asm.upper[i] - b.upper[i]) >= 0.5 else "")
                    value = "" if _fmt(b.upper[i]) in b.describe else (
                        f": at most {_fmt(b.upper[i])} yuan")
                    parts.append(f"{fam} ({b.describe}{value}{whole})")
                else:
                    parts.append(fam)
            elif any(o.family == fam for o in asm.orderings):
                o = next(o for o in asm.orderings if o.family == fam)
                r = o.rank[i]
                near = np.flatnonzero((np.abs(res.x - x) <= max(1e-2, 1e-9 * asm.fund))
                                      & (o.rank >= 0) & (o.rank != r))
                others = ", ".join(str(asm.ctx.codes[j]) for j in near[:3])
                parts.append(f"{fam} (held level with {others or 'a neighbouring rank'})")
            else:
                parts.append(fam)
        return head + "; held by " + "; ".join(parts)

    def write_model(self, path: str | os.PathLike[str]) -> Path:
        """Write the linear program that was solved as an LP (``.lp``) or MPS (``.mps``) file.

        Money is in 10,000-yuan units and costs are normalised, as the solver saw them;
        columns are named ``seg_<code>_<piece>`` (pieces of each town's amount), rows by
        constraint family. Useful to hand the model to another solver.
        """
        from townfiscal.optimize._model import lower
        from townfiscal.optimize._solver import write_model

        return write_model(lower(self.result.assembly, named=True).problem, Path(path))

    def to_excel(self, path: str | os.PathLike[str]) -> Path:
        """Write the allocation table (分配表) a treasury clerk can use, as ``.xlsx``.

        Sheets: 分配表 (per town, Chinese headers, yuan and 万元, a 合计 row), 市县汇总 (county
        and city totals), 参数 (each policy value with its article), 来源 (provenance),
        乡镇基础数据 (the towns, readable by :func:`~townfiscal.read_towns`) and 影子价格 (the
        shadow prices). :func:`~townfiscal.read_allocation` reads it back. See
        :func:`townfiscal.report.write_allocation`.
        """
        target = Path(path)
        if target.suffix.lower() != ".xlsx":
            raise ValueError(f"cannot write {target.name}: use an .xlsx file name")
        writer = _WRITERS.get(".xlsx")
        if writer is None:  # only when townfiscal.optimize is loaded without the package
            raise RuntimeError("no workbook writer registered: import townfiscal.analysis")
        return writer(self, target)

    def _repr_html_(self) -> str:
        """A compact summary for Jupyter: fund, towns, status, solver, shadow prices, cities."""
        from townfiscal._html import allocation_html

        return allocation_html(self)

def allocate(
    towns: pd.DataFrame,
    policy: Policy | str,
    *,
    fund: float | None = None,
    constraints: Sequence[Constraint] = (),
    objective: Objective | None = None,
    solver: str = "highs",
    time_limit: float = DEFAULT_TIME_LIMIT,
    spend: Literal["exact", "at_most"] = "exact",
    solver_options: Mapping[str, Any] | None = None,
    tie_break: bool = True,
    verbose: bool = False,
) -> Allocation:
    """Allocate a fund over the eligible towns by linear programming.

    Without an objective the allocation is :class:`Proportional`: the unique allocation
    closest to the policy's formula amounts in weighted least squares, ``Σ (x − t)² / t``.
    Under per-town bounds alone it is ``clip(λ·t_i, lo_i, hi_i)`` with one scale ``λ`` for
    every town no bound holds: what a floor gives some towns, all the others pay in
    proportion to their amounts. The fund is spent exactly, subject to ``constraints``.

    Parameters
    ----------
    towns
        A towns table (see :func:`~townfiscal.read_towns`).
    policy
        A :class:`~townfiscal.Policy` or policy id; it decides eligibility, the formula
        amounts (the default target), coefficients and tiers.
    fund
        Yuan, a positive whole number (default: the policy's ``fund.default``).
    constraints
        From the catalogue: :class:`Floor`, :class:`Cap`, :class:`HoldHarmless`,
        :class:`GrowthCap`, :class:`TierOrder`, :class:`NeedOrder`, :class:`GroupTotal`,
        :class:`CapacityFloor`, :class:`Rounding` (default: whole yuan).
    objective
        :class:`Proportional` (default), :class:`MinDeviation`, :class:`MaxMin`,
        :class:`MinShortfall` or a weighted sum.
    solver
        ``"highs"`` (default, in-process), ``"cbc"``, ``"pulp-highs"`` or a PuLP solver name.
    time_limit
        Seconds; always applied. A stop with a feasible answer gives status
        ``"time_limit"`` and a warning, one without raises :class:`SolverError`.
    spend
        ``"exact"`` (default): the fund is spent to the yuan; ``"at_most"``: it may be
        under-spent (the total is then whole rounding units).
    solver_options
        Passed to the solver (HiGHS option names for ``"highs"``; Clarabel setting names
        reach the quadratic programs).
    tie_break
        For a linear objective, return among its optima the one closest to
        :class:`Proportional` with the same target (default), not whichever optimal vertex
        the solver stopped at. Without it the answer may change with the row order or the
        solver.
    verbose
        Let the solver print its log (and HiGHS its banner) to stdout. Off by default:
        nothing is printed.

    Returns
    -------
    Allocation

    Raises
    ------
    ValidationError
        Invalid towns table, policy or constraint arguments.
    InfeasibleError
        Constraints that cannot all hold; ``.details`` names the families and amounts.
    SolverError
        The solver failed or timed out without an answer.

    Example::

        >>> import townfiscal as tf
        >>> alloc = tf.allocate(tf.load_example(), "guangdong-2020", fund=2_000_000_000,
        ...                     constraints=[tf.HoldHarmless(), tf.Rounding(10_000)])
        >>> int(alloc.amounts.sum())
        2000000000
    """
    comp = compute_formula(towns, policy, fund)
    table = comp.table
    if len(table) == 0:
        raise ValidationError([Problem(f"policy {comp.policy.id} covers no town in this table")],
                              what="allocation request")
    ctx = ModelContext(_model_frame(comp), int(comp.fund), all_towns=comp.towns)
    objective = objective if objective is not None else Proportional()
    with solver_output(verbose):
        res = optimise(ctx, constraints, objective, solver=solver, time_limit=time_limit,
                       spend=spend, options=solver_options, tie_break=tie_break)
    provenance = {
        "policy": comp.policy.id,
        "policy_hash": comp.policy.hash,
        # comp.towns is the copy compute_formula validated and marked in this call: its mark is
        # its content key, and nothing has had a chance to change it since
        "data_hash": data_hash(comp.towns, key=comp.towns.attrs.get(VALIDATED)),
        "fund": int(comp.fund),
        "towns": len(table),
        "constraints": [repr(c) for c in constraints],
        "objective": repr(objective),
        "method": res.method,
        "spend": spend,
        "rounding": res.rounding,
        "townfiscal": version(),
        "solver": res.solver,
        "solver_version": res.solver_version,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "model": res.size,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    source = source_of(towns)
    if source is not None:  # read from a file: which file, sheet, header row, unit, skips
        provenance["towns_source"] = source
    prior = prior_of(towns)
    if prior is not None:  # last year's amounts rolled forward: from which table, who moved
        provenance["towns_prior"] = prior
    amounts = pd.Series(res.amounts, index=table.index, name="amount", dtype="int64")
    return Allocation(
        amounts=amounts, fund=int(comp.fund), status=res.status,
        objective_value=res.objective_value, objective_rounded=res.objective_rounded,
        objective_unit=objective.unit, shadow_prices=res.shadow_prices, solver=res.solver,
        solve_seconds=res.solve_seconds, build_seconds=res.build_seconds,
        provenance=provenance, result=res, formula=comp)
