"""Exact rounding of real amounts to whole units that keeps the total and every bound."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from townfiscal._errors import Conflict, InfeasibleError, Problem, ValidationError

__all__ = ["rebalance_groups", "round_to_total"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Amounts within this many yuan of a whole unit count as that unit (float64 noise from a solver).
_TOLERANCE = 1e-6
# The most yuan the amounts and the total may come to (their absolute values summed): below it
# every partial sum of whole units is exact in float64.
_MAX_EXACT = float(2**52)


def round_to_total(
    x: npt.ArrayLike,
    total: int,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    unit: int = 1,
    *,
    codes: Sequence[str] | None = None,
) -> IntArray:
    """Round real amounts to whole multiples of *unit* that add up to *total* exactly.

    Largest-remainder rounding with bounds: every amount is first rounded down to a whole
    unit and moved inside its integer bounds (``lower`` rounded up, ``upper`` rounded down to
    the unit); then the units still missing (or in excess) are handed out one at a time to the
    amounts with the largest (smallest) remainders that have room. Ties go to the larger
    amount, then to the earlier position, so the result is deterministic and an ordering of
    the real amounts (``x[i] >= x[j]``) survives whenever the bounds allow it. The units are
    handed out in O(n log n), however far the amounts are from the total: the work never
    depends on the amounts' magnitude.

    Parameters
    ----------
    x:
        Real amounts, yuan (float64). They need not be within the bounds exactly.
    total:
        The exact total, yuan; a multiple of *unit*.
    lower, upper:
        Optional per-amount bounds, yuan (``nan`` or ``±inf`` where there is none).
    unit:
        The rounding unit, yuan (1 for whole yuan, 10,000 for 万元).
    codes:
        Town codes, used only to name towns in an error.

    Returns
    -------
    numpy.ndarray of int64 yuan, each a multiple of *unit*, summing to *total*.

    Raises
    ------
    InfeasibleError
        When *total* is not a multiple of *unit*, a bound pair leaves no whole unit between
        them, or the bounds cannot reach *total*.
    ValidationError
        When the amounts (rounded down into their bounds) and the total come to more than
        2**52 yuan in absolute value, where float64 no longer holds whole yuan exactly.

    Examples
    --------
    >>> round_to_total([1.5, 1.5, 1.0], 4).tolist()
    [2, 1, 1]
    >>> round_to_total([15_000.0, 25_000.0], 40_000, unit=10_000).tolist()
    [10000, 30000]
    """
    values = np.asarray(x, dtype=np.float64)
    n = values.shape[0]
    if unit < 1 or int(unit) != unit:
        raise ValueError(f"the rounding unit must be a positive whole number of yuan, got {unit!r}")
    unit = int(unit)
    total = int(total)
    names = list(codes) if codes is not None else [str(i) for i in range(n)]
    if total % unit:
        raise InfeasibleError(
            [
                Conflict(
                    f"the total {total:,} yuan is not a whole number of {unit:,}-yuan units",
                    constraints=("fund", "rounding"),
                    required=float(total),
                )
            ]
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("amounts to round must be finite")

    lo_units = _bound_units(lower, n, unit, np.ceil, -np.inf)
    hi_units = _bound_units(upper, n, unit, np.floor, np.inf)
    empty = lo_units > hi_units
    if np.any(empty):
        bad = tuple(names[i] for i in np.flatnonzero(empty))
        raise InfeasibleError(
            [
                Conflict(
                    f"{len(bad)} amount(s) have no whole {unit:,}-yuan unit between their lower "
                    f"and upper bound: {', '.join(bad[:10])}{' …' if len(bad) > 10 else ''}",
                    constraints=("rounding", "bounds"),
                    towns=bad,
                )
            ]
        )
    target_units = total // unit
    scaled = values / unit
    base = np.floor(scaled + _TOLERANCE)
    base = np.minimum(np.maximum(base, lo_units), hi_units)
    magnitude = float(np.abs(base).sum()) * unit + (
        float(abs(total)) if abs(total) < 10**300 else math.inf)
    if not magnitude <= _MAX_EXACT:
        raise ValidationError([Problem(
            f"the amounts and the total come to {magnitude:.3g} yuan, beyond {_MAX_EXACT:.3g} "
            "(2**52) yuan, where float64 arithmetic no longer holds whole yuan exactly",
            column="amounts", value=float(magnitude))], what="amounts to round")
    remainder = scaled - base

    missing = target_units - float(base.sum())
    if missing > 0:
        room = hi_units - base
        if float(np.sum(np.minimum(room, missing))) < missing:
            raise _cannot_reach(total, float(np.sum(hi_units)) * unit, "upper")
        base = _hand_out(base, remainder, scaled, room, int(missing), +1.0)
    elif missing < 0:
        room = base - lo_units
        if float(np.sum(np.minimum(room, -missing))) < -missing:
            raise _cannot_reach(total, float(np.sum(lo_units)) * unit, "lower")
        base = _hand_out(base, -remainder, -scaled, room, int(-missing), -1.0)
    return base.astype(np.int64) * unit


def _bound_units(
    bound: npt.ArrayLike | None,
    n: int,
    unit: int,
    to_whole: np.ufunc,
    default: float,
) -> FloatArray:
    if bound is None:
        return np.full(n, default)
    b = np.broadcast_to(np.asarray(bound, dtype=np.float64), (n,))
    b = np.where(np.isnan(b), default, b)
    shift = -_TOLERANCE if to_whole is np.ceil else _TOLERANCE
    with np.errstate(invalid="ignore"):
        out: FloatArray = np.where(np.isfinite(b), to_whole(b / unit + shift), b)
    return out


def _hand_out(
    base: FloatArray,
    key: FloatArray,
    tiebreak: FloatArray,
    room: FloatArray,
    count: int,
    step: float,
) -> FloatArray:
    """Give *count* steps of one unit, at most *room* to each amount, largest *key* first.

    The steps go out in passes: each pass gives one step to every amount with room left,
    largest *key* first (ties: larger *tiebreak*, then earlier position), and only the last
    pass runs out before it reaches them all. That result is computed at once, in
    O(n log n) whatever *count* and the rooms are: ``R`` full passes give each amount
    ``min(room, R)``, where ``R`` is the most passes with ``Σ min(room, R) <= count`` (read
    off the sorted rooms), and the steps left over go to the first amounts, in key order,
    among those with room past ``R``. *count* must not exceed ``Σ room`` (the caller checks).
    """
    out = base.copy()
    if count <= 0 or base.size == 0:
        return out
    # no amount can take more than count steps: capping makes every room finite
    r = np.clip(room, 0.0, float(count))
    if count <= int(np.count_nonzero(r)):  # the usual case: one pass, not even a full one
        passes, extra = 0.0, count
    else:
        srt = np.sort(r)
        m = srt.size
        prefix = np.concatenate([[0.0], np.cumsum(srt)[:-1]])
        # steps given after srt[j] full passes: the rooms below it in full, srt[j] for the rest
        given_at = prefix + srt * (m - np.arange(m))
        k = int(np.searchsorted(given_at, float(count), side="right"))
        r0, g0 = (float(srt[k - 1]), float(given_at[k - 1])) if k else (0.0, 0.0)
        left = m - int(np.searchsorted(srt, r0, side="right"))  # amounts with room past r0
        passes, extra = r0, 0
        if left:
            more, extra = divmod(int(count - g0), left)
            passes = r0 + more
    steps = np.minimum(r, passes)
    if extra:
        open_ = np.flatnonzero(r > passes)
        # lexsort sorts by the last key first: key (desc), then amount (desc), then position
        order = open_[np.lexsort((open_, -tiebreak[open_], -key[open_]))]
        steps[order[:extra]] += 1.0
    out += step * steps
    return out


def _cannot_reach(total: int, reachable: float, side: str) -> InfeasibleError:
    if side == "upper":
        msg = f"the upper bounds allow at most {reachable:,.0f} yuan, below the total {total:,}"
    else:
        msg = f"the lower bounds need at least {reachable:,.0f} yuan, above the total {total:,}"
    return InfeasibleError(
        [Conflict(msg, constraints=("fund", "bounds"), required=float(total), available=reachable)]
    )


def rebalance_groups(
    amounts: npt.ArrayLike,
    x: npt.ArrayLike,
    groups: npt.ArrayLike,
    group_lower: npt.ArrayLike,
    group_upper: npt.ArrayLike,
    *,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    unit: int = 1,
    priority: npt.ArrayLike | None = None,
    ranks: Sequence[npt.ArrayLike] = (),
) -> IntArray | None:
    """Move whole units between rounded amounts so that every group total is within bounds.

    After :func:`round_to_total`, the totals of groups of amounts (per city, say) may leave
    their bounds even though the real amounts *x* met them. This moves single units from a
    group over its upper bound to amounts elsewhere (largest remainders first), and into a
    group under its lower bound from elsewhere (smallest remainders first). The overall total
    is unchanged, each amount stays *x* rounded down or up to the unit and within its own
    bounds, and no other group is pushed out of its bounds.

    Parameters
    ----------
    amounts:
        The rounded amounts, yuan (multiples of *unit*).
    x:
        The real amounts they were rounded from, yuan.
    groups:
        Group index of each amount (``-1``: in no group).
    group_lower, group_upper:
        Bounds on each group's total, yuan (``±inf``: none).
    lower, upper:
        Bounds on each amount, yuan.
    unit:
        The rounding unit, yuan.
    priority:
        Tie-break among equal remainders: amounts with a smaller priority get a unit first
        and lose one last (pass the order of need so that an order among equal amounts
        survives).
    ranks:
        Weak orders to keep: for each, a rank per amount (0 = first, ``-1`` = outside); an
        amount of a lower rank must stay at least every amount of a higher rank. A unit
        only moves where the orders still hold afterwards.

    Returns
    -------
    The rebalanced amounts (int64 yuan), or ``None`` when single-unit moves cannot bring
    every group within its bounds (the caller then needs an integer program).

    Examples
    --------
    >>> rebalance_groups([2, 2, 1], [1.5, 1.5, 1.0], [0, 0, 1], [-np.inf, -np.inf],
    ...                  [3, np.inf]).tolist()
    [2, 1, 2]
    """
    a = np.asarray(amounts, dtype=np.float64) / unit
    v = np.asarray(x, dtype=np.float64) / unit
    n = a.size
    g = np.asarray(groups, dtype=np.int64)
    ng = int(np.asarray(group_upper).size)
    g_lo = _bound_units(group_lower, ng, unit, np.ceil, -np.inf)
    g_hi = _bound_units(group_upper, ng, unit, np.floor, np.inf)
    lo = np.maximum(_bound_units(lower, n, unit, np.ceil, -np.inf), np.floor(v + _TOLERANCE))
    hi = np.minimum(_bound_units(upper, n, unit, np.floor, np.inf), np.floor(v + _TOLERANCE) + 1)
    rem = v - np.floor(v + _TOLERANCE)
    prio = np.arange(n) if priority is None else np.asarray(priority)
    inside = g >= 0
    orders = [np.asarray(r, dtype=np.int64) for r in ranks]
    sums = np.bincount(g[inside], weights=a[inside], minlength=ng)
    for direction in (+1, -1):
        # +1: groups over their upper bound give units away; -1: groups under their lower take
        excess = (sums - g_hi) if direction > 0 else (g_lo - sums)
        bad = np.flatnonzero(excess > 0.5)
        if bad.size == 0:
            continue
        in_bad = inside & np.isin(g, bad)
        # inside the bad groups: who moves (down for +1, up for -1), best candidates first
        movable = in_bad & ((a - 1 >= lo) if direction > 0 else (a + 1 <= hi))
        cand = np.flatnonzero(movable)
        key = rem[cand] if direction > 0 else -rem[cand]
        cand = cand[np.lexsort((-prio[cand] if direction > 0 else prio[cand], key))]
        cand = cand[_order_allows(a, cand, -direction, orders)]
        taken = _take_per_group(cand, g, np.maximum(excess, 0.0))
        if taken.size < round(float(np.maximum(excess[bad], 0).sum())):
            return None
        a[taken] -= direction
        # elsewhere: the opposite move, respecting the other groups' room and the orders
        room = (g_hi - sums) if direction > 0 else (sums - g_lo)
        room = np.where(np.isin(np.arange(ng), bad), 0.0, np.maximum(room, 0.0))
        other = ~in_bad & ((a + 1 <= hi) if direction > 0 else (a - 1 >= lo))
        cand2 = np.flatnonzero(other)
        key2 = -rem[cand2] if direction > 0 else rem[cand2]
        cand2 = cand2[np.lexsort((prio[cand2] if direction > 0 else -prio[cand2], key2))]
        cand2 = cand2[_order_allows(a, cand2, direction, orders)]
        given = _take_per_group(cand2, g, room)[: taken.size]
        if given.size < taken.size:
            return None
        a[given] += direction
        sums = np.bincount(g[inside], weights=a[inside], minlength=ng)
    if np.any(sums > g_hi + 0.5) or np.any(sums < g_lo - 0.5):
        return None
    return a.astype(np.int64) * unit


def _order_allows(a: FloatArray, cand: IntArray, step: int, orders: Sequence[IntArray]
                  ) -> npt.NDArray[np.bool_]:
    """Which candidates may move by ``step`` units with every weak order still holding.

    Moving down is allowed when no amount of a higher rank (later in the order) would then
    exceed it; moving up when no amount of a lower rank would then fall below it. A batch
    moves in one direction only, and of two candidates in one chain only the later (down)
    or the earlier (up) passes, so the batch as a whole keeps the orders too.
    """
    ok = np.ones(cand.size, dtype=bool)
    for rank in orders:
        inside = rank >= 0
        if inside.sum() < 2 or cand.size == 0:
            continue
        k = int(rank[inside].max()) + 1
        gmax = np.full(k, -np.inf)
        gmin = np.full(k, np.inf)
        np.maximum.at(gmax, rank[inside], a[inside])
        np.minimum.at(gmin, rank[inside], a[inside])
        later_max = np.concatenate([np.maximum.accumulate(gmax[::-1])[::-1][1:], [-np.inf]])
        earlier_min = np.concatenate([[np.inf], np.minimum.accumulate(gmin)[:-1]])
        r = np.maximum(rank[cand], 0)
        new = a[cand] + step
        fine = new >= later_max[r] if step < 0 else new <= earlier_min[r]
        ok &= (rank[cand] < 0) | fine
    return ok


def _take_per_group(cand: IntArray, group: IntArray, room: FloatArray) -> IntArray:
    """The candidates (in order) that fit their group's room; ungrouped ones always fit."""
    if cand.size == 0:
        return cand
    g = group[cand]
    order = np.argsort(g, kind="stable")
    gs = g[order]
    starts = np.r_[0, np.flatnonzero(np.diff(gs)) + 1]
    sizes = np.diff(np.r_[starts, gs.size])
    occurrence = np.empty(cand.size, dtype=np.int64)
    occurrence[order] = np.arange(gs.size) - np.repeat(starts, sizes)
    limit = np.where(g >= 0, room[np.maximum(g, 0)], np.inf)
    out: IntArray = cand[occurrence < limit - 0.5]
    return out
