"""The default objective: a unique optimum that spreads every adjustment in proportion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import townfiscal as tf
from townfiscal._levels import levels, response
from townfiscal.optimize import LinearProblem, ModelContext, optimise, solve
from townfiscal.optimize._polish import polish

FUND = 2_000_000_000
POLICY = "guangdong-2020"


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return tf.load_example()


def capped_proportional(t: np.ndarray, lo: np.ndarray, hi: np.ndarray, fund: float) -> np.ndarray:
    """An independent capped proportional split: Brent's method on the scale λ."""
    lam = brentq(lambda s: float(np.clip(s * t, lo, hi).sum() - fund), 0.0, 1e12, xtol=1e-15,
                 rtol=4 * np.finfo(float).eps)
    return np.clip(lam * t, lo, hi)


def test_bounds_alone_give_the_capped_proportional_allocation(example: pd.DataFrame) -> None:
    """Under a floor and a cap the optimum is clip(λ·t, lo, hi), to the yuan."""
    alloc = tf.allocate(example, POLICY, fund=FUND,
                        constraints=[tf.Floor(1_200_000), tf.Cap(3_500_000)])
    f = alloc.to_frame()
    t = f["target"].to_numpy()
    expected = capped_proportional(t, np.full(t.size, 1_200_000.0),
                                   np.full(t.size, 3_500_000.0), FUND)
    assert alloc.result.method == "breakpoint search"
    assert np.abs(f["optimum"].to_numpy() - expected).max() < 1e-3
    want = tf.round_to_total(expected, FUND)
    assert np.abs(f["amount"].to_numpy() - want).max() <= 1


def test_a_floor_is_paid_by_every_other_town_in_proportion(example: pd.DataFrame) -> None:
    """Floor(1,200,000): 133 towns held at the floor (119 of them raised), every other town
    cut by the same 0.89%."""
    alloc = tf.allocate(example, POLICY, fund=FUND, constraints=[tf.Floor(1_200_000)])
    f = alloc.to_frame()
    ratio = f["optimum"] / f["target"]
    held = f["binding"].str.contains("Floor")
    assert int(held.sum()) == 133
    assert int((f["optimum"] > f["target"]).sum()) == 119
    assert ratio[~held].max() - ratio[~held].min() < 1e-12
    assert alloc.result.scale == pytest.approx(ratio[~held].iloc[0], rel=1e-12)
    assert alloc.result.scale == pytest.approx(0.991095, abs=1e-6)
    assert alloc.shadow_prices.loc["Fund", "shadow_price"] == pytest.approx(alloc.result.scale)
    note = alloc.explain(str(f.index[~held][0])).steps[-3].note
    assert "scaled by λ = 0.991095" in note


def test_least_deviation_breaks_its_ties_in_proportion(example: pd.DataFrame) -> None:
    """MinDeviation under Floor(1,000,000): the optimal vertex makes one town pay 72.7%, the
    tie-broken optimum has the same least deviation and spreads the cost over 972 towns."""
    kw = {"fund": FUND, "constraints": [tf.Floor(1_000_000)], "objective": tf.MinDeviation()}
    vertex = tf.allocate(example, POLICY, tie_break=False, **kw)  # type: ignore[arg-type]
    tied = tf.allocate(example, POLICY, **kw)  # type: ignore[arg-type]
    assert tied.objective_value == pytest.approx(vertex.objective_value, rel=1e-9)
    cut_v = (vertex.to_frame()["optimum"] / vertex.to_frame()["target"]).min()
    f = tied.to_frame()
    cut_t = (f["optimum"] / f["target"])
    assert cut_v == pytest.approx(1 - 0.727, abs=1e-3)
    assert cut_t.min() == pytest.approx(0.998480, abs=1e-6)
    assert int((cut_t < 1 - 1e-9).sum()) == 972


@pytest.mark.parametrize("objective", [None, tf.MinDeviation(), tf.MinDeviation(relative=True)])
@pytest.mark.parametrize("constraints", [
    [tf.Floor(1_000_000), tf.Rounding(10_000)],
    [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Floor(300_000), tf.Rounding(10_000)],
    [tf.NeedOrder(), tf.Floor(300_000), tf.Cap(6_000_000)],
], ids=["floor", "bureau", "ordered"])
def test_shuffled_rows_give_the_same_amounts(example: pd.DataFrame, objective: tf.Objective,
                                             constraints: list[tf.Constraint]) -> None:
    """The amounts depend on the data, not on the order of the rows."""
    shuffled = example.sample(frac=1.0, random_state=7)
    a = tf.allocate(example, POLICY, fund=FUND, constraints=constraints, objective=objective)
    b = tf.allocate(shuffled, POLICY, fund=FUND, constraints=constraints, objective=objective)
    assert a.amounts.sort_index().equals(b.amounts.sort_index())


@pytest.mark.parametrize(("solver", "options"), [
    ("highs", {"solver": "simplex"}), ("highs", {"solver": "ipm"}), ("cbc", None)])
def test_another_solver_gives_the_same_amounts(example: pd.DataFrame, solver: str,
                                               options: dict[str, str] | None) -> None:
    """Least deviation through HiGHS simplex, HiGHS IPM or CBC: the same amounts to the yuan."""
    kw = {"fund": FUND, "constraints": [tf.Floor(1_200_000), tf.Cap(3_000_000)],
          "objective": tf.MinDeviation()}
    base = tf.allocate(example, POLICY, **kw)  # type: ignore[arg-type]
    other = tf.allocate(example, POLICY, solver=solver, solver_options=options,
                        **kw)  # type: ignore[arg-type]
    assert other.amounts.equals(base.amounts)


def test_the_default_ignores_the_lp_solver_when_no_program_is_needed(
        example: pd.DataFrame) -> None:
    """Under bounds the default objective needs no solver: CBC's name changes nothing."""
    cons = [tf.Floor(1_000_000), tf.Rounding(10_000)]
    a = tf.allocate(example, POLICY, fund=FUND, constraints=cons)
    b = tf.allocate(example, POLICY, fund=FUND, constraints=cons, solver="cbc")
    assert a.amounts.equals(b.amounts)


def test_a_quadratic_program_is_refused_by_a_linear_solver(example: pd.DataFrame) -> None:
    """An order makes the default a QP; CBC cannot solve it and says so."""
    with pytest.raises(tf.SolverError, match="linear programs only"):
        tf.allocate(example, POLICY, fund=FUND, constraints=[tf.NeedOrder()], solver="cbc")


def test_to_frame_shows_the_objectives_target(example: pd.DataFrame) -> None:
    """MinDeviation(target=2,000,000) puts 2,000,000 in the target column, not the formula."""
    alloc = tf.allocate(example, POLICY, fund=FUND,
                        objective=tf.MinDeviation(target=2_000_000.0))
    assert (alloc.to_frame()["target"] == 2_000_000.0).all()


# --------------------------------------------------------------------------- properties


def _towns(targets: list[float]) -> pd.DataFrame:
    codes = [f"4400{i:05d}" for i in range(len(targets))]
    return pd.DataFrame({"target": targets}, index=codes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(2, 25))
def test_towns_away_from_their_bounds_share_one_ratio(data: st.DataObject, n: int) -> None:
    """Random targets, floors and caps: every town strictly inside its bounds has the same
    x / t, and the optimum is the independent capped proportional split."""
    t = np.array(data.draw(st.lists(st.floats(1_000, 5e6), min_size=n, max_size=n)))
    lo = np.array(data.draw(st.lists(st.one_of(st.just(0.0), st.floats(0, 4e6)),
                                     min_size=n, max_size=n)))
    hi = lo + np.array(data.draw(st.lists(st.one_of(st.just(np.inf), st.floats(1.0, 6e6)),
                                          min_size=n, max_size=n)))
    room = float(np.minimum(hi, 1e12).sum())
    fund = int(data.draw(st.floats(float(lo.sum()) + 1, min(room, 1e9) - 1)) if (
        room - lo.sum() > 2) else 0)
    if fund <= lo.sum():
        return
    frame = _towns(t.tolist())
    cons = [tf.Floor(pd.Series(lo, index=frame.index)), tf.Cap(pd.Series(hi, index=frame.index))]
    try:
        res = optimise(ModelContext(frame, fund), cons)
    except tf.InfeasibleError:  # floors of fractional yuan, raised to whole yuan, above the fund
        assert np.ceil(lo).sum() > fund
        return
    x = res.x
    lo_u, hi_u = res.assembly.lower, res.assembly.upper
    inside = (x > lo_u + 1e-6) & (x < hi_u - 1e-6)
    if inside.sum() >= 2:
        r = x[inside] / t[inside]
        assert r.max() - r.min() <= 1e-9 * r.max()
    assert np.abs(x - capped_proportional(t, lo_u, hi_u, fund)).max() <= 1e-6 * max(1.0, fund / n)
    assert int(res.amounts.sum()) == fund


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(1, 30), groups=st.integers(1, 4))
def test_levels_reach_every_value_they_report(data: st.DataObject, n: int, groups: int) -> None:
    """levels() finds, per group, the μ whose clipped total is the asked value (or ±inf)."""
    c = np.array(data.draw(st.lists(st.floats(0, 10), min_size=n, max_size=n)))
    # widths are whole yuan or more in the allocator (targets below one yuan weigh as one)
    w = np.array(data.draw(st.lists(st.one_of(st.just(0.0), st.floats(0.01, 3)), min_size=n,
                                    max_size=n)))
    lo = np.array(data.draw(st.lists(st.floats(0, 5), min_size=n, max_size=n)))
    hi = lo + np.array(data.draw(st.lists(st.one_of(st.just(np.inf), st.floats(0, 8)),
                                          min_size=n, max_size=n)))
    grp = np.array(data.draw(st.lists(st.integers(-1, groups - 1), min_size=n, max_size=n)))
    v = np.array(data.draw(st.lists(st.floats(0, 80), min_size=groups, max_size=groups)))
    mu = levels(c, w, lo, hi, grp, v)
    for g in range(groups):
        m = grp == g
        least = response(-np.inf, c[m], w[m], lo[m], hi[m]).sum()
        most = response(np.inf, c[m], w[m], lo[m], hi[m]).sum()
        if v[g] <= least:
            assert mu[g] == -np.inf
        elif v[g] > most + 1e-9:
            assert mu[g] == np.inf
        else:
            got = response(mu[g], c[m], w[m], lo[m], hi[m]).sum()
            assert got == pytest.approx(v[g], rel=1e-9, abs=1e-9)


# --------------------------------------------------------------------------- the QP path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 30))
def test_the_quadratic_program_matches_the_breakpoint_search(seed: int, n: int) -> None:
    """The same model through Clarabel and the exact finish, and through the breakpoint
    search: the same optimum to a thousandth of a yuan."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(1e5, 5e6, n)
    frame = _towns(t.tolist())
    frame["county"] = rng.choice(["a", "b", "c"], n)
    fund = int(t.sum() * rng.uniform(0.8, 1.2))
    cons = [tf.Floor(float(np.quantile(t, 0.2))), tf.Cap(float(np.quantile(t, 0.9)) * 1.1),
            tf.GroupTotal("county", hi=float(fund) / 2.5)]
    ctx = ModelContext(frame, fund)
    try:
        exact = optimise(ctx, cons)
    except tf.InfeasibleError:
        return
    # a second, redundant group family and Clarabel: the same model as a quadratic program
    frame["all"] = "x"
    qp = optimise(ModelContext(frame, fund), [*cons, tf.GroupTotal("all", hi=float(fund))],
                  solver="clarabel")
    assert exact.method == "breakpoint search"
    assert qp.method == "quadratic program"
    assert np.abs(exact.x - qp.x).max() < 1e-3
    assert qp.amounts.tolist() == exact.amounts.tolist()


@pytest.mark.parametrize(("solver", "method"), [
    ("highs", "isotonic regression in the breakpoint search"),
    ("clarabel", "quadratic program")])
def test_the_quadratic_program_against_highs(example: pd.DataFrame, solver: str,
                                             method: str) -> None:
    """Need order and a floor, by the structured solve and by Clarabel: HiGHS's own QP solver,
    an independent method, reaches the same optimum within its tolerance, never a lower one."""
    cons = [tf.NeedOrder(), tf.Floor(800_000), tf.Cap(4_000_000)]
    ours = tf.allocate(example, POLICY, fund=FUND, constraints=cons, solver=solver)
    highs = tf.allocate(example, POLICY, fund=FUND, constraints=cons, solver="highs-qp")
    assert ours.result.method == method
    assert highs.solver == "highs-qp"
    assert ours.objective_value <= highs.objective_value + 1e-6 * highs.objective_value
    assert ours.objective_value == pytest.approx(highs.objective_value, rel=1e-6)
    assert np.abs(ours.result.x - highs.result.x).max() < 1_000


def test_polish_finds_the_vertex_of_a_small_qp() -> None:
    """min (x−3)² + (y−1)² with x + y = 2, y ≥ 0.5: x = 1.5, y = 0.5, from a rough start."""
    p = LinearProblem(cost=[-6.0, -2.0], matrix=sp.csr_array([[1.0, 1.0]]), row_lower=[2.0],
                      row_upper=[2.0], col_lower=[0.0, 0.5], col_upper=[np.inf, np.inf],
                      hessian=[2.0, 2.0])
    done = polish(p, np.array([1.4, 0.6]))
    assert done.converged
    assert done.z.tolist() == pytest.approx([1.5, 0.5], abs=1e-12)
    assert done.row_dual[0] == pytest.approx(-3.0)
    assert solve(p).x.tolist() == pytest.approx([1.5, 0.5], abs=1e-12)


@pytest.mark.parametrize("fund", [4_499_000_000, 4_500_000_000])
def test_city_caps_binding_at_the_top_of_the_range_still_allocate(example: pd.DataFrame,
                                                                  fund: int) -> None:
    """2018 tiers, hold-harmless and 15 city caps of 300 million: funds up to the caps' 4.5 bn
    allocate, every city at most its cap (a group total at its cap may sit a few thousandths
    of a yuan over it in float64 before rounding)."""
    cons = [tf.HoldHarmless(), tf.GroupTotal("city", hi=300_000_000)]
    alloc = tf.allocate(example, "guangdong-2018", fund=fund, constraints=cons)
    by_city = alloc.to_frame().groupby("city")["amount"].sum()
    assert int(alloc.amounts.sum()) == fund
    assert by_city.max() <= 300_000_000
    assert alloc.result.method == "breakpoint search"
