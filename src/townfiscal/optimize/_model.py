"""From the catalogue to one sparse matrix, and back.

:func:`assemble` compiles constraints and an objective into an :class:`Assembly` (the model
over the towns' amounts, in yuan); :func:`lower` turns it into a scaled
:class:`~townfiscal.optimize.LinearProblem`; :func:`prechecks` and :func:`elastic` explain
infeasibility; :func:`violations` checks amounts against every constraint.

The deviation objective is modelled without extra rows: each town's amount is its lower
bound plus bounded *segment* columns, one per piece of its piecewise-linear cost
(``x_i = l_i + Σ_j z_ij``, ``0 ≤ z_ij ≤ len_ij``, cost ``slope_ij``); since the costs are
convex the LP fills the segments in order. Per-town bounds become column bounds, orders a
chain (or separator variables where ranks tie), group totals one row per group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np
from numpy.typing import NDArray

from townfiscal._errors import Conflict
from townfiscal.optimize._constraints import Constraint, Rounding
from townfiscal.optimize._context import (
    AuxRows,
    FloatArray,
    GroupBounds,
    IntArray,
    ModelContext,
    Ordering,
    Quadratic,
    Separable,
    TownBounds,
)
from townfiscal.optimize._objectives import Objective
from townfiscal.optimize._problem import LinearProblem

if TYPE_CHECKING:  # imported where a sparse matrix is built, not with the module
    import scipy.sparse as sp

__all__ = [
    "Assembly",
    "Lowered",
    "assemble",
    "elastic_conflicts",
    "lower",
    "prechecks",
    "tightest_bounds",
    "violations",
]

FUND = "Fund"
_EPS = 1e-9
MarginFn = Callable[[ModelContext, FloatArray], FloatArray]


@attrs.frozen(eq=False)
class Assembly:
    """The model over the towns' amounts (yuan), before scaling and lowering.

    ``lower``/``upper`` are the effective per-town bounds (every :class:`TownBounds`
    family intersected with ``[0, fund]`` and tightened to whole rounding units);
    ``lower_family``/``upper_family`` name the family that sets each one ("" for none).
    """

    ctx: ModelContext
    fund: float
    spend: Literal["exact", "at_most"]
    unit: int
    bounds: tuple[TownBounds, ...]
    orderings: tuple[Ordering, ...]
    groups: tuple[GroupBounds, ...]
    aux_rows: tuple[AuxRows, ...]
    separables: tuple[Separable, ...]
    lower: FloatArray
    upper: FloatArray
    lower_family: NDArray[Any]
    upper_family: NDArray[Any]
    margins: tuple[tuple[str, MarginFn], ...] = ()
    constraint_aux: int = 0  # the first `constraint_aux` aux_rows are constraints
    quadratics: tuple[Quadratic, ...] = ()

    def quadratic_terms(self) -> tuple[FloatArray, FloatArray]:
        """The quadratic costs summed into one per town: ``(center, width)`` with
        ``Σ_k (x − t_k)² / w_k = (x − center)² / width + const``."""
        h = np.zeros(self.n)
        g = np.zeros(self.n)
        for q in self.quadratics:
            h += 1.0 / q.width
            g += q.target / q.width
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / h, 1.0 / h

    def quadratic_gradient(self, x: FloatArray) -> FloatArray:
        """∂(quadratic costs)/∂x_i, objective units per yuan (zeros without any)."""
        out = np.zeros(self.n)
        for q in self.quadratics:
            out += q.gradient(x)
        return out

    @property
    def n(self) -> int:
        """Number of towns."""
        return self.ctx.n

    def to_units(self, values: FloatArray, up: bool) -> FloatArray:
        """Bounds tightened to whole rounding units (``up``: lower bounds)."""
        u = float(self.unit)
        with np.errstate(invalid="ignore"):
            if up:
                return np.where(np.isfinite(values), np.ceil(values / u - 1e-9) * u, values)
            return np.where(np.isfinite(values), np.floor(values / u + 1e-9) * u, values)


def tightest_bounds(bounds: Sequence[TownBounds], n: int, cap: float, tol: float
                    ) -> tuple[FloatArray, FloatArray, NDArray[Any], NDArray[Any]]:
    """``(lower, upper, lower_family, upper_family)``: per town, the highest lower bound
    (at least 0) and the lowest upper bound (at most *cap*) of *bounds*, yuan, and the family
    that sets each ("" for none). A later bound takes an end only when it passes the one
    held by more than *tol*, so ties stay with the first family."""
    lo, hi = np.zeros(n), np.full(n, cap)
    lo_fam = np.full(n, "", dtype=object)
    hi_fam = np.full(n, "", dtype=object)
    for b in bounds:
        if b.lower is not None:
            v = np.where(np.isnan(b.lower), -np.inf, b.lower)
            take = v > lo + tol
            lo, lo_fam = np.where(take, v, lo), np.where(take, b.family, lo_fam)
        if b.upper is not None:
            v = np.where(np.isnan(b.upper), np.inf, b.upper)
            take = v < hi - tol
            hi, hi_fam = np.where(take, v, hi), np.where(take, b.family, hi_fam)
    return lo, hi, lo_fam, hi_fam


def _unique_names(items: Sequence[Constraint]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for c in items:
        base = c.name
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return out


def assemble(
    ctx: ModelContext,
    constraints: Sequence[Constraint],
    objective: Objective,
    *,
    spend: Literal["exact", "at_most"] = "exact",
) -> Assembly:
    """Compile the catalogue into an :class:`Assembly` over ``ctx``'s towns."""
    rounding = [c for c in constraints if isinstance(c, Rounding)]
    unit = int(rounding[-1].unit) if rounding else 1
    others = [c for c in constraints if not isinstance(c, Rounding)]
    names = _unique_names(others)
    bounds: list[TownBounds] = []
    orderings: list[Ordering] = []
    groups: list[GroupBounds] = []
    aux: list[AuxRows] = []
    margins: list[tuple[str, MarginFn]] = []
    for c, name in zip(others, names, strict=True):
        for p in c.compile(ctx):
            p = attrs.evolve(p, family=name)
            if isinstance(p, TownBounds):
                bounds.append(p)
            elif isinstance(p, Ordering):
                orderings.append(p)
            elif isinstance(p, GroupBounds):
                groups.append(p)
            elif isinstance(p, AuxRows):
                aux.append(p)
                margin = getattr(c, "margin", None)
                if margin is not None:
                    margins.append((name, margin))
            else:  # pragma: no cover - constraints do not emit costs
                raise TypeError(f"{name} compiled to an objective term")
    n_constraint_aux = len(aux)
    separables: list[Separable] = []
    quadratics: list[Quadratic] = []
    for p in objective.compile(ctx, 1.0):
        if isinstance(p, Separable):
            separables.append(p)
        elif isinstance(p, Quadratic):
            quadratics.append(p)
        elif isinstance(p, AuxRows):
            aux.append(p)
        else:  # pragma: no cover
            raise TypeError("objectives compile to costs and rows only")

    fund = float(ctx.fund)
    lo, hi, lo_fam, hi_fam = tightest_bounds(bounds, ctx.n, fund, _EPS * max(fund, 1.0))
    asm = Assembly(ctx, fund, spend, unit, tuple(bounds), tuple(orderings), tuple(groups),
                   tuple(aux), tuple(separables), lo, hi, lo_fam, hi_fam, tuple(margins),
                   n_constraint_aux, tuple(quadratics))
    # amounts are paid in whole units: tighten every bound to them (whole yuan at least)
    return attrs.evolve(asm, lower=asm.to_units(lo, True), upper=asm.to_units(hi, False))


# --------------------------------------------------------------------------- rows


@attrs.frozen(eq=False)
class _Rows:
    """Rows over [towns | aux] in yuan."""

    a_town: sp.csr_array
    a_aux: sp.csr_array
    lower: FloatArray
    upper: FloatArray
    family: NDArray[Any]
    aux_lower: FloatArray
    aux_upper: FloatArray
    aux_cost: FloatArray
    aux_names: tuple[str, ...]


def ordering_rows(rank: IntArray, n: int, fund: float) -> tuple[sp.csr_array, sp.csr_array,
                                                                  int]:
    """Rows ``≥ 0`` enforcing a weak order: a chain, or separators where ranks tie.

    Returns (town part, aux part, number of aux columns). O(n) rows and non-zeros.
    """
    import scipy.sparse as sp

    idx = np.flatnonzero(rank >= 0)
    if idx.size < 2:
        return sp.csr_array((0, n)), sp.csr_array((0, 0)), 0
    order = idx[np.argsort(rank[idx], kind="stable")]
    r = rank[order]
    g = int(r.max()) + 1
    sizes = np.bincount(r, minlength=g)
    if np.all(sizes == 1):
        k = order.size - 1
        rows = np.repeat(np.arange(k), 2)
        cols = np.stack([order[:-1], order[1:]], axis=1).ravel()
        vals = np.tile([1.0, -1.0], k)
        return sp.csr_array((vals, (rows, cols)), shape=(k, n)), sp.csr_array((k, 0)), 0
    # separator s_k between rank k and k + 1: x_i ≥ s_k (rank k), s_k ≥ x_j (rank k + 1).
    upper_side = order[r <= g - 2]
    lower_side = order[r >= 1]
    m1, m2 = upper_side.size, lower_side.size
    rows = np.arange(m1 + m2)
    town = sp.csr_array(
        (np.concatenate([np.ones(m1), -np.ones(m2)]),
         (rows, np.concatenate([upper_side, lower_side]))), shape=(m1 + m2, n))
    sep = np.concatenate([rank[upper_side], rank[lower_side] - 1])
    aux = sp.csr_array(
        (np.concatenate([-np.ones(m1), np.ones(m2)]), (rows, sep)), shape=(m1 + m2, g - 1))
    return town, aux, g - 1


def _rows(asm: Assembly, *, with_objective_rows: bool = True) -> _Rows:
    import scipy.sparse as sp

    n, fund = asm.n, asm.fund
    blocks: list[tuple[sp.csr_array, sp.csr_array, FloatArray, FloatArray, str]] = []
    aux_lo: list[FloatArray] = []
    aux_hi: list[FloatArray] = []
    aux_cost: list[FloatArray] = []
    aux_names: list[str] = []
    blocks.append((sp.csr_array(np.ones((1, n))), sp.csr_array((1, 0)),
                   np.array([fund if asm.spend == "exact" else -np.inf]), np.array([fund]),
                   FUND))
    for o in asm.orderings:
        town, aux, k = ordering_rows(o.rank, n, fund)
        m = town.shape[0]
        blocks.append((town, aux, np.zeros(m), np.full(m, np.inf), o.family))
        aux_lo.append(np.zeros(k))
        aux_hi.append(np.full(k, fund))
        aux_cost.append(np.zeros(k))
        aux_names += [f"{o.family}.separator[{i}]" for i in range(k)]
    for gb in asm.groups:
        member = np.flatnonzero(gb.group >= 0)
        ng = len(gb.names)
        town = sp.csr_array((np.ones(member.size), (gb.group[member], member)), shape=(ng, n))
        glo, ghi = asm.to_units(gb.lower, True), asm.to_units(gb.upper, False)
        blocks.append((town, sp.csr_array((ng, 0)), glo, ghi, gb.family))
    rows_aux = asm.aux_rows if with_objective_rows else asm.aux_rows[: asm.constraint_aux]
    for a in rows_aux:
        blocks.append((a.a_town, a.a_aux, a.lower, a.upper, a.family))
        aux_lo.append(a.aux_lower)
        aux_hi.append(a.aux_upper)
        aux_cost.append(a.aux_cost)
        aux_names += list(a.aux_names) or [f"{a.family}.aux[{i}]" for i in
                                          range(a.a_aux.shape[1])]
    k_total = sum(b[1].shape[1] for b in blocks)
    a_aux_parts = []
    offset = 0
    for b in blocks:
        coo = b[1].tocoo()
        a_aux_parts.append(sp.csr_array((coo.data, (coo.row, coo.col + offset)),
                                        shape=(coo.shape[0], k_total)))
        offset += coo.shape[1]
    family = np.concatenate([np.full(b[0].shape[0], b[4], dtype=object) for b in blocks])
    return _Rows(
        a_town=sp.csr_array(sp.vstack([b[0] for b in blocks], format="csr")),
        a_aux=sp.csr_array(sp.vstack(a_aux_parts, format="csr")),
        lower=np.concatenate([b[2] for b in blocks]),
        upper=np.concatenate([b[3] for b in blocks]),
        family=family,
        aux_lower=np.concatenate(aux_lo) if aux_lo else np.zeros(0),
        aux_upper=np.concatenate(aux_hi) if aux_hi else np.zeros(0),
        aux_cost=np.concatenate(aux_cost) if aux_cost else np.zeros(0),
        aux_names=tuple(aux_names),
    )


# --------------------------------------------------------------------------- lowering


@attrs.frozen(eq=False)
class Pwl:
    """Merged convex piecewise-linear cost per town: breakpoints (n, K), slopes (n, K+1)."""

    breakpoints: FloatArray
    slopes: FloatArray

    def right_slope(self, x: FloatArray, tol: float) -> FloatArray:
        """f'_+(x) per town."""
        k = np.sum(self.breakpoints <= x[:, None] + tol, axis=1)
        return np.take_along_axis(self.slopes, k[:, None], axis=1)[:, 0]

    def left_slope(self, x: FloatArray, tol: float) -> FloatArray:
        """f'_-(x) per town."""
        k = np.sum(self.breakpoints < x[:, None] - tol, axis=1)
        return np.take_along_axis(self.slopes, k[:, None], axis=1)[:, 0]


def merge_separables(pieces: Sequence[Separable], n: int) -> Pwl:
    """Sum convex piecewise-linear costs into one per town (vectorised)."""
    if not pieces:
        return Pwl(np.zeros((n, 0)), np.zeros((n, 1)))
    bp = np.sort(np.concatenate([p.breakpoints for p in pieces], axis=1), axis=1)
    left = np.concatenate([np.full((n, 1), -np.inf), bp], axis=1)  # left end of segment j
    slopes = np.zeros((n, bp.shape[1] + 1))
    for p in pieces:
        k = np.sum(p.breakpoints[:, None, :] <= left[:, :, None], axis=2)
        slopes += np.take_along_axis(p.slopes, k, axis=1)
    return Pwl(bp, slopes)


@attrs.frozen(eq=False)
class Lowered:
    """A :class:`LinearProblem` and how to map its solution back to yuan.

    ``x_yuan(z)`` gives the towns' amounts; ``row_dual_yuan(y)`` the row duals as
    objective units per yuan of the row's bound.
    """

    problem: LinearProblem
    rows: _Rows
    pwl: Pwl
    scale: float
    cost_scale: float
    explicit: bool
    seg_town: IntArray
    n_x: int  # leading columns that are towns' amounts (explicit mode), else 0
    n_aux: int
    base: FloatArray  # lower bounds of amounts (yuan), substitute mode

    def x_yuan(self, z: FloatArray) -> FloatArray:
        """Towns' amounts (yuan) from the column values ``z``."""
        n = self.base.size
        if self.explicit:
            return z[:n] * self.scale
        seg = z[: self.seg_town.size]
        return self.base + np.bincount(self.seg_town, weights=seg, minlength=n) * self.scale

    def aux_yuan(self, z: FloatArray) -> FloatArray:
        """Auxiliary columns' values (yuan)."""
        return z[z.size - self.n_aux:] * self.scale

    def row_dual_yuan(self, y: FloatArray) -> FloatArray:
        """∂objective/∂(row bound in yuan), objective in its own units."""
        return y[: self.rows.lower.size] * self.cost_scale / self.scale


def lower(asm: Assembly, *, scale: float = 10_000.0, integer: bool = False,
          linear_cost: FloatArray | None = None, with_objective_rows: bool = True,
          explicit: bool = False, named: bool = False, quadratic: bool = True) -> Lowered:
    """The :class:`LinearProblem` of ``asm`` with money in units of ``scale`` yuan.

    With ``integer=True`` the towns' amounts are explicit integer columns (whole units of
    ``scale``); otherwise they are substituted by segment columns. ``linear_cost`` replaces
    the objective by a linear cost per yuan of each town's amount. The quadratic costs
    (``quadratic=False`` leaves them out) become a diagonal Hessian on explicit amount columns.
    """
    import scipy.sparse as sp

    n = asm.n
    quad = quadratic and bool(asm.quadratics) and linear_cost is None and not integer
    rows = _rows(asm, with_objective_rows=with_objective_rows)
    s = float(scale)
    lo, hi = asm.lower, asm.upper
    if linear_cost is not None:
        pwl = Pwl(np.zeros((n, 0)), np.asarray(linear_cost, dtype=np.float64)[:, None])
    else:
        pwl = merge_separables(asm.separables, n)
    edges = np.concatenate([lo[:, None], np.clip(pwl.breakpoints, lo[:, None], hi[:, None]),
                            hi[:, None]], axis=1)
    lengths = np.diff(edges, axis=1)
    a_town_csc = rows.a_town.tocsc()
    k_aux = rows.a_aux.shape[1]
    aux_cost = rows.aux_cost * s
    explicit = explicit or integer or linear_cost is not None or quad
    if explicit and pwl.breakpoints.shape[1] == 0:
        matrix = sp.hstack([a_town_csc, rows.a_aux], format="csc")
        cost = np.concatenate([pwl.slopes[:, 0] * s, aux_cost])
        col_lo = np.concatenate([lo / s, rows.aux_lower / s])
        col_hi = np.concatenate([hi / s, rows.aux_upper / s])
        row_lo, row_hi = rows.lower / s, rows.upper / s
        seg_town = np.zeros(0, dtype=np.int64)
        n_x = n
    else:
        keep = lengths > _EPS * max(s, 1.0)
        seg_town, seg_j = np.nonzero(keep)
        seg_len = lengths[seg_town, seg_j]
        seg_cost = pwl.slopes[seg_town, seg_j] * s
        a_seg = a_town_csc[:, seg_town]
        if explicit:
            link_town = sp.csr_array(sp.eye_array(n, format="csr"))
            link_seg = sp.csr_array((-np.ones(seg_town.size), (seg_town, np.arange(seg_town.size))),
                                    shape=(n, seg_town.size))
            m = rows.lower.size
            top = sp.hstack([a_town_csc, sp.csc_array((m, seg_town.size)), rows.a_aux])
            bottom = sp.hstack([link_town, link_seg, sp.csc_array((n, k_aux))])
            matrix = sp.vstack([top, bottom], format="csc")
            cost = np.concatenate([np.zeros(n), seg_cost, aux_cost])
            col_lo = np.concatenate([lo / s, np.zeros(seg_town.size), rows.aux_lower / s])
            col_hi = np.concatenate([hi / s, seg_len / s, rows.aux_upper / s])
            row_lo = np.concatenate([rows.lower / s, lo / s])
            row_hi = np.concatenate([rows.upper / s, lo / s])
            n_x = n
        else:
            matrix = sp.hstack([a_seg, rows.a_aux], format="csc")
            shift = rows.a_town @ lo
            cost = np.concatenate([seg_cost, aux_cost])
            col_lo = np.concatenate([np.zeros(seg_town.size), rows.aux_lower / s])
            col_hi = np.concatenate([seg_len / s, rows.aux_upper / s])
            row_lo = (rows.lower - shift) / s
            row_hi = (rows.upper - shift) / s
            n_x = 0
    hessian = None
    if quad:
        # Σ (x − c)² / w with x = s·z: ½·(2 s² / w)·z² − (2 s c / w)·z + const
        center, width = asm.quadratic_terms()
        hessian = np.zeros(matrix.shape[1])
        hessian[:n] = 2.0 * s * s / width
        cost = cost.copy()
        cost[:n] += -2.0 * s * center / width
    biggest = float(np.max(np.abs(cost))) if cost.size else 0.0
    if hessian is not None:
        biggest = max(biggest, float(np.max(hessian)) if hessian.size else 0.0)
    cost_scale = biggest if biggest > 0 else 1.0
    integer_cols = None
    if integer:
        integer_cols = np.zeros(matrix.shape[1], dtype=bool)
        integer_cols[:n] = True
    families = tuple(dict.fromkeys(rows.family.tolist()))
    fam_index = {f: i for i, f in enumerate(families)}
    row_family = np.array([fam_index[f] for f in rows.family.tolist()], dtype=np.int64)
    if matrix.shape[0] > rows.lower.size:
        families = (*families, "link")
        row_family = np.concatenate([row_family, np.full(matrix.shape[0] - rows.lower.size,
                                                         len(families) - 1)])
    col_names = row_names = None
    if named:  # readable names for LP/MPS export
        codes = [str(c) for c in asm.ctx.codes]
        head = [f"x_{c}" for c in codes] if n_x else []
        segs = [f"seg_{codes[i]}_{j}" for i, j in zip(seg_town.tolist(), (
            np.nonzero(lengths > _EPS * max(s, 1.0))[1] if seg_town.size else []), strict=True)]
        aux = [_clean(a) for a in rows.aux_names]
        col_names = tuple(head + segs + aux)
        counter: dict[str, int] = {}
        names = []
        for f in [families[k] for k in row_family.tolist()]:
            counter[f] = counter.get(f, 0) + 1
            names.append(f"{_clean(f)}_{counter[f]}")
        row_names = tuple(names)
        if len(col_names) != matrix.shape[1]:  # pragma: no cover - defensive
            col_names = None
    problem = LinearProblem(
        cost=cost / cost_scale, matrix=matrix, row_lower=row_lo, row_upper=row_hi,
        col_lower=col_lo, col_upper=col_hi, integer=integer_cols, row_family=row_family,
        families=families, col_names=col_names, row_names=row_names,
        hessian=None if hessian is None else hessian / cost_scale)
    return Lowered(problem, rows, pwl, s, cost_scale, explicit, seg_town.astype(np.int64), n_x,
                   k_aux, lo if not explicit else np.zeros(n))


def _clean(name: str) -> str:
    """A name LP and MPS files accept (letters, digits, underscores)."""
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


# --------------------------------------------------------------------------- checks


def _fmt(v: float) -> str:
    return f"{v:,.0f}"


def _towns(ctx: ModelContext, mask: NDArray[np.bool_]) -> tuple[str, ...]:
    return tuple(str(c) for c in ctx.codes[mask])


def _examples(codes: Sequence[str], k: int = 3) -> str:
    more = f" and {len(codes) - k} more" if len(codes) > k else ""
    return ", ".join(codes[:k]) + more


def _family_bounds(asm: Assembly) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    lows: dict[str, FloatArray] = {}
    highs: dict[str, FloatArray] = {}
    for b in asm.bounds:
        if b.lower is not None:
            lows[b.family] = np.where(np.isnan(b.lower), -np.inf, b.lower)
        if b.upper is not None:
            highs[b.family] = np.where(np.isnan(b.upper), np.inf, b.upper)
    return lows, highs


def prechecks(asm: Assembly) -> list[Conflict]:
    """Cheap checks that name the common conflicts in the user's terms (before solving)."""
    ctx, fund, unit = asm.ctx, asm.fund, asm.unit
    out: list[Conflict] = []
    if int(fund) % unit:
        out.append(Conflict(
            f"the fund {_fmt(fund)} yuan is not a whole number of {unit:,}-yuan units",
            constraints=(FUND, "Rounding"), required=fund))
    lo, hi = asm.lower, asm.upper
    describe = {b.family: b.describe for b in asm.bounds}
    bad = lo > hi + 1e-6
    if np.any(bad):
        pairs = np.stack([asm.lower_family[bad], asm.upper_family[bad]], axis=1)
        for lf, uf in dict.fromkeys(map(tuple, pairs.tolist())):
            sel = bad & (asm.lower_family == lf) & (asm.upper_family == uf)
            codes = _towns(ctx, sel)
            i = int(np.flatnonzero(sel)[0])
            lname = lf or "non-negativity"
            uname = uf or FUND
            detail = (f"e.g. {codes[0]}: at least {_fmt(lo[i])} yuan but at most "
                      f"{_fmt(hi[i])} yuan")
            if unit > 1:
                detail += f" in whole {unit:,}-yuan units"
            ldesc, udesc = describe.get(lf, ""), describe.get(uf, "")
            out.append(Conflict(
                f"{lname}{f' ({ldesc})' if ldesc else ''} is above "
                f"{uname}{f' ({udesc})' if udesc else ''} for {len(codes)} town(s) "
                f"({_examples(codes)}); "
                f"{detail}",
                constraints=(lname, uname), required=float(lo[i]), available=float(hi[i]),
                towns=codes))
    if out:
        return out
    # the totals, with the order constraints propagated into the bounds
    plo, phi = lo.copy(), hi.copy()
    for o in asm.orderings:
        plo, phi, conflicts = _propagate_order(asm, o, plo, phi)
        out += conflicts
    if out:
        return out
    need = float(plo.sum())
    room = float(phi.sum())
    short = need > fund + 1e-6 * max(fund, 1.0)
    over = asm.spend == "exact" and room < fund - 1e-6 * max(fund, 1.0)
    allowed = _allowed_funds(asm, need) if short or over else ""
    if short:
        by_family: dict[str, float] = {}
        for fam in dict.fromkeys(asm.lower_family.tolist()):
            if fam:
                by_family[fam] = float(lo[asm.lower_family == fam].sum())
        parts = ", ".join(f"{f} {_fmt(v)}" for f, v in by_family.items())
        extra = float(need - lo.sum())
        if extra > 0.5:
            parts += f", order constraints {_fmt(extra)} more"
        fams = tuple(by_family) + tuple(o.family for o in asm.orderings if extra > 0.5)
        out.append(Conflict(
            f"the lower bounds need {_fmt(need)} yuan ({parts}) but the fund is {_fmt(fund)} "
            f"yuan{allowed}", constraints=(*fams, FUND), required=need, available=fund))
    if over:
        fams = tuple(f for f in dict.fromkeys(asm.upper_family.tolist()) if f)
        out.append(Conflict(
            f"the caps allow at most {_fmt(room)} yuan ({', '.join(fams) or 'no caps'}) but the "
            f"fund of {_fmt(fund)} yuan must be spent exactly{allowed}",
            constraints=(*fams, FUND), required=fund, available=room))
    for gb in asm.groups:
        out += _group_checks(asm, gb, plo, phi)
    return out


def _allowed_funds(asm: Assembly, need: float) -> str:
    """``"; the bounds and orders allow funds of X … Y yuan"``: the least and the most total
    of the per-town bounds (not capped by the fund) after the orders are propagated."""
    hi = asm.to_units(tightest_bounds(asm.bounds, asm.n, np.inf, 0.0)[1], False)
    lo = asm.lower.copy()
    for o in asm.orderings:
        lo, hi, _ = _propagate_order(asm, o, lo, hi)
    most = float(hi.sum())
    what = "the bounds and orders" + (" (before group totals and other rows)" if (
        asm.groups or asm.aux_rows[: asm.constraint_aux]) else "")
    span = (f"funds of {_fmt(need)} … {_fmt(most)} yuan" if np.isfinite(most)
            else f"funds of at least {_fmt(need)} yuan")
    return f"; {what} allow {span} (see tf.fund_range)"


def _propagate_order(asm: Assembly, o: Ordering, lo: FloatArray, hi: FloatArray
                     ) -> tuple[FloatArray, FloatArray, list[Conflict]]:
    """Tighten bounds by the order: a weaker town ≥ every stronger town's floor, etc."""
    rank = o.rank
    inside = rank >= 0
    if inside.sum() < 2:
        return lo, hi, []
    g = int(rank.max()) + 1
    glo = np.full(g, -np.inf)
    np.maximum.at(glo, rank[inside], lo[inside])
    ghi = np.full(g, np.inf)
    np.minimum.at(ghi, rank[inside], hi[inside])
    # strictly stronger groups' largest floor; strictly weaker groups' smallest cap
    stronger_lo = np.concatenate([np.maximum.accumulate(glo[::-1])[::-1][1:], [-np.inf]])
    weaker_hi = np.concatenate([[np.inf], np.minimum.accumulate(ghi)[:-1]])
    new_lo, new_hi = lo.copy(), hi.copy()
    new_lo[inside] = np.maximum(lo[inside], stronger_lo[rank[inside]])
    new_hi[inside] = np.minimum(hi[inside], weaker_hi[rank[inside]])
    bad = inside & (new_lo > hi + 1e-6)
    out = []
    if np.any(bad):
        codes = _towns(asm.ctx, bad)
        i = int(np.flatnonzero(bad)[0])
        # the stronger town whose floor it is
        cand = np.flatnonzero(inside & (rank > rank[i]) & (lo >= new_lo[i] - 1e-6))
        j = int(cand[0]) if cand.size else i
        cj = str(asm.ctx.codes[j])
        out.append(Conflict(
            f"{o.family} cannot hold for {len(codes)} town(s) ({_examples(codes)}): e.g. "
            f"{codes[0]} may get at most {_fmt(hi[i])} yuan ({asm.upper_family[i] or FUND}) but "
            f"the less needy {cj} must get at least {_fmt(lo[j])} yuan "
            f"({asm.lower_family[j] or 'floor'})",
            constraints=(o.family, str(asm.upper_family[i]), str(asm.lower_family[j])),
            required=float(lo[j]), available=float(hi[i]), towns=(*codes, cj)))
    return new_lo, new_hi, out


def _group_checks(asm: Assembly, gb: GroupBounds, lo: FloatArray, hi: FloatArray
                  ) -> list[Conflict]:
    out = []
    member = gb.group >= 0
    ng = len(gb.names)
    sum_lo = np.bincount(gb.group[member], weights=lo[member], minlength=ng)
    sum_hi = np.bincount(gb.group[member], weights=hi[member], minlength=ng)
    glo, ghi = asm.to_units(gb.lower, True), asm.to_units(gb.upper, False)
    tol = 1e-6 * max(asm.fund, 1.0)
    for k in np.flatnonzero(glo > ghi + tol):
        out.append(Conflict(f"{gb.family} for {gb.names[k]}: the lower total {_fmt(glo[k])} yuan "
                            f"is above the upper total {_fmt(ghi[k])} yuan",
                            constraints=(gb.family,), required=float(glo[k]),
                            available=float(ghi[k])))
    for k in np.flatnonzero(sum_lo > ghi + tol):
        codes = _towns(asm.ctx, gb.group == k)
        out.append(Conflict(
            f"{gb.family} for {gb.names[k]}: its towns' lower bounds need {_fmt(sum_lo[k])} yuan "
            f"but the total may be at most {_fmt(ghi[k])} yuan",
            constraints=(gb.family, *sorted({f for f in asm.lower_family[gb.group == k] if f})),
            required=float(sum_lo[k]), available=float(ghi[k]), towns=codes))
    for k in np.flatnonzero(sum_hi < glo - tol):
        codes = _towns(asm.ctx, gb.group == k)
        out.append(Conflict(
            f"{gb.family} for {gb.names[k]}: the total must be at least {_fmt(glo[k])} yuan but "
            f"its towns' caps allow {_fmt(sum_hi[k])} yuan",
            constraints=(gb.family, *sorted({f for f in asm.upper_family[gb.group == k] if f})),
            required=float(glo[k]), available=float(sum_hi[k]), towns=codes))
    # all groups' floors against the fund
    need = float(np.maximum(sum_lo, np.where(np.isfinite(glo), glo, -np.inf)).sum()
                 + lo[~member].sum())
    if need > asm.fund + tol and not out:
        out.append(Conflict(
            f"{gb.family}: the group minimums need {_fmt(need)} yuan but the fund is "
            f"{_fmt(asm.fund)} yuan", constraints=(gb.family, FUND), required=need,
            available=asm.fund))
    return out


def violations(asm: Assembly, amounts: FloatArray, *, tol: float = 1e-6) -> list[Conflict]:
    """Every constraint ``amounts`` (yuan per town) break, as conflicts (empty: all met)."""
    ctx = asm.ctx
    out: list[Conflict] = []
    total = float(np.sum(amounts))
    if asm.spend == "exact" and abs(total - asm.fund) > tol:
        out.append(Conflict(f"the amounts add up to {_fmt(total)} yuan, not the fund "
                            f"{_fmt(asm.fund)}", constraints=(FUND,), required=asm.fund,
                            available=total))
    if total > asm.fund + tol or np.any(amounts < -tol):
        out.append(Conflict("the amounts overspend the fund or go negative",
                            constraints=(FUND,), required=asm.fund, available=total))
    if asm.unit > 1 and np.any(np.mod(amounts, asm.unit) != 0):
        out.append(Conflict(f"amounts not in whole {asm.unit:,}-yuan units",
                            constraints=("Rounding",)))
    lows, highs = _family_bounds(asm)
    for fam, lo in lows.items():
        bad = amounts < lo - tol
        if np.any(bad):
            out.append(Conflict(f"{fam} broken for {int(bad.sum())} town(s)", constraints=(fam,),
                                towns=_towns(ctx, bad)))
    for fam, hi in highs.items():
        bad = amounts > hi + tol
        if np.any(bad):
            out.append(Conflict(f"{fam} broken for {int(bad.sum())} town(s)", constraints=(fam,),
                                towns=_towns(ctx, bad)))
    for o in asm.orderings:
        gmin, gmax, _ = _group_extremes(o.rank, amounts)
        broken = np.flatnonzero(gmin[:-1] < gmax[1:] - tol)
        if broken.size:
            out.append(Conflict(f"{o.family} broken between {broken.size} adjacent rank(s)",
                                constraints=(o.family,)))
    for gb in asm.groups:
        member = gb.group >= 0
        sums = np.bincount(gb.group[member], weights=amounts[member], minlength=len(gb.names))
        bad_g = (sums < gb.lower - tol) | (sums > gb.upper + tol)
        for k in np.flatnonzero(bad_g):
            out.append(Conflict(f"{gb.family} broken for {gb.names[k]}: total {_fmt(sums[k])}",
                                constraints=(gb.family,), towns=_towns(ctx, gb.group == k)))
    for fam, margin in asm.margins:
        m = margin(ctx, amounts)
        bad = m < -tol
        if np.any(bad):
            out.append(Conflict(f"{fam} broken for {int(bad.sum())} town(s)", constraints=(fam,),
                                towns=_towns(ctx, bad)))
    return out


def _group_extremes(rank: IntArray, x: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """Per rank: min and max of x (ranks with no town: +inf / -inf)."""
    inside = rank >= 0
    g = int(rank[inside].max()) + 1 if inside.any() else 0
    gmin = np.full(g, np.inf)
    gmax = np.full(g, -np.inf)
    np.minimum.at(gmin, rank[inside], x[inside])
    np.maximum.at(gmax, rank[inside], x[inside])
    return gmin, gmax, np.flatnonzero(inside)


def order_binding(rank: IntArray, x: FloatArray, tol: float) -> NDArray[np.bool_]:
    """Towns held by the order: equal to a neighbouring rank's extreme that touches theirs."""
    inside = rank >= 0
    out = np.zeros(x.size, dtype=bool)
    if inside.sum() < 2:
        return out
    gmin, gmax, _ = _group_extremes(rank, x)
    touch = gmin[:-1] <= gmax[1:] + tol  # boundary k between rank k and k + 1 is tight
    r = rank[inside]
    xi = x[inside]
    g = gmin.size
    at_min = (xi <= gmin[r] + tol) & (r < g - 1) & np.concatenate([touch, [False]])[r]
    at_max = (xi >= gmax[r] - tol) & (r > 0) & np.concatenate([[False], touch])[r]
    out[np.flatnonzero(inside)] = at_min | at_max
    return out


def clean_order(asm: Assembly, x: FloatArray) -> FloatArray:
    """Remove solver noise that breaks an order: weaker ranks get at least stronger ranks' max."""
    x = x.copy()
    for o in asm.orderings:
        inside = o.rank >= 0
        if inside.sum() < 2:
            continue
        _, gmax, _ = _group_extremes(o.rank, x)
        stronger = np.concatenate([np.maximum.accumulate(gmax[::-1])[::-1][1:], [-np.inf]])
        idx = np.flatnonzero(inside)
        x[idx] = np.maximum(x[idx], stronger[o.rank[idx]])
    return x


def weakness_order(asm: Assembly) -> IntArray:
    """A permutation listing weaker towns first (by each order's rank, then town code).

    Codes, not positions, break the last ties, so the rounding that follows this order does
    not depend on how the rows of the towns table were sorted.
    """
    code_rank = np.argsort(np.argsort(asm.ctx.codes.astype(str), kind="stable"), kind="stable")
    keys: list[NDArray[Any]] = [code_rank]
    for o in reversed(asm.orderings):
        keys.append(np.where(o.rank >= 0, o.rank, np.iinfo(np.int64).max))
    return np.lexsort(keys).astype(np.int64)


# --------------------------------------------------------------------------- elastic


def elastic_problem(asm: Assembly, scale: float = 10_000.0
                    ) -> tuple[LinearProblem, list[tuple[str, int, int, float]]]:
    """The elastic form: every bound and row may give way at a cost of one per yuan.

    Returns the problem and, per slack column, ``(family, row or town, kind, sign)`` where
    kind 0 = a town bound (index is the town), 1 = a row (index is the row).
    """
    import scipy.sparse as sp

    n = asm.n
    rows = _rows(asm, with_objective_rows=False)
    s = float(scale)
    lows, highs = _family_bounds(asm)
    lb_rows_t: list[IntArray] = []
    lb_vals: list[FloatArray] = []
    meta: list[tuple[str, int, int, float]] = []
    b_rows = []
    for fam, lo in lows.items():
        lo = asm.to_units(lo, True)
        idx = np.flatnonzero(np.isfinite(lo) & (lo > 0))
        b_rows.append((idx, lo[idx], np.full(idx.size, np.inf)))
        meta += [(fam, int(i), 0, +1.0) for i in idx]
        lb_rows_t.append(idx)
        lb_vals.append(lo[idx])
    for fam, hi in highs.items():
        hi = asm.to_units(hi, False)
        idx = np.flatnonzero(np.isfinite(hi))
        b_rows.append((idx, np.full(idx.size, -np.inf), hi[idx]))
        meta += [(fam, int(i), 0, -1.0) for i in idx]
    nb = sum(b[0].size for b in b_rows)
    bt = np.concatenate([b[0] for b in b_rows]) if b_rows else np.zeros(0, dtype=np.int64)
    b_town = sp.csr_array((np.ones(nb), (np.arange(nb), bt)), shape=(nb, n))
    b_lo = np.concatenate([b[1] for b in b_rows]) if b_rows else np.zeros(0)
    b_hi = np.concatenate([b[2] for b in b_rows]) if b_rows else np.zeros(0)
    signs = np.array([m[3] for m in meta])
    b_slack = sp.csr_array((signs, (np.arange(nb), np.arange(nb))), shape=(nb, nb))
    # slack on every row: +e where a lower bound is finite, −e where an upper bound is
    m = rows.lower.size
    has_lo = np.flatnonzero(np.isfinite(rows.lower))
    has_hi = np.flatnonzero(np.isfinite(rows.upper))
    nr = has_lo.size + has_hi.size
    r_slack = sp.csr_array(
        (np.concatenate([np.ones(has_lo.size), -np.ones(has_hi.size)]),
         (np.concatenate([has_lo, has_hi]), np.arange(nr))), shape=(m, nr))
    meta += [(str(rows.family[i]), int(i), 1, +1.0) for i in has_lo]
    meta += [(str(rows.family[i]), int(i), 1, -1.0) for i in has_hi]
    k = rows.a_aux.shape[1]
    top = sp.hstack([rows.a_town, rows.a_aux, sp.csr_array((m, nb)), r_slack])
    bottom = sp.hstack([b_town, sp.csr_array((nb, k)), b_slack, sp.csr_array((nb, nr))])
    matrix = sp.vstack([top, bottom], format="csc")
    ncol = n + k + nb + nr
    cost = np.concatenate([np.zeros(n + k), np.ones(nb + nr)])
    col_lo = np.concatenate([np.zeros(n), rows.aux_lower / s, np.zeros(nb + nr)])
    col_hi = np.concatenate([np.full(n, np.inf), rows.aux_upper / s, np.full(nb + nr, np.inf)])
    problem = LinearProblem(cost=cost, matrix=matrix,
                            row_lower=np.concatenate([rows.lower, b_lo]) / s,
                            row_upper=np.concatenate([rows.upper, b_hi]) / s,
                            col_lower=col_lo, col_upper=col_hi)
    assert problem.shape[1] == ncol
    return problem, meta


def elastic_conflicts(asm: Assembly, z: FloatArray, meta: list[tuple[str, int, int, float]],
                      scale: float = 10_000.0) -> list[Conflict]:
    """Name the families that must give way, and by how much, from the elastic solution."""
    n = asm.n
    rows = _rows(asm, with_objective_rows=False)
    k = rows.a_aux.shape[1]
    slack = z[n + k:] * scale
    x = z[:n] * scale
    out: list[Conflict] = []
    tol = max(0.5, 1e-9 * asm.fund)
    fam_total: dict[str, float] = {}
    fam_towns: dict[str, list[str]] = {}
    fam_sign: dict[str, float] = {}
    for (fam, idx, kind, sign), v in zip(meta, slack.tolist(), strict=True):
        if v <= tol:
            continue
        fam_total[fam] = fam_total.get(fam, 0.0) + v
        fam_sign[fam] = sign
        if kind == 0:
            fam_towns.setdefault(fam, []).append(str(asm.ctx.codes[idx]))
        else:
            members = rows.a_town[[idx], :].indices
            if fam != FUND:
                fam_towns.setdefault(fam, []).extend(str(asm.ctx.codes[j]) for j in members[:5])
    for fam, total in fam_total.items():
        total = round(total, 2)
        towns = tuple(dict.fromkeys(fam_towns.get(fam, [])))
        if fam == FUND:
            spent = float(x.sum())
            if spent > asm.fund:
                msg = (f"the constraints need {_fmt(spent)} yuan but the fund is "
                       f"{_fmt(asm.fund)} yuan: the fund would have to grow by {_fmt(total)} "
                       "yuan, or the constraints below give way")
                spent = round(spent, 2)
            else:
                msg = (f"the constraints allow only {_fmt(spent)} yuan to be spent, "
                       f"{_fmt(total)} yuan short of the fund {_fmt(asm.fund)}")
            out.append(Conflict(msg, constraints=(FUND,), required=spent, available=asm.fund))
            continue
        where = f" for {len(towns)} town(s) ({_examples(list(towns))})" if towns else ""
        out.append(Conflict(
            f"{fam} must give way by {_fmt(total)} yuan in total{where}",
            constraints=(fam,), required=total, towns=towns))
    return out
