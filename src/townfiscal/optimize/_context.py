"""What constraints and objectives compile against, and what they compile to.

A :class:`ModelContext` holds the eligible towns (one row each, in a fixed order) with the
columns the catalogue reads, the fund and the default target. Constraints and objectives
compile to *primitives* — per-town bounds, orderings, group totals, general rows,
separable piecewise-linear costs — which the model builder turns into one sparse matrix.
All money in primitives is in yuan; the builder scales it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from townfiscal._domains import PARAMETER_DOMAINS, array_problems
from townfiscal._errors import Problem, ValidationError

if TYPE_CHECKING:  # imported where a sparse matrix is built, not with the module
    import scipy.sparse as sp

__all__ = [
    "AuxRows",
    "GroupBounds",
    "ModelContext",
    "Ordering",
    "Primitive",
    "Quadratic",
    "Separable",
    "TownBounds",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@attrs.frozen(eq=False)
class ModelContext:
    """The eligible towns the model allocates over, the fund and the default target.

    Parameters
    ----------
    towns
        One row per eligible town, indexed by code, in model order. Columns read by the
        catalogue where present: ``target`` (yuan; the default target of
        :class:`~townfiscal.MinDeviation`), ``prior_amount`` (yuan, NaN = none),
        ``coefficient`` (higher = needier), ``tier`` (1 = weakest), ``county``, ``city``,
        ``fiscal_capacity`` (yuan) and population columns (people).
    fund
        The fund, whole yuan.
    all_towns
        The whole towns table (all units, eligible or not), for county averages; defaults
        to ``towns``.
    """

    towns: pd.DataFrame
    fund: int
    all_towns: pd.DataFrame | None = None

    @property
    def n(self) -> int:
        """Number of towns in the model."""
        return len(self.towns)

    @property
    def codes(self) -> NDArray[Any]:
        """Town codes in model order."""
        return self.towns.index.to_numpy()

    @property
    def reference(self) -> pd.DataFrame:
        """The table county averages are taken over."""
        return self.all_towns if self.all_towns is not None else self.towns

    def column(self, name: str, *, what: str) -> FloatArray:
        """Column ``name`` as float64, or a :class:`ValidationError` naming ``what`` needs it."""
        if name not in self.towns.columns:
            raise ValidationError(
                [Problem(f"{what} needs the column {name!r}, which the towns table lacks",
                         column=name)], what=what)
        col = self.towns[name]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            return col.to_numpy(dtype=np.float64, na_value=np.nan)
        numeric = pd.to_numeric(col, errors="coerce")
        text = col.index[numeric.isna() & col.notna()]
        if len(text):
            raise ValidationError(
                [Problem(f"{what} needs numbers, but the column {name!r} holds text",
                         row=str(c), column=name, value=col[c]) for c in text[:200]],
                what=what)
        return numeric.to_numpy(dtype=np.float64, na_value=np.nan)

    def labels(self, name: str, *, what: str) -> NDArray[Any]:
        """Column ``name`` as an object array of labels (for grouping)."""
        if name not in self.towns.columns:
            raise ValidationError(
                [Problem(f"{what} needs the column {name!r}, which the towns table lacks",
                         column=name)], what=what)
        return self.towns[name].astype(str).to_numpy(dtype=object)

    def per_town(self, value: Any, *, what: str, allow_nan: bool = True,
                 domain: str | None = None) -> FloatArray:
        """A scalar, a per-town Series (indexed by code) or a column name, as a float array.

        Codes missing from a Series get NaN (no value); codes in a Series that name no
        town in the model are reported as a :class:`ValidationError` unless they are in
        ``all_towns`` (towns that exist but are not eligible are ignored). With *domain*
        (a path of :data:`~townfiscal.PARAMETER_DOMAINS`), a column's values are checked
        against it, naming each town at fault.
        """
        if isinstance(value, str):
            out = self.column(value, what=what)
            if domain is not None:
                found = array_problems(PARAMETER_DOMAINS[domain], self.codes, out,
                                       path=f"{domain} (column {value!r})")
                if found:
                    raise ValidationError(found, what=what)
            return out
        if isinstance(value, pd.Series | Mapping):
            series = pd.Series(value) if isinstance(value, Mapping) else value
            series = series.copy()
            series.index = series.index.astype(str)
            known = self.reference.index.astype(str)
            unknown = series.index.difference(known).difference(self.towns.index.astype(str))
            problems = [Problem(f"{what}: no town has this code", row=str(c))
                        for c in unknown[:200]]
            numeric = pd.to_numeric(series, errors="coerce")
            bad = numeric.index[numeric.isna() & series.notna()]
            problems += [Problem(f"{what}: not a number", row=str(c), value=series[c])
                         for c in bad[:200]]
            if problems:
                raise ValidationError(problems, what=what)
            out = numeric.reindex(self.towns.index.astype(str)).to_numpy(
                dtype=np.float64, na_value=np.nan)
        else:
            try:
                scalar = float(value)
            except (TypeError, ValueError) as exc:
                raise ValidationError(
                    [Problem(f"{what}: expected a number, a per-town Series or a column name",
                             value=repr(value))], what=what) from exc
            out = np.full(self.n, scalar)
        if not allow_nan and np.isnan(out).any():
            missing = self.towns.index[np.isnan(out)]
            raise ValidationError(
                [Problem(f"{what}: a value is needed for every town", row=str(c))
                 for c in missing[:200]], what=what)
        if np.isinf(out).any() and not allow_nan:
            raise ValidationError([Problem(f"{what}: values must be finite")], what=what)
        return out


# --------------------------------------------------------------------------- primitives


@attrs.frozen(eq=False)
class TownBounds:
    """Per-town bounds (yuan): ``lower[i] <= x[i] <= upper[i]``; NaN/±inf = none."""

    family: str
    lower: FloatArray | None = None
    upper: FloatArray | None = None
    describe: str = ""


@attrs.frozen(eq=False)
class Ordering:
    """A weak order: ``x[i] >= x[j]`` whenever ``rank[i] < rank[j]`` (rank 0 = weakest).

    Towns with rank ``-1`` are outside the order.
    """

    family: str
    rank: IntArray
    describe: str = ""


@attrs.frozen(eq=False)
class GroupBounds:
    """Totals per group: ``lower[g] <= Σ_{group[i] = g} x[i] <= upper[g]`` (yuan).

    ``group[i]`` is the group index of town ``i`` (``-1``: in no group); ``names`` the
    group labels.
    """

    family: str
    group: IntArray
    names: tuple[str, ...]
    lower: FloatArray
    upper: FloatArray
    describe: str = ""


@attrs.frozen(eq=False)
class AuxRows:
    """General rows over the towns and some auxiliary columns of this primitive's own.

    ``lower <= a_town @ x + a_aux @ y <= upper``, with ``aux_lower <= y <= aux_upper``
    and an objective cost ``aux_cost`` per unit of ``y`` (objective units). Every column
    and bound is money (yuan) so one scale fits all.
    """

    family: str
    a_town: sp.csr_array
    a_aux: sp.csr_array
    lower: FloatArray
    upper: FloatArray
    aux_lower: FloatArray
    aux_upper: FloatArray
    aux_cost: FloatArray
    aux_names: tuple[str, ...] = ()
    describe: str = ""


@attrs.frozen(eq=False)
class Separable:
    """A convex piecewise-linear cost per town: ``Σ_i f_i(x_i)``.

    ``breakpoints`` is ``(n, K)`` yuan (sorted per row), ``slopes`` ``(n, K + 1)``
    objective units per yuan, non-decreasing per row (convexity); ``f_i`` is zero at its
    first breakpoint (or at 0 when ``K == 0``) only up to a constant, which the builder
    ignores (objective values are evaluated on the amounts themselves).
    """

    family: str
    breakpoints: FloatArray
    slopes: FloatArray


@attrs.frozen(eq=False)
class Quadratic:
    """A weighted squared deviation per town: ``Σ_i (x_i − target_i)² / width_i``.

    ``target`` and ``width`` are yuan (``width > 0``), so the cost is in yuan too. Its
    minimum under a total alone moves every town by the same multiple of its width.
    """

    family: str
    target: FloatArray
    width: FloatArray

    def gradient(self, x: FloatArray) -> FloatArray:
        """∂cost/∂x_i, objective units per yuan."""
        out: FloatArray = 2.0 * (x - self.target) / self.width
        return out


Primitive = TownBounds | Ordering | GroupBounds | AuxRows | Separable | Quadratic


def groups_of(labels: NDArray[Any]) -> tuple[IntArray, tuple[str, ...]]:
    """Group index per town and the sorted group names, from a label per town."""
    names, inverse = np.unique(labels.astype(str), return_inverse=True)
    return inverse.astype(np.int64), tuple(str(s) for s in names)
