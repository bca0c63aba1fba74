"""The structured solve of ordered allocations: isotonic regression inside the fund's search."""

from __future__ import annotations

import attrs
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal.optimize import ModelContext, optimise
from townfiscal.optimize._isotonic import bounded_pav, ordered_optimum
from townfiscal.optimize._model import violations

FUND = 2_000_000_000
POLICY = "guangdong-2020"


def _frame(targets: list[float], need: list[float], city: list[str] | None = None
           ) -> pd.DataFrame:
    codes = [f"4400{i:05d}" for i in range(len(targets))]
    frame = pd.DataFrame({"target": targets, "need": need}, index=codes)
    if city is not None:
        frame["city"] = city
    return frame


def _objective(x: np.ndarray, t: np.ndarray) -> float:
    return float(np.sum((x - t) ** 2 / t))


def test_bounds_change_which_towns_pool() -> None:
    """Wishes 1, 5, 2 falling along a chain, the first at least 4: the bounded fit pools the
    first two at 4 (cost 10), where clipping the unbounded fit (3, 3, 2) gives (4, 3, 2)
    (cost 13)."""
    v, count, slope = bounded_pav(np.array([1.0, 5.0, 2.0]), np.ones(3),
                                  np.array([4.0, 0.0, 0.0]), np.full(3, np.inf))
    assert np.repeat(v, count).tolist() == [4.0, 4.0, 2.0]
    assert slope.tolist() == [0.0, 1.0]  # the pooled block is held by the floor


def test_a_weak_order_pools_the_towns_that_cross_it() -> None:
    """Targets 1, 4 (needier) and 2, 3 million (less needy), 10 million to share: the needier
    1 million pools with both less needy towns at 18/11·λ million, λ = 110/98."""
    frame = _frame([1e6, 4e6, 2e6, 3e6], [2, 2, 1, 1])
    res = optimise(ModelContext(frame, 10_000_000), [tf.NeedOrder(by="need")])
    lam = 110 / 98
    assert res.method == "isotonic regression in the breakpoint search"
    assert res.x == pytest.approx([18 / 11 * lam * 1e6, 4 * lam * 1e6,
                                   18 / 11 * lam * 1e6, 18 / 11 * lam * 1e6], rel=1e-12)
    assert res.scale == pytest.approx(lam, rel=1e-12)
    assert int(res.amounts.sum()) == 10_000_000


def test_a_cap_on_a_needier_town_caps_every_less_needy_one() -> None:
    """Cap 1.5 million on the neediest of a chain: the two less needy towns, which want 2 and
    3 million, are held at 1.5 million too and the fourth (outside the order) takes the rest."""
    frame = _frame([1e6, 2e6, 3e6, 4e6], [3, 2, 1, np.nan])
    cap = pd.Series([1.5e6, np.inf, np.inf, np.inf], index=frame.index)
    res = optimise(ModelContext(frame, 10_000_000), [tf.NeedOrder(by="need"), tf.Cap(cap)])
    assert res.x[:3] == pytest.approx([1.5e6] * 3, rel=1e-12)
    assert res.x[3] == pytest.approx(5.5e6, rel=1e-12)
    assert res.binding["NeedOrder"].tolist() == [True, True, True, False]


def test_the_example_matches_the_interior_point(example: pd.DataFrame) -> None:
    """Need order, floor, cap and city totals on the example: the structured solve and
    Clarabel's quadratic program give the same amounts to the yuan and the same prices."""
    formula = tf.formula_allocation(example, POLICY, fund=FUND)
    city_hi = formula.groupby("city")["amount"].sum() * 1.01
    cons = [tf.NeedOrder(), tf.Floor(1_000_000), tf.Cap(4_000_000),
            tf.GroupTotal("city", hi=city_hi)]
    ours = tf.allocate(example, POLICY, fund=FUND, constraints=cons)
    qp = tf.allocate(example, POLICY, fund=FUND, constraints=cons, solver="clarabel")
    assert ours.result.method.startswith("isotonic regression in the breakpoint search, then")
    assert qp.result.method == "quadratic program"
    assert ours.amounts.tolist() == qp.amounts.tolist()
    assert ours.objective_value == pytest.approx(qp.objective_value, rel=1e-12)
    pd.testing.assert_series_equal(ours.shadow_prices["shadow_price"],
                                   qp.shadow_prices["shadow_price"], rtol=1e-6)


def test_a_tier_order_is_solved_without_a_program(example: pd.DataFrame) -> None:
    """The 2018 tiers as an order with a floor and a cap: the structured solve, the same
    amounts as Clarabel's, shuffled rows included."""
    cons = [tf.TierOrder(), tf.Floor(1_900_000), tf.Cap(2_200_000)]
    ours = tf.allocate(example, "guangdong-2018", fund=FUND, constraints=cons)
    qp = tf.allocate(example, "guangdong-2018", fund=FUND, constraints=cons, solver="clarabel")
    shuffled = tf.allocate(example.sample(frac=1.0, random_state=7), "guangdong-2018",
                           fund=FUND, constraints=cons)
    assert ours.result.method == "isotonic regression in the breakpoint search"
    assert ours.amounts.tolist() == qp.amounts.tolist()
    assert shuffled.amounts.reindex(ours.amounts.index).tolist() == ours.amounts.tolist()
    assert int(ours.binding["TierOrder"].sum()) == 601


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return tf.load_example()


# --------------------------------------------------------------------------- properties


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(2, 24))
def test_the_structured_solve_is_the_quadratic_programs_optimum(data: st.DataObject,
                                                                 n: int) -> None:
    """Random targets, weak orders with ties and towns outside, floors, caps, city totals and
    funds: the structured optimum meets every constraint, and its objective is HiGHS's and
    Clarabel's (never above either, and neither more than 1e-8 above it); allocate's answer,
    whichever way it went, is the same optimum."""
    draw = data.draw
    t = np.array(draw(st.lists(st.floats(1e4, 5e6), min_size=n, max_size=n)))
    need = draw(st.lists(st.one_of(st.sampled_from([1.0, 2.0, 3.0, 4.0]), st.just(np.nan),
                                   st.floats(0, 10)), min_size=n, max_size=n))
    lo = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(0, 3e6)), min_size=n,
                                max_size=n)))
    hi = lo + np.array(draw(st.lists(st.one_of(st.just(np.inf), st.floats(1e4, 6e6)),
                                     min_size=n, max_size=n)))
    city = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    frame = _frame(t.tolist(), need, city)
    fund = int(t.sum() * draw(st.floats(0.5, 1.5)))
    cons: list[tf.Constraint] = [tf.NeedOrder(by="need"),
                                 tf.Floor(pd.Series(lo, index=frame.index)),
                                 tf.Cap(pd.Series(hi, index=frame.index))]
    grouped = draw(st.booleans())
    if grouped:
        cons.append(tf.GroupTotal("city", hi=fund * draw(st.floats(0.3, 1.0))))
    try:
        ours = optimise(ModelContext(frame, fund), cons)
    except tf.InfeasibleError:
        with pytest.raises(tf.InfeasibleError):
            optimise(ModelContext(frame, fund), cons, solver="clarabel")
        return
    f_ours = _objective(ours.x, t)
    candidates = {"allocate": f_ours}
    if not grouped:  # the structured optimum itself, before the finish confirms and prices it
        found = ordered_optimum(ours.assembly)
        assert found is not None
        assert not violations(attrs.evolve(ours.assembly, unit=1), found.x,
                              tol=max(1e-3, 1e-12 * fund))
        candidates["structured"] = _objective(found.x, t)
    assert not violations(ours.assembly, ours.amounts.astype(np.float64), tol=1e-6)
    assert not violations(attrs.evolve(ours.assembly, unit=1), ours.x, tol=1e-3)
    for solver in ("clarabel", "highs-qp"):
        try:
            other = optimise(ModelContext(frame, fund), cons, solver=solver)
        except tf.SolverError:  # HiGHS's QP solver reports "Solve error" on a few models
            assert solver == "highs-qp"
            continue
        f_other = _objective(other.x, t)
        for f in candidates.values():
            assert f <= f_other + 1e-9 * max(f_other, 1.0)
            if solver == "clarabel":  # polished to its vertex, or within its own tolerance
                assert f_other - f <= 1e-8 * max(f_other, 1.0)
