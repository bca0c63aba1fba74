"""Equalisation measures: how evenly fiscal capacity per person is spread across towns.

Every measure here is **population-weighted**: a town counts in proportion to its people, as
if each of its residents had the town's per-capita value. Without weights each town counts
once (``weights=None``). All measures are vectorised over towns and, with ``by=``, computed for
every group (province, city, county, zone) in one pass — no per-town or per-group Python loop.

The usual question is "did the transfer make towns more equal?":

>>> import pandas as pd
>>> import townfiscal as tf
>>> towns = pd.DataFrame(
...     {"fiscal_capacity": [1e6, 3e6], "resident_population": [1_000, 1_000]},
...     index=pd.Index(["440000101", "440000102"], name="code"))
>>> before = tf.metrics.capacity_per_capita(towns)
>>> after = tf.metrics.capacity_per_capita(towns, pd.Series({"440000101": 2_000_000}))
>>> tf.metrics.gini(before), tf.metrics.gini(after)
(0.25, 0.0)

Definitions (``y_i`` a town's value per person, ``w_i`` its population, ``p_i = w_i / Σ w``,
``μ = Σ p_i y_i``; towns sorted by ``y`` for the Lorenz curve ``(P_k, L_k)`` with
``P_k = Σ_{i≤k} p_i`` and ``L_k = Σ_{i≤k} p_i y_i / μ``):

- Gini ``G = 1 − Σ_k p_k (L_{k−1} + L_k)`` — twice the area between the Lorenz curve and the
  diagonal (each town treated as a group of people with equal values, so ``G`` is the Gini of
  the people, not of the towns). 0 when everyone has the same; ``(n−1)/n`` when one of ``n``
  equal-weight units has everything.
- Theil ``T = Σ p_i (y_i/μ) ln(y_i/μ)`` (``0 · ln 0 = 0``): 0 when equal, ``ln n`` when one of
  ``n`` equal-weight units has everything.
- Coefficient of variation ``CV = sqrt(Σ p_i (y_i − μ)²) / μ`` (population standard deviation).
- Max/min ratio ``max y / min y`` over the towns with people (``inf`` when the poorest has 0).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal._errors import Problem, ValidationError

__all__ = [
    "MEASURES",
    "POPULATIONS",
    "capacity_per_capita",
    "coefficient_of_variation",
    "equalisation",
    "gini",
    "lorenz",
    "max_min_ratio",
    "theil",
]

ArrayLike: TypeAlias = "pd.Series[Any] | npt.ArrayLike"
Population = Literal["resident_population", "registered_population", "supported_population"]
By: TypeAlias = "str | pd.Series[Any] | Sequence[Hashable] | None"

#: The population columns a per-capita measure may divide by.
POPULATIONS: tuple[str, ...] = (
    "resident_population",
    "registered_population",
    "supported_population",
)

_FloatArray: TypeAlias = npt.NDArray[np.float64]
_IntArray: TypeAlias = npt.NDArray[np.intp]


# --------------------------------------------------------------------------------------------
# preparing inputs


class _Prepared:
    """Values, weights and group codes as aligned arrays, sorted by (group, value)."""

    __slots__ = ("counts", "g", "groups", "n_groups", "starts", "w", "y")

    def __init__(
        self, y: _FloatArray, w: _FloatArray, g: _IntArray, groups: pd.Index | None
    ) -> None:
        order = np.lexsort((y, g))
        self.y = y[order]
        self.w = w[order]
        self.g = g[order]
        self.groups = groups
        self.n_groups = 1 if groups is None else len(groups)
        self.counts = np.bincount(self.g, minlength=self.n_groups)
        self.starts = np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.intp)

    def group_sum(self, x: _FloatArray) -> _FloatArray:
        return np.bincount(self.g, weights=x, minlength=self.n_groups).astype(np.float64)

    def cumsum_within(self, x: _FloatArray) -> _FloatArray:
        """Cumulative sum of ``x`` restarting at each group (x already in sorted order)."""
        if self.n_groups == 1:
            return np.cumsum(x, dtype=np.float64)
        # a segmented cumsum (not a global one minus offsets, which loses small groups)
        return np.asarray(pd.Series(x).groupby(self.g, sort=False).cumsum(), dtype=np.float64)


def _as_series(x: ArrayLike, name: str) -> pd.Series[Any]:
    if isinstance(x, pd.Series):
        return x
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValidationError([Problem(f"{name} must be one-dimensional", value=arr.shape)])
    return pd.Series(arr)


def _align(s: pd.Series[Any], index: pd.Index, name: str) -> pd.Series[Any]:
    """``s`` on ``index``: as is, by position (a plain 0..n−1 index), or by label."""
    if s.index.equals(index):
        return s
    if len(s) == len(index) and s.index.equals(pd.RangeIndex(len(s))):
        return pd.Series(s.to_numpy(), index=index, name=s.name)
    missing = index.difference(s.index)
    if len(missing):
        raise ValidationError(
            [Problem(f"no {name} for this row", row=str(code)) for code in missing],
            what=name,
        )
    return s.reindex(index)


def _prepare(values: ArrayLike, weights: ArrayLike | None, by: By) -> _Prepared:
    ys = _as_series(values, "values")
    index = ys.index
    problems: list[Problem] = []
    y = pd.to_numeric(ys, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    for code in index[~np.isfinite(y)]:
        problems.append(
            Problem(
                "value is missing or not finite", row=str(code), column="values", value=ys[code]
            )
        )
    for code in index[np.isfinite(y) & (y < 0)]:
        problems.append(
            Problem("value is negative", row=str(code), column="values", value=float(ys[code]))
        )
    if weights is None:
        w = np.ones(len(y))
    else:
        ws = _align(_as_series(weights, "weights"), index, "weights")
        w = pd.to_numeric(ws, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(w) | (w < 0)
        for code, v in zip(index[bad], ws.to_numpy()[bad], strict=True):
            problems.append(
                Problem(
                    "weight (population) must be a finite number ≥ 0",
                    row=str(code),
                    column="weights",
                    value=v,
                )
            )
    groups: pd.Index | None
    if by is None:
        g = np.zeros(len(y), dtype=np.intp)
        groups = None
    else:
        bs = by if isinstance(by, pd.Series) else pd.Series(list(by), index=index)
        bs = _align(bs, index, "group")
        codes, uniques = pd.factorize(bs, sort=True)
        for code in index[codes < 0]:
            problems.append(Problem("group is missing", row=str(code), column="by"))
        g = codes.astype(np.intp)
        groups = pd.Index(uniques, name=bs.name)
    if problems:
        raise ValidationError(problems, what="measure input")
    return _Prepared(y, w, g, groups)


def _result(p: _Prepared, per_group: _FloatArray, name: str) -> float | pd.Series[float]:
    if p.groups is None:
        return float(per_group[0])
    return pd.Series(per_group, index=p.groups, name=name)


def _masses(p: _Prepared) -> tuple[_FloatArray, _FloatArray, _FloatArray]:
    """Per group: total weight W, weighted total T = Σ w y, and mean μ = T / W (NaN if W = 0)."""
    W = p.group_sum(p.w)
    T = p.group_sum(p.w * p.y)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(W > 0, T / np.where(W > 0, W, 1.0), np.nan)
    return W, T, mu


# --------------------------------------------------------------------------------------------
# the measures


def gini(
    values: ArrayLike, weights: ArrayLike | None = None, *, by: By = None
) -> float | pd.Series[float]:
    """Gini coefficient of ``values`` (e.g. yuan per person), weighted by ``weights`` (people).

    Parameters
    ----------
    values
        One value per town, ≥ 0 and finite (Series or array; a Series' index is the town code).
    weights
        People per town (≥ 0), aligned on the index of ``values``; ``None`` counts each town once.
    by
        Group label per town (a Series aligned on the index, or a sequence); with it the result
        is a Series indexed by group, one Gini per group.

    Returns
    -------
    float in ``[0, 1)`` — 0 when every person has the same value; NaN for a group whose
    weighted total is 0. A Series per group when ``by`` is given.

    Raises
    ------
    ValidationError
        Missing, negative or non-finite values or weights, or rows without a group.

    Examples
    --------
    >>> gini([0, 0, 0, 1])          # one of four has everything: (n − 1) / n
    0.75
    >>> gini([1, 3], weights=[3, 1])  # 3 people with 1 yuan, 1 with 3 yuan
    0.25
    """
    p = _prepare(values, weights, by)
    W, T, _ = _masses(p)
    wy = p.w * p.y
    cum = p.cumsum_within(wy)
    # Σ_k p_k (L_{k-1} + L_k) = Σ_k w_k (2·cum_k − w_k y_k) / (W T)
    area = p.group_sum(p.w * (2.0 * cum - wy))
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(T > 0, 1.0 - area / np.where(T > 0, W * T, 1.0), np.nan)
    g = np.where(np.isnan(g), g, np.clip(g, 0.0, 1.0))
    return _result(p, g, "gini")


def theil(
    values: ArrayLike, weights: ArrayLike | None = None, *, by: By = None
) -> float | pd.Series[float]:
    """Theil T index of ``values`` weighted by ``weights`` (people): ``Σ p_i (y_i/μ) ln(y_i/μ)``.

    Parameters and errors as for :func:`gini`. Returns a float ≥ 0 (0 when everyone has the
    same; ``ln n`` when one of ``n`` equal-weight towns has everything), or a Series per group.

    Raises
    ------
    ValidationError
        Missing, negative or non-finite values or weights, or rows without a group.

    Examples
    --------
    >>> round(theil([0, 0, 0, 1]), 6) == round(float(np.log(4)), 6)
    True
    """
    p = _prepare(values, weights, by)
    W, _, mu = _masses(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = p.y / np.repeat(mu, p.counts)
        term = np.where(ratio > 0, ratio * np.log(np.where(ratio > 0, ratio, 1.0)), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = p.group_sum(p.w * term) / W
    t = np.where(np.isfinite(mu) & (mu > 0), np.maximum(t, 0.0), np.nan)
    return _result(p, t, "theil")


def coefficient_of_variation(
    values: ArrayLike, weights: ArrayLike | None = None, *, by: By = None
) -> float | pd.Series[float]:
    """Coefficient of variation: weighted standard deviation ÷ weighted mean.

    The population (not sample) standard deviation ``sqrt(Σ p_i (y_i − μ)²)``, with ``p_i`` the
    population shares. Parameters and errors as for :func:`gini`.

    Returns
    -------
    float ≥ 0 (a pure number: the unit of ``values`` cancels); NaN for a group whose weighted
    mean is 0. A Series per group when ``by`` is given.

    Raises
    ------
    ValidationError
        Missing, negative or non-finite values or weights, or rows without a group.

    Examples
    --------
    >>> coefficient_of_variation([1, 3])   # mean 2, sd 1
    0.5
    """
    p = _prepare(values, weights, by)
    W, _, mu = _masses(p)
    dev = p.y - np.repeat(mu, p.counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(p.group_sum(p.w * dev * dev) / W)
        cv = np.where(mu > 0, sd / np.where(mu > 0, mu, 1.0), np.nan)
    return _result(p, cv, "cv")


def max_min_ratio(
    values: ArrayLike, weights: ArrayLike | None = None, *, by: By = None
) -> float | pd.Series[float]:
    """Highest ÷ lowest value among towns with people (weight > 0); ``inf`` if the lowest is 0.

    Weights only decide which towns count (towns with no people are left out). Parameters and
    errors as for :func:`gini`.

    Returns
    -------
    float ≥ 1 (a pure number); ``inf`` when the lowest value is 0 and the highest is not, NaN
    when both are 0. A Series per group when ``by`` is given.

    Raises
    ------
    ValidationError
        Missing, negative or non-finite values or weights, or rows without a group.

    Examples
    --------
    >>> max_min_ratio([2_000, 5_000, 8_000])
    4.0
    """
    p = _prepare(values, weights, by)
    present = p.w > 0
    hi = np.full(p.n_groups, -np.inf)
    lo = np.full(p.n_groups, np.inf)
    np.maximum.at(hi, p.g[present], p.y[present])
    np.minimum.at(lo, p.g[present], p.y[present])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = np.where(np.isfinite(hi), hi / lo, np.nan)
    r = np.where((lo == 0) & (hi == 0), np.nan, r)
    return _result(p, r, "max_min")


def lorenz(values: ArrayLike, weights: ArrayLike | None = None, *, by: By = None) -> pd.DataFrame:
    """The Lorenz curve: cumulative population share against cumulative value share.

    Towns are sorted from the lowest value per person to the highest. The curve starts at
    ``(0, 0)`` and ends at ``(1, 1)``; its points are the towns' upper corners.

    Returns
    -------
    DataFrame with columns ``population_share`` and ``value_share`` (both in ``[0, 1]``) and,
    when ``by`` is given, a ``group`` column first (one curve per group, each with its own
    ``(0, 0)`` start). Parameters and errors as for :func:`gini`.

    Raises
    ------
    ValidationError
        Missing, negative or non-finite values or weights, or rows without a group.

    Examples
    --------
    >>> lorenz([3, 1]).round(3).to_dict("list")
    {'population_share': [0.0, 0.5, 1.0], 'value_share': [0.0, 0.25, 1.0]}
    """
    p = _prepare(values, weights, by)
    W, T, _ = _masses(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        P = p.cumsum_within(p.w) / np.repeat(W, p.counts)
        L = p.cumsum_within(p.w * p.y) / np.repeat(T, p.counts)
    # insert a (0, 0) point at the start of every non-empty group
    nonempty = np.flatnonzero(p.counts > 0)
    P = np.insert(P, p.starts[nonempty], 0.0)
    L = np.insert(L, p.starts[nonempty], 0.0)
    out = pd.DataFrame({"population_share": P, "value_share": L})
    if p.groups is not None:
        g = np.insert(p.g, p.starts[nonempty], nonempty)
        out.insert(0, "group", p.groups.take(g))
    return out


#: The measures :func:`equalisation` reports, by the column prefix it uses.
MEASURES: dict[str, Callable[..., float | pd.Series[float]]] = {
    "gini": gini,
    "theil": theil,
    "cv": coefficient_of_variation,
    "max_min": max_min_ratio,
}


# --------------------------------------------------------------------------------------------
# towns-table helpers


def _group_labels(towns: pd.DataFrame, by: By) -> pd.Series[Any] | None:
    if by is None:
        return None
    if isinstance(by, str):
        if by in towns.columns:
            return towns[by].rename(by)
        if by == "province":
            codes = pd.Series(towns.index.astype(str), index=towns.index)
            return codes.str.slice(0, 2).rename("province")
        raise ValidationError(
            [Problem("no such column to group by (try province, city, county or zone)", column=by)],
            what="towns table",
        )
    if isinstance(by, pd.Series):
        return by
    return pd.Series(list(by), index=towns.index, name="group")


def capacity_per_capita(
    towns: pd.DataFrame,
    amounts: pd.Series[Any] | None = None,
    *,
    population: str = "resident_population",
) -> pd.Series[float]:
    """Fiscal capacity per person (yuan per person), before or after a transfer.

    ``(fiscal_capacity_i + amount_i) / population_i`` for every town of ``towns``; towns that
    ``amounts`` does not list receive 0 (so ``amounts=None`` gives the capacity before).

    Parameters
    ----------
    towns
        A towns table indexed by code with ``fiscal_capacity`` (yuan) and the population column.
    amounts
        Transfer per town in yuan (e.g. ``alloc.amounts``), indexed by code; codes not in
        ``towns`` are ignored.
    population
        Which people to divide by: ``"resident_population"`` (常住人口, default — the people who
        live there and use the services, the usual basis for equalisation), or
        ``"registered_population"`` (户籍人口), or ``"supported_population"`` (财政供养人口,
        the basis of Art. 6's per-capita capacity factor).

    Returns
    -------
    pandas.Series of float64 yuan per person, indexed by code like ``towns``.

    Raises
    ------
    ValidationError
        An unknown population column, or a town whose population is not positive.

    Examples
    --------
    >>> t = pd.DataFrame({"fiscal_capacity": [2e6], "resident_population": [1_000]},
    ...                  index=pd.Index(["440000101"], name="code"))
    >>> float(capacity_per_capita(t, pd.Series({"440000101": 1_000_000})).iloc[0])
    3000.0
    """
    problems: list[Problem] = []
    for col in ("fiscal_capacity", population):
        if col not in towns.columns:
            problems.append(Problem("column is missing", column=col))
    if population not in POPULATIONS:
        problems.append(
            Problem(
                f"population must be one of {', '.join(POPULATIONS)}",
                column="population",
                value=population,
            )
        )
    if problems:
        raise ValidationError(problems, what="towns table")
    pop = towns[population].astype(np.float64)
    bad = ~(pop > 0)
    if bad.any():
        raise ValidationError(
            [
                Problem(
                    "population must be positive for a per-capita measure",
                    row=str(c),
                    column=population,
                    value=v,
                )
                for c, v in pop[bad].items()
            ],
            what="towns table",
        )
    cap = towns["fiscal_capacity"].astype(np.float64)
    if amounts is not None:
        cap = cap + amounts.reindex(towns.index).astype(np.float64).fillna(0.0)
    return (cap / pop).rename("capacity_per_capita")


def equalisation(
    towns: pd.DataFrame,
    amounts: pd.Series[Any] | None = None,
    *,
    by: By = None,
    population: str = "resident_population",
    weighted: bool = True,
) -> pd.DataFrame:
    """Every measure of per-capita fiscal capacity, before and after a transfer.

    Parameters
    ----------
    towns
        The towns over which to measure (all of them, or only the eligible ones), indexed by
        code, with ``fiscal_capacity`` (yuan) and the population column.
    amounts
        Transfer per town in yuan (``alloc.amounts``); towns it does not list get 0. ``None``
        reports only the "before" columns.
    by
        ``"province"`` (from the first two digits of the code), ``"city"``, ``"county"``,
        ``"zone"``, any column of ``towns``, or a Series of labels; ``None`` for all towns.
    population
        The people to divide by and weight with (see :func:`capacity_per_capita`).
    weighted
        Weight towns by that population (default) or count each town once.

    Returns
    -------
    DataFrame with one row per group (a single row ``"all"`` without ``by``) and columns
    ``towns``, ``population``, then ``gini_before``, ``gini_after``, ``gini_change``, and the
    same for ``theil``, ``cv`` and ``max_min``.

    Raises
    ------
    ValidationError
        An unknown ``by`` column or population column, a town whose population is not
        positive, or capacities that are missing, negative or not finite.

    Examples
    --------
    >>> t = pd.DataFrame({"fiscal_capacity": [1e6, 3e6], "resident_population": [1e3, 1e3]},
    ...                  index=pd.Index(["440000101", "440000102"], name="code"))
    >>> equalisation(t, pd.Series({"440000101": 2_000_000}))[["gini_before", "gini_after"]]
         gini_before  gini_after
    all         0.25         0.0
    """
    labels = _group_labels(towns, by)
    weights = towns[population].astype(np.float64) if weighted else None
    series = {"before": capacity_per_capita(towns, population=population)}
    if amounts is not None:
        series["after"] = capacity_per_capita(towns, amounts, population=population)
    if labels is None:
        index = pd.Index(["all"])
        n = pd.Series([len(towns)], index=index)
        people = pd.Series([float(towns[population].sum())], index=index)
    else:
        n = labels.groupby(labels, sort=True).size()
        people = towns[population].astype(np.float64).groupby(labels, sort=True).sum()
        index = n.index
    out = pd.DataFrame({"towns": n.to_numpy(), "population": people.to_numpy()}, index=index)
    for name, fn in MEASURES.items():
        for when, y in series.items():
            r = fn(y, weights, by=labels)
            out[f"{name}_{when}"] = r if isinstance(r, float) else r.to_numpy()
        if amounts is not None:
            out[f"{name}_change"] = out[f"{name}_after"] - out[f"{name}_before"]
    return out
