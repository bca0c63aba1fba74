"""Factor values, factor coefficients and the composite coefficient (Art. 6)."""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal.policy import Policy

__all__ = [
    "FactorSpec",
    "composite_coefficient",
    "factor_coefficients",
    "factor_specs",
    "factor_values",
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


def factor_values(towns: pd.DataFrame, spec: FactorSpec) -> FloatArray:
    """The raw value of one factor for every unit (numerator, or numerator ÷ denominator)."""
    num = towns[spec.numerator].to_numpy(dtype=np.float64)
    if spec.denominator is None:
        return num
    den = towns[spec.denominator].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def factor_coefficients(
    towns: pd.DataFrame, policy: Policy, pool: npt.NDArray[np.bool_]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Each factor's value and coefficient for the units in *pool*.

    ``mean_ratio`` normalisation (an assumption; see the policy's source): with m the
    unweighted mean of the factor's value over the pool, the coefficient is ``value / m``
    when more means needier and ``m / value`` when less means needier, capped at
    ``normalisation.cap`` (so a tiny denominator cannot dominate).

    Returns the table (``value_<name>``, ``coef_<name>`` columns, pool rows only) and the
    pool mean of each factor.
    """
    specs = factor_specs(policy)
    cap = float(policy.get("normalisation.cap", np.inf))
    sub = towns.loc[pool]
    columns: dict[str, FloatArray] = {}
    means: dict[str, float] = {}
    for spec in specs:
        v = factor_values(sub, spec)
        m = float(np.mean(v)) if v.size else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = v / m if spec.direction == "higher" else m / v
        ratio = np.where(np.isnan(ratio), cap, ratio)  # 0/0: no value at all counts as neediest
        columns[f"value_{spec.name}"] = v
        columns[f"coef_{spec.name}"] = np.minimum(ratio, cap)
        means[spec.name] = m
    return pd.DataFrame(columns, index=sub.index), means


def composite_coefficient(
    coefs: pd.DataFrame, zones: pd.Series, policy: Policy
) -> tuple[FloatArray, FloatArray]:
    """C = (Σ weight_k · coef_k) × r_zone (Art. 6); returns (C, r)."""
    specs = factor_specs(policy)
    weighted = np.zeros(len(coefs))
    for spec in specs:
        weighted += spec.weight * coefs[f"coef_{spec.name}"].to_numpy(dtype=np.float64)
    rc = policy["regional_coefficient"]
    regional = zones.map(lambda z: float(rc.get(z, np.nan))).to_numpy(dtype=np.float64)
    return weighted * regional, regional
