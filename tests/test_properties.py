"""Properties of the formula on random tables (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal.rules import capped_proportional

POLICY = tf.get_policy("guangdong-2020")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tables(draw, min_size=2, max_size=30):
    n = draw(st.integers(min_size, max_size))
    ints = lambda lo, hi: st.lists(st.integers(lo, hi), min_size=n, max_size=n)  # noqa: E731
    zones = draw(
        st.lists(
            st.sampled_from(["east_wing", "west_wing", "north", "core"]), min_size=n, max_size=n
        )
    )
    prior = draw(
        st.lists(st.one_of(st.none(), st.integers(500_000, 3_000_000)), min_size=n, max_size=n)
    )
    frame = pd.DataFrame(
        {
            "code": [f"441402{100 + i:03d}" for i in range(n)],
            "name": [f"镇{i}" for i in range(n)],
            "county": "梅江区",
            "city": "梅州市",
            "zone": zones,
            "supported_population": draw(ints(20, 2_000)),
            "registered_population": draw(ints(1_000, 200_000)),
            "resident_population": draw(ints(500, 200_000)),
            "fiscal_capacity": draw(ints(1_000_000, 500_000_000)),
            "expenditure": draw(ints(1_000_000, 500_000_000)),
            "prior_amount": [np.nan if p is None else float(p) for p in prior],
        }
    )
    return tf.validate_towns(frame)


def _feasible_fund(towns, draw_fraction):
    """A fund between what last year's floors need and what the +15% caps allow, in whole yuan."""
    prior = towns["prior_amount"].to_numpy()
    has = ~np.isnan(prior)
    lo = int(prior[has].sum())
    hi = lo * 1.3 + 5_000_000 if (~has).any() else np.floor(1.15 * prior[has]).sum()
    return max(1, lo + int(draw_fraction * (hi - lo)))


@SETTINGS
@given(tables(), st.floats(0.0, 1.0))
def test_total_is_exact_and_growth_bounds_hold(towns, fraction):
    """Whole yuan, exactly the fund, within last year's floor and +15% cap, near the real sums."""
    fund = _feasible_fund(towns, fraction)
    fa = tf.formula_allocation(towns, POLICY, fund=fund)
    assert int(fa["amount"].sum()) == fund
    assert (fa["amount"] >= np.ceil(fa["lower"] - 1e-6)).all()
    assert (fa["amount"] <= np.floor(fa["upper"] + 1e-6)).all()
    # each amount is its real amount rounded down, plus whole yuan handed out: the fractions
    # that capped towns could not take go to the others, so the total change stays small
    deviation = np.abs(fa["amount"] - fa["unrounded"])
    assert deviation.sum() < 2 * len(fa)
    assert (deviation[fa["unrounded"] < fa["upper"] - 1] < len(fa)).all()


@SETTINGS
@given(
    tables(min_size=3),
    st.integers(0, 100),
    st.floats(1.01, 3.0),
    st.sampled_from(
        ["registered_population", "supported_population", "resident_population", "fiscal_capacity"]
    ),
)
def test_more_people_or_less_capacity_never_lowers_an_amount(towns, pick, factor, column):
    """Raising a town's population, or lowering its capacity, never lowers its amount."""
    towns = towns.assign(prior_amount=np.nan)  # monotonicity of the share itself
    code = towns.index[pick % len(towns)]
    changed = towns.copy()
    if column == "fiscal_capacity":
        changed.loc[code, column] = towns.loc[code, column] / factor
    else:
        changed.loc[code, column] = np.round(towns.loc[code, column] * factor)
    fund = 100_000_000
    before = tf.formula_allocation(towns, POLICY, fund=fund)
    after = tf.formula_allocation(changed, POLICY, fund=fund)
    assert after.loc[code, "unrounded"] >= before.loc[code, "unrounded"] - 1e-6
    assert after.loc[code, "amount"] >= before.loc[code, "amount"] - 1


def _bisect_capped(w, total, lo, hi):
    """An independent oracle: bisection on the scale λ of Σ clip(λ·w, lo, hi) = total."""
    a, b = 0.0, 1.0
    while np.clip(b * w, lo, hi).sum() < total:
        b *= 2.0
    for _ in range(200):
        mid = (a + b) / 2
        a, b = (mid, b) if np.clip(mid * w, lo, hi).sum() < total else (a, mid)
    return np.clip(b * w, lo, hi)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.floats(0.1, 10), st.floats(0, 50), st.floats(0, 100)), min_size=1, max_size=40
    ),
    st.floats(0, 1),
)
def test_capped_proportional_matches_a_naive_oracle(rows, t):
    """The O(n log n) breakpoint search agrees with bisection on the scale."""
    w = np.array([r[0] for r in rows])
    lo = np.array([r[1] for r in rows])
    hi = lo + np.array([r[2] for r in rows]) + 1e-3
    total = lo.sum() + t * (hi.sum() - lo.sum())
    x, _ = capped_proportional(w, total, lo, hi)
    assert abs(x.sum() - total) < 1e-6 * max(1.0, total)
    assert (x >= lo - 1e-9).all()
    assert (x <= hi + 1e-9).all()
    np.testing.assert_allclose(x, _bisect_capped(w, total, lo, hi), rtol=1e-7, atol=1e-6)


@SETTINGS
@given(st.lists(st.floats(0, 1e7), min_size=1, max_size=50), st.sampled_from([1, 100, 10_000]))
def test_round_to_total_keeps_the_sum_and_stays_within_one_unit(values, unit):
    """Rounded amounts sum to the total and each is within one unit of its real amount."""
    x = np.array(values)
    total = round(x.sum() / unit) * unit
    out = tf.round_to_total(x * (total / x.sum()) if x.sum() > 0 else x, total, unit=unit)
    assert int(out.sum()) == total
    assert (out % unit == 0).all()
    if x.sum() > 0:
        assert (np.abs(out - x * total / x.sum()) < unit + 1e-6).all()


NUMERIC = ["supported_population", "registered_population", "resident_population",
           "fiscal_capacity", "expenditure"]


@SETTINGS
@given(tables(min_size=4, max_size=25), st.data())
def test_validation_names_every_corrupted_cell(towns, data):
    """Each corrupted cell comes back as one problem with its row code and column."""
    frame = towns.reset_index().astype(dict.fromkeys(NUMERIC, object))
    n = len(frame)
    rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    expected = set()
    for i in rows:
        column = data.draw(st.sampled_from(NUMERIC))
        bad = data.draw(st.sampled_from([-1, "n/a", float("inf")]))
        frame.loc[i, column] = bad
        expected.add((frame.loc[i, "code"], column))
    with pytest.raises(tf.ValidationError) as info:
        tf.validate_towns(frame)
    assert {(p.row, p.column) for p in info.value.problems} == expected
    assert len(info.value.problems) == len(expected)
