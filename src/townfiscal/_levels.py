"""The level of a clipped linear response: ``Σ_i clip(c_i + μ·w_i, lo_i, hi_i) = v``, per group.

Both the growth control of the rules (amounts in proportion to weights, within bounds) and the
allocator's default objective (every town scaled alike, within its bounds) come down to this
one search. The total is continuous, piecewise linear and non-decreasing in ``μ``; its
breakpoints are where a town reaches a bound. Sorting them once per group and accumulating
the slopes gives the exact ``μ`` in O(n log n), for every group at once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["levels", "response"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def response(mu: FloatArray | float, center: FloatArray, width: FloatArray, lower: FloatArray,
             upper: FloatArray) -> FloatArray:
    """``clip(c_i + μ_i·w_i, lo_i, hi_i)``; a town of zero width stays at ``clip(c_i)``.

    ``μ`` may be ``±inf`` (every town at its lower or upper bound).

    Example::

        >>> import numpy as np
        >>> response(0.5, np.ones(2), np.array([2.0, 0.0]), np.zeros(2), np.full(2, 1.5)).tolist()
        [1.5, 1.0]
    """
    mu = np.broadcast_to(np.asarray(mu, dtype=np.float64), center.shape)
    with np.errstate(invalid="ignore"):
        moved = np.where(width > 0, center + mu * width, center)
    out: FloatArray = np.minimum(np.maximum(moved, lower), upper)
    return out


def levels(center: npt.ArrayLike, width: npt.ArrayLike, lower: npt.ArrayLike,
           upper: npt.ArrayLike, group: npt.ArrayLike, values: npt.ArrayLike) -> FloatArray:
    """Per group ``g``, the ``μ_g`` at which ``Σ_{group_i = g} clip(c_i + μ w_i, lo_i, hi_i)``
    equals ``values[g]``.

    ``width`` must be ``>= 0`` and ``lower`` finite; ``upper`` may be ``inf``. A town with
    ``group_i < 0`` belongs to no group. Where ``values[g]`` is at or below the group's least
    total (every town at its lower bound) the answer is ``-inf``; where it is above the
    greatest total, ``+inf``. Between, it is exact up to rounding in float64: the smallest
    ``μ`` that reaches the value.

    Example::

        >>> import numpy as np
        >>> levels([1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [np.inf, 2.5], [0, 0], [4.5]).tolist()
        [1.0]
    """
    c = np.asarray(center, dtype=np.float64)
    w = np.asarray(width, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    grp = np.asarray(group, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    ng = v.size
    inside = grp >= 0
    moving = inside & (w > 0) & (hi > lo)
    fixed = inside & ~moving
    # the least total: moving towns at their lower bound, the others where they are fixed
    base = np.bincount(grp[moving], weights=lo[moving], minlength=ng) + np.bincount(
        grp[fixed], weights=response(0.0, c[fixed], w[fixed], lo[fixed], hi[fixed]),
        minlength=ng)
    idx = np.flatnonzero(moving)
    a = (lo[idx] - c[idx]) / w[idx]
    b = (hi[idx] - c[idx]) / w[idx]
    top = np.isfinite(b)
    pos = np.concatenate([a, b[top]])
    dslope = np.concatenate([w[idx], -w[idx][top]])
    dopen = np.concatenate([np.ones(idx.size, dtype=np.int64), -np.ones(int(top.sum()),
                                                                      dtype=np.int64)])
    egrp = np.concatenate([grp[idx], grp[idx][top]])
    order = np.lexsort((pos, egrp))
    pos, dslope, dopen, egrp = pos[order], dslope[order], dopen[order], egrp[order]
    out = np.full(ng, -np.inf)
    if pos.size == 0:
        out[v > base] = np.inf
        return out
    first = np.ones(pos.size, dtype=bool)
    first[1:] = egrp[1:] != egrp[:-1]
    starts = np.flatnonzero(first)
    seg_id = np.cumsum(first) - 1
    # slope after each event, accumulated within its group
    cum = np.cumsum(dslope)
    lengths = np.diff(np.append(starts, pos.size))
    slope = cum - np.repeat(np.concatenate([[0.0], cum[starts[1:] - 1]]), lengths)
    # towns still moving after each event (an exact count: no slope is zero by rounding)
    open_ = np.cumsum(dopen)
    open_ = open_ - np.repeat(np.concatenate([[0], open_[starts[1:] - 1]]), lengths)
    slope = np.where(open_ > 0, np.maximum(slope, 0.0), 0.0)
    gap = np.diff(pos, prepend=pos[0])
    gap[first] = 0.0
    rise = np.concatenate([[0.0], slope[:-1]]) * gap
    rise[first] = 0.0
    cum_rise = np.cumsum(rise)
    total = base[egrp] + cum_rise - np.repeat(cum_rise[starts], lengths)
    below = total <= v[egrp]
    count = np.bincount(seg_id, weights=below, minlength=starts.size).astype(np.int64)
    groups_with = egrp[starts]
    has = count > 0
    k = starts[has] + count[has] - 1
    g = groups_with[has]
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(slope[k] > 0, pos[k] + (v[g] - total[k]) / slope[k],
                      np.where(v[g] <= total[k], pos[k], np.inf))
    out[g] = mu
    # a group whose towns are all fixed: reachable only at its one total
    none = np.setdiff1d(np.arange(ng), groups_with)
    out[none] = np.where(v[none] > base[none], np.inf, -np.inf)
    # at or below the least total the lower bounds hold every town
    out[v <= base] = -np.inf
    return out
