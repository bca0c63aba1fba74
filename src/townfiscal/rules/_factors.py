"""Factor values, factor coefficients and the composite coefficient (Art. 6)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal.policy import Policy

__all__ = [
    "FactorSpec",
    "composite_arrays",
    "composite_coefficient",
    "factor_arrays",
    "factor_coefficients",
    "factor_specs",
    "factor_values",
    "pool_factor_arrays",
    "regional_arrays",
]

FloatArray = npt.NDArray[np.float64]


@attrs.frozen
class FactorSpec:
    """One factor of the composite coefficient, as a policy defines it."""

    name: str
    weight: float
    numerator: str
    denominator: str | None
    direction: str
    symbol: str
    label: str

    @property
    def formula(self) -> str:
        """The factor's value as text, e.g. ``fiscal_capacity / supported_population``."""
        return f"{self.numerator} / {self.denominator}" if self.denominator else self.numerator


def factor_specs(policy: Policy) -> list[FactorSpec]:
    """The factors a policy defines, in file order."""
    names: list[str] = []
    for p in policy.under("factors"):
        name = p.path.split(".")[1]
        if name not in names:
            names.append(name)
    return [
        FactorSpec(
            name=n,
            weight=float(policy[f"factors.{n}.weight"]),
            numerator=policy[f"factors.{n}.numerator"],
            denominator=policy.get(f"factors.{n}.denominator"),
            direction=policy[f"factors.{n}.direction"],
            symbol=policy.get(f"factors.{n}.symbol", n),
            label=policy.get(f"factors.{n}.label", n.replace("_", " ")),
        )
        for n in names
    ]


def factor_values(towns: pd.DataFrame | Mapping[str, FloatArray], spec: FactorSpec) -> FloatArray:
    """The raw value of one factor for every unit (numerator, or numerator ÷ denominator).

    *towns* is a table, or a mapping of column names to float arrays.
    """
    num = np.asarray(towns[spec.numerator], dtype=np.float64)
    if spec.denominator is None:
        return num
    den = np.asarray(towns[spec.denominator], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def factor_arrays(
    columns: Mapping[str, FloatArray],
    specs: Sequence[FactorSpec],
    cap: float,
    method: str = "mean_ratio",
    labels: Any = None,
) -> tuple[dict[str, FloatArray], dict[str, float]]:
    """:func:`factor_coefficients` on arrays: *columns* holds the pool's values by column.

    *method* is the policy's ``normalisation.method`` and *labels* the pool's town codes
    (used only to name the towns at fault in an error). Returns
    ``{"value_<name>": …, "coef_<name>": …}`` in factor order, and each factor's pool mean
    (``mean_ratio``) or pool total of the shared quantity (``share``).

    Raises
    ------
    ValueError
        When a factor's value is undefined for a town (a zero or negative denominator, which
        :func:`townfiscal.validate` rejects before any computation), or when a "less is
        needier" factor is zero where no finite coefficient exists (``share``, or
        ``mean_ratio`` without a cap). Each town at fault is named.
    """
    out: dict[str, FloatArray] = {}
    means: dict[str, float] = {}

    def fault(spec: FactorSpec, bad: npt.NDArray[np.bool_], why: str) -> ValueError:
        where = np.flatnonzero(bad)
        names = [str(labels[i]) if labels is not None else f"position {i}" for i in where[:10]]
        more = f" and {where.size - 10} more" if where.size > 10 else ""
        return ValueError(f"factor {spec.name!r} ({spec.formula}): {why} for "
                          f"{', '.join(names)}{more}")

    for spec in specs:
        v = factor_values(columns, spec)
        undefined = np.isnan(v)
        if undefined.any():
            raise fault(spec, undefined, "no value (a zero or negative denominator)")
        zero = v <= 0
        if spec.direction == "lower" and zero.any() and (method == "share" or np.isinf(cap)):
            raise fault(spec, zero, "a zero value, and less is needier: no finite coefficient")
        with np.errstate(divide="ignore"):
            x = v if spec.direction == "higher" else 1.0 / v  # inf where v == 0 (capped below)
        if method == "share":
            total = float(np.sum(x))
            # every value zero: no town differs, so each has the same share
            coef = x / total if total > 0 else np.full(x.size, 1.0 / max(x.size, 1))
            means[spec.name] = total
        else:
            m = float(np.mean(v)) if v.size else np.nan
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = v / m if spec.direction == "higher" else m / v
            if m == 0:  # every value zero: each town is at the mean
                ratio = np.ones_like(v)
            # a zero value of a "less is needier" factor is the neediest there is: the cap
            coef = np.minimum(np.where(zero & (spec.direction == "lower"), cap, ratio), cap)
            means[spec.name] = m
        out[f"value_{spec.name}"] = v
        out[f"coef_{spec.name}"] = coef
    return out, means


def regional_arrays(zones: npt.NDArray[Any], policy: Policy) -> FloatArray:
    """The regional coefficient of each zone label (NaN for a zone the policy does not set)."""
    rc = policy["regional_coefficient"]
    codes, labels = pd.factorize(np.asarray(zones, dtype=object))
    per_label = np.array([float(rc.get(z, np.nan)) for z in labels], dtype=np.float64)
    out: FloatArray = np.where(codes >= 0, per_label[np.maximum(codes, 0)] if labels.size
                               else np.nan, np.nan)
    return out


def composite_arrays(
    coefs: Mapping[str, FloatArray], regional: FloatArray, specs: Sequence[FactorSpec]
) -> FloatArray:
    """C = (Σ weight_k · coef_k) × r on arrays (see :func:`composite_coefficient`)."""
    weighted = np.zeros(regional.size)
    for spec in specs:
        weighted += spec.weight * coefs[f"coef_{spec.name}"]
    out: FloatArray = weighted * regional
    return out


def factor_coefficients(
    towns: pd.DataFrame, policy: Policy, pool: npt.NDArray[np.bool_]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Each factor's value and coefficient for the units in *pool*.

    ``mean_ratio`` normalisation (an assumption; see the policy's source): with m the
    unweighted mean of the factor's value over the pool, the coefficient is ``value / m``
    when more means needier and ``m / value`` when less means needier, capped at
    ``normalisation.cap`` (so a tiny denominator cannot dominate); a zero value of a "less is
    needier" factor gets the cap. ``share`` normalisation: the coefficient is the town's
    share of the pool total of the value (more is needier) or of its inverse (less is
    needier), so the weighted sum is a weighted sum of shares.

    Returns the table (``value_<name>``, ``coef_<name>`` columns, pool rows only) and the
    pool mean (``mean_ratio``) or pool total (``share``) of each factor.
    """
    columns, means = pool_factor_arrays(towns, policy, pool)
    return pd.DataFrame(columns, index=towns.index[pool]), means


def pool_factor_arrays(towns: pd.DataFrame, policy: Policy, pool: Any
                       ) -> tuple[dict[str, FloatArray], dict[str, float]]:
    """:func:`factor_arrays` under *policy* (its factors, ``normalisation.cap`` and
    ``normalisation.method``) for the towns *pool* selects (a mask or positions), read from
    the table's columns."""
    specs = factor_specs(policy)
    read = {c for s in specs for c in (s.numerator, s.denominator) if c}
    return factor_arrays({c: towns[c].to_numpy(dtype=np.float64)[pool] for c in read}, specs,
                         float(policy.get("normalisation.cap", np.inf)),
                         policy["normalisation.method"], towns.index[pool])


def composite_coefficient(
    coefs: pd.DataFrame, zones: pd.Series, policy: Policy
) -> tuple[FloatArray, FloatArray]:
    """C = (Σ weight_k · coef_k) × r_zone (Art. 6); returns (C, r)."""
    specs = factor_specs(policy)
    regional = regional_arrays(zones.to_numpy(dtype=object), policy)
    arrays = {f"coef_{s.name}": coefs[f"coef_{s.name}"].to_numpy(dtype=np.float64) for s in specs}
    return composite_arrays(arrays, regional, specs), regional
