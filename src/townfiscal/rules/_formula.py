"""Formula amounts: shares of the fund (2020, Art. 5) or tiered standards (2018, Art. 5)."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal._rounding import round_to_total
from townfiscal.policy import Policy, get_policy
from townfiscal.rules._eligibility import eligible_mask
from townfiscal.rules._factors import composite_coefficient, factor_coefficients
from townfiscal.rules._growth import capped_proportional, growth_bounds
from townfiscal.rules._towns import check_policy_needs
from townfiscal.towns import validate_towns

__all__ = [
    "FormulaComputation",
    "assign_tiers",
    "compute_formula",
    "formula_allocation",
    "parameter_refs",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_CARRIED = ("name", "kind", "county", "city", "zone")


def assign_tiers(coefficient: npt.ArrayLike, count: int, codes: npt.ArrayLike) -> IntArray:
    """Tier of each town: rank by coefficient, largest (weakest) first, in *count* equal groups.

    Tier 1 holds the towns with the largest composite coefficient (the weakest), tier
    *count* the smallest. Tier t holds the ranks r (0-based) with ``r·count // n = t - 1``,
    so group sizes differ by at most one town; ties are broken by code, so the result is
    deterministic.

    >>> assign_tiers([0.9, 1.3, 1.1, 0.7, 1.0], 5, ["a", "b", "c", "d", "e"]).tolist()
    [4, 1, 2, 5, 3]
    """
    c = np.asarray(coefficient, dtype=np.float64)
    n = c.size
    order = np.lexsort((np.asarray(codes), -c))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return (rank * count // max(n, 1) + 1).astype(np.int64)


@attrs.frozen
class FormulaComputation:
    """Everything the formula computed, kept so that any town's amount can be traced."""

    policy: Policy
    towns: pd.DataFrame
    table: pd.DataFrame
    fund: int
    means: dict[str, float]
    coefficient_sum: float
    scale: float
    weight_column: str


def _fund_of(policy: Policy, fund: float | None) -> int | None:
    if fund is None:
        default = policy.get("fund.default")
        return None if default is None else int(default)
    if not np.isfinite(fund) or fund <= 0 or float(fund) != int(fund):
        raise ValidationError(
            [
                Problem(
                    "the fund must be a positive whole number of yuan", column="fund", value=fund
                )
            ],
            what="formula request",
        )
    return int(fund)


def compute_formula(
    towns: pd.DataFrame, policy: Policy | str, fund: float | None = None
) -> FormulaComputation:
    """Run the whole formula and keep every intermediate value (see :func:`formula_allocation`)."""
    pol = get_policy(policy)
    towns = validate_towns(towns)
    pool = eligible_mask(towns, pol)
    check_policy_needs(towns, pol, covered=pool)
    coefs, means = factor_coefficients(towns, pol, pool)
    sub = towns.loc[pool]
    table = sub[[c for c in _CARRIED if c in sub.columns]].copy()
    table = table.join(coefs)
    coefficient, regional = composite_coefficient(coefs, sub["zone"], pol)
    table["regional"] = regional
    table["coefficient"] = coefficient
    total_c = float(coefficient.sum())
    table["share"] = coefficient / total_c if total_c > 0 else 0.0
    codes = sub.index.to_numpy()

    amount_fund = _fund_of(pol, fund)
    if pol.method == "tier_standard":
        multipliers = np.asarray(pol["tiers.multipliers"], dtype=np.float64)
        tier = assign_tiers(coefficient, multipliers.size, codes)
        table["tier"] = tier
        table["standard"] = float(pol["tiers.base"]) * multipliers[tier - 1]
        weight_column = "standard"
        if amount_fund is None:
            amount_fund = round(float(table["standard"].sum()))
    else:
        weight_column = "coefficient"
        if amount_fund is None:
            raise ValidationError(
                [
                    Problem(
                        f"policy {pol.id} has no default fund (fund.default); pass fund=",
                        column="fund",
                    )
                ],
                what="formula request",
            )

    prior = (
        sub["prior_amount"].to_numpy(dtype=np.float64)
        if "prior_amount" in sub
        else np.full(len(sub), np.nan)
    )
    table["prior_amount"] = prior
    floor, cap = pol.get("growth_control.floor"), pol.get("growth_control.cap")
    lower, upper = growth_bounds(prior, floor, cap)
    weights = table[weight_column].to_numpy(dtype=np.float64)
    wsum = float(weights.sum())
    table["proportional"] = amount_fund * weights / wsum if wsum > 0 else 0.0
    table["lower"] = lower
    table["upper"] = upper
    exact, scale = capped_proportional(weights, amount_fund, lower, upper, codes=list(codes))
    table["unrounded"] = exact
    unit = int(pol.get("rounding.unit", 1))
    table["amount"] = round_to_total(exact, amount_fund, lower, upper, unit=unit, codes=list(codes))
    table.attrs.update(
        {"policy": pol.id, "policy_hash": pol.hash, "fund": amount_fund, "method": pol.method}
    )
    return FormulaComputation(
        policy=pol,
        towns=towns,
        table=table,
        fund=amount_fund,
        means=means,
        coefficient_sum=total_c,
        scale=scale,
        weight_column=weight_column,
    )


def formula_allocation(
    towns: pd.DataFrame, policy: Policy | str, fund: float | None = None
) -> pd.DataFrame:
    """The amount the policy's formula gives each eligible town, with every step shown.

    Steps, all vectorised over the towns: eligibility (Art. 4) → each factor's value and
    coefficient (Art. 6) → the composite coefficient ``C = (Σ w·coef) × r`` (Art. 6) →
    for ``factor_share`` policies the share ``C / ΣC`` of the fund (2020 Art. 5), for
    ``tier_standard`` policies the tier and its standard (2018 Art. 5) → growth control as
    capped proportional allocation (the total stays exactly the fund) → whole yuan (or the
    policy's rounding unit) by largest remainders, keeping the total and the bounds.

    Parameters
    ----------
    towns:
        A towns table (see :func:`~townfiscal.read_towns`).
    policy:
        A :class:`~townfiscal.Policy` or a policy id.
    fund:
        The fund to share out, yuan. Defaults to the policy's ``fund.default``; for a
        ``tier_standard`` policy without one, the standards are paid as they are.

    Returns
    -------
    pandas.DataFrame
        Over the eligible towns, indexed by code: ``name, kind, county, city, zone``;
        ``value_<factor>`` and ``coef_<factor>`` for each factor; ``regional``;
        ``coefficient``; ``share``; for tier policies ``tier`` (1 = weakest) and ``standard``;
        ``prior_amount``; ``proportional`` (the amount before growth control); ``lower`` and
        ``upper`` (growth-control bounds); ``unrounded``; and ``amount`` (int64 yuan, summing to
        the fund exactly). ``.attrs`` records the policy id and hash and the fund.

    Raises
    ------
    ValidationError
        When the towns table is invalid for this policy, or the fund is not a positive
        whole number of yuan.
    InfeasibleError
        When growth control cannot be met with this fund (last year's floors need more, or
        the caps allow less).

    Examples
    --------
    >>> import townfiscal as tf
    >>> fa = tf.formula_allocation(tf.load_example(), "guangdong-2020", fund=2_000_000_000)
    >>> int(fa["amount"].sum()), len(fa)
    (2000000000, 1002)
    """
    return compute_formula(towns, policy, fund).table


def parameter_refs(policy: Policy, paths: list[str]) -> list[dict[str, Any]]:
    """The parameters at *paths* with their values and sources (for traces)."""
    out = []
    for path in paths:
        if path in policy:
            p = policy.parameter(path)
            out.append(p.to_dict())
    return out
