"""The constraint catalogue: what a finance bureau imposes on an allocation.

Each constraint is a frozen attrs object that compiles, against a
:class:`~townfiscal.optimize.ModelContext`, to array primitives (per-town bounds, an
order, group totals, general rows). Amounts are yuan; a per-town argument may be a scalar,
a pandas Series indexed by town code (missing towns: no bound) or a column name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs
import numpy as np
import pandas as pd

from townfiscal._domains import PARAMETER_DOMAINS, keyed_problems
from townfiscal._domains import check_arguments as _check
from townfiscal._errors import Conflict, InfeasibleError, Problem, ValidationError
from townfiscal.optimize._context import (
    AuxRows,
    FloatArray,
    GroupBounds,
    IntArray,
    ModelContext,
    Ordering,
    Primitive,
    TownBounds,
    groups_of,
)

__all__ = [
    "Cap",
    "CapacityFloor",
    "Constraint",
    "Floor",
    "GroupTotal",
    "GrowthCap",
    "HoldHarmless",
    "NeedOrder",
    "Rounding",
    "TierOrder",
]

PerTown = float | int | pd.Series | Mapping[str, float] | str


def _money_repr(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{value:,.0f}"
    if isinstance(value, str):
        return repr(value)
    return f"<{type(value).__name__} of {len(value)}>"


def _name_problem(family: str, name: str, value: Any) -> list[Problem]:
    """A column name must be text."""
    if isinstance(value, str) and value:
        return []
    return [Problem(f"must name a column of the towns table (text), not "
                    f"{type(value).__name__}", column=f"{family}.{name}", value=value)]


class Constraint:
    """Base class of the catalogue. ``family`` names the constraint in reports.

    Every argument is checked when the constraint is built, against the domain declared for
    it in :data:`~townfiscal.PARAMETER_DOMAINS` (``Floor.amount``, ``GrowthCap.rate``, …):
    a number of the right sign within a plausible range, a Series by town code whose every
    value is, or a column name (whose values are checked when the constraint meets a towns
    table). A :class:`~townfiscal.ValidationError` lists every problem at once.
    """

    family: ClassVar[str] = "Constraint"

    @property
    def name(self) -> str:
        """The family name used in reports, duals and errors."""
        return self.family

    def compile(self, ctx: ModelContext) -> list[Primitive]:  # pragma: no cover - abstract
        """The primitives this constraint stands for, over ``ctx``'s towns."""
        raise NotImplementedError


@attrs.frozen(repr=False)
class Floor(Constraint):
    """Each town gets at least ``amount`` yuan.

    Parameters
    ----------
    amount
        Yuan: a scalar for every town, a Series by town code (NaN or missing: no floor) or
        a column of the towns table.

    Example::

        >>> Floor(1_000_000)
        Floor(1,000,000)
    """

    family: ClassVar[str] = "Floor"
    amount: PerTown

    def __attrs_post_init__(self) -> None:
        _check("Floor", amount=self.amount)

    def __repr__(self) -> str:
        return f"Floor({_money_repr(self.amount)})"

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        lo = ctx.per_town(self.amount, what="Floor", domain="Floor.amount")
        return [TownBounds(self.name, lower=lo,
                           describe=f"at least {_money_repr(self.amount)} yuan")]


@attrs.frozen(repr=False)
class Cap(Constraint):
    """Each town gets at most ``amount`` yuan (scalar, Series by code or column name).

    Example::

        >>> Cap(5_000_000)
        Cap(5,000,000)
    """

    family: ClassVar[str] = "Cap"
    amount: PerTown

    def __attrs_post_init__(self) -> None:
        _check("Cap", amount=self.amount)

    def __repr__(self) -> str:
        return f"Cap({_money_repr(self.amount)})"

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        hi = ctx.per_town(self.amount, what="Cap", domain="Cap.amount")
        return [TownBounds(self.name, upper=hi,
                           describe=f"at most {_money_repr(self.amount)} yuan")]


@attrs.frozen
class HoldHarmless(Constraint):
    """No town below ``ratio`` × last year's amount (``prior_amount``, yuan).

    Towns without a prior amount (NaN) are exempt. ``ratio`` may be a scalar or a Series
    by code.

    Example::

        >>> HoldHarmless(0.95)
        HoldHarmless(ratio=0.95)
    """

    family: ClassVar[str] = "HoldHarmless"
    ratio: float | pd.Series = 1.0

    def __attrs_post_init__(self) -> None:
        _check("HoldHarmless", ratio=self.ratio)

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        prior = ctx.column("prior_amount", what="HoldHarmless")
        ratio = ctx.per_town(self.ratio, what="HoldHarmless ratio", domain="HoldHarmless.ratio")
        return [TownBounds(self.name, lower=ratio * prior,
                           describe=f"at least {self.ratio!r} × last year's amount")]


@attrs.frozen
class GrowthCap(Constraint):
    """No town above (1 + ``rate``) × last year's amount.

    Parameters
    ----------
    rate
        Growth allowed over ``prior_amount`` (0.15 = +15%); scalar or Series by code.
    no_prior
        Yuan cap for towns without a prior amount (NaN or 0); ``None`` (default) exempts
        them.

    Example::

        >>> GrowthCap(0.15)
        GrowthCap(rate=0.15, no_prior=None)
    """

    family: ClassVar[str] = "GrowthCap"
    rate: float | pd.Series
    no_prior: float | None = None

    def __attrs_post_init__(self) -> None:
        _check("GrowthCap", rate=self.rate, no_prior=self.no_prior)

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        prior = ctx.column("prior_amount", what="GrowthCap")
        rate = ctx.per_town(self.rate, what="GrowthCap rate", domain="GrowthCap.rate")
        none = ~(prior > 0)  # NaN or zero last year: no base to grow from
        hi = np.where(none, np.nan, (1.0 + rate) * prior)
        if self.no_prior is not None:
            hi = np.where(none, float(self.no_prior), hi)
        return [TownBounds(self.name, upper=hi,
                           describe=f"at most (1 + {self.rate!r}) × last year's amount")]


def _dense_rank(key: FloatArray) -> IntArray:
    """0 for the largest key (the weakest town), ties share a rank; NaN → -1."""
    rank = np.full(key.shape, -1, dtype=np.int64)
    ok = ~np.isnan(key)
    _, inverse = np.unique(-key[ok], return_inverse=True)
    rank[ok] = inverse
    return rank


@attrs.frozen
class TierOrder(Constraint):
    """A town in a weaker tier never gets less than a town in a stronger tier.

    Reads the ``tier`` column (1 = weakest) that tier policies give. Compiles to O(n)
    rows (one separator variable between adjacent tiers), never O(n²).

    Example::

        >>> TierOrder()
        TierOrder()
    """

    family: ClassVar[str] = "TierOrder"

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        if "tier" not in ctx.towns.columns:
            raise ValidationError(
                [Problem("TierOrder needs tiers, and this policy has none (use NeedOrder)",
                         column="tier")], what="TierOrder")
        tier = ctx.column("tier", what="TierOrder")
        return [Ordering(self.name, _dense_rank(-tier), describe="weaker tier ≥ stronger tier")]


@attrs.frozen
class NeedOrder(Constraint):
    """A needier town (larger ``by`` column) never gets less than a less needy one.

    Parameters
    ----------
    by
        The column ranking need, larger = needier; default the composite ``coefficient``.
        Towns with equal values are not ordered against each other.

    Compiles to a chain of n − 1 rows (or separator rows where values tie), never O(n²).

    Example::

        >>> NeedOrder()
        NeedOrder(by='coefficient')
    """

    family: ClassVar[str] = "NeedOrder"
    by: str = "coefficient"

    def __attrs_post_init__(self) -> None:
        _check("NeedOrder", _name_problem("NeedOrder", "by", self.by))

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        key = ctx.column(self.by, what="NeedOrder")
        return [Ordering(self.name, _dense_rank(key),
                         describe=f"needier by {self.by} ≥ less needy")]


def _group_values(value: Any, names: tuple[str, ...], default: float, what: str,
                  *, minimum: bool) -> FloatArray:
    """Bounds per group label; a cap on a group with no eligible town is moot, a positive
    minimum on one cannot be met."""
    if value is None:
        return np.full(len(names), default)
    if isinstance(value, pd.Series | Mapping):
        series = pd.Series(value, dtype=np.float64)
        series.index = series.index.astype(str)
        unknown = series.index.difference(pd.Index(names))
        if minimum:
            short = [g for g in unknown if series[g] > 0]
            if short:
                raise InfeasibleError([Conflict(
                    f"{what}: no eligible town in {g}, so its minimum of {series[g]:,.0f} yuan "
                    "cannot be met", constraints=(what,), required=float(series[g]),
                    available=0.0) for g in short])
        return np.asarray(series.reindex(list(names)).fillna(default), dtype=np.float64)
    return np.full(len(names), float(value))


@attrs.frozen
class GroupTotal(Constraint):
    """The total per city or per county stays within ``[lo, hi]`` yuan.

    Parameters
    ----------
    by
        ``"city"`` or ``"county"`` (any column of labels works).
    lo, hi
        Yuan: a scalar for every group or a Series/mapping by group label; ``None``: no
        bound.

    Example::

        >>> GroupTotal("city", hi=300_000_000)
        GroupTotal(by='city', lo=None, hi=300000000)
    """

    family: ClassVar[str] = "GroupTotal"
    by: str = "city"
    lo: float | pd.Series | Mapping[str, float] | None = None
    hi: float | pd.Series | Mapping[str, float] | None = None

    def __attrs_post_init__(self) -> None:
        problems = _name_problem("GroupTotal", "by", self.by)
        for name in ("lo", "hi"):
            value = getattr(self, name)
            domain = PARAMETER_DOMAINS[f"GroupTotal.{name}"]
            if isinstance(value, pd.Series | Mapping):  # by group label
                problems += keyed_problems(domain, value, path=f"GroupTotal.{name}")
            else:
                problems += domain.problems(value, path=f"GroupTotal.{name}")
        scalars = all(isinstance(v, int | float) and not isinstance(v, bool)
                      for v in (self.lo, self.hi))
        if not problems and scalars and float(self.lo) > float(self.hi):  # type: ignore[arg-type]
            problems.append(Problem(f"is above GroupTotal.hi ({self.hi!r}): no total fits",
                                    column="GroupTotal.lo", value=self.lo))
        _check("GroupTotal", problems)

    @property
    def name(self) -> str:
        return f"GroupTotal[{self.by}]"

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        labels = ctx.labels(self.by, what=self.name)
        group, names = groups_of(labels)
        lo = _group_values(self.lo, names, -np.inf, self.name, minimum=True)
        hi = _group_values(self.hi, names, np.inf, self.name, minimum=False)
        return [GroupBounds(self.name, group, names, lo, hi, describe=f"total per {self.by}")]


@attrs.frozen
class CapacityFloor(Constraint):
    """Post-transfer per-capita capacity at least ``share`` of the county's average.

    ``(fiscal_capacity_i + x_i) / pop_i ≥ share × avg_c`` for each town ``i`` of county
    ``c`` (the 2005 rule: 65% rising toward 85%). The county average is taken over every
    unit of the county in the towns table (eligible or not), population-weighted:
    ``avg_c = Σ capacity / Σ pop``.

    Parameters
    ----------
    share
        Fraction of the county average (0.65 = 65%).
    population
        Population column for "per capita" (default ``supported_population``, as in the
        per-capita capacity factor of Art. 6).
    reference
        ``"before"`` (default): the county average before the transfer, a known number,
        so the rule is a per-town floor. ``"after"``: the county average after the
        transfer (the towns' subsidies raise it), one extra row and variable per county.

    Example::

        >>> CapacityFloor(0.65)
        CapacityFloor(share=0.65, population='supported_population', reference='before')
    """

    family: ClassVar[str] = "CapacityFloor"
    share: float
    population: str = "supported_population"
    reference: Literal["before", "after"] = "before"

    def __attrs_post_init__(self) -> None:
        problems = _name_problem("CapacityFloor", "population", self.population)
        if self.reference not in ("before", "after"):
            problems.append(Problem("must be 'before' or 'after'",
                                    column="CapacityFloor.reference", value=self.reference))
        _check("CapacityFloor", problems, share=self.share)

    def _county_totals(self, ctx: ModelContext) -> tuple[FloatArray, FloatArray, IntArray,
                                                           tuple[str, ...]]:
        what = "CapacityFloor"
        ref = ctx.reference
        for col in ("county", "fiscal_capacity", self.population):
            if col not in ref.columns or col not in ctx.towns.columns:
                raise ValidationError([Problem(f"{what} needs the column {col!r}", column=col)],
                                      what=what)
        labels = ctx.labels("county", what=what)
        group, names = groups_of(labels)
        by_county = ref.groupby(ref["county"].astype(str))[["fiscal_capacity", self.population]]
        sums = by_county.sum().reindex(list(names))
        return (sums["fiscal_capacity"].to_numpy(np.float64),
                sums[self.population].to_numpy(np.float64), group, names)

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        what = "CapacityFloor"
        cap_sum, pop_sum, group, names = self._county_totals(ctx)
        cap = ctx.column("fiscal_capacity", what=what)
        pop = ctx.column(self.population, what=what)
        if np.any(pop_sum <= 0) or np.any(pop <= 0):
            raise ValidationError([Problem(f"{what} needs positive {self.population}",
                                           column=self.population)], what=what)
        if self.reference == "before":
            avg = cap_sum / pop_sum
            lower = self.share * avg[group] * pop - cap
            return [TownBounds(self.name, lower=lower,
                               describe=f"capacity per person ≥ {self.share:g} × county average")]
        if self.reference != "after":
            raise ValidationError([Problem("reference must be 'before' or 'after'",
                                           value=self.reference)], what=what)
        # y_c = Σ_{i in c} x_i (one aux column and one row per county), then per town
        # x_i − share·pop_i/P_c · y_c ≥ share·pop_i·K_c/P_c − cap_i.
        import scipy.sparse as sp

        n, g = ctx.n, len(names)
        rows_i = np.arange(n)
        a_town_def = sp.csr_array((np.ones(n), (group, rows_i)), shape=(g, n))
        a_aux_def = sp.csr_array(-sp.eye_array(g, format="csr"))
        coef = -self.share * pop / pop_sum[group]
        a_town_floor = sp.csr_array(sp.eye_array(n, format="csr"))
        a_aux_floor = sp.csr_array((coef, (rows_i, group)), shape=(n, g))
        rhs = self.share * pop * cap_sum[group] / pop_sum[group] - cap
        return [AuxRows(
            self.name,
            a_town=sp.csr_array(sp.vstack([a_town_def, a_town_floor])),
            a_aux=sp.csr_array(sp.vstack([a_aux_def, a_aux_floor])),
            lower=np.concatenate([np.zeros(g), rhs]),
            upper=np.concatenate([np.zeros(g), np.full(n, np.inf)]),
            aux_lower=np.zeros(g), aux_upper=np.full(g, np.inf), aux_cost=np.zeros(g),
            aux_names=tuple(f"county_total[{c}]" for c in names),
            describe=f"capacity per person ≥ {self.share:g} × county average after transfer",
        )]

    def margin(self, ctx: ModelContext, amounts: FloatArray) -> FloatArray:
        """Per town, yuan above the floor at ``amounts`` (negative: short of it)."""
        cap_sum, pop_sum, group, _ = self._county_totals(ctx)
        cap = ctx.column("fiscal_capacity", what="CapacityFloor")
        pop = ctx.column(self.population, what="CapacityFloor")
        if self.reference == "after":
            cap_sum = cap_sum + np.bincount(group, weights=amounts, minlength=cap_sum.size)
        need = self.share * pop * cap_sum[group] / pop_sum[group] - cap
        return np.asarray(amounts - need, dtype=np.float64)


@attrs.frozen
class Rounding(Constraint):
    """Amounts in whole multiples of ``unit`` yuan (1 = whole yuan; 10,000 = 万元).

    Parameters
    ----------
    unit
        The rounding unit, yuan; the fund must be a multiple of it.
    exact
        ``"auto"`` (default): largest-remainder rounding of the optimum that keeps the
        total, every bound and the order constraints; if a group total or another row
        would break, a small integer program over the round-down/round-up choices decides.
        ``"milp"``: solve the whole model with integer amounts (slower; best for 万元
        units). ``"largest_remainder"``: never fall back, raise if a constraint breaks.

    Example::

        >>> Rounding(10_000)
        Rounding(unit=10000, exact='auto')
    """

    family: ClassVar[str] = "Rounding"
    unit: int = 1
    exact: Literal["auto", "milp", "largest_remainder"] = "auto"

    def __attrs_post_init__(self) -> None:
        problems = []
        if self.exact not in ("auto", "milp", "largest_remainder"):
            problems.append(Problem("must be 'auto', 'milp' or 'largest_remainder'",
                                    column="Rounding.exact", value=self.exact))
        _check("Rounding", problems, unit=self.unit)

    def compile(self, ctx: ModelContext) -> list[Primitive]:
        return []

