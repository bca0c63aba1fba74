"""The objective catalogue: what the allocator minimises.

:class:`Proportional`, the default, is a weighted least-squares distance from the targets
with a unique optimum that spreads every adjustment in proportion to the targets. The others
compile to separable piecewise-linear costs per town (deviation, shortfall) or to rows with
an auxiliary variable (max-min); their optimum is often not unique, and the allocator then
picks, among their optima, the one :meth:`Objective.tie_break` names. Objectives combine
linearly: ``MinDeviation() + 0.5 * MinShortfall(need="expenditure")``. Every objective is
stated as a quantity to *minimise*; :class:`MaxMin` minimises the negative of the lowest value.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd

from townfiscal._domains import PARAMETER_DOMAINS
from townfiscal._domains import check_arguments as _check
from townfiscal._errors import Problem, ValidationError
from townfiscal.optimize._context import (
    AuxRows,
    FloatArray,
    ModelContext,
    Primitive,
    Quadratic,
    Separable,
)

__all__ = [
    "MaxMin",
    "MinDeviation",
    "MinShortfall",
    "Objective",
    "Proportional",
    "WeightedObjective",
]


class Objective:
    """Base class of the objectives; supports ``+`` and multiplication by a number."""

    #: Unit of the objective value.
    unit: str = "yuan"

    def terms(self) -> tuple[tuple[float, Objective], ...]:
        """The (weight, objective) pairs this objective sums."""
        return ((1.0, self),)

    def compile(self, ctx: ModelContext, weight: float) -> list[Primitive]:  # pragma: no cover
        """The primitives of ``weight`` × this objective over ``ctx``'s towns."""
        raise NotImplementedError

    def evaluate(self, ctx: ModelContext, amounts: FloatArray) -> float:  # pragma: no cover
        """The objective's value at ``amounts`` (yuan per town, model order)."""
        raise NotImplementedError

    @property
    def quadratic(self) -> bool:
        """Whether the objective has a quadratic part (a unique optimum by itself)."""
        return any(isinstance(o, Proportional) for _, o in self.terms())

    def tie_break(self) -> Proportional:
        """Among several optima of this objective, the allocator returns the one closest to
        this objective (the proportional spread around the same target)."""
        return Proportional(target=self.target)

    @property
    def target(self) -> float | pd.Series | str | None:
        """The target the objective measures from (``None``: the formula amounts)."""
        return None

    def __add__(self, other: Objective) -> WeightedObjective:
        if not isinstance(other, Objective):
            return NotImplemented
        return WeightedObjective(self.terms() + other.terms())

    def __mul__(self, weight: float) -> WeightedObjective:
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            return NotImplemented
        return WeightedObjective(tuple((weight * w, o) for w, o in self.terms()))

    __rmul__ = __mul__


@attrs.frozen
class WeightedObjective(Objective):
    """A weighted sum of objectives, ``Σ w_k · f_k``; built with ``+`` and ``*``.

    Example::

        >>> obj = MinDeviation() + 2 * MinShortfall(need="expenditure")
        >>> [w for w, _ in obj.terms()]
        [1.0, 2.0]
    """

    parts: tuple[tuple[float, Objective], ...]

    def __attrs_post_init__(self) -> None:
        domain = PARAMETER_DOMAINS["WeightedObjective.weight"]
        _check("WeightedObjective", [
            p for k, (w, _) in enumerate(self.parts)
            for p in domain.problems(w, path=f"WeightedObjective.weight[{k}]")])

    @property
    def unit(self) -> str:  # type: ignore[override]
        units = {o.unit for _, o in self.parts}
        if len(units) == 1:
            return units.pop()
        return " + ".join(f"{w:g} × ({o.unit})" for w, o in self.terms())

    def terms(self) -> tuple[tuple[float, Objective], ...]:
        return tuple((float(w), o) for w, o in self.parts)

    def compile(self, ctx: ModelContext, weight: float) -> list[Primitive]:
        out: list[Primitive] = []
        for w, o in self.terms():
            out += o.compile(ctx, weight * w)
        return out

    def evaluate(self, ctx: ModelContext, amounts: FloatArray) -> float:
        return float(sum(w * o.evaluate(ctx, amounts) for w, o in self.terms()))

    @property
    def target(self) -> float | pd.Series | str | None:
        for _, o in self.terms():
            if isinstance(o, MinDeviation | Proportional):
                return o.target
        return None


@attrs.frozen(repr=False)
class Proportional(Objective):
    """Spread every adjustment in proportion to the targets (the default objective).

    Minimises ``Σ_i (x_i − t_i)² / t_i``, the weighted least-squares (Pearson χ²) distance
    from the targets ``t``. Its optimum is unique. With only per-town bounds and the fund it
    is exactly the capped proportional allocation ``x_i = clip(λ·t_i, lo_i, hi_i)``, ``λ``
    chosen so the amounts add up to the fund: what some towns gain from a floor is paid by
    every town no bound holds, in proportion to its target. Under group totals each group
    has its own scale; under orders, towns held level share one.

    Parameters
    ----------
    target
        Yuan per town (Series by code, scalar or column name), ``>= 0``; ``None``: the
        policy's formula amounts. Targets below one yuan weigh as one yuan.

    Example::

        >>> Proportional()
        Proportional(target=None)
    """

    target: float | pd.Series | str | None = None

    def __attrs_post_init__(self) -> None:
        _check("Proportional", target=self.target)

    def __repr__(self) -> str:
        return f"Proportional(target={_series_repr(self.target)})"

    unit = "yuan (Σ (x − t)² / t)"

    def _target(self, ctx: ModelContext) -> tuple[FloatArray, FloatArray]:
        target = ctx.per_town("target" if self.target is None else self.target,
                              what="Proportional target", allow_nan=False)
        negative = target < 0
        if np.any(negative):
            raise ValidationError(
                [Problem("Proportional target: a target must be 0 or more yuan", row=str(c),
                         value=float(v)) for c, v in zip(ctx.codes[negative][:200],
                                                         target[negative][:200], strict=True)],
                what="Proportional target")
        return target, np.maximum(target, 1.0)

    def compile(self, ctx: ModelContext, weight: float) -> list[Primitive]:
        if not weight > 0:
            raise ValidationError([Problem("a Proportional term needs a positive weight",
                                           value=weight)], what="objective")
        target, width = self._target(ctx)
        return [Quadratic("Proportional", target, width / weight)]

    def evaluate(self, ctx: ModelContext, amounts: FloatArray) -> float:
        target, width = self._target(ctx)
        return float(np.sum((amounts - target) ** 2 / width))


def _series_repr(value: Any) -> str:
    if value is None or isinstance(value, int | float | str):
        return repr(value)
    return f"<{type(value).__name__} of {len(value)}>"


@attrs.frozen(repr=False)
class MinDeviation(Objective):
    """Stay as close as possible to a target: minimise ``Σ_i w_i · |x_i − target_i|``.

    The deviation is modelled with two bounded columns per town (below and above the
    target) substituted for the amount, so it adds no rows.

    Its optimum is seldom unique: moving a yuan from one town above its target to another
    costs the same whichever towns they are. The allocator then returns, among all the
    optima, the one closest to :class:`Proportional` with the same target, so the answer
    depends on the data alone, not on the row order or the solver.

    Parameters
    ----------
    target
        Yuan per town (Series by code, scalar or column name); ``None``: the policy's
        formula amounts.
    relative
        Weight each town by ``1 / target_i`` (a relative deviation), so small towns count
        as much as large ones; targets below one yuan count as one yuan.

    Example::

        >>> MinDeviation(relative=True)
        MinDeviation(target=None, relative=True)
    """

    target: float | pd.Series | str | None = None
    relative: bool = False

    def __attrs_post_init__(self) -> None:
        _check("MinDeviation", target=self.target)

    def __repr__(self) -> str:
        return f"MinDeviation(target={_series_repr(self.target)}, relative={self.relative})"

    @property
    def unit(self) -> str:  # type: ignore[override]
        return "relative deviation (Σ|x−t|/t)" if self.relative else "yuan of deviation"

    def _target(self, ctx: ModelContext) -> tuple[FloatArray, FloatArray]:
        target = ctx.per_town("target" if self.target is None else self.target,
                              what="MinDeviation target", allow_nan=False)
        weight = 1.0 / np.maximum(np.abs(target), 1.0) if self.relative else np.ones(ctx.n)
        return target, weight

    def compile(self, ctx: ModelContext, weight: float) -> list[Primitive]:
        target, w = self._target(ctx)
        w = weight * w
        return [Separable("MinDeviation", target[:, None], np.stack([-w, w], axis=1))]

    def evaluate(self, ctx: ModelContext, amounts: FloatArray) -> float:
        target, w = self._target(ctx)
        return float(np.sum(w * np.abs(amounts - target)))


@attrs.frozen(repr=False)
class MinShortfall(Objective):
    """Minimise the total shortfall ``Σ_i max(0, need_i − capacity_i − x_i)`` (yuan).

    Parameters
    ----------
    need
        Yuan per town: Series by code, scalar or a column name (e.g. ``"expenditure"``).
    capacity
        Column of own resources subtracted from the need (default ``fiscal_capacity``);
        ``None``: the need is met by the transfer alone.

    Example::

        >>> MinShortfall(need="expenditure")
        MinShortfall(need='expenditure', capacity='fiscal_capacity')
    """

    need: float | pd.Series | str
    capacity: str | None = "fiscal_capacity"

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        capacity: object = self.capacity  # typed as text, but given at run time
        if capacity is not None and not isinstance(capacity, str):
            problems.append(Problem("must name a column of the towns table (text), or be None",
                                    column="MinShortfall.capacity", value=self.capacity))
        _check("MinShortfall", problems, need=self.need)

    def __repr__(self) -> str:
        return f"MinShortfall(need={_series_repr(self.need)}, capacity={self.capacity!r})"

    unit = "yuan of shortfall"

    def _gap(self, ctx: ModelContext) -> FloatArray:
        need = ctx.per_town(self.need, what="MinShortfall need", allow_nan=False)
        if self.capacity is not None:
            need = need - ctx.column(self.capacity, what="MinShortfall")
        return need

    def compile(self, ctx: ModelContext, weight: float) -> list[Primitive]:
        gap = self._gap(ctx)
        slopes = np.stack([np.full(ctx.n, -weight), np.zeros(ctx.n)], axis=1)
        return [Separable("MinShortfall", gap[:, None], slopes)]

    def evaluate(self, ctx: ModelContext, amounts: FloatArray) -> float:
        return float(np.sum(np.maximum(self._gap(ctx) - amounts, 0.0)))


_MEASURES = ("capacity_per_capita", "amount_per_capita", "amount")


@attrs.frozen
class MaxMin(Objective):
    """Raise the lowest value of a measure across towns (a Rawlsian objective).

    Minimises ``−min_i m_i`` where ``m_i`` is, by ``measure``:
    ``"capacity_per_capita"`` (default) ``(fiscal_capacity_i + x_i) / pop_i`` in yuan per
    person; ``"amount_per_capita"`` ``x_i / pop_i``; ``"amount"`` ``x_i`` in yuan.

    Many allocations share the same minimum; add a small ``MinDeviation`` term to pick the
    one closest to the formula. One extra variable and one row per town.

    Example::

        >>> MaxMin()
        MaxMin(measure='capacity_per_capita', population='supported_population')
    """

    measure: Literal["capacity_per_capita", "amount_per_capita", "amount"] = (
        "capacity_per_capita")
    population: str = "supported_population"

    def __attrs_post_init__(self) -> None:
        if self.measure not in _MEASURES:
            raise ValidationError([Problem(f"measure must be one of {', '.join(_MEASURES)}",
                                           value=self.measure)], what="MaxMin")

    @property
    def unit(self) -> str:  # type: ignore[override]
        return "−yuan" if self.measure == "amount" else "−yuan per person"

    def _parts(self, ctx: ModelContext) -> tuple[FloatArray, FloatArray]:
        """(pop_i, base_i) with m_i = (base_i + x_i) / pop_i."""
        if self.measure == "amount":
            return np.ones(ctx.n), np.zeros(ctx.n)
        pop = ctx.column(self.population, what="MaxMin")
        if np.any(~(pop > 0)):
            raise ValidationError([Problem(f"MaxMin needs positive {self.population}",
                                           column=self.population)], what="MaxMin")
        base = (ctx.column("fiscal_capacity", what="MaxMin")
                if self.measure == "capacity_per_capita" else np.zeros(ctx.n))
        return pop, base

    def compile(self, ctx: ModelContext, weight: float) -> list[Primitive]:
        import scipy.sparse as sp

        pop, base = self._parts(ctx)
        # τ' = τ · P̄ is money (yuan), so every column scales alike:
        # x_i − (pop_i / P̄) τ' ≥ −base_i, and the cost −w·τ = −(w / P̄)·τ'.
        p_bar = float(np.median(pop))
        n = ctx.n
        return [AuxRows(
            "MaxMin",
            a_town=sp.csr_array(sp.eye_array(n, format="csr")),
            a_aux=sp.csr_array((-pop / p_bar)[:, None]),
            lower=-base, upper=np.full(n, np.inf),
            aux_lower=np.array([-np.inf]), aux_upper=np.array([np.inf]),
            aux_cost=np.array([-weight / p_bar]),
            aux_names=("maxmin_level",),
        )]

    def evaluate(self, ctx: ModelContext, amounts: FloatArray) -> float:
        pop, base = self._parts(ctx)
        return -float(np.min((base + amounts) / pop)) if ctx.n else 0.0
