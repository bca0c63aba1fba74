"""Scenarios: compare allocations side by side, and sweep a fund or a parameter over a range.

:func:`compare` puts several allocations of the same towns next to each other (one table per
town, one summary row per scenario with totals, winners and losers, and the equalisation
measures). :func:`sweep` re-solves over a range of funds, or of any one policy parameter,
locally in processes or on a Dask cluster, and returns a tidy table (one row per scenario).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import as_completed as _futures_completed
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd

from townfiscal._domains import PARAMETER_DOMAINS, domain_of
from townfiscal._errors import InfeasibleError, Problem, ValidationError
from townfiscal._html import comparison_html, comparison_text
from townfiscal.analysis import metrics
from townfiscal.optimize import allocate, fund_model
from townfiscal.policy import get_policy
from townfiscal.rules import formula_allocation, validate_towns

__all__ = ["Comparison", "compare", "summarise", "sweep"]

Method = Literal["allocate", "formula"]
Over = Literal["paid", "all"]

#: Columns of a scenario summary, in order (those that apply).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "total",
    "towns",
    "mean",
    "min",
    "max",
    "winners",
    "losers",
    "unchanged",
    "new",
    "gini_before",
    "gini_after",
    "theil_before",
    "theil_after",
    "cv_before",
    "cv_after",
    "max_min_before",
    "max_min_after",
    "min_per_capita",
)

_NEEDS_PRIOR = frozenset({"winners", "losers", "unchanged", "new"})

#: How :func:`sweep` solved a scenario (its ``solved_by`` column).
PARAMETRIC = "parametric path"
WARM = "warm-started re-solve"
COLD = "cold re-solve"
_TOL = 0.5  # yuan: a change smaller than this is "unchanged"
#: Seconds of estimated serial work above which the default executor spreads the rest of a
#: sweep over local processes (the first scenario, run here, times one scenario).
PROCESS_THRESHOLD = 2.0


# --------------------------------------------------------------------------------------------
# one allocation's summary


def _amounts_of(obj: Any) -> pd.Series[Any]:
    values = getattr(obj, "amounts", obj)
    if isinstance(values, pd.DataFrame) and "amount" in values.columns:
        values = values["amount"]
    if not isinstance(values, pd.Series):
        raise ValidationError(
            [
                Problem(
                    "expected an Allocation, a Series of yuan by code, or a table with an "
                    "'amount' column",
                    value=type(obj).__name__,
                )
            ],
            what="scenario",
        )
    return values


def _towns_of(obj: Any) -> pd.DataFrame | None:
    towns = getattr(obj, "towns", None)
    if isinstance(towns, pd.DataFrame):
        return towns
    formula = getattr(obj, "formula", None)
    towns = getattr(formula, "towns", None)
    return towns if isinstance(towns, pd.DataFrame) else None


def summarise(
    amounts: Any,
    towns: pd.DataFrame,
    *,
    over: Over = "paid",
    population: str = "resident_population",
) -> dict[str, float]:
    """The summary of one allocation: totals, winners and losers, equalisation measures.

    Parameters
    ----------
    amounts
        Yuan per town (Series indexed by code, or an Allocation).
    towns
        The towns table (fiscal capacity, populations, ``prior_amount``).
    over
        Measure equalisation over the towns paid (``"paid"``, default: the eligible towns the
        fund is for) or over every town of ``towns`` (``"all"``).
    population
        The people per town for per-capita capacity and weights (see
        :func:`townfiscal.metrics.capacity_per_capita`).

    Returns
    -------
    dict with ``total`` (yuan), ``towns`` (paid), ``mean``/``min``/``max`` (yuan per town),
    ``winners``/``losers``/``unchanged`` (against ``prior_amount``, towns with one), ``new``
    (towns paid with no prior amount), the measures ``gini``, ``theil``, ``cv``, ``max_min``
    before and after, and ``min_per_capita`` (lowest capacity per person after, yuan).
    """
    amt = _amounts_of(amounts).astype(np.float64)
    out: dict[str, float] = {
        "total": float(amt.sum()),
        "towns": float(len(amt)),
        "mean": float(amt.mean()) if len(amt) else math.nan,
        "min": float(amt.min()) if len(amt) else math.nan,
        "max": float(amt.max()) if len(amt) else math.nan,
    }
    if "prior_amount" in towns.columns:
        prior = towns["prior_amount"].reindex(amt.index).astype(np.float64)
        has = prior.notna() & (prior > 0)
        diff = (amt - prior)[has]
        out["winners"] = float((diff > _TOL).sum())
        out["losers"] = float((diff < -_TOL).sum())
        out["unchanged"] = float(len(diff) - out["winners"] - out["losers"])
        out["new"] = float((~has).sum())
    scope = towns.loc[towns.index.intersection(amt.index)] if over == "paid" else towns
    if len(scope):
        eq = metrics.equalisation(scope, amt, population=population).iloc[0]
        for name in ("gini", "theil", "cv", "max_min"):
            out[f"{name}_before"] = float(eq[f"{name}_before"])
            out[f"{name}_after"] = float(eq[f"{name}_after"])
        after = metrics.capacity_per_capita(scope, amt, population=population)
        out["min_per_capita"] = float(after.min())
    return out


class _Summaries:
    """:func:`summarise` for many allocations of the same towns at once (one per row of a
    matrix): what does not depend on the amounts (scope, prior amounts, populations, the
    measures before) is computed once, the measures after for every row in one pass."""

    def __init__(self, towns: pd.DataFrame, codes: pd.Index, *, over: Over,
                 population: str) -> None:
        self.codes = codes
        self.prior: np.ndarray[Any, np.dtype[np.float64]] | None = None
        if "prior_amount" in towns.columns:
            self.prior = towns["prior_amount"].reindex(codes).to_numpy(dtype=np.float64,
                                                                       na_value=np.nan)
        # the towns measured: those paid (in the towns table), or every town
        rows = towns.index.get_indexer(codes) if over == "paid" else np.arange(len(towns))
        rows = np.sort(rows[rows >= 0])
        self.scope_size = rows.size
        self.before: dict[str, float] = {}
        if rows.size:
            pop = (towns[population].to_numpy(dtype=np.float64)[rows]
                   if population in towns.columns else np.zeros(0))
            if (population not in metrics.POPULATIONS or "fiscal_capacity" not in towns.columns
                    or pop.size == 0 or not np.all(pop > 0)):
                # summarise's checks, and its errors
                metrics.capacity_per_capita(towns.iloc[rows], population=population)
            self.pop = pop
            self.capacity = towns["fiscal_capacity"].to_numpy(dtype=np.float64)[rows]
            before = _measures_after((self.capacity / self.pop)[None, :], self.pop)
            self.before = {k.replace("_after", "_before"): float(v[0])
                           for k, v in before.items()}
            # the position of each measured town among the paid ones (-1: paid nothing)
            self.take = codes.get_indexer(towns.index[rows])

    def rows(self, amounts: np.ndarray[Any, np.dtype[Any]]) -> list[dict[str, float]]:
        """One summary per row of ``amounts`` (yuan, columns in the order of ``codes``)."""
        amt = np.asarray(amounts, dtype=np.float64).reshape(-1, len(self.codes))
        k, n = amt.shape
        cols: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {
            "total": amt.sum(axis=1),
            "towns": np.full(k, float(n)),
            "mean": amt.mean(axis=1) if n else np.full(k, math.nan),
            "min": amt.min(axis=1) if n else np.full(k, math.nan),
            "max": amt.max(axis=1) if n else np.full(k, math.nan),
        }
        if self.prior is not None:
            has = np.isfinite(self.prior) & (self.prior > 0)
            diff = amt[:, has] - self.prior[has]
            cols["winners"] = (diff > _TOL).sum(axis=1).astype(np.float64)
            cols["losers"] = (diff < -_TOL).sum(axis=1).astype(np.float64)
            cols["unchanged"] = float(has.sum()) - cols["winners"] - cols["losers"]
            cols["new"] = np.full(k, float((~has).sum()))
        if self.scope_size:
            paid = np.where(self.take >= 0, amt[:, np.maximum(self.take, 0)], 0.0)
            y = (self.capacity + paid) / self.pop
            cols.update(_measures_after(y, self.pop))
            cols["min_per_capita"] = y.min(axis=1)
        out = []
        for i in range(k):
            row = {c: float(v[i]) for c, v in cols.items() if c != "min_per_capita"}
            row.update(self.before)
            if "min_per_capita" in cols:
                row["min_per_capita"] = float(cols["min_per_capita"][i])
            out.append(row)
        return out


def _measures_after(y: np.ndarray[Any, np.dtype[np.float64]],
                    w: np.ndarray[Any, np.dtype[np.float64]]
                    ) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """Gini, Theil, CV and max/min of each row of ``y`` weighted by ``w`` (as in
    :mod:`townfiscal.metrics`, for every row at once)."""
    order = np.argsort(y, axis=1, kind="stable")
    ys = np.take_along_axis(y, order, axis=1)
    ws = w[order]
    big_w = ws.sum(axis=1)
    wy = ws * ys
    big_t = wy.sum(axis=1)
    cum = np.cumsum(wy, axis=1)
    area = (ws * (2.0 * cum - wy)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        gini = np.where(big_t > 0, 1.0 - area / np.where(big_t > 0, big_w * big_t, 1.0), np.nan)
        gini = np.where(np.isnan(gini), gini, np.clip(gini, 0.0, 1.0))
        mu = np.where(big_w > 0, big_t / np.where(big_w > 0, big_w, 1.0), np.nan)
        ratio = ys / mu[:, None]
        term = np.where(ratio > 0, ratio * np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
        theil = (ws * term).sum(axis=1) / big_w
        theil = np.where(np.isfinite(mu) & (mu > 0), np.maximum(theil, 0.0), np.nan)
        dev = ys - mu[:, None]
        sd = np.sqrt((ws * dev * dev).sum(axis=1) / big_w)
        cv = np.where(mu > 0, sd / np.where(mu > 0, mu, 1.0), np.nan)
        present = ws > 0
        hi = np.where(present, ys, -np.inf).max(axis=1)
        lo = np.where(present, ys, np.inf).min(axis=1)
        max_min = np.where(np.isfinite(hi), hi / lo, np.nan)
        max_min = np.where((lo == 0) & (hi == 0), np.nan, max_min)
    return {"gini_after": gini, "theil_after": theil, "cv_after": cv, "max_min_after": max_min}


# --------------------------------------------------------------------------------------------
# compare


@attrs.frozen(eq=False)
class Comparison:
    """Several allocations of the same towns side by side (see :func:`compare`).

    Made by :func:`compare`, not by hand; frozen.

    Attributes
    ----------
    table:
        One row per town (index: code): name, county, city, zone, prior_amount, then per
        scenario ``amount:<name>`` (yuan), ``change:<name>`` (against last year, yuan) and,
        for every scenario but the baseline, ``diff:<name>`` (against the baseline, yuan).
    summary:
        One row per scenario (see :func:`summarise` for the columns) plus
        ``up_vs_baseline``/``down_vs_baseline`` (towns that get more/less than under the
        baseline).
    baseline:
        The name of the scenario the others are compared against.

    Examples
    --------
    >>> import townfiscal as tf
    >>> towns = tf.load_example()
    >>> pol = tf.get_policy("guangdong-2020")
    >>> cmp = tf.compare({"2.0 bn": tf.formula_allocation(towns, pol)["amount"],
    ...                   "2.1 bn": tf.formula_allocation(towns, pol, 2_100_000_000)["amount"]},
    ...                  towns=towns)
    >>> cmp.names, cmp.baseline
    (['2.0 bn', '2.1 bn'], '2.0 bn')
    >>> int(cmp.table.loc["441581101", "diff:2.1 bn"])
    34554
    >>> int(cmp.summary.loc["2.1 bn", "up_vs_baseline"])
    766
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    baseline: str

    @property
    def names(self) -> list[str]:
        """The scenario names, in order."""
        return [str(n) for n in self.summary.index]

    def amounts(self) -> pd.DataFrame:
        """Yuan per town (rows) and scenario (columns); 0 where a scenario pays nothing."""
        cols = {n: self.table[f"amount:{n}"] for n in self.names}
        return pd.DataFrame(cols)

    def long(self) -> pd.DataFrame:
        """The per-town table in long (tidy) form: code, scenario, amount, change, diff."""
        frames = []
        for n in self.names:
            f = pd.DataFrame(
                {
                    "code": self.table.index,
                    "scenario": n,
                    "amount": self.table[f"amount:{n}"].to_numpy(),
                    "change": self.table[f"change:{n}"].to_numpy(),
                    "diff": self.table[f"diff:{n}"].to_numpy()
                    if f"diff:{n}" in self.table
                    else np.zeros(len(self.table)),
                }
            )
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    def to_excel(self, path: str | os.PathLike[str]) -> Path:
        """Write the comparison as a 比较表 workbook with Chinese headers, per-city totals and
        the scenarios' summary (see :func:`townfiscal.report.write_comparison`)."""
        from townfiscal.analysis.report import write_comparison

        return write_comparison(self, path)

    def __repr__(self) -> str:
        return comparison_text(self)

    def _repr_html_(self) -> str:
        return comparison_html(self)


def compare(
    allocations: Mapping[str, Any],
    *,
    towns: pd.DataFrame | None = None,
    baseline: str | None = None,
    over: Over = "paid",
    population: str = "resident_population",
) -> Comparison:
    """Compare allocations of the same towns: who gains and loses, and how equal it leaves them.

    Parameters
    ----------
    allocations
        ``{"formula": alloc_a, "hold-harmless": alloc_b, ...}``: Allocations, Series of yuan
        by code, or tables with an ``amount`` column. A town one scenario pays and another
        does not counts as 0 in the other.
    towns
        The towns table (default: the first allocation's own towns).
    baseline
        The scenario the others are measured against (default: the first).
    over, population
        As for :func:`summarise`.

    Returns
    -------
    Comparison with ``table`` (per town) and ``summary`` (per scenario).

    Raises
    ------
    ValidationError
        No allocations, an unknown baseline, no towns table, or amounts for towns the towns
        table does not have.

    Examples
    --------
    >>> import townfiscal as tf
    >>> towns = tf.load_example()
    >>> pol = tf.get_policy("guangdong-2020")
    >>> a = tf.formula_allocation(towns, pol, fund=2_000_000_000)["amount"]
    >>> b = tf.formula_allocation(towns, pol, fund=2_100_000_000)["amount"]
    >>> cmp = tf.compare({"2.0 bn": a, "2.1 bn": b}, towns=towns)
    >>> float(cmp.summary.loc["2.1 bn", "total"])
    2100000000.0
    """
    problems: list[Problem] = []
    if not allocations:
        problems.append(Problem("give at least one allocation to compare"))
    names = [str(n) for n in allocations]
    base = baseline if baseline is not None else (names[0] if names else "")
    if names and base not in names:
        problems.append(Problem(f"baseline {base!r} is not one of {names}", value=base))
    if towns is None:
        for obj in allocations.values():
            towns = _towns_of(obj)
            if towns is not None:
                break
    if towns is None and names:
        problems.append(Problem("no towns table: pass towns=…"))
    if problems:
        raise ValidationError(problems, what="comparison")
    assert towns is not None
    series = {str(n): _amounts_of(obj).astype(np.float64) for n, obj in allocations.items()}
    codes = pd.Index(sorted(set().union(*(s.index for s in series.values()))), name="code")
    missing = codes.difference(towns.index)
    if len(missing):
        raise ValidationError(
            [Problem("town is not in the towns table", row=str(c)) for c in missing],
            what="comparison",
        )
    info_cols = [c for c in ("name", "county", "city", "zone", "prior_amount") if c in towns]
    table = towns.loc[codes, info_cols].copy()
    prior = (
        table["prior_amount"].astype(np.float64).fillna(0.0)
        if "prior_amount" in table
        else pd.Series(0.0, index=codes)
    )
    wide = {n: s.reindex(codes).fillna(0.0) for n, s in series.items()}
    for n, s in wide.items():
        table[f"amount:{n}"] = s
        table[f"change:{n}"] = s - prior
    for n, s in wide.items():
        if n != base:
            table[f"diff:{n}"] = s - wide[base]
    rows = {}
    for n, s in series.items():
        row = summarise(s, towns, over=over, population=population)
        d = wide[n] - wide[base]
        row["up_vs_baseline"] = float((d > _TOL).sum())
        row["down_vs_baseline"] = float((d < -_TOL).sum())
        rows[n] = row
    summary = pd.DataFrame.from_dict(rows, orient="index")
    order = [c for c in SUMMARY_COLUMNS if c in summary] + ["up_vs_baseline", "down_vs_baseline"]
    summary = summary[order]
    for c in ("towns", "winners", "losers", "unchanged", "new", "up_vs_baseline",
              "down_vs_baseline"):  # fmt: skip
        if c in summary:
            summary[c] = summary[c].astype(np.int64)
    for c in ("total", "min", "max"):  # whole yuan read as money: 2000000000, not 2.000000e+09
        values = summary[c].to_numpy(dtype=np.float64) if c in summary else np.zeros(0)
        if values.size and np.all(np.isfinite(values)) and np.all(np.mod(values, 1.0) == 0.0):
            summary[c] = summary[c].astype(np.int64)
    if "mean" in summary:
        summary["mean"] = summary["mean"].round(2)
    summary.index.name = "scenario"
    return Comparison(table=table, summary=summary, baseline=base)


# --------------------------------------------------------------------------------------------
# sweep


@attrs.frozen
class _Task:
    index: int
    towns_key: str | None
    fund: int | None
    value: Any


@attrs.frozen(eq=False)
class _Payload:
    """What every scenario of one sweep shares; sent to each worker once."""

    towns: Mapping[str | None, pd.DataFrame]
    policy: Any
    param: str | None
    method: Method
    options: Mapping[str, Any]
    over: Over
    population: str
    per_town: bool
    token: str = attrs.field(factory=lambda: uuid.uuid4().hex)  # names the sweep on workers


def _run(task: _Task, payload: _Payload) -> tuple[dict[str, Any], pd.Series[Any] | None]:
    """Solve one scenario and summarise it (runs in a worker)."""
    towns = payload.towns[task.towns_key]
    policy = get_policy(payload.policy)
    row: dict[str, Any] = {"scenario": task.index}
    if task.towns_key is not None:
        row["towns_set"] = task.towns_key
    if payload.param is not None:
        row["param"] = payload.param
        row["value"] = task.value
        policy = policy.with_changes({payload.param: task.value})
    fund = task.fund if task.fund is not None else int(policy["fund.default"])
    row["fund"] = fund
    start = time.perf_counter()
    amounts: pd.Series[Any] | None = None
    try:
        if payload.method == "formula":
            amounts = formula_allocation(towns, policy, fund=fund)["amount"]
            row.update(status="formula", objective_value=math.nan, solver="")
        else:
            alloc = allocate(towns, policy, fund=fund, **payload.options)
            amounts = alloc.amounts
            row.update(
                status=alloc.status,
                objective_value=float(alloc.objective_value),
                solver=str(alloc.solver),
            )
        row.update(summarise(amounts, towns, over=payload.over, population=payload.population))
        row["error"] = ""
    except (InfeasibleError, ValidationError) as exc:
        _failed(row, exc)
        amounts = None
    row["solved_by"] = COLD
    row["seconds"] = time.perf_counter() - start
    return row, (amounts if payload.per_town else None)


def _failed(row: dict[str, Any], exc: InfeasibleError | ValidationError) -> None:
    """Say in ``row`` why its scenario failed (the sweep goes on)."""
    if isinstance(exc, InfeasibleError):
        kind, reasons = "infeasible", [str(c) for c in exc.details]
    else:
        kind, reasons = "invalid", [str(p) for p in exc.problems]
    error = "; ".join(reasons[:3]) + (" …" if len(reasons) > 3 else "")
    row.update(status=kind, objective_value=math.nan, error=error or str(exc))


def _parametric(
    tasks: Sequence[_Task], payload: _Payload, bar: Any = None
) -> tuple[list[tuple[dict[str, Any], pd.Series[Any] | None]], list[_Task]]:
    """The fund scenarios a parametric path answers, solved here; and the tasks left over.

    Per towns table the model is built once (:func:`townfiscal.optimize.fund_model`) and
    every fund read off it; the measures of all its funds are computed in one pass.
    """
    if payload.param is not None:
        return [], list(tasks)
    done: list[tuple[dict[str, Any], pd.Series[Any] | None]] = []
    left: list[_Task] = []
    by_table: dict[str | None, list[_Task]] = {}
    for task in tasks:
        by_table.setdefault(task.towns_key, []).append(task)
    for key, group in by_table.items():
        towns = payload.towns[key]
        funds = [int(t.fund) for t in group if t.fund is not None]
        start = time.perf_counter()
        model = fund_model(towns, payload.policy, funds, **payload.options) if (
            payload.method == "allocate") else fund_model(towns, payload.policy, funds)
        if model is None or (payload.method == "allocate" and not model.allocates
                             and not model.warm):
            left += group
            continue
        build = time.perf_counter() - start
        rows: dict[int, dict[str, Any]] = {}
        solved: list[int] = []
        matrix = np.zeros((len(group), len(model.codes)), dtype=np.int64)
        fund_of = [int(t.fund) if t.fund is not None else int(model.comp.fund) for t in group]
        batch = model.solve_many(fund_of) if (
            payload.method == "allocate" and model.allocates) else [None] * len(group)
        for i, task in enumerate(group):
            t0 = time.perf_counter()
            fund = int(task.fund) if task.fund is not None else int(model.comp.fund)
            row: dict[str, Any] = {"scenario": task.index, "fund": fund}
            if key is not None:
                row["towns_set"] = key
            try:
                if payload.method == "formula":
                    matrix[i] = model.formula(fund)
                    row.update(status="formula", objective_value=math.nan, solver="")
                    how = PARAMETRIC
                elif model.allocates:
                    found = batch[i]
                    sol = found if found is not None else model.solve(fund)
                    how = PARAMETRIC
                else:
                    warm = model.warm_count
                    found = model.resolve(fund)
                    if found is None:  # allocate re-solves it (and warns as it does)
                        left.append(task)
                        continue
                    sol = found
                    how = WARM if model.warm_count > warm else COLD
                if payload.method != "formula":
                    matrix[i] = sol.amounts
                    row.update(status=sol.status, objective_value=float(sol.objective_value),
                               solver=sol.solver)
                row["error"] = ""
                solved.append(i)
            except (InfeasibleError, ValidationError) as exc:
                _failed(row, exc)
                how = PARAMETRIC if model.allocates or payload.method == "formula" else COLD
            row["solved_by"] = how
            row["seconds"] = time.perf_counter() - t0 + build / len(group)
            rows[i] = row
            _tick(bar, 1)
        t0 = time.perf_counter()
        try:
            summaries = _Summaries(towns, model.codes, over=payload.over,
                                   population=payload.population).rows(matrix[solved])
        except ValidationError:  # the measures cannot be taken: say so per scenario
            summaries = []
            for i in solved:
                try:
                    summaries.append(summarise(pd.Series(matrix[i], index=model.codes), towns,
                                               over=payload.over, population=payload.population))
                except ValidationError as exc:
                    _failed(rows[i], exc)
                    summaries.append({})
        share = (time.perf_counter() - t0) / max(len(solved), 1)
        for i, summary in zip(solved, summaries, strict=True):
            rows[i].update(summary)
            rows[i]["seconds"] += share
        for i, row in rows.items():
            amounts = None
            if payload.per_town and row["error"] == "":
                amounts = pd.Series(matrix[i], index=model.codes, name="amount")
            done.append((row, amounts))
    return done, left


# A worker's copy of the current sweep's payload, its towns tables validated once there (a
# table does not keep the mark that lets validate_towns skip its checks through pickling).
# One sweep at a time: a new sweep's payload replaces the last, so nothing accumulates.
_WORKER: dict[str, _Payload] = {}


def _prepared(payload: _Payload) -> _Payload:
    got = _WORKER.get(payload.token)
    if got is None:
        towns = {k: validate_towns(v) for k, v in payload.towns.items()}
        got = attrs.evolve(payload, towns=towns, token=payload.token)
        _WORKER.clear()
        _WORKER[payload.token] = got
    return got


def _run_batch(tasks: Sequence[_Task], payload: _Payload
               ) -> list[tuple[dict[str, Any], pd.Series[Any] | None]]:
    """Solve a batch of scenarios (runs in a worker: one task, many scenarios)."""
    ready = _prepared(payload)
    return [_run(task, ready) for task in tasks]


def _init_worker(payload: _Payload) -> None:
    _prepared(payload)


def _run_batch_in_worker(tasks: Sequence[_Task]
                         ) -> list[tuple[dict[str, Any], pd.Series[Any] | None]]:
    """A batch in a local worker process, on the payload its initializer received."""
    assert len(_WORKER) == 1
    return _run_batch(tasks, next(iter(_WORKER.values())))


def _batches(tasks: Sequence[_Task], workers: int) -> list[list[_Task]]:
    """``tasks`` in batches: about four per worker (so a slow batch does not leave the others
    idle at the end), of at most 64 scenarios (so results come back as they are done)."""
    size = max(1, min(64, math.ceil(len(tasks) / (4 * max(workers, 1)))))
    return [list(tasks[i:i + size]) for i in range(0, len(tasks), size)]


def _executor_problem(executor: Any) -> Problem:
    return Problem("executor must be None, 'serial', 'threads', 'processes', a "
                   "concurrent.futures.Executor or a dask.distributed Client",
                   value=type(executor).__name__)


def _chain(*parts: Iterable[Any]) -> Iterator[Any]:
    for part in parts:
        yield from part


def _is_dask_client(executor: Any) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "scatter")


def _progress(total: int, show: bool | None, desc: str) -> Any:
    """A progress bar over ``total`` scenarios (shown by default from 20 on), or None: a
    widget in a Jupyter kernel that has ipywidgets, text on stderr anywhere else; never a
    warning (tqdm's ``IProgress not found`` asks notebook users for a package they may lack).
    """
    if show is None:
        show = total >= 20
    if not show:
        return None
    import importlib
    import warnings

    from tqdm.std import tqdm as bar

    if "ipykernel" in sys.modules:
        try:
            importlib.import_module("ipywidgets")
        except ImportError:
            pass
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from tqdm.auto import tqdm as bar
    return bar(total=total, desc=desc, unit="scenario", file=sys.stderr, leave=False)


def _local_processes(n: int, payload: _Payload) -> ProcessPoolExecutor:
    """A process pool that never forks this (possibly threaded) process; the payload is sent
    once per worker."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["townfiscal"])
    return ProcessPoolExecutor(
        max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(payload,)
    )


def _guarded(path: str, line: int) -> bool:
    """Whether ``line`` of the script at ``path`` lies in an ``if __name__ == "__main__":``
    block at its top level."""
    import ast

    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return True  # cannot tell: the pool's own failure is still caught
    for node in tree.body:
        if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
            continue
        sides = [node.test.left, *node.test.comparators]
        names = {n.id for n in sides if isinstance(n, ast.Name)}
        texts = {n.value for n in sides if isinstance(n, ast.Constant)}
        if names == {"__name__"} and texts == {"__main__"}:
            end = node.end_lineno or node.lineno
            if node.lineno <= line <= end:
                return True
    return False


def _processes_unsafe() -> str | None:
    """Why worker processes cannot be started safely from here, or None.

    A worker started by spawn or forkserver imports the main script again; a script that
    runs the sweep outside an ``if __name__ == "__main__":`` block would run it again in
    every worker (Python then stops them). Detected from the stack: the main script's own
    frame, at the line that led here, outside such a block. A worker process does not start
    workers of its own.
    """
    if multiprocessing.parent_process() is not None:
        return "this is itself a worker process"
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None:  # interactive, Jupyter, python -c
        return None
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is vars(main) and frame.f_code.co_name == "<module>":
            if not _guarded(str(path), frame.f_lineno):
                return (f"{Path(path).name} runs the sweep without an "
                        "'if __name__ == \"__main__\":' guard, which worker processes need")
            return None
        frame = frame.f_back
    return None


def _serially(reason: str) -> None:
    import warnings

    warnings.warn(f"sweep runs serially: {reason}", RuntimeWarning, stacklevel=5)


def _execute(
    tasks: Sequence[_Task],
    payload: _Payload,
    executor: Any,
    bar: Any,
) -> Iterator[tuple[dict[str, Any], pd.Series[Any] | None]]:
    """Run ``tasks`` on ``executor``. The default (None) runs the first scenario here, and
    the rest in local processes only when their estimated serial time (the first's time ×
    their number) exceeds :data:`PROCESS_THRESHOLD` seconds and there are two cores or more;
    otherwise here too. Local processes that cannot be started safely (see
    :func:`_processes_unsafe`) or that break give way to serial with a one-line warning."""
    if executor is None:
        first = _run(tasks[0], payload)
        yield first
        _tick(bar, 1)
        tasks = tasks[1:]
        if not tasks:
            return
        estimate = float(first[0]["seconds"]) * len(tasks)
        workers = min(os.cpu_count() or 1, len(tasks))
        pays = workers >= 2 and len(tasks) >= 2 and estimate > PROCESS_THRESHOLD
        executor = "processes" if pays else "serial"
    if executor == "processes":
        reason = _processes_unsafe()
        if reason is not None:
            _serially(reason)
            executor = "serial"
    if executor == "serial":
        for task in tasks:
            yield _run(task, payload)
            _tick(bar, 1)
        return
    if _is_dask_client(executor):
        yield from _on_dask(tasks, payload, executor, bar)
        return
    own: Executor | None = None
    pool: Executor
    workers = os.cpu_count() or 1
    if executor == "processes":
        workers = min(workers, len(tasks))
        own = pool = _local_processes(workers, payload)
    elif executor == "threads":
        own = pool = ThreadPoolExecutor(max_workers=workers)
    elif isinstance(executor, Executor):
        pool = executor
        workers = int(getattr(pool, "_max_workers", workers))
    else:
        raise ValidationError([_executor_problem(executor)], what="sweep")
    from concurrent.futures.process import BrokenProcessPool

    done: set[int] = set()
    broken: str | None = None
    try:
        batches = _batches(tasks, workers)
        if own is not None and executor == "processes":
            # the payload went to each worker with its initializer
            futures = [pool.submit(_run_batch_in_worker, b) for b in batches]
        else:
            futures = [pool.submit(_run_batch, b, payload) for b in batches]
        for future in _futures_completed(futures):
            results = future.result()
            done.update(int(r[0]["scenario"]) for r in results)
            yield from results
            _tick(bar, len(results))
    except (BrokenProcessPool, BrokenPipeError) as exc:
        if own is None:
            raise
        broken = f"the worker processes stopped ({type(exc).__name__})"
    finally:
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)
    if broken is not None:
        _serially(broken)
        for task in tasks:
            if task.index not in done:
                yield _run(task, payload)
                _tick(bar, 1)


def _on_dask(tasks: Sequence[_Task], payload: _Payload, client: Any, bar: Any
             ) -> Iterator[tuple[dict[str, Any], pd.Series[Any] | None]]:
    """Scatter the payload to every worker once, submit the scenarios in batches, and let go
    of each batch's result (and at the end of the payload) as soon as it is read, so the
    workers keep nothing of a sweep once it is done."""
    from distributed import as_completed

    completed: Any = as_completed
    threads = sum(int(w.get("nthreads", 1))
                  for w in client.scheduler_info().get("workers", {}).values()) or 1
    remote = client.scatter(payload, broadcast=True, hash=False)
    try:
        pending = completed([client.submit(_run_batch, b, remote, pure=False)
                                for b in _batches(tasks, threads)])
        for future in pending:
            results = future.result()
            future.release()
            del future
            yield from results
            _tick(bar, len(results))
    finally:
        client.cancel([remote], force=True)
        del remote


def _span(values: Sequence[Any], fund: bool) -> str:
    """``2.14–2.20 bn`` for funds, ``0.1–0.3`` for numeric values, else the first few."""
    nums = [v for v in values if isinstance(v, int | float | np.integer | np.floating)]
    if fund or (nums and len(nums) == len(values)):
        lo, hi = float(min(nums)), float(max(nums))
        if fund:
            return f"{lo / 1e9:.2f} bn" if lo == hi else f"{lo / 1e9:.2f}–{hi / 1e9:.2f} bn"
        return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"
    shown = ", ".join(map(str, values[:3]))
    return shown + (" …" if len(values) > 3 else "")


def _failures(table: pd.DataFrame, param: str | None) -> str | None:
    """The one-line warning about a sweep's failed scenarios, or None when none failed."""
    bad = table["status"].isin(["infeasible", "invalid"]).to_numpy() | (
        table["error"].fillna("").astype(str) != "").to_numpy()
    if not bad.any():
        return None
    counts = table.loc[bad, "status"].value_counts()
    kinds = ", ".join(f"{int(k)} {s}" if i else f"{int(k)} of {len(table)} scenarios {s}"
                      for i, (s, k) in enumerate(counts.items()))
    if param is None:
        where = f"funds {_span(table.loc[bad, 'fund'].tolist(), fund=True)}"
    else:
        where = f"{param} {_span(table.loc[bad, 'value'].tolist(), fund=False)}"
    first = str(table.loc[bad, "error"].iloc[0])
    hint = " (tf.fund_range gives the funds the constraints allow)" if param is None else ""
    return (f"{kinds} ({where}): {first}; their rows have status and error columns and no "
            f"measures{hint}")


def _tick(bar: Any, n: int) -> None:
    if bar is not None:
        bar.update(n)


def sweep(
    towns: pd.DataFrame | Mapping[str, pd.DataFrame],
    policy: Any,
    *,
    funds: Iterable[float] | None = None,
    param: str | None = None,
    values: Iterable[Any] | None = None,
    fund: float | None = None,
    method: Method = "allocate",
    executor: Any = None,
    progress: bool | None = None,
    per_town: bool = False,
    over: Over = "paid",
    population: str = "resident_population",
    parametric: bool = True,
    **allocate_options: Any,
) -> pd.DataFrame:
    """Re-solve an allocation over a range of funds, or of one policy parameter.

    A sweep over ``funds`` with the default objective, per-town bounds and at most one
    family of group totals (the shape :func:`townfiscal.allocate` solves by its breakpoint
    search) builds the model once and reads every fund off it
    (:func:`townfiscal.optimize.fund_model`): the same amounts as ``allocate`` for each
    fund, to the yuan, at a fraction of the cost, in this process. Every other scenario
    (orders, several group families, linear objectives, parameter sweeps) is re-solved by
    ``allocate`` on the ``executor``; the ``solved_by`` column says which way each went.
    On local processes and Dask the towns tables and the policy go to each worker once,
    and the scenarios in batches.

    Parameters
    ----------
    towns
        A towns table, or ``{label: towns table}`` (e.g. each province's towns, or Monte Carlo
        draws of revenue forecasts): every scenario is then run on every table.
    policy
        A :class:`~townfiscal.Policy` or policy id.
    funds
        The funds to try, yuan (whole numbers). Or:
    param, values
        A dotted policy parameter (``"growth_control.cap"``) and the values to try; each
        scenario runs on ``policy.with_changes({param: value})`` with ``fund`` (default: the
        policy's ``fund.default``).
    method
        ``"allocate"`` (default: :func:`townfiscal.allocate`, with ``allocate_options`` such
        as ``constraints=[...]``, ``objective=...``, ``solver=...``) or ``"formula"`` (the
        policy's formula amounts, :func:`townfiscal.formula_allocation`).
    executor
        Where the scenarios run. ``None`` (default) chooses from the measured cost: the
        first scenario runs in this process, and the rest in local processes (one per core)
        only when their estimated serial time, the first's time × their number, exceeds
        ``PROCESS_THRESHOLD`` (2 s) and there are two cores or more; otherwise in this process
        too. ``"processes"`` always uses local processes, ``"serial"`` this process,
        ``"threads"`` a thread pool; or any :class:`concurrent.futures.Executor`, or a
        ``dask.distributed.Client`` (``pip install townfiscal[dask]``) to spread thousands of
        scenarios over a cluster. Local processes that cannot be started safely (a script
        that runs the sweep without an ``if __name__ == "__main__":`` guard, or a worker
        process) or that break leave the sweep to this process, with a one-line
        :class:`RuntimeWarning`.
    progress
        Show a progress bar (tqdm) on stderr; default: when there are 20 scenarios or more.
    per_town
        Return the long per-town table (scenario columns, then ``code`` and ``amount``)
        instead of one row per scenario.
    over, population
        As for :func:`summarise`.
    parametric
        Read funds off the parametric path where the model allows (default); ``False``
        re-solves every scenario with ``allocate``.

    Returns
    -------
    DataFrame, one row per scenario in the order given: ``scenario`` (0, 1, …), ``towns_set``
    (with several tables), ``param`` and ``value`` (parameter sweeps), ``fund``, ``status``
    (``optimal``, ``formula``, ``infeasible``, ``invalid``…), ``objective_value``, ``solver``,
    ``solved_by`` (``"parametric path"`` or ``"cold re-solve"``; also in
    ``table.attrs["solved_by"]``), the columns of :func:`summarise`, ``error`` (why a
    scenario failed; the sweep goes on) and ``seconds``.

    Raises
    ------
    ValidationError
        Neither ``funds`` nor ``param``/``values``, or both; an empty range; funds that are not
        positive whole yuan.

    Warns
    -----
    UserWarning
        Once per sweep when scenarios are infeasible or invalid: how many, over which funds
        or values, and the first reason (``"7 of 31 scenarios infeasible (funds 2.14–2.20
        bn): …"``). Their rows stay in the table with NaN measures, and
        :func:`townfiscal.plots.sweep` shades them.

    Examples
    --------
    >>> import townfiscal as tf
    >>> table = tf.sweep(tf.load_example(), "guangdong-2020", method="formula",
    ...                  funds=[1_900_000_000, 2_000_000_000], executor="serial")
    >>> table["total"].tolist()
    [1900000000.0, 2000000000.0]
    """
    problems: list[Problem] = []
    if (funds is None) == (param is None):
        problems.append(Problem("give either funds=[...] or param=... with values=[...]"))
    fund_list = [] if funds is None else list(funds)
    value_list = [] if values is None else list(values)
    if param is not None and not value_list:
        problems.append(Problem("param needs values=[...] to try", column=param))
    if funds is not None and not fund_list:
        problems.append(Problem("funds is empty"))
    for f in [*fund_list, *([] if fund is None else [fund])]:
        problems += PARAMETER_DOMAINS["fund"].problems(f)  # whole yuan, > 0, at most 10^15
    if param is not None:  # a parameter with a declared domain: every value tried is inside
        try:
            domain = domain_of(param)
        except KeyError:
            pass
        else:
            problems += [p for v in value_list for p in domain.problems(v, path=param)]
    if method not in ("allocate", "formula"):
        problems.append(Problem("method must be 'allocate' or 'formula'", value=method))
    if not (executor in (None, "serial", "threads", "processes")
            or isinstance(executor, Executor) or _is_dask_client(executor)):
        problems.append(_executor_problem(executor))
    if problems:
        raise ValidationError(problems, what="sweep")


    pol = get_policy(policy)
    tables: dict[str | None, pd.DataFrame]
    if isinstance(towns, pd.DataFrame):
        tables = {None: validate_towns(towns)}
    else:
        tables = {str(k): validate_towns(v) for k, v in towns.items()}
    tasks: list[_Task] = []
    for key in tables:
        n = len(tasks)
        if param is None:
            tasks += [_Task(n + i, key, int(f), None) for i, f in enumerate(fund_list)]
        else:
            f0 = None if fund is None else int(fund)
            tasks += [_Task(n + i, key, f0, v) for i, v in enumerate(value_list)]
    payload = _Payload(
        towns=tables,
        policy=pol,
        param=param,
        method=method,
        options=dict(allocate_options),
        over=over,
        population=population,
        per_town=per_town,
    )
    rows: list[dict[str, Any]] = []
    amounts: dict[int, pd.Series[Any]] = {}
    bar = _progress(len(tasks), progress, "sweep")
    try:
        done, tasks = _parametric(tasks, payload, bar) if parametric else ([], tasks)
        results = iter(done) if not tasks else _chain(done, _execute(tasks, payload, executor,
                                                                      bar))
        for row, amt in results:
            rows.append(row)
            if amt is not None:
                amounts[int(row["scenario"])] = amt
    finally:
        if bar is not None:
            bar.close()
    table = pd.DataFrame(rows).sort_values("scenario", kind="stable").reset_index(drop=True)
    lead = [c for c in ("scenario", "towns_set", "param", "value", "fund", "status",
                        "objective_value", "solver", "solved_by") if c in table]  # fmt: skip
    rest = [c for c in SUMMARY_COLUMNS if c in table or c not in _NEEDS_PRIOR]
    table = table.reindex(columns=lead + rest + ["error", "seconds"])
    if param is not None:
        table.attrs["param"] = param
    used = table["solved_by"].unique().tolist()
    table.attrs["solved_by"] = used[0] if len(used) == 1 else ", ".join(sorted(used))
    note = _failures(table, param)
    if note is not None:
        import warnings

        warnings.warn(note, UserWarning, stacklevel=2)
    if not per_town:
        return table
    keys = [c for c in lead if c not in ("solver", "solved_by")]
    parts = []
    for _, head in table[keys].iterrows():
        amt = amounts.get(int(head["scenario"]))
        if amt is None:
            continue
        part = pd.DataFrame({"code": [str(c) for c in amt.index], "amount": amt.to_numpy()})
        parts.append(part.assign(**{k: head[k] for k in keys})[[*keys, "code", "amount"]])
    if not parts:
        return pd.DataFrame(columns=[*keys, "code", "amount"])
    return pd.concat(parts, ignore_index=True)
