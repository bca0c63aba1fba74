"""The constraint and objective catalogue on hand-computed cases."""

from __future__ import annotations

import pandas as pd
import pytest

import townfiscal as tf
from townfiscal.optimize import ModelContext, optimise

CODES = ["440000001", "440000002", "440000003"]


def frame(**columns: list[float] | list[str]) -> pd.DataFrame:
    """A model table over the first len(columns) codes."""
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=CODES[:n])


def test_max_min_lifts_the_poorest_town() -> None:
    """Capacities 100 and 300 per person, 100 yuan to give: all to the first (min 200/person)."""
    f = frame(target=[50.0, 50.0], fiscal_capacity=[100.0, 300.0],
              supported_population=[1.0, 1.0])
    res = optimise(ModelContext(f, 100), [], tf.MaxMin())
    assert res.amounts.tolist() == [100, 0]
    assert res.objective_value == pytest.approx(-200.0)


def test_max_min_per_capita_with_populations() -> None:
    """Capacity 0 for 1 and 3 people, 400 yuan: 100 per person each, i.e. 100 and 300."""
    f = frame(target=[0.0, 0.0], fiscal_capacity=[0.0, 0.0], supported_population=[1.0, 3.0])
    res = optimise(ModelContext(f, 400), [], tf.MaxMin())
    assert res.amounts.tolist() == [100, 300]


def test_min_shortfall_fills_the_gap() -> None:
    """Needs 250 against capacities 100 and 300: the 100 yuan go to the first; 50 short."""
    f = frame(target=[50.0, 50.0], expenditure=[250.0, 250.0], fiscal_capacity=[100.0, 300.0])
    res = optimise(ModelContext(f, 100), [], tf.MinShortfall(need="expenditure"))
    assert res.amounts.tolist() == [100, 0]
    assert res.objective_value == pytest.approx(50.0)


def test_weighted_objective_trades_off() -> None:
    """Deviation from (50, 50) plus 3 × shortfall: the shortfall weighs more, so all to town 1
    (deviation 100, shortfall 50 → 100 + 150 = 250, against 0 + 3 × 100 = 300 at (50, 50))."""
    f = frame(target=[50.0, 50.0], expenditure=[250.0, 250.0], fiscal_capacity=[100.0, 300.0])
    obj = tf.MinDeviation() + 3 * tf.MinShortfall(need="expenditure")
    res = optimise(ModelContext(f, 100), [], obj)
    assert res.amounts.tolist() == [100, 0]
    assert res.objective_value == pytest.approx(250.0)
    assert [w for w, _ in obj.terms()] == [1.0, 3.0]


def test_relative_deviation_protects_small_targets() -> None:
    """Targets 100 and 1,000, fund 1,000 (100 short): relative weights take it from the big one."""
    f = frame(target=[100.0, 1000.0])
    res = optimise(ModelContext(f, 1000), [], tf.MinDeviation(relative=True))
    assert res.amounts.tolist() == [100, 900]
    assert res.objective_value == pytest.approx(0.1)


def test_capacity_floor_before_and_after() -> None:
    """County of two towns, capacities 0 and 400, 1 person each (average 200). A 50% floor
    needs 100 for the first before the transfer; after it, with 100 yuan spent, the average
    is 250 and the floor 125 — beyond the 100 available, so infeasible."""
    f = frame(target=[0.0, 100.0], county=["c", "c"], fiscal_capacity=[0.0, 400.0],
              supported_population=[1.0, 1.0])
    res = optimise(ModelContext(f, 100), [tf.CapacityFloor(0.5)])
    assert res.amounts.tolist() == [100, 0]
    with pytest.raises(tf.InfeasibleError) as info:
        optimise(ModelContext(f, 100), [tf.CapacityFloor(0.5, reference="after")])
    assert "CapacityFloor" in str(info.value)
    res = optimise(ModelContext(f, 100), [tf.CapacityFloor(0.4, reference="after")])
    assert res.amounts.tolist() == [100, 0]  # needs 0.4 × 250 = 100


def test_growth_cap_for_towns_without_prior() -> None:
    """no_prior caps a town with no amount last year absolutely; default exempts it."""
    f = frame(target=[100.0, 100.0], prior_amount=[100.0, float("nan")])
    capped = optimise(ModelContext(f, 260), [tf.GrowthCap(0.1, no_prior=150.0)])
    assert capped.amounts.tolist() == [110, 150]
    with pytest.raises(tf.InfeasibleError, match="caps allow at most 260 yuan"):
        optimise(ModelContext(f, 300), [tf.GrowthCap(0.1, no_prior=150.0)])
    free = optimise(ModelContext(f, 400), [tf.GrowthCap(0.1)])  # 200 over the targets
    assert free.amounts[0] <= 110  # capped; the exempt town takes the rest
    assert free.amounts[1] >= 290


def test_per_town_series_and_unknown_codes() -> None:
    """A Series by code bounds only its towns; an unknown code is a ValidationError."""
    f = frame(target=[100.0, 100.0])
    res = optimise(ModelContext(f, 200), [tf.Floor(pd.Series({"440000002": 150.0}))])
    assert res.amounts.tolist() == [50, 150]
    with pytest.raises(tf.ValidationError, match="no town has this code"):
        optimise(ModelContext(f, 200), [tf.Floor(pd.Series({"999999999": 1.0}))])


def test_missing_column_is_named() -> None:
    """HoldHarmless without prior amounts names the missing column."""
    with pytest.raises(tf.ValidationError, match="prior_amount"):
        optimise(ModelContext(frame(target=[1.0]), 1), [tf.HoldHarmless()])


def test_reprs_read_like_the_call() -> None:
    """Constraints show their arguments, money with thousands separators."""
    assert repr(tf.Floor(1_000_000)) == "Floor(1,000,000)"
    assert repr(tf.GrowthCap(0.15)) == "GrowthCap(rate=0.15, no_prior=None)"
    assert repr(tf.GroupTotal("county", hi=5.0)) == "GroupTotal(by='county', lo=None, hi=5.0)"


def test_bad_rounding_unit() -> None:
    """A rounding unit must be a positive whole number of yuan."""
    with pytest.raises(tf.ValidationError):
        tf.Rounding(0)
    with pytest.raises(tf.ValidationError):
        tf.Rounding(10, exact="nearest")  # type: ignore[arg-type]
