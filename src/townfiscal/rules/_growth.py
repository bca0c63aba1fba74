"""Capped proportional allocation: growth control that keeps the total exact (Art. 5)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from townfiscal._errors import Conflict, InfeasibleError

__all__ = ["CappedPath", "capped_proportional", "growth_bounds"]

FloatArray = npt.NDArray[np.float64]


@attrs.frozen(eq=False)
class CappedPath:
    """``Σ_i clip(λ·w_i, lo_i, hi_i)`` as a function of ``λ``, sorted once.

    The total is piecewise linear in ``λ`` with a breakpoint where a town reaches a bound:
    ``points`` are those breakpoints (ascending, from 0), ``values`` the totals there, and
    ``last_slope`` the weight still moving past the last one. :meth:`scale` reads off the
    ``λ`` of any total with one search and one linear solve, so a fund sweep can build the
    path once and read every fund off it, in the very arithmetic of
    :func:`capped_proportional`. Every ``w`` must be > 0 and every ``hi`` > ``lo``.
    """

    points: FloatArray
    values: FloatArray
    last_slope: float

    @classmethod
    def of(cls, w: FloatArray, lo: FloatArray, hi: FloatArray) -> CappedPath:
        """The path of towns with weights ``w`` (> 0) and bounds ``lo`` < ``hi`` (yuan)."""
        a = lo / w
        b = hi / w
        order_a, order_b = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
        a_sorted, b_sorted = a[order_a], b[order_b]
        cum_lo_a = np.concatenate([[0.0], np.cumsum(lo[order_a])])
        cum_w_a = np.concatenate([[0.0], np.cumsum(w[order_a])])
        finite_b = np.isfinite(hi[order_b])
        cum_hi_b = np.concatenate([[0.0], np.cumsum(np.where(finite_b, hi[order_b], 0.0))])
        cum_w_b = np.concatenate([[0.0], np.cumsum(w[order_b])])
        points = np.unique(np.concatenate([[0.0], a, b[np.isfinite(b)]]))
        na = np.searchsorted(a_sorted, points, side="left")
        nb = np.searchsorted(b_sorted, points, side="right")
        values = (cum_lo_a[-1] - cum_lo_a[na]) + points * (cum_w_a[na] - cum_w_b[nb]) + (
            cum_hi_b[nb])
        last = float(points[-1])
        last_slope = float(cum_w_a[-1] - cum_w_b[np.searchsorted(b_sorted, last, side="right")])
        return cls(points, values, last_slope)

    def scale(self, total: float) -> float:
        """The ``λ`` at which the towns add up to ``total`` (yuan)."""
        k = int(np.searchsorted(self.values, total, side="left"))
        if k == 0:
            return float(self.points[0])
        if k >= self.points.size:
            last = float(self.points[-1])
            # past the last breakpoint only uncapped towns still grow; none left: all capped
            slope = self.last_slope
            return last + (total - float(self.values[-1])) / slope if slope > 0 else last
        t0, t1 = float(self.points[k - 1]), float(self.points[k])
        g0, g1 = float(self.values[k - 1]), float(self.values[k])
        return t0 + (total - g0) * (t1 - t0) / (g1 - g0)


def growth_bounds(
    prior: npt.ArrayLike, floor: float | None, cap: float | None
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper bounds (yuan) from last year's amounts and allowed changes.

    ``lower = prior × (1 + floor)``, ``upper = prior × (1 + cap)``. Towns with no prior
    amount (NaN or 0) are exempt: bounds 0 and +inf.
    """
    p = np.asarray(prior, dtype=np.float64)
    has = np.isfinite(p) & (p > 0)
    lower = np.where(has & (floor is not None), p * (1.0 + (floor or 0.0)), 0.0)
    upper = np.where(has & (cap is not None), p * (1.0 + (cap or 0.0)), np.inf)
    return lower, upper


def capped_proportional(
    weights: npt.ArrayLike,
    total: float,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    *,
    codes: Sequence[str] | None = None,
) -> tuple[FloatArray, float]:
    """Split *total* in proportion to *weights*, each share clamped to its bounds.

    Finds the scale λ with ``Σ clip(λ·w_i, lower_i, upper_i) = total``: towns whose
    proportional share falls outside their bounds get the bound, and what they free or need
    is re-spread over the others in proportion to their weights, until nothing moves. Solved
    exactly in O(n log n) from the sorted breakpoints of the piecewise-linear total.

    Returns the amounts (float yuan) and λ (yuan per unit of weight).

    Raises
    ------
    InfeasibleError
        When the lower bounds need more than *total*, or the upper bounds allow less.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = w.size
    lo = np.zeros(n) if lower is None else np.maximum(np.asarray(lower, dtype=np.float64), 0.0)
    hi = np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
    names = list(codes) if codes is not None else [str(i) for i in range(n)]
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite and >= 0")
    crossed = lo > hi
    if np.any(crossed):
        bad = tuple(names[i] for i in np.flatnonzero(crossed))
        raise InfeasibleError(
            [
                Conflict(
                    f"{len(bad)} town(s) have a lower bound above their upper bound: "
                    f"{', '.join(bad[:10])}",
                    constraints=("growth_control",),
                    towns=bad,
                )
            ]
        )
    need, room = float(lo.sum()), float(hi.sum())
    if need > total * (1 + 1e-12):
        raise InfeasibleError(
            [
                Conflict(
                    f"the growth-control floors need {need:,.0f} yuan "
                    f"but the fund is {total:,.0f} yuan",
                    constraints=("fund", "growth_control.floor"),
                    required=need,
                    available=float(total),
                )
            ]
        )
    if room < total * (1 - 1e-12):
        raise InfeasibleError(
            [
                Conflict(
                    f"the growth-control caps allow at most {room:,.0f} yuan but the fund is "
                    f"{total:,.0f} yuan",
                    constraints=("fund", "growth_control.cap"),
                    required=float(total),
                    available=room,
                )
            ]
        )

    free = (w > 0) & (hi > lo)
    x = lo.copy()  # towns with zero weight, or lower == upper, stay at their lower bound
    remaining = total - float(x[~free].sum())
    wf, lof, hif = w[free], lo[free], hi[free]
    if wf.size == 0:
        if abs(remaining) > 0.5:
            raise InfeasibleError(
                [
                    Conflict(
                        f"{remaining:,.0f} yuan are left and no town can take them "
                        "(all weights are zero or every town is at its bound)",
                        constraints=("fund",),
                        required=float(total),
                        available=float(x.sum()),
                    )
                ]
            )
        return x, 0.0
    lam = CappedPath.of(wf, lof, hif).scale(remaining)
    x[free] = np.clip(lam * wf, lof, hif)
    return x, lam
