"""tf.fund_range: the least and the most fund the constraints allow, and what sets each end."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import townfiscal as tf
from townfiscal.cli import main

EXAMPLE = tf.load_example()


def _allocates(policy: str, fund: float, constraints: list[tf.Rounding] | list) -> bool:
    try:
        tf.allocate(EXAMPLE, policy, fund=int(fund), constraints=constraints)
    except tf.InfeasibleError:
        return False
    return True


def test_growth_control_sets_both_ends_without_constraints() -> None:
    """Without constraints the 2020 policy's growth floor and cap set the ends, named with
    their values and sources."""
    r = tf.fund_range(EXAMPLE, "guangdong-2020")
    assert (r.least, r.most) == (1_857_010_214, 2_135_561_280)
    assert r.least_set_by[0].startswith("growth_control.floor = 0.0 (assumption:")
    assert r.most_set_by[0].startswith("growth_control.cap = 0.15 (assumption: growth capped")
    assert 2_000_000_000 in r
    assert 2_140_000_000 not in r
    assert "1,857,010,214 … 2,135,561,280 yuan" in repr(r)
    assert "<table>" in r._repr_html_()
    assert "growth_control.cap" in r._repr_html_()


@pytest.mark.parametrize(
    ("policy", "constraints", "least", "most"),
    [
        ("guangdong-2020", [], 1_857_010_214, 2_135_561_280),
        ("guangdong-2020", [tf.HoldHarmless(), tf.NeedOrder()], 2_131_324_246, 2_135_561_280),
        ("guangdong-2020", [tf.Rounding(10_000)], 1_857_020_000, 2_135_560_000),
        ("guangdong-2018", [tf.GrowthCap(0.2), tf.HoldHarmless(), tf.Rounding(10_000)],
         1_862_070_000, 2_223_550_000),
    ],
)
def test_funds_just_inside_allocate_and_just_outside_raise(
        policy: str, constraints: list, least: int, most: int) -> None:
    """At each end the fund allocates; one rounding unit beyond it raises InfeasibleError."""
    r = tf.fund_range(EXAMPLE, policy, constraints)
    assert (r.least, r.most) == (least, most)
    assert _allocates(policy, r.least, constraints)
    assert _allocates(policy, r.most, constraints)
    assert not _allocates(policy, r.least - r.unit, constraints)
    assert not _allocates(policy, r.most + r.unit, constraints)


def test_rows_set_ends_by_linear_programs() -> None:
    """With a capacity floor on the county average after the transfer the ends come from
    the programs; funds a little inside allocate and a little outside do not."""
    cons = [tf.CapacityFloor(0.65, reference="after"), tf.Cap(100_000_000)]
    r = tf.fund_range(EXAMPLE, "guangdong-2018", cons)
    assert r.least == pytest.approx(1_508_526_993, abs=2)
    assert r.most == pytest.approx(91_969_343_237, abs=2)
    assert r.least_set_by == ("CapacityFloor",)
    assert set(r.most_set_by) == {"Cap", "CapacityFloor"}
    assert _allocates("guangdong-2018", r.least + 1_000, cons)
    assert _allocates("guangdong-2018", r.most - 1_000, cons)
    assert not _allocates("guangdong-2018", r.least - 1_000, cons)
    assert not _allocates("guangdong-2018", r.most + 1_000, cons)


def test_nothing_caps_the_total() -> None:
    """A policy without growth control and no caps leaves the most fund unbounded."""
    r = tf.fund_range(EXAMPLE, "guangdong-2018")
    assert r.least == 1
    assert math.isinf(r.most)
    assert r.least_set_by == ("non-negativity",)
    assert r.most_set_by == ()


def test_no_fund_at_all_raises() -> None:
    """Crossed floors and caps leave no fund; the error names both families."""
    with pytest.raises(tf.InfeasibleError) as err:
        tf.fund_range(EXAMPLE, "guangdong-2018", [tf.Floor(2_000_000), tf.Cap(1_000_000)])
    assert "Floor" in str(err.value)
    assert "Cap" in str(err.value)


def test_cli_range(capsys: pytest.CaptureFixture[str]) -> None:
    """`townfiscal range` prints both ends and what sets them."""
    assert main(["range", "--hold-harmless", "--need-order"]) == 0
    out = capsys.readouterr().out
    assert "least fund 2,131,324,246 yuan, set by HoldHarmless, NeedOrder" in out
    assert "most fund  2,135,561,280 yuan, set by growth_control.cap = 0.15" in out


# ------------------------------------------------------------------ against brute-force LPs


def _growth(policy: str, prior: np.ndarray) -> tuple[float, float]:
    """The formula's growth room: floors rounded up, caps down (0 … inf without control)."""
    pol = tf.get_policy(policy)
    if pol.get("growth_control.cap") is None:
        return 0.0, math.inf
    has = np.isfinite(prior) & (prior > 0)
    g_lo = np.ceil(np.where(has, prior * (1 + pol["growth_control.floor"]), 0.0) - 1e-9)
    g_hi = np.floor(np.where(has, prior * (1 + pol["growth_control.cap"]), np.inf) + 1e-9)
    return float(g_lo.sum()), float(g_hi.sum())


def _brute(towns: pd.DataFrame, policy: str, floor: pd.Series, cap: pd.Series,
           hold: bool, order: bool, city_hi: float | None) -> tuple[float, float]:
    """Least and most Σx of the explicit model, written out densely for linprog, within the
    growth room (NaN: no amounts at all)."""
    codes = tf.eligibility(towns, policy).query("eligible").index
    n = len(codes)
    prior = towns.loc[codes, "prior_amount"].to_numpy(float)
    g_lo, g_hi = _growth(policy, prior)
    lo = np.nan_to_num(floor.reindex(codes).to_numpy(float), nan=0.0)
    if hold:
        lo = np.maximum(lo, np.nan_to_num(prior, nan=0.0))
    hi = np.nan_to_num(cap.reindex(codes).to_numpy(float), nan=np.inf)
    lo, hi = np.ceil(lo - 1e-9), np.floor(hi + 1e-9)
    rows = []
    if order:
        fund = None if math.isinf(g_hi) else int((g_lo + g_hi) / 2)
        coef = tf.formula_allocation(towns, policy, fund=fund).loc[codes, "coefficient"]
        c = coef.to_numpy()
        for i, j in zip(*np.nonzero(c[:, None] > c[None, :]), strict=True):
            r = np.zeros(n)
            r[j], r[i] = 1.0, -1.0  # the needier i gets at least j's amount
            rows.append((r, 0.0))
    if city_hi is not None:
        city = towns.loc[codes, "city"].to_numpy()
        rows += [((city == c).astype(float), city_hi) for c in np.unique(city)]
    a = np.array([r for r, _ in rows]) if rows else None
    s = 10_000.0
    b = np.array([v for _, v in rows]) / s if rows else None
    if np.any(lo > hi):
        return math.nan, math.nan
    bounds = [(lo[i] / s, None if math.isinf(hi[i]) else hi[i] / s) for i in range(n)]
    least = linprog(np.ones(n), A_ub=a, b_ub=b, bounds=bounds, method="highs")
    if least.status == 2:
        return math.nan, math.nan
    most = linprog(-np.ones(n), A_ub=a, b_ub=b, bounds=bounds, method="highs")
    low = max(least.fun * s, g_lo)
    high = min(math.inf if most.status == 3 else -most.fun * s, g_hi)
    return (max(math.ceil(low - 0.01), 1),
            math.floor(high + 0.01) if math.isfinite(high) else math.inf)


@st.composite
def _cases(draw: st.DrawFn) -> tuple:
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    towns = EXAMPLE.iloc[rng.choice(len(EXAMPLE), size=draw(st.integers(25, 60)),
                                    replace=False)]
    codes = towns.index
    floor = pd.Series(np.where(rng.random(len(codes)) < 0.3,
                               rng.integers(1, 4_000_000, len(codes)), np.nan), index=codes)
    cap = pd.Series(np.where(rng.random(len(codes)) < 0.3,
                             rng.integers(2_000_000, 9_000_000, len(codes)), np.nan),
                    index=codes)
    policy = draw(st.sampled_from(["guangdong-2018", "guangdong-2020"]))
    return (towns, policy, floor, cap, draw(st.booleans()), draw(st.booleans()),
            draw(st.sampled_from([None, 5_000_000.0, 30_000_000.0])))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_matches_brute_force_programs(case: tuple) -> None:
    """On random towns, floors, caps, hold-harmless, need order and city caps, the ends are
    the explicit model's least and most Σx (dense linprog) within the growth-control room."""
    towns, policy, floor, cap, hold, order, city_hi = case
    cons: list = [tf.Floor(floor.dropna()), tf.Cap(cap.dropna())]
    if hold:
        cons.append(tf.HoldHarmless())
    if order:
        cons.append(tf.NeedOrder())
    if city_hi is not None:
        cons.append(tf.GroupTotal("city", hi=city_hi))
    want_lo, want_hi = _brute(towns, policy, floor, cap, hold, order, city_hi)
    if math.isnan(want_lo) or want_lo > want_hi:
        with pytest.raises(tf.InfeasibleError):
            tf.fund_range(towns, policy, cons)
        return
    r = tf.fund_range(towns, policy, cons)
    assert r.least == pytest.approx(want_lo, abs=1)
    if math.isinf(want_hi):
        assert math.isinf(r.most)
    else:
        assert r.most == pytest.approx(want_hi, abs=1)


# ------------------------------------------------------------------ infeasibility messages


def test_growth_cap_message_names_the_parameter_and_the_room() -> None:
    """A fund above the growth caps' room names growth_control.cap, its value, that it is an
    assumption, and the funds the formula can share out."""
    with pytest.raises(tf.InfeasibleError) as err:
        tf.allocate(EXAMPLE, "guangdong-2020", fund=2_140_000_000)
    msg = str(err.value)
    assert ("the growth-control caps allow at most 2,135,561,746 yuan but the fund is "
            "2,140,000,000 yuan — set by growth_control.cap = 0.15 (assumption: growth capped "
            "at +15% on last year") in msg
    assert "the formula can share out 1,857,010,214 … 2,135,561,280 yuan" in msg
    assert "growth_control.cap" in err.value.details[0].constraints


def test_growth_floor_message_names_the_parameter() -> None:
    """A fund below the growth floors names growth_control.floor."""
    with pytest.raises(tf.InfeasibleError) as err:
        tf.formula_allocation(EXAMPLE, "guangdong-2020", fund=1_000_000_000)
    assert "set by growth_control.floor = 0.0 (assumption:" in str(err.value)


def test_rounding_gap_below_the_caps_names_the_cap() -> None:
    """A fund between the rounded and the exact sum of the caps names the cap too."""
    with pytest.raises(tf.InfeasibleError, match=r"set by growth_control\.cap = 0\.15"):
        tf.allocate(EXAMPLE, "guangdong-2020", fund=2_135_561_500)


def test_precheck_messages_carry_the_allowed_funds() -> None:
    """Floors above the fund and caps below it say which funds the bounds and orders allow."""
    with pytest.raises(tf.InfeasibleError) as err:
        tf.allocate(EXAMPLE, "guangdong-2018", fund=1_000_000_000,
                    constraints=[tf.HoldHarmless()])
    assert ("but the fund is 1,000,000,000 yuan; the bounds and orders allow funds of at least "
            "1,857,010,214 yuan (see tf.fund_range)") in str(err.value)
    with pytest.raises(tf.InfeasibleError) as err:
        tf.allocate(EXAMPLE, "guangdong-2018", fund=2_300_000_000,
                    constraints=[tf.GrowthCap(0.2)])
    assert "allow funds of 0 … 2,228,411,858 yuan" in str(err.value)
    assert tf.fund_range(EXAMPLE, "guangdong-2018", [tf.GrowthCap(0.2)]).most == 2_228_411_858
