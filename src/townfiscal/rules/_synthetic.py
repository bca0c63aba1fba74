"""Synthetic towns tables: real units, synthetic figures, last year's amounts by the rules.

The figures come from the towns wing's seeded generator; last year's amounts follow the 2020
composite coefficient (Art. 6), which is why the whole table is assembled here, a layer above
the towns table. ``python tools/regenerate_example.py`` rewrites the bundled example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from townfiscal._rounding import round_to_total
from townfiscal.policy import get_policy
from townfiscal.rules._eligibility import eligible_mask
from townfiscal.rules._factors import composite_coefficient, factor_coefficients
from townfiscal.towns import SEED, example_path, mark, synthetic_figures

__all__ = ["make_towns", "write_example"]

_PRIOR_TOTAL = 1_857_010_214  # 2,000,000,000 / 1.077, source notes §1: 2020 was +7.7% on 2019


def make_towns(
    scope: str | int = "guangdong", *, seed: int = SEED, prior_total: float | None = None
) -> pd.DataFrame:
    """A towns table with real codes and names and synthetic fiscal figures.

    Parameters
    ----------
    scope:
        ``"guangdong"`` (the 1,757 units of province 44, the bundled example), ``"china"``
        (all 41,352 units), a 2-digit province code (e.g. ``"45"``), or a number *n* for *n*
        units drawn at random from the national list.
    seed:
        Seed of the generator; the same seed gives the same table.
    prior_total:
        Total of last year's amounts over the towns and townships of the scope (yuan). For
        Guangdong it defaults to 1,857,010,214 yuan over the eligible towns (2 billion in
        2020 was +7.7% on 2019); elsewhere to 1,850,000 yuan per town or township.

    Returns
    -------
    pandas.DataFrame, validated, indexed by code.

    Raises
    ------
    ValueError
        When *scope* is none of the forms above, or a province code that names no province.

    Notes
    -----
    Every figure is synthetic. Per unit, with medians by zone (core, east wing, west wing,
    north) and a lognormal spread:

    * registered population: medians 55,000 / 58,000 / 52,000 / 26,000, σ = 0.55 (log);
      subdistricts × 1.6, other units (farms, parks) × 0.25;
    * resident population: registered × 1.35 / 0.85 / 0.88 / 0.78, σ = 0.12;
    * fiscally-supported population: 60 + 0.45 % of the registered population, σ = 0.25;
    * area: medians 70 / 45 / 95 / 190 km², σ = 0.6;
    * fiscal capacity: supported population × a per-capita capacity with medians
      240,000 / 118,000 / 124,000 / 136,000 yuan, σ = 0.35; subdistricts × 1.5;
    * general budget expenditure: resident population × medians 2,600 / 1,250 / 1,350 /
      2,000 yuan, σ = 0.3;
    * last year's amount (towns and townships only; blank elsewhere): proportional to the
      2020 composite coefficient (Art. 6) times a lognormal noise of σ = 0.08, scaled to
      *prior_total* and rounded to whole yuan.

    Examples
    --------
    >>> towns = make_towns("guangdong")
    >>> len(towns), int(towns["kind"].value_counts()["town"])
    (1757, 1117)
    """
    towns, noise = synthetic_figures(scope, seed=seed)
    towns["prior_amount"] = _prior_amounts(towns, noise, scope, prior_total)
    # validated (synthetic_figures) and given whole, non-negative prior amounts since
    return mark(towns)


def _prior_amounts(
    towns: pd.DataFrame, noise: np.ndarray, scope: str | int, prior_total: float | None
) -> pd.Series:
    """Last year's amounts: the 2020 composite coefficient × noise, scaled to the total."""
    policy = get_policy("guangdong-2020")
    if scope != "guangdong":
        provinces = sorted({c[:2] for c in towns.index})
        policy = policy.with_changes(
            {"eligibility.areas": {p: p for p in provinces}},
            id="synthetic-prior",
            reason="synthetic data",
        )
        total = prior_total
    else:
        total = prior_total if prior_total is not None else _PRIOR_TOTAL
    pool = eligible_mask(towns, policy)
    coefs, _ = factor_coefficients(towns, policy, pool)
    c, _ = composite_coefficient(coefs, towns.loc[pool, "zone"], policy)
    weights = c * noise[pool]
    if total is None:
        total = 1_850_000 * int(pool.sum())
    amounts = round_to_total(float(total) * weights / weights.sum(), round(total))
    out = pd.Series(np.nan, index=towns.index)
    out[pool] = amounts.astype(np.float64)
    return out


def write_example(path: str | Path | None = None) -> Path:
    """Write the bundled example (``guangdong.csv``) from the generator; returns its path."""
    target = Path(path or example_path())
    towns = make_towns("guangdong")
    out = towns.reset_index()
    for col in (
        "registered_population",
        "resident_population",
        "supported_population",
        "fiscal_capacity",
        "expenditure",
    ):
        out[col] = out[col].astype(np.int64)
    out["prior_amount"] = out["prior_amount"].astype("Int64")
    out.to_csv(target, index=False, lineterminator="\n")
    return target
