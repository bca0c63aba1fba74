"""The least and the most total the constraints of a model allow, and what sets each end.

Shared by :func:`~townfiscal.fund_range` (which adds the policy's growth control) and the
infeasibility diagnosis of :func:`~townfiscal.allocate` (which names the family that caps
or floors the total when a fund lies just outside). See :mod:`townfiscal.optimize._range`
for what the ends mean.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from townfiscal._errors import Conflict, InfeasibleError
from townfiscal.optimize._context import FloatArray
from townfiscal.optimize._model import (
    Assembly,
    _propagate_order,
    _rows,
    prechecks,
    tightest_bounds,
)

__all__ = ["NONNEG", "fund_ends", "whole_unit_ends"]

NONNEG = "non-negativity"
_TOL = 1e-7


def _free_bounds(asm: Assembly) -> tuple[FloatArray, FloatArray, Any, Any]:
    """Per-town bounds and their families without the reference fund's cap, in units."""
    lo, hi, lo_fam, hi_fam = tightest_bounds(asm.bounds, asm.n, np.inf, _TOL)
    return asm.to_units(lo, True), asm.to_units(hi, False), lo_fam, hi_fam


def _families(values: Any) -> tuple[str, ...]:
    return tuple(str(f) for f in dict.fromkeys(np.asarray(values, dtype=object).tolist()) if f)


def _bounds_only(asm: Assembly, lo: FloatArray, hi: FloatArray, lo_fam: Any, hi_fam: Any
                 ) -> tuple[float, float, tuple[str, ...], tuple[str, ...]]:
    plo, phi = lo.copy(), hi.copy()
    lo_by: list[str] = []
    hi_by: list[str] = []
    for o in asm.orderings:
        nlo, nhi, _ = _propagate_order(asm, o, plo, phi)
        if np.any(nlo > plo + _TOL):
            lo_by.append(o.family)
        if np.any(nhi < phi - _TOL):
            hi_by.append(o.family)
        plo, phi = nlo, nhi
    pos = plo > 0
    least_by = _families(lo_fam[pos & (lo > 0)]) + tuple(lo_by)
    most_by = _families(hi_fam[np.isfinite(hi)]) + tuple(hi_by)
    most = float(phi.sum())
    if not math.isfinite(most):
        most_by = ()
    return float(plo.sum()), most, least_by or (NONNEG,), most_by


def _linear(asm: Assembly, lo: FloatArray, hi: FloatArray, lo_fam: Any, hi_fam: Any
            ) -> tuple[float, float, tuple[str, ...], tuple[str, ...]]:
    import scipy.sparse as sp
    from scipy.optimize import linprog

    rows = _rows(asm, with_objective_rows=False)
    a = sp.hstack([rows.a_town, rows.a_aux], format="csr")[1:]  # without the fund's row
    rlo, rhi, fam = rows.lower[1:], rows.upper[1:], rows.family[1:]
    n, k = asm.n, rows.a_aux.shape[1]
    aux_hi = rows.aux_upper.copy()
    sep = np.array([".separator[" in s for s in rows.aux_names], dtype=bool)
    aux_hi[sep] = np.inf  # the separators' reference-fund cap is no constraint of the user's
    eq = np.isfinite(rlo) & np.isfinite(rhi) & (np.abs(rhi - rlo) <= _TOL)
    up = np.isfinite(rhi) & ~eq
    dn = np.isfinite(rlo) & ~eq
    a_ub = sp.vstack([a[np.flatnonzero(up)], -a[np.flatnonzero(dn)]], format="csr")
    b_ub = np.concatenate([rhi[up], -rlo[dn]])
    ub_fam = np.concatenate([fam[up], fam[dn]])
    scale = 10_000.0  # money in 万元, as the allocator's programs: HiGHS's tolerances in yuan
    col_lo = np.concatenate([lo, rows.aux_lower]) / scale
    col_hi = np.concatenate([hi, aux_hi]) / scale
    bounds = [(float(lb) if np.isfinite(lb) else None, float(ub) if np.isfinite(ub) else None)
              for lb, ub in zip(col_lo.tolist(), col_hi.tolist(), strict=True)]
    cost = np.concatenate([np.ones(n), np.zeros(k)])
    out: list[tuple[float, tuple[str, ...]]] = []
    for sign in (1.0, -1.0):
        res = linprog(sign * cost, A_ub=a_ub if a_ub.shape[0] else None,
                      b_ub=b_ub / scale if b_ub.size else None,
                      A_eq=a[np.flatnonzero(eq)] if eq.any() else None,
                      b_eq=rlo[eq] / scale if eq.any() else None,
                      bounds=bounds,
                      method="highs")
        if res.status == 3:  # unbounded: nothing caps the total
            out.append((math.inf, ()))
            continue
        if res.status == 2:
            conflicts = prechecks(attrs.evolve(asm, spend="at_most")) or [Conflict(
                "no amounts meet every constraint, whatever the fund",
                constraints=_families(fam))]
            raise InfeasibleError(conflicts, headline="no fund meets every constraint")
        if res.status != 0:  # pragma: no cover - HiGHS failed
            raise RuntimeError(f"HiGHS could not bound the fund: {res.message}")
        tol = 1e-9 * max(n, 1)
        by: list[str] = []
        lower_m, upper_m = np.asarray(res.lower.marginals), np.asarray(res.upper.marginals)
        by += _families(lo_fam[np.abs(lower_m[:n]) > tol])
        by += _families(hi_fam[np.abs(upper_m[:n]) > tol])
        if a_ub.shape[0]:
            by += _families(ub_fam[np.abs(np.asarray(res.ineqlin.marginals)) > tol])
        if eq.any():
            by += _families(fam[eq][np.abs(np.asarray(res.eqlin.marginals)) > tol])
        if k:
            hit = (np.abs(lower_m[n:]) > tol) | (np.abs(upper_m[n:]) > tol)
            by += [str(s).split(".")[0] for s in np.asarray(rows.aux_names)[hit]]
        value = float(sign * res.fun) * scale
        named = tuple(f for f in dict.fromkeys(by) if f != NONNEG)
        out.append((value, named or ((NONNEG,) if sign > 0 else ())))
    (least, least_by), (most, most_by) = out
    return least, most, least_by, most_by


def fund_ends(asm: Assembly) -> tuple[float, float, tuple[str, ...], tuple[str, ...]]:
    """``(least, most, least_by, most_by)``: the least and the most ``Σ x`` that meet every
    constraint of *asm* but the fund, in yuan (``most`` is ``inf`` when nothing caps it), and
    the families holding each end. Exact: sums of the bounds after the orders are propagated
    when there are no group totals or rows, two linear programs (HiGHS) otherwise.

    Raises
    ------
    InfeasibleError
        When no amounts meet the constraints, whatever the fund.
    """
    lo, hi, lo_fam, hi_fam = _free_bounds(asm)
    if np.any(lo > hi + 1e-6):
        raise InfeasibleError(prechecks(asm), headline="no fund meets every constraint")
    rows_free = not asm.groups and not asm.aux_rows[: asm.constraint_aux]
    if rows_free:
        if any(_propagate_order(asm, o, lo, hi)[2] for o in asm.orderings):
            raise InfeasibleError(prechecks(asm), headline="no fund meets every constraint")
        return _bounds_only(asm, lo, hi, lo_fam, hi_fam)
    return _linear(asm, lo, hi, lo_fam, hi_fam)


def whole_unit_ends(least: float, most: float, unit: int) -> tuple[float, float]:
    """*least* and *most* rounded inward to whole rounding units; within a cent of a whole
    unit is that unit (the programs' ends carry HiGHS's tolerance). ``inf`` stays ``inf``."""
    lo = math.ceil((least - 0.01) / unit) * unit
    hi = math.floor((most + 0.01) / unit) * unit if math.isfinite(most) else math.inf
    return float(lo), float(hi)
