"""Multi-year projections: each year's amounts roll into the next year's prior amounts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import townfiscal as tf

FUNDS = {2021: 2_000_000_000, 2022: 2_100_000_000, 2023: 2_150_000_000, 2024: 2_300_000_000,
         2025: 2_400_000_000}
BUREAU = [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Rounding(10_000)]


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return tf.load_example()


@pytest.fixture(scope="module")
def five_years(example: pd.DataFrame) -> tf.Projection:
    return tf.project(example, "guangdong-2020", FUNDS, constraints=BUREAU)


def test_five_years_equal_five_chained_allocations(example: pd.DataFrame,
                                                    five_years: tf.Projection) -> None:
    """Five years of hold-harmless, +15% cap and 万元 rounding equal five allocate calls, each
    fed the last one's amounts as prior_amount, to the yuan."""
    towns = example.copy()
    for year, fund in FUNDS.items():
        alloc = tf.allocate(towns, "guangdong-2020", fund=fund, constraints=BUREAU)
        got = five_years.table[five_years.table["year"] == year].set_index("code")["amount"]
        assert got.to_dict() == alloc.amounts.astype(np.int64).to_dict()
        towns = towns.copy()
        towns["prior_amount"] = np.nan
        towns.loc[alloc.amounts.index, "prior_amount"] = alloc.amounts.astype(float)
    assert five_years.years == list(FUNDS)
    assert five_years.summary["fund"].tolist() == list(FUNDS.values())
    assert (five_years.summary["towns"] == 1002).all()


def test_the_summary_counts_towns_at_their_bounds(five_years: tf.Projection) -> None:
    """Year one: 163 towns held harmless at last year's amount and 236 at the +15% cap (the
    example's figures); later years start from those amounts, so the caps bind less."""
    first = five_years.summary.loc[2021]
    t = five_years.table[five_years.table["year"] == 2021]
    prior = t["prior_amount"].to_numpy()
    assert int(first["at_floor"]) == int(np.sum(t["at_floor"]))
    assert int(first["at_cap"]) == int(np.sum(np.isclose(t["amount"], np.floor(prior * 1.15 / 1e4)
                                                         * 1e4, atol=1.0) & t["at_cap"]))
    assert first["min"] == t["amount"].min()
    assert five_years.summary.loc[2025, "at_cap"] < first["at_cap"]
    assert 0 < first["gini"] < 1


def test_yearly_changes_apply_from_their_year_on(example: pd.DataFrame) -> None:
    """A tighter growth cap from 2023 applies to 2023 and 2024, not to 2022."""
    p = tf.project(example, {2022: "guangdong-2020", 2023: {"growth_control.cap": 0.05}},
                   {2022: 2_000_000_000, 2023: 2_080_000_000, 2024: 2_160_000_000})
    caps = {y: a.formula.policy["growth_control.cap"] for y, a in p.allocations.items()}
    assert caps == {2022: 0.15, 2023: 0.05, 2024: 0.05}
    rows = p.table.set_index(["year", "code"])
    grew = rows.loc[2023, "amount"] / rows.loc[2022, "amount"]
    assert grew.max() <= 1.05 + 1e-6


def test_funds_and_years_must_fit(example: pd.DataFrame) -> None:
    """A sequence of funds needs as many years; a mapping needs a fund for every year."""
    with pytest.raises(tf.ValidationError, match="2 funds for 3 years"):
        tf.project(example, "guangdong-2020", [1, 2], years=[2021, 2022, 2023])
    with pytest.raises(tf.ValidationError, match="no fund for this year"):
        tf.project(example, {2021: "guangdong-2020", 2022: {}}, {2021: 2_000_000_000},
                   years=[2021, 2022])
    with pytest.raises(tf.ValidationError, match="whole number of yuan"):
        tf.project(example, "guangdong-2020", {2021: -5})
    with pytest.raises(tf.ValidationError, match="need a policy to change"):
        tf.project(example, {2021: {"growth_control.cap": 0.1}}, 2_000_000_000)


def test_an_infeasible_year_is_named(example: pd.DataFrame) -> None:
    """A year whose floors exceed its fund raises InfeasibleError with the year noted."""
    with pytest.raises(tf.InfeasibleError) as info:
        tf.project(example, "guangdong-2020", {2021: 2_000_000_000, 2022: 1_000_000_000},
                   constraints=[tf.HoldHarmless()])
    assert "in the projection's year 2022" in info.value.__notes__


def test_the_projection_shows_itself(five_years: tf.Projection) -> None:
    """repr names the years and funds; the HTML has a row per year; amounts() is town × year."""
    assert "2021–2025: 5 years, 1002 towns" in repr(five_years)
    html = five_years._repr_html_()
    assert html.count("<tr>") >= 6
    assert "2,400,000,000" in html
    wide = five_years.amounts()
    assert wide.shape == (1002, 5)
    assert list(wide.columns) == list(FUNDS)
