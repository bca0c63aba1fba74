"""Impossible constraints: named before solving when cheap, by an elastic re-solve otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import townfiscal as tf
from townfiscal.optimize import ModelContext, optimise


def towns(**columns: list[float] | list[str]) -> pd.DataFrame:
    """A small model table; codes 440000001, 440000002, …"""
    n = len(next(iter(columns.values())))
    frame = pd.DataFrame(columns, index=[f"44000000{i + 1}" for i in range(n)])
    if "target" not in frame:
        frame["target"] = 100.0
    return frame


def conflicts(frame: pd.DataFrame, fund: int, constraints: list[object]) -> list[tf.Conflict]:
    """The details of the InfeasibleError that allocating must raise."""
    with pytest.raises(tf.InfeasibleError) as info:
        optimise(ModelContext(frame, fund), constraints)  # type: ignore[arg-type]
    return info.value.details


def test_floors_above_the_fund() -> None:
    """Floors of 400 on three towns need 1,200 yuan; the fund is 1,000 — both named."""
    (c,) = conflicts(towns(target=[300.0, 300.0, 400.0]), 1_000, [tf.Floor(400)])
    assert c.required == 1_200
    assert c.available == 1_000
    assert c.constraints == ("Floor", "Fund")
    assert "need 1,200 yuan" in c.message and "fund is 1,000 yuan" in c.message


def test_floor_above_cap_names_the_town() -> None:
    """Town 440000002's floor (500) above its cap (400) is named with both amounts."""
    floor = pd.Series({"440000002": 500.0})
    (c,) = conflicts(towns(target=[500.0, 500.0]), 1_000, [tf.Floor(floor), tf.Cap(400)])
    assert c.towns == ("440000002",)
    assert (c.required, c.available) == (500, 400)
    assert c.constraints == ("Floor", "Cap")


def test_hold_harmless_above_growth_cap() -> None:
    """Hold-harmless at 120% of last year exceeds a 10% growth cap, for both towns."""
    frame = towns(prior_amount=[100.0, 200.0], target=[150.0, 150.0])
    (c,) = conflicts(frame, 300, [tf.HoldHarmless(1.2), tf.GrowthCap(0.1)])
    assert c.constraints == ("HoldHarmless", "GrowthCap")
    assert c.towns == ("440000001", "440000002")
    assert (c.required, c.available) == (120, 110)
    assert "last year" in c.message


def test_caps_below_the_fund() -> None:
    """Caps of 300 on three towns allow 900 yuan, short of a fund of 1,000 spent exactly."""
    (c,) = conflicts(towns(target=[300.0, 300.0, 400.0]), 1_000, [tf.Cap(300)])
    assert (c.required, c.available) == (1_000, 900)
    assert "must be spent exactly" in c.message


def test_caps_below_the_fund_are_fine_when_spending_at_most() -> None:
    """With spend='at_most' the same caps give 900 yuan and leave 100 unspent."""
    res = optimise(ModelContext(towns(target=[300.0, 300.0, 400.0]), 1_000), [tf.Cap(300)],
                   spend="at_most")
    assert res.amounts.tolist() == [300, 300, 300]


def test_order_against_bounds() -> None:
    """The needier town is capped at 100 while a less needy one has a floor of 150."""
    frame = towns(coefficient=[2.0, 1.0], target=[100.0, 200.0])
    cap = pd.Series({"440000001": 100.0})
    floor = pd.Series({"440000002": 150.0})
    (c,) = conflicts(frame, 300, [tf.NeedOrder(), tf.Cap(cap), tf.Floor(floor)])
    assert c.constraints == ("NeedOrder", "Cap", "Floor")
    assert (c.required, c.available) == (150, 100)
    assert set(c.towns) == {"440000001", "440000002"}


def test_order_raises_the_floors_above_the_fund() -> None:
    """A floor of 600 on the least needy town lifts both needier towns to 600: 1,800 > 1,000."""
    frame = towns(coefficient=[3.0, 2.0, 1.0])
    floor = pd.Series({"440000003": 600.0})
    (c,) = conflicts(frame, 1_000, [tf.NeedOrder(), tf.Floor(floor)])
    assert c.required == 1_800
    assert "NeedOrder" in c.constraints


def test_fund_not_in_whole_units() -> None:
    """A fund of 10,500 cannot be paid in 1,000-yuan units."""
    details = conflicts(towns(target=[5_000.0, 5_500.0]), 10_500, [tf.Rounding(1_000)])
    assert details[0].constraints == ("Fund", "Rounding")


def test_elastic_resolve_names_what_must_give_way() -> None:
    """Passing the cheap checks but infeasible: city Y's total of at least 600 forces its
    town to 600, the needier town in X must match it, 1,200 > 1,000. The cheapest way out
    (the elastic re-solve) lowers Y's minimum by 100 yuan (NeedOrder or the fund would need
    200)."""
    frame = towns(coefficient=[2.0, 1.0], city=["X", "Y"], target=[500.0, 500.0])
    details = conflicts(frame, 1_000, [tf.NeedOrder(), tf.GroupTotal("city", lo={"Y": 600.0})])
    assert len(details) == 1
    (c,) = details
    assert c.constraints == ("GroupTotal[city]",)
    assert c.required == 100.0
    assert "GroupTotal[city] must give way by 100 yuan" in c.message


def test_conflicts_serialise() -> None:
    """The error's details convert to JSON-friendly dicts with the amounts."""
    with pytest.raises(tf.InfeasibleError) as info:
        optimise(ModelContext(towns(target=[1.0, 2.0]), 10), [tf.Floor(6)])
    d = info.value.to_dict()
    assert d["error"] == "infeasible"
    assert d["conflicts"][0]["required"] == 12.0
    assert np.isfinite(d["conflicts"][0]["available"])
