"""Exact rounding in the allocator: order survives, group totals are rebalanced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal._rounding import rebalance_groups, round_to_total
from townfiscal.optimize import ModelContext, optimise


def test_rebalance_moves_a_unit_out_of_a_full_group() -> None:
    """Group 0 may total 3 but rounds to 4; its smaller remainder goes to group 1."""
    out = rebalance_groups([2, 2, 1], [1.5, 1.4, 1.1], [0, 0, 1], [-np.inf, -np.inf],
                           [3, np.inf])
    assert out is not None
    assert out.tolist() == [2, 1, 2]


def test_rebalance_fills_a_group_below_its_minimum() -> None:
    """Group 1 must total at least 3 but rounds to 2: its largest remainder (1.5) goes up,
    and the only amount rounded up elsewhere (1.6) goes down."""
    out = rebalance_groups([2, 1, 1, 1], [1.6, 1.4, 1.45, 1.5], [0, 0, 1, 1], [-np.inf, 3],
                           [np.inf, np.inf])
    assert out is not None
    assert out.tolist() == [1, 1, 1, 2]


def test_rebalance_gives_up_when_units_cannot_move() -> None:
    """Both amounts already rounded down: nothing can leave the full group."""
    assert rebalance_groups([1, 1], [1.0, 1.0], [0, -1], [-np.inf], [0]) is None


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40), groups=st.integers(1, 4))
def test_rebalanced_groups_hold_and_the_total_stays(seed: int, n: int, groups: int) -> None:
    """Real amounts meeting group caps, rounded then rebalanced: the total is unchanged, each
    amount is its real value rounded down or up, and every group is within its cap."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 50, n)
    g = rng.integers(0, groups, n)
    caps = np.bincount(g, weights=x, minlength=groups)
    caps = np.ceil(caps) + rng.integers(0, 2, groups)  # whole caps at or just above the totals
    total = round(x.sum())
    x = x * total / x.sum()
    caps = np.maximum(caps, np.ceil(np.bincount(g, weights=x, minlength=groups)))
    r = round_to_total(x, total)
    out = rebalance_groups(r, x, g, np.full(groups, -np.inf), caps)
    assert out is not None
    assert int(out.sum()) == total
    assert np.all((out >= np.floor(x - 1e-9)) & (out <= np.ceil(x + 1e-9)))
    assert np.all(np.bincount(g, weights=out, minlength=groups) <= caps)


def test_need_order_survives_rounding_of_ties() -> None:
    """Three towns pooled at one level by the order: the rounded amounts still never give a
    less needy town more than a needier one (by hand: v = 602/22.02, the last 100 − 3v)."""
    frame = pd.DataFrame({"target": [0.0, 0.0, 100.0, 0.0], "coefficient": [4.0, 3.0, 2.0, 1.0]},
                         index=["440000001", "440000002", "440000003", "440000004"])
    res = optimise(ModelContext(frame, 100), [tf.NeedOrder()])
    v = 602 / 22.02
    assert res.x == pytest.approx([v, v, v, 100 - 3 * v], abs=1e-9)
    a = res.amounts
    assert int(a.sum()) == 100
    assert np.all(np.diff(a) <= 0)
    assert a.tolist() == [28, 27, 27, 18]


def test_need_order_survives_rounding_of_ties_under_least_deviation() -> None:
    """Under MinDeviation the three needier towns are pooled at 1/3 of 100 yuan each, and
    the rounding keeps the order."""
    frame = pd.DataFrame({"target": [0.0, 0.0, 100.0, 0.0], "coefficient": [4.0, 3.0, 2.0, 1.0]},
                         index=["440000001", "440000002", "440000003", "440000004"])
    res = optimise(ModelContext(frame, 100), [tf.NeedOrder()], tf.MinDeviation())
    a = res.amounts
    assert int(a.sum()) == 100
    assert np.all(np.diff(a) <= 0)
    assert a.tolist() == [34, 33, 33, 0]


def test_rebalance_keeps_an_order() -> None:
    """Group 0 (the neediest town) is one unit over its cap; moving that unit would put it
    below the next town (both 2), so with the order the rebalance refuses; without it the
    unit goes to the first town with room outside the group."""
    x = [1.5, 1.5, 0.5, 0.5]
    out = rebalance_groups([2, 2, 0, 0], x, [0, 1, 1, 1], [-np.inf, -np.inf], [1, 10],
                           ranks=[[0, 1, 2, 3]])
    assert out is None
    free = rebalance_groups([2, 2, 0, 0], x, [0, 1, 1, 1], [-np.inf, -np.inf], [1, 10])
    assert free is not None
    assert free.tolist() == [1, 2, 1, 0]
