"""The weak-town formula: eligibility, factors, coefficient, tiers, growth control, amounts."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import townfiscal as tf
from townfiscal.rules import assign_tiers, capped_proportional

NO_GROWTH_CONTROL = {"growth_control.floor": None, "growth_control.cap": None}


def test_eligibility_covers_towns_and_townships_of_the_named_areas(hand):
    """Towns and townships of covered cities and Jiangmen's four county-level cities only."""
    e = tf.eligibility(hand, "guangdong-2020")
    assert e["eligible"].tolist() == [True, True, True, False, False, False]
    assert e.loc["441502001", "reason"].startswith("not covered: subdistrict")
    assert "广州市 is outside the covered areas" in e.loc["440114100", "reason"]
    assert "江门市 is outside" in e.loc["440705100", "reason"]


def test_a_taishan_town_is_covered_through_its_county_code(hand):
    """A Jiangmen town is covered when its county is one of the four named (Art. 4)."""
    hand.loc[5, "code"] = "440781100"
    e = tf.eligibility(hand, "guangdong-2020")
    assert e.loc["440781100", "eligible"]
    assert e.loc["440781100", "reason"] == "covered: town (镇) in 台山市"


def test_eligibility_matches_the_national_list_unit_for_unit(example):
    """The example's covered units are exactly those source notes §2 names, read independently."""
    ref = resources.files("townfiscal.towns") / "data" / "divisions" / "streets.csv.gz"
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        streets = pd.read_csv(fh, dtype=str)
    gd = streets[streets["provinceCode"] == "44"]
    suffix = gd["code"].str[-3:].astype(int)
    cities = {
        "4405",
        "4415",
        "4451",
        "4452",
        "4408",
        "4409",
        "4417",
        "4402",
        "4416",
        "4414",
        "4418",
        "4453",
        "4413",
        "4412",
    }
    counties = {"440785", "440781", "440783", "440784"}
    covered = (suffix.between(100, 399)) & (
        gd["cityCode"].isin(cities) | gd["areaCode"].isin(counties)
    )
    expected = set(gd.loc[covered, "code"])
    e = tf.eligibility(example, "guangdong-2020")
    assert len(expected) == 1002
    assert set(e.index[e["eligible"]]) == expected


def test_factor_coefficients_and_composite_by_hand(hand):
    """Art. 6 on three towns: coefficients value/mean or mean/value, C weighted × r."""
    fa = tf.formula_allocation(hand, "guangdong-2020", fund=3_677_500)
    assert fa.index.tolist() == ["441521100", "441402101", "441402200"]
    np.testing.assert_allclose(fa["coef_supported_population"], [0.5, 1.5, 1.0])
    np.testing.assert_allclose(fa["coef_registered_population"], [0.5, 1.5, 1.0])
    np.testing.assert_allclose(fa["coef_capacity_per_supported"], [1.5, 0.75, 1.0])
    np.testing.assert_allclose(fa["coef_expenditure_per_resident"], [2.0, 2 / 3, 1.0])
    # 0.35·0.5 + 0.35·0.5 + 0.15·1.5 + 0.15·2 = 0.875, × 1.1 (east wing) = 0.9625
    np.testing.assert_allclose(fa["coefficient"], [0.9625, 1.515, 1.2])
    np.testing.assert_allclose(fa["share"], np.array([0.9625, 1.515, 1.2]) / 3.6775)


def test_amounts_by_hand_without_growth_control(hand):
    """Art. 5: fund × C / ΣC, to the yuan, when growth control is switched off."""
    pol = tf.get_policy("guangdong-2020").with_changes(NO_GROWTH_CONTROL)
    fa = tf.formula_allocation(hand, pol, fund=3_677_500)
    assert fa["amount"].tolist() == [962_500, 1_515_000, 1_200_000]


def test_growth_control_by_hand(hand):
    """Floors at last year, caps at +15%, the remainder re-spread: 1,032,500/1,380,000/1,265,000."""
    fa = tf.formula_allocation(hand, "guangdong-2020", fund=3_677_500)
    # 甲镇's share (962,500) is below last year's 1,000,000; 乙镇 and 丙乡 hit +15% caps
    # (1,380,000 and 1,265,000); 甲镇 takes the rest: 3,677,500 − 2,645,000 = 1,032,500.
    assert fa["amount"].tolist() == [1_032_500, 1_380_000, 1_265_000]
    assert fa["upper"].tolist() == pytest.approx([1_150_000, 1_380_000, 1_265_000])
    assert fa["amount"].dtype == np.int64


def test_amounts_are_whole_yuan_and_sum_to_the_fund(example):
    """The example with 2 billion: whole yuan, exact total, everyone covered paid, others not."""
    fa = tf.formula_allocation(example, "guangdong-2020", fund=2_000_000_000)
    assert int(fa["amount"].sum()) == 2_000_000_000
    assert len(fa) == 1002
    assert (fa["amount"] > 0).all()
    assert fa["amount"].dtype == np.int64
    assert (fa["amount"] >= np.ceil(fa["lower"] - 1e-6)).all()
    assert (fa["amount"] <= np.floor(fa["upper"] + 1e-6)).all()
    assert not set(fa.index) & set(example.index[example["kind"] == "subdistrict"])


def test_growth_control_binds_on_the_example(example):
    """On the example some towns sit at last year's floor and some at the +15% cap."""
    fa = tf.formula_allocation(example, "guangdong-2020")
    at_floor = (fa["unrounded"] <= fa["lower"] + 1e-6).sum()
    at_cap = (fa["unrounded"] >= fa["upper"] - 1e-6).sum()
    assert at_floor > 50
    assert at_cap > 50
    assert len(fa) - at_floor - at_cap > 300


def test_tiers_rank_the_weakest_first():
    """Tier 1 holds the largest coefficients; five equal groups; ties broken by code."""
    assert assign_tiers([0.9, 1.3, 1.1, 0.7, 1.0], 5, list("abcde")).tolist() == [4, 1, 2, 5, 3]
    assert assign_tiers([1.0, 1.0], 2, ["z", "a"]).tolist() == [2, 1]
    tiers = assign_tiers(np.arange(1002.0), 5, np.arange(1002).astype(str))
    assert np.bincount(tiers)[1:].tolist() == [201, 200, 201, 200, 200]


def test_2018_standards_by_hand(hand):
    """2018: base 2,000,000 × 1.2 … 0.8 by tier; with a fund, standards scaled to it."""
    pol = tf.get_policy("guangdong-2018").with_changes({"tiers.multipliers": [1.2, 1.0, 0.8]})
    fa = tf.formula_allocation(hand, pol)
    # 2018 uses no regional coefficient: C = 0.875, 1.2625, 1.0 → tiers 3, 1, 2
    assert fa["tier"].tolist() == [3, 1, 2]
    assert fa["amount"].tolist() == [1_600_000, 2_400_000, 2_000_000]
    scaled = tf.formula_allocation(hand, pol, fund=3_000_000)
    assert scaled["amount"].tolist() == [800_000, 1_200_000, 1_000_000]


def test_2018_on_the_example_pays_five_standards(example):
    """Every covered town gets one of the five standards 2.4M … 1.6M."""
    fa = tf.formula_allocation(example, "guangdong-2018")
    assert sorted(fa["amount"].unique().tolist()) == [
        1_600_000,
        1_800_000,
        2_000_000,
        2_200_000,
        2_400_000,
    ]
    assert (
        int(fa["amount"].sum())
        == 2_400_000 * 201 + 2_200_000 * 200 + 2_000_000 * 201 + 1_800_000 * 200 + 1_600_000 * 200
    )


def test_a_fund_below_last_years_floors_is_infeasible(example):
    """Growth control that cannot be met names the floors and the fund."""
    with pytest.raises(tf.InfeasibleError) as info:
        tf.formula_allocation(example, "guangdong-2020", fund=1_000_000_000)
    (conflict,) = info.value.details
    assert conflict.required == pytest.approx(1_857_010_214)
    assert conflict.available == 1_000_000_000
    assert "1,857,010,214" in str(info.value)


def test_capped_proportional_by_hand():
    """Clamped towns take their bound and the rest share the remainder by weight."""
    x, lam = capped_proportional([1, 1, 2], 100, lower=[0, 0, 0], upper=[10, np.inf, np.inf])
    np.testing.assert_allclose(x, [10, 30, 60])
    assert lam == pytest.approx(30)


def test_a_bad_fund_is_rejected(hand):
    """A negative or fractional fund is a validation error naming the fund."""
    with pytest.raises(tf.ValidationError, match="fund"):
        tf.formula_allocation(hand, "guangdong-2020", fund=-5)
    with pytest.raises(tf.ValidationError, match="fund"):
        tf.formula_allocation(hand, "guangdong-2020", fund=10.5)


def test_zero_supported_population_in_a_covered_town_is_named(hand):
    """A zero denominator among covered towns is an error naming the row; elsewhere it is not."""
    hand.loc[1, "supported_population"] = 0
    with pytest.raises(tf.ValidationError) as info:
        tf.formula_allocation(hand, "guangdong-2020", fund=1_000_000)
    (problem,) = info.value.problems
    assert (problem.row, problem.column, problem.value) == (
        "441402101",
        "supported_population",
        0.0,
    )


def test_the_minority_transfer_runs_on_the_same_engine(example):
    """A second measure is only a file: 3 autonomous counties, 7 ethnic townships, area."""
    pol = tf.get_policy("guangdong-minority-2014")
    fa = tf.formula_allocation(example, pol, fund=100_000_000)
    counties = {"440232", "441825", "441826"}
    townships = {"440222204", "441224200", "441324200", "441625200", "441823201",
                 "441882200", "441882201"}
    kinds = example["kind"].isin(["town", "township"])
    expected = {c for c in example.index[kinds] if c[:6] in counties} | townships
    assert set(fa.index) == expected
    assert int(fa["amount"].sum()) == 100_000_000
    area, capacity = fa["value_area"], fa["value_capacity_per_capita"]
    np.testing.assert_allclose(fa["coef_area"], area / area.sum())  # shares, as the measure says
    np.testing.assert_allclose(fa["coef_capacity_per_capita"],
                               (1 / capacity) / (1 / capacity).sum())
