"""The figures the rule pages state about the library's assumptions, recomputed independently
(plain numpy on the towns table, not the library's factor code), and the factor code's
handling of zero values and zero denominators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import townfiscal as tf
from townfiscal.rules import factor_coefficients
from townfiscal.rules._factors import factor_arrays, factor_specs

MINORITY_FUND = 100_000_000
FUND_2020 = 2_000_000_000


@pytest.fixture(scope="module")
def towns() -> pd.DataFrame:
    return tf.load_example()


def _minority_pool(towns: pd.DataFrame) -> pd.DataFrame:
    pol = tf.get_policy("guangdong-minority-2014")
    return towns.loc[tf.eligibility(towns, pol)["eligible"]]


def test_the_minority_default_is_the_literal_weighted_share_formula(towns):
    """guangdong-minority-2014 pays total × Σ weight × share, shares of 1/value where less is
    needier: recomputed by hand for every town, to the yuan."""
    t = _minority_pool(towns)
    inv = lambda v: 1 / v  # noqa: E731
    shares = (0.30 * inv(t.fiscal_capacity / t.registered_population)
              / inv(t.fiscal_capacity / t.registered_population).sum()
              + 0.20 * inv(t.expenditure / t.registered_population)
              / inv(t.expenditure / t.registered_population).sum()
              + 0.20 * t.area_km2 / t.area_km2.sum()
              + 0.30 * t.registered_population / t.registered_population.sum())
    fa = tf.formula_allocation(towns, "guangdong-minority-2014", fund=MINORITY_FUND)
    assert len(fa) == 30
    assert abs(shares.sum() - 1) < 1e-12
    by_hand = MINORITY_FUND * shares
    assert (fa["amount"] - by_hand.loc[fa.index]).abs().max() < 1
    assert int(fa["amount"].sum()) == MINORITY_FUND


def test_the_normalised_option_moves_minority_amounts_by_the_stated_figure(towns):
    """mean ÷ value weighs the two 'less is needier' factors by 1.17 and 1.13 and the cap
    binds once, so towns differ from the literal shares by up to 154,250 yuan (3.4%)."""
    pol = tf.get_policy("guangdong-minority-2014")
    literal = tf.formula_allocation(towns, pol, fund=MINORITY_FUND)
    normalised = tf.formula_allocation(
        towns, pol.with_changes({"normalisation.method": "mean_ratio"}), fund=MINORITY_FUND)
    t = _minority_pool(towns)
    k = t.fiscal_capacity / t.registered_population
    e = t.expenditure / t.registered_population
    assert round(float((k.mean() / k).mean()), 2) == 1.17
    assert round(float((e.mean() / e).mean()), 2) == 1.13
    assert int((normalised["coef_capacity_per_capita"] >= 3.0).sum()) == 1  # the cap binds
    diff = (normalised["amount"] - literal["amount"]).abs()
    assert int(diff.max()) in (154_250, 154_251)  # rounding to whole yuan
    assert round(float((diff / literal["amount"]).max()), 3) == 0.034


def test_plain_mean_against_aggregate_average_moves_a_town_by_up_to_064_percent(towns):
    """The per-capita factors use the plain mean of per-capita values; the aggregate average
    (Σ numerator ÷ Σ denominator) would move a town's formula share by up to 0.64%."""
    pol = tf.get_policy("guangdong-2020")
    t = towns.loc[tf.eligibility(towns, pol)["eligible"]]
    cap = 3.0
    a = np.minimum(t.supported_population / t.supported_population.mean(), cap)
    b = np.minimum(t.registered_population / t.registered_population.mean(), cap)
    k = t.fiscal_capacity / t.supported_population
    e = t.expenditure / t.resident_population
    r = t.zone.map({"core": 1.0, "east_wing": 1.1, "west_wing": 1.1, "north": 1.2})

    def share(k_bar: float, e_bar: float) -> pd.Series:
        c = (0.35 * a + 0.35 * b + 0.15 * np.minimum(k_bar / k, cap)
             + 0.15 * np.minimum(e_bar / e, cap)) * r
        return c / c.sum()

    plain = share(k.mean(), e.mean())
    aggregate = share(t.fiscal_capacity.sum() / t.supported_population.sum(),
                      t.expenditure.sum() / t.resident_population.sum())
    fa = tf.formula_allocation(towns, pol, fund=FUND_2020)
    np.testing.assert_allclose(plain.loc[fa.index], fa["share"], rtol=1e-12)
    assert round(float((aggregate / plain - 1).abs().max()), 4) == 0.0064


def test_ranking_from_small_to_large_would_move_four_towns_across_a_tier_boundary(towns):
    """Ranking the need coefficient from small to large into five equal groups, tier
    numbers reversed, gives the same tiers but for 4 of 1,002 towns at the boundaries."""
    fa = tf.formula_allocation(towns, "guangdong-2018")
    c, codes, n = fa["coefficient"].to_numpy(), fa.index.to_numpy(), len(fa)
    ascending = np.lexsort((codes, c))
    rank = np.empty(n, dtype=int)
    rank[ascending] = np.arange(n)
    reversed_tier = 5 - rank * 5 // n
    assert n == 1002
    assert int((reversed_tier != fa["tier"].to_numpy()).sum()) == 4


def test_a_zero_denominator_is_an_error_naming_the_town(towns):
    """Past validation, a zero denominator raises and names the town instead of turning the
    mean into NaN and every town's coefficient into the cap."""
    pol = tf.get_policy("guangdong-2020")
    pool = tf.eligibility(towns, pol)["eligible"].to_numpy()
    bad = towns.copy()
    code = bad.index[pool][3]
    bad.loc[code, "supported_population"] = 0
    with pytest.raises(ValueError, match=rf"capacity_per_supported.*zero or negative "
                                         rf"denominator.*{code}"):
        factor_coefficients(bad, pol, pool)


def test_a_zero_value_of_a_less_is_needier_factor_gets_the_cap_or_an_error():
    """mean_ratio with a cap gives a zero capacity the cap; without a cap, or as a share,
    there is no finite coefficient and the town is named."""
    spec = next(s for s in factor_specs(tf.get_policy("guangdong-2020"))
                if s.name == "capacity_per_supported")
    columns = {"fiscal_capacity": np.array([0.0, 100.0, 300.0]),
               "supported_population": np.array([10.0, 10.0, 10.0])}
    coefs, means = factor_arrays(columns, [spec], 3.0, "mean_ratio", ["a", "b", "c"])
    np.testing.assert_allclose(coefs["coef_capacity_per_supported"],
                               [3.0, (40 / 3) / 10, (40 / 3) / 30])
    assert means["capacity_per_supported"] == pytest.approx(40 / 3)
    for cap, method in ((np.inf, "mean_ratio"), (3.0, "share")):
        with pytest.raises(ValueError, match=r"zero value, and less is needier.* for a$"):
            factor_arrays(columns, [spec], cap, method, ["a", "b", "c"])


def test_the_trace_of_a_share_policy_shows_the_share_and_its_total(towns):
    """explain_formula writes a share factor as value ÷ total (or 1/value ÷ total), not a mean."""
    trace = tf.explain_formula(towns, "guangdong-minority-2014", "441825109",
                               fund=MINORITY_FUND)
    text = str(trace)
    assert "share of the total of 1/value = (1 / 335.7) / 0.0348842 = 0.0854007" in text
    assert "total of the value over the 30 eligible towns: 6,917.89" in text
    assert "mean / value" not in text
