"""Fund sweeps read off one model: the same amounts as tf.allocate, fund by fund, to the yuan."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal import analysis
from townfiscal.optimize import FormulaPath, fund_model
from townfiscal.rules._eligibility import eligible_mask
from townfiscal.rules._growth import capped_proportional

POLICY = "guangdong-2020"
BUREAU = [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Rounding(10_000)]
FUNDS = [1_900_000_000 + i * 10_000_000 for i in range(21)]


@pytest.fixture(scope="module")
def towns() -> pd.DataFrame:
    return tf.load_example()


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except tf.InfeasibleError as exc:
        return "infeasible", [str(c) for c in exc.details]


def test_example_sweep_equals_allocate_to_the_yuan(towns: pd.DataFrame) -> None:
    """21 funds with hold-harmless, growth cap and 万元 rounding: each fund's amounts are
    allocate's to the yuan (the objective to float precision), and the sweep says it read
    them off the parametric path."""
    long = tf.sweep(towns, POLICY, funds=FUNDS, executor="serial", per_town=True,
                    constraints=BUREAU)
    table = tf.sweep(towns, POLICY, funds=FUNDS, executor="serial", constraints=BUREAU)
    assert (table["solved_by"] == "parametric path").all()
    assert table.attrs["solved_by"] == "parametric path"
    assert (table["solver"] == "breakpoints").all()
    for i in (0, 7, 20):
        direct = tf.allocate(towns, POLICY, fund=FUNDS[i], constraints=BUREAU)
        got = long[long["fund"] == FUNDS[i]].set_index("code")["amount"]
        assert got.to_dict() == direct.amounts.to_dict()
        assert table.loc[i, "objective_value"] == pytest.approx(direct.objective_value,
                                                                 rel=1e-12)
        assert table.loc[i, "total"] == FUNDS[i]
        summary = analysis.summarise(direct.amounts, towns)
        for key, value in summary.items():
            assert table.loc[i, key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    # 2.0 bn: 710,000 to 5,180,000 yuan a town, nobody below last year
    assert (table.loc[10, "min"], table.loc[10, "max"]) == (710_000, 5_180_000)
    assert table.loc[10, "losers"] == 0


def test_formula_sweep_reads_the_formula_path(towns: pd.DataFrame) -> None:
    """method="formula" over funds: the formula's amounts at each fund, off the same path."""
    funds = [1_950_000_000, 2_000_000_000, 2_100_000_000]
    long = tf.sweep(towns, POLICY, funds=funds, method="formula", executor="serial",
                    per_town=True)
    for f in funds:
        direct = tf.formula_allocation(towns, POLICY, fund=f)["amount"]
        got = long[long["fund"] == f].set_index("code")["amount"]
        assert got.to_dict() == direct.to_dict()


def test_shapes_without_a_path_are_re_solved(towns: pd.DataFrame) -> None:
    """Orders and linear objectives re-solve per fund, and the table says so."""
    funds = [1_990_000_000, 2_000_000_000]
    ordered = tf.sweep(towns, POLICY, funds=funds, executor="serial",
                       constraints=[tf.NeedOrder()])
    linear = tf.sweep(towns, POLICY, funds=funds, executor="serial",
                      objective=tf.MinDeviation(), constraints=[tf.HoldHarmless()])
    for table in (ordered, linear):
        assert (table["solved_by"] == "cold re-solve").all()
        assert table["total"].tolist() == funds
    direct = tf.allocate(towns, POLICY, fund=funds[1], objective=tf.MinDeviation(),
                         constraints=[tf.HoldHarmless()])
    assert linear.loc[1, "objective_value"] == pytest.approx(direct.objective_value)
    assert fund_model(towns, POLICY, funds, objective=tf.MinDeviation()) is not None
    assert not fund_model(towns, POLICY, funds, objective=tf.MinDeviation()).allocates  # type: ignore[union-attr]


def test_infeasible_funds_on_the_path_match_allocate(towns: pd.DataFrame) -> None:
    """A fund the floors cannot meet fails with allocate's reasons; the other funds go on."""
    funds = [1_000_000_000, 2_000_000_000]
    with pytest.warns(UserWarning, match="1 of 2 scenarios infeasible"):
        table = tf.sweep(towns, POLICY, funds=funds, executor="serial",
                         constraints=[tf.HoldHarmless(1.02)])
    assert table["status"].tolist() == ["infeasible", "optimal"]
    assert table.loc[0, "solved_by"] == "parametric path"
    with pytest.warns(UserWarning, match="1 of 2 scenarios infeasible"):
        cold = tf.sweep(towns, POLICY, funds=funds, executor="threads",
                        constraints=[tf.HoldHarmless(1.02)], parametric=False)
    assert table.loc[0, "error"] == cold.loc[0, "error"]
    assert table.loc[1, "objective_value"] == cold.loc[1, "objective_value"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(1, 40))
def test_formula_path_is_capped_proportional_bit_for_bit(data: st.DataObject, n: int) -> None:
    """Read off the sorted breakpoints, the split of any total is capped_proportional's."""
    w = np.array(data.draw(st.lists(st.one_of(st.just(0.0), st.floats(0.01, 50)), min_size=n,
                                    max_size=n)))
    lo = np.array(data.draw(st.lists(st.one_of(st.just(0.0), st.floats(0, 1e6)), min_size=n,
                                     max_size=n)))
    hi = lo + np.array(data.draw(st.lists(st.one_of(st.just(np.inf), st.floats(0, 2e6)),
                                          min_size=n, max_size=n)))
    path = FormulaPath.build(w, lo, hi, 1, [str(i) for i in range(n)])
    for total in data.draw(st.lists(st.integers(1, 10**8), min_size=1, max_size=5)):
        want = _outcome(lambda t=total: capped_proportional(w, t, lo, hi)[0].tolist())
        got = _outcome(lambda t=total: path.amounts(t).tolist())
        assert got == want


_MENU: list[Any] = [
    [],
    [tf.HoldHarmless()],
    [tf.HoldHarmless(0.97), tf.GrowthCap(0.10)],
    [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Rounding(10_000)],
    [tf.GrowthCap(0.05), tf.Rounding(100)],
    [tf.Floor(500_000), tf.Cap(3_000_000), tf.Rounding(1_000)],
    [tf.HoldHarmless(), tf.GroupTotal("city", hi=60_000_000)],
]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), size=st.integers(5, 120), which=st.integers(0, 6),
       spread=st.floats(0.85, 1.25), spend=st.sampled_from(["exact", "at_most"]))
def test_every_fund_equals_allocate(towns: pd.DataFrame, seed: int, size: int, which: int,
                                    spread: float, spend: str) -> None:
    """On random towns, constraints and funds, each fund's amounts, objective and failure
    are allocate's exactly."""
    rng = np.random.default_rng(seed)
    sample = towns.iloc[np.sort(rng.choice(len(towns), size=size, replace=False))].copy()
    sample["prior_amount"] = (sample["prior_amount"] * rng.uniform(0.8, 1.2, size)).round()
    sample["fiscal_capacity"] = sample["fiscal_capacity"] * rng.uniform(0.7, 1.3, size)
    pool = eligible_mask(tf.validate_towns(sample), tf.get_policy(POLICY))
    prior = float(sample.loc[np.asarray(pool), "prior_amount"].fillna(0).sum())
    if prior <= 0:
        return
    unit = 10_000
    funds = sorted({max(unit, int(prior * spread * k) // unit * unit)
                    for k in (0.9, 1.0, 1.07, 1.2)})
    constraints = _MENU[which]
    model = fund_model(sample, POLICY, funds, constraints=constraints,
                       spend=spend)  # type: ignore[arg-type]
    if model is None:
        return
    assert model.allocates
    batch = dict(zip(funds, model.solve_many(funds), strict=True))
    for f in funds:
        found = batch[f]
        if found is not None:  # the batch settles a fund as allocate does, or leaves it
            event("batch")
            direct = tf.allocate(sample, POLICY, fund=f, constraints=constraints,
                                 spend=spend)  # type: ignore[arg-type]
            assert found.amounts.tolist() == direct.amounts.tolist()
            assert found.objective_value == pytest.approx(direct.objective_value, rel=1e-9,
                                                          abs=1e-9)
        def cold(f: int = f) -> tuple[list[int], float]:
            a = tf.allocate(sample, POLICY, fund=f, constraints=constraints,
                            spend=spend)  # type: ignore[arg-type]
            return a.amounts.tolist(), a.objective_value

        def warm(f: int = f) -> tuple[list[int], float]:
            s = model.solve(f)
            return s.amounts.tolist(), s.objective_value

        got = _outcome(warm)
        event(got[0])
        assert got == _outcome(cold)


def test_linear_sweep_re_solves_warm_and_equals_allocate(towns: pd.DataFrame) -> None:
    """A linear objective whose target does not move with the fund: after the first fund
    HiGHS re-solves from the last basis, and each fund's amounts are allocate's."""
    objective = tf.MinDeviation(target="prior_amount")
    constraints = [tf.GrowthCap(0.25), tf.NeedOrder()]
    funds = [1_900_000_000 + i * 25_000_000 for i in range(4)]
    long = tf.sweep(towns, POLICY, funds=funds, executor="serial", per_town=True,
                    objective=objective, constraints=constraints)
    table = tf.sweep(towns, POLICY, funds=funds, executor="serial", objective=objective,
                     constraints=constraints)
    assert table["solved_by"].tolist() == ["cold re-solve"] + ["warm-started re-solve"] * 3
    assert table.attrs["solved_by"] == "cold re-solve, warm-started re-solve"
    for f in funds:
        direct = tf.allocate(towns, POLICY, fund=f, objective=objective,
                             constraints=constraints)
        got = long[long["fund"] == f].set_index("code")["amount"]
        assert got.to_dict() == direct.amounts.to_dict()
