"""The proportional optimum under an order: isotonic regression inside the fund's search.

Where the model is the default objective Σ (x − t)² / t, per-town bounds, the fund and
one weak order (``NeedOrder``, ``TierOrder``: a needier town never gets less than a less
needy one), the optimum has a structure an interior point does not need to discover:

1. **The fund is a price.** With the fund's multiplier moved into the objective, each town
   wants ``λ·t_i`` (the same multiple of its target) and the order asks for the weighted
   *isotonic regression* of those wishes (weights ``1/t_i``) within the bounds. The amounts
   grow with ``λ``, piecewise linearly, and ``λ`` is the one scale at which they add up to
   the fund: Newton's steps on that total land on it exactly once in its last piece.
2. **A weak order is a chain for the optimum.** Inside one rank the towns are not ordered
   against each other, but at the optimum each gets its own wish, clipped to its bounds, and
   then to the rank's window, so its amount rises with that clipped wish. Sorting each rank
   by it makes a chain whose optimum is the weak order's. The sort depends on ``λ``, so sort
   and ``λ`` are repeated until they agree (at once when no bound cuts inside a rank); at
   that point the amounts are the weak order's Lagrangian optimum and add up to the fund,
   so they are optimal.
3. **Along a chain, bounds propagate and violators pool.** A town's cap holds for every
   less needy town and its floor for every needier one, so the bounds can be taken to fall
   along the chain. Pool-adjacent-violators then solves the bounded fit exactly: a block's
   best value is its weighted mean clipped to its first town's floor and its last town's
   cap, and two neighbouring blocks whose best values rise share one value at the optimum.
   All such runs are pooled at once, round after round, in array passes (:func:`bounded_pav`).

The answer is handed to the exact active-set finish
(:func:`~townfiscal.optimize._polish.polish`), which confirms the conditions of optimality
on the model as written and prices every row; if it cannot, the caller solves the quadratic
program instead. Pool-adjacent-violators for separable convex costs on a chain: M. J. Best,
N. Chakravarti and V. A. Ubhaya, "Minimizing separable convex functions subject to simple
chain constraints", *SIAM J. Optim.* 10 (2000) 658–672.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np
from numpy.typing import NDArray

from townfiscal._levels import levels
from townfiscal.optimize._model import _propagate_order

if TYPE_CHECKING:
    from townfiscal.optimize._model import Assembly

__all__ = ["OrderedOptimum", "bounded_pav", "ordered_optimum", "scalable"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_MAX_ROUNDS = 12  # sorts within the ranks
_MAX_STEPS = 200  # Newton's steps on λ


@attrs.frozen(eq=False)
class OrderedOptimum:
    """The amounts (yuan), the fund's scale ``λ``, the separators' values (yuan, one per
    boundary between consecutive ranks) and the rounds of sorting it took."""

    x: FloatArray
    scale: float
    separators: FloatArray
    rounds: int


def scalable(asm: Assembly) -> bool:
    """Whether every town's wish is a multiple of one vector, ``λ·w``: a quadratic objective
    whose every centre is its width (every target a yuan or more)."""
    if not asm.quadratics:
        return False
    center, width = asm.quadratic_terms()
    return bool(np.all(np.isfinite(width)) and np.all(width > 0)
                and np.all(np.abs(center - width) <= 1e-12 * width))


def ordered_optimum(asm: Assembly) -> OrderedOptimum | None:
    """The exact optimum of a :func:`scalable` objective under per-town bounds, the fund and
    ``asm``'s one order (its other rows are not read), or ``None`` if the sort within the
    ranks did not settle or the fund is out of reach (the caller then solves the quadratic
    program, which names what must give way)."""
    _center, width = asm.quadratic_terms()
    rank = asm.orderings[0].rank
    n = asm.n
    inside = rank >= 0
    idx = np.flatnonzero(inside)
    out = np.flatnonzero(~inside)
    lo, hi = asm.lower, asm.upper
    # bounds tightened by the order: no town above a needier town's cap, nor below a less needy
    # town's floor (the pre-checks have already reported any that cross)
    plo, phi, _ = _propagate_order(asm, asm.orderings[0], lo, hi)
    # the first guess of λ: the order left out
    lam = float(levels(np.zeros(n), width, plo, phi, np.zeros(n, dtype=np.int64),
                       [asm.fund])[0])
    if not np.isfinite(lam):
        return None
    chain = idx
    for rounds in range(1, _MAX_ROUNDS + 1):
        wish = np.clip(lam * width[idx], plo[idx], phi[idx])
        # needier ranks first; within a rank, the larger clipped wish first (then the larger
        # target, then the model order, so the chain does not depend on the row order's ties)
        chain = idx[np.lexsort((-width[idx], -wish, rank[idx]))]
        fit = _Fit(width[chain], np.maximum.accumulate(plo[chain][::-1])[::-1],
                   np.minimum.accumulate(phi[chain]), width[out], lo[out], hi[out])
        found = fit.scale(asm.fund, lam, at_most=asm.spend == "at_most")
        if found is None:
            return None
        settled = _settled(rank, chain, np.clip(found * width[chain], plo[chain], phi[chain]))
        lam = found
        if settled:
            x = np.empty(n)
            x[chain], x[out] = fit.amounts(lam)
            return OrderedOptimum(x, lam, _separators(rank, inside, x), rounds)
    return None


@attrs.frozen(eq=False)
class _Fit:
    """Amounts at a scale ``λ``: the bounded isotonic fit of ``λ·t`` along the chain (bounds
    monotone along it), and ``clip(λ·t, lo, hi)`` for the towns outside the order."""

    t: FloatArray
    lo: FloatArray
    hi: FloatArray
    t_out: FloatArray
    lo_out: FloatArray
    hi_out: FloatArray

    def amounts(self, lam: float) -> tuple[FloatArray, FloatArray]:
        """(chain amounts, outside amounts) at ``λ``."""
        v, count, _slope = bounded_pav(lam * self.t, 1.0 / self.t, self.lo, self.hi)
        return np.repeat(v, count), np.clip(lam * self.t_out, self.lo_out, self.hi_out)

    def total(self, lam: float) -> tuple[float, float]:
        """Σ amounts at ``λ`` and its slope dΣ/dλ there (from the right)."""
        v, count, free = bounded_pav(lam * self.t, 1.0 / self.t, self.lo, self.hi)
        x_out = np.clip(lam * self.t_out, self.lo_out, self.hi_out)
        inner = (lam * self.t_out >= self.lo_out) & (lam * self.t_out < self.hi_out)
        # a free block's value is λ·count / Σ(1/t): its towns move count²/Σ(1/t) per unit λ
        return (float(np.dot(v, count) + x_out.sum()),
                float(np.sum(free) + self.t_out[inner].sum()))

    def scale(self, fund: float, guess: float, *, at_most: bool) -> float | None:
        """The ``λ`` at which the amounts add up to ``fund``: Newton's steps on the piecewise
        linear total (each lands on the root once in its piece), kept inside a bracket."""
        if at_most and self.total(1.0)[0] <= fund:
            return 1.0
        low, high = 0.0, np.inf
        lam = max(guess, 1e-300)
        tol = 1e-13 * max(1.0, abs(fund))
        for _ in range(_MAX_STEPS):
            total, slope = self.total(lam)
            if abs(total - fund) <= tol:
                return lam
            if total < fund:
                low = lam
            else:
                high = lam
            step = lam + (fund - total) / slope if slope > 0 else np.nan
            if low < step < high:
                lam = step
            elif np.isfinite(high):
                lam = 0.5 * (low + high)
            else:
                lam = 2.0 * lam
            if np.isfinite(high) and high - low <= 1e-15 * high:
                return lam
        return None


def bounded_pav(y: FloatArray, w: FloatArray, lo: FloatArray, hi: FloatArray,
                max_rounds: int | None = None
                ) -> tuple[FloatArray, NDArray[np.int64], FloatArray]:
    """The weighted least-squares fit to ``y`` that falls along the array, within bounds that
    fall along it too: ``min Σ w (x − y)²``, ``x[0] ≥ x[1] ≥ …``, ``lo ≤ x ≤ hi``.

    Pool-adjacent-violators in parallel rounds: every run of adjacent blocks whose own best
    values rise is pooled at once (two neighbours whose best values rise share one value at
    the optimum, so each pooling is final), and a block's best value is its weighted mean
    clipped to its first town's floor and its last town's cap (the bounds fall along the
    chain). Each round is a few array passes over the blocks left; on the 41,352-unit need
    order it takes 27 rounds. A round that pools nothing ends the fit and every other round
    pools at least two blocks into one, so there are at most ``len(y)`` rounds whatever the
    values: *max_rounds* (default ``len(y)``) is that bound, and passing it raises.

    Returns the blocks' values, their sizes, and per block ``∂Σx/∂λ`` when ``y = λ·t`` and
    ``w = 1/t`` (``size² / Σw`` for a block no bound holds, else 0).
    """
    sw, swy = w.copy(), w * y
    blo, bhi = lo.copy(), hi.copy()
    count = np.ones(y.size, dtype=np.int64)
    rounds = y.size + 1 if max_rounds is None else max_rounds
    for _ in range(rounds):
        mean = swy / sw
        v = np.clip(mean, blo, bhi)
        rise = v[:-1] < v[1:]
        if not rise.any():
            free = (mean > blo) & (mean < bhi)
            return v, count, np.where(free, count * count / sw, 0.0)
        first = np.flatnonzero(np.concatenate([[True], ~rise]))
        last = np.concatenate([first[1:], [v.size]]) - 1
        sw = np.add.reduceat(sw, first)
        swy = np.add.reduceat(swy, first)
        count = np.add.reduceat(count, first)
        blo, bhi = blo[first], bhi[last]
    raise RuntimeError(f"pool-adjacent-violators did not settle in {rounds:,} rounds over "
                       f"{y.size:,} values (each round pools two blocks or ends: input with "
                       "NaN?)")


def _settled(rank: IntArray, chain: IntArray, wish: FloatArray) -> bool:
    """Whether the clipped wishes still fall (weakly) within every rank along ``chain``."""
    r = rank[chain]
    same = r[1:] == r[:-1]
    rise = wish[1:] > wish[:-1] * (1 + 1e-12) + 1e-9
    return not bool(np.any(same & rise))


def _separators(rank: IntArray, inside: NDArray[np.bool_], x: FloatArray) -> FloatArray:
    """A value between each rank's smallest amount and the next rank's largest: the
    separator columns of the model's order rows (``townfiscal.optimize._model``)."""
    g = int(rank[inside].max()) + 1 if inside.any() else 0
    r = rank[inside]
    if g < 2 or np.all(np.bincount(r, minlength=g) == 1):  # a chain has no separators
        return np.zeros(0)
    low = np.full(g, np.inf)
    np.minimum.at(low, r, x[inside])
    return low[:-1].copy()
