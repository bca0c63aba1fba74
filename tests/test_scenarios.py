"""Scenarios: compare, sweep (serial, processes, threads, Dask), notebook summaries."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

import townfiscal as tf
from townfiscal import _html, analysis, metrics

FUND = 2_000_000_000


@pytest.fixture(scope="module")
def towns() -> pd.DataFrame:
    return tf.load_example()


def _small() -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    towns = pd.DataFrame(
        {
            "name": ["甲镇", "乙镇", "丙乡", "丁镇"],
            "county": ["武江区", "武江区", "乳源瑶族自治县", "榕城区"],
            "city": ["韶关市", "韶关市", "韶关市", "揭阳市"],
            "zone": ["north", "north", "north", "east_wing"],
            "fiscal_capacity": [1e6, 2e6, 3e6, 9e6],
            "resident_population": [1_000.0, 1_000.0, 1_000.0, 1_000.0],
            "prior_amount": [1_000_000.0, 1_000_000.0, np.nan, 1_000_000.0],
        },
        index=pd.Index(["440203100", "440203101", "440232200", "445202100"], name="code"),
    )
    codes = list(towns.index[:3])
    scenarios = {
        "formula": pd.Series([1_500_000, 1_000_000, 500_000], index=codes),
        "flat": pd.Series([1_000_000, 1_000_000, 1_000_000], index=codes),
        "two": pd.Series([2_000_000, 1_000_000], index=codes[:2]),
    }
    return towns, scenarios


# --------------------------------------------------------------------------------------------
# compare


def test_compare_per_town_table_hand_computed() -> None:
    """Amounts, change against last year (none = 0) and difference against the baseline."""
    towns, scenarios = _small()
    cmp = tf.compare(scenarios, towns=towns)
    assert cmp.baseline == "formula"
    assert cmp.names == ["formula", "flat", "two"]
    t = cmp.table
    assert list(t.index) == ["440203100", "440203101", "440232200"]
    assert t["amount:two"].tolist() == [2_000_000, 1_000_000, 0]  # not paid → 0
    assert t["change:formula"].tolist() == [500_000, 0, 500_000]  # no prior → whole amount
    assert t["diff:flat"].tolist() == [-500_000, 0, 500_000]
    assert "diff:formula" not in t
    assert cmp.amounts().loc["440232200"].tolist() == [500_000, 1_000_000, 0]
    long = cmp.long()
    assert len(long) == 9
    assert long.loc[long["scenario"] == "flat", "diff"].tolist() == [-500_000, 0, 500_000]


def test_compare_summary_counts_and_measures() -> None:
    """Totals, winners/losers against last year and the baseline, Gini over towns paid."""
    towns, scenarios = _small()
    s = tf.compare(scenarios, towns=towns, baseline="flat").summary
    assert s.loc["formula", "total"] == 3_000_000
    assert s.loc["formula", "winners"] == 1  # 甲镇 +500k; 乙镇 unchanged; 丙乡 new
    assert s.loc["formula", "losers"] == 0
    assert s.loc["formula", "unchanged"] == 1
    assert s.loc["formula", "new"] == 1
    assert s.loc["formula", "up_vs_baseline"] == 1
    assert s.loc["formula", "down_vs_baseline"] == 1
    assert s.loc["flat", "up_vs_baseline"] == 0
    assert s.loc["two", "towns"] == 2
    # flat: capacities 1,2,3 m + 1 m each → 2000, 3000, 4000 yuan per person
    assert s.loc["flat", "gini_after"] == pytest.approx(metrics.gini([2_000, 3_000, 4_000]))
    assert s.loc["flat", "gini_before"] == pytest.approx(metrics.gini([1_000, 2_000, 3_000]))
    # formula: 2500, 3000, 3500 → lowest after = 2500 yuan per person
    assert s.loc["formula", "min_per_capita"] == 2_500
    assert s.loc["two", "gini_after"] == pytest.approx(metrics.gini([3_000, 3_000]), abs=1e-12)
    every = tf.compare(scenarios, towns=towns, over="all").summary
    assert every.loc["flat", "gini_after"] == pytest.approx(
        metrics.gini([2_000, 3_000, 4_000, 9_000])
    )


def test_compare_errors() -> None:
    """No scenarios, an unknown baseline, no towns table or unknown towns are refused."""
    towns, scenarios = _small()
    with pytest.raises(tf.ValidationError, match="at least one"):
        tf.compare({}, towns=towns)
    with pytest.raises(tf.ValidationError, match="baseline 'nope'"):
        tf.compare(scenarios, towns=towns, baseline="nope")
    with pytest.raises(tf.ValidationError, match="no towns table"):
        tf.compare(scenarios)
    with pytest.raises(tf.ValidationError) as err:
        tf.compare({"x": pd.Series([1], index=["999999999"])}, towns=towns)
    assert err.value.problems[0].row == "999999999"
    with pytest.raises(tf.ValidationError, match="expected an Allocation"):
        tf.compare({"x": [1, 2]}, towns=towns)


def test_comparison_text_and_html() -> None:
    """A Comparison shows its summary as text and as escaped HTML."""
    towns, scenarios = _small()
    cmp = tf.compare({**scenarios, "<b>": scenarios["flat"]}, towns=towns)
    text = repr(cmp)
    assert text.startswith("Comparison of 4 scenarios over 3 towns (baseline 'formula')")
    assert "3,000,000" in text
    html = cmp._repr_html_()
    assert "&lt;b&gt;" in html
    assert "<b>" not in html.replace("<b>Comparison", "")
    assert "gini_after" in html


def test_compare_formula_allocations_of_the_example(towns: pd.DataFrame) -> None:
    """Two funds over the example: totals are the funds; more money, fewer losers."""
    pol = tf.get_policy("guangdong-2020")
    a = tf.formula_allocation(towns, pol, fund=FUND)
    b = tf.formula_allocation(towns, pol, fund=2_100_000_000)
    cmp = tf.compare({"2.0": a, "2.1": b}, towns=towns)
    assert cmp.summary["total"].tolist() == [FUND, 2_100_000_000]
    assert cmp.summary.loc["2.1", "down_vs_baseline"] == 0
    assert cmp.summary.loc["2.1", "up_vs_baseline"] > 0
    assert len(cmp.table) == len(a)


# --------------------------------------------------------------------------------------------
# sweep


def test_sweep_funds_serial_formula(towns: pd.DataFrame) -> None:
    """One row per fund in order; totals are the funds; measures match a direct summary."""
    funds = [1_900_000_000, FUND, 2_100_000_000]
    table = tf.sweep(towns, "guangdong-2020", funds=funds, method="formula", executor="serial")
    assert table["scenario"].tolist() == [0, 1, 2]
    assert table["fund"].tolist() == funds
    assert table["total"].tolist() == funds
    assert (table["status"] == "formula").all()
    assert (table["error"] == "").all()
    fa = tf.formula_allocation(towns, "guangdong-2020", fund=FUND)["amount"]
    direct = analysis.summarise(fa, towns)
    for key, value in direct.items():
        assert table.loc[1, key] == pytest.approx(value), key
    assert table["gini_after"].is_monotonic_decreasing


def test_sweep_parameter_values(towns: pd.DataFrame) -> None:
    """param/values re-run the policy with each value; the fund defaults to the policy's."""
    table = tf.sweep(
        towns,
        "guangdong-2020",
        param="growth_control.cap",
        values=[0.1, 0.3],
        method="formula",
        executor="serial",
    )
    assert table["param"].tolist() == ["growth_control.cap"] * 2
    assert table["value"].tolist() == [0.1, 0.3]
    assert table["fund"].tolist() == [FUND, FUND]
    assert table.attrs["param"] == "growth_control.cap"
    for i, cap in enumerate([0.1, 0.3]):
        pol = tf.get_policy("guangdong-2020").with_changes({"growth_control.cap": cap})
        fa = tf.formula_allocation(towns, pol, fund=FUND)["amount"]
        assert table.loc[i, "max"] == fa.max()
        assert table.loc[i, "gini_after"] == pytest.approx(
            analysis.summarise(fa, towns)["gini_after"]
        )
    assert table.loc[0, "max"] != table.loc[1, "max"]


def test_sweep_infeasible_scenarios_are_reported_not_raised(towns: pd.DataFrame) -> None:
    """A fund below last year's floors is infeasible: its row says so and the sweep goes on."""
    with pytest.warns(UserWarning, match=r"1 of 2 scenarios infeasible \(funds 1\.00 bn\)"):
        table = tf.sweep(towns, "guangdong-2020", funds=[1_000_000_000, FUND], method="formula",
                         executor="serial")
    assert table["status"].tolist() == ["infeasible", "formula"]
    assert table.loc[0, "error"] != ""
    assert math.isnan(table.loc[0, "total"])
    assert table.loc[1, "total"] == FUND


def test_sweep_per_town_long_table(towns: pd.DataFrame) -> None:
    """per_town=True gives scenario columns, code and amount; each scenario sums to its fund."""
    long = tf.sweep(
        towns,
        "guangdong-2020",
        funds=[FUND, 2_100_000_000],
        method="formula",
        executor="serial",
        per_town=True,
    )
    assert list(long.columns) == ["scenario", "fund", "status", "objective_value", "code",
                                  "amount"]  # fmt: skip
    sums = long.groupby("fund")["amount"].sum().to_dict()
    assert sums == {FUND: FUND, 2_100_000_000: 2_100_000_000}


def test_sweep_several_towns_tables(towns: pd.DataFrame) -> None:
    """A mapping of towns tables (e.g. forecast draws) runs every fund on every table."""
    draw = towns.copy()
    draw["fiscal_capacity"] = draw["fiscal_capacity"] * 1.1
    table = tf.sweep(
        {"base": towns, "+10%": draw},
        "guangdong-2020",
        funds=[FUND],
        method="formula",
        executor="serial",
    )
    assert table["towns_set"].tolist() == ["base", "+10%"]
    assert table["gini_before"].iloc[0] == pytest.approx(table["gini_before"].iloc[1])
    assert table["min_per_capita"].iloc[1] > table["min_per_capita"].iloc[0]


def test_sweep_argument_errors(towns: pd.DataFrame) -> None:
    """Funds and param together, none, empty values, fractional funds: one error listing all."""
    with pytest.raises(tf.ValidationError, match="either funds"):
        tf.sweep(towns, "guangdong-2020")
    with pytest.raises(tf.ValidationError, match="either funds"):
        tf.sweep(towns, "guangdong-2020", funds=[FUND], param="growth_control.cap", values=[1])
    with pytest.raises(tf.ValidationError) as err:
        tf.sweep(towns, "guangdong-2020", funds=[1.5, -3, FUND], method="nope")  # type: ignore[arg-type]
    assert len(err.value.problems) == 3
    with pytest.raises(tf.ValidationError, match="executor must be"):
        tf.sweep(towns, "guangdong-2020", funds=[FUND, FUND], method="formula", executor=42)


def test_sweep_in_local_processes_matches_serial(towns: pd.DataFrame) -> None:
    """The default executor (local processes) gives the same table as a serial run."""
    funds = [1_950_000_000, FUND, 2_050_000_000, 2_100_000_000]
    serial = tf.sweep(towns, "guangdong-2020", funds=funds, method="formula", executor="serial")
    procs = tf.sweep(towns, "guangdong-2020", funds=funds, method="formula", executor=None)
    cols = ["fund", "total", "gini_after", "winners", "max"]
    pd.testing.assert_frame_equal(serial[cols], procs[cols])


def test_sweep_with_a_given_executor_and_threads(towns: pd.DataFrame) -> None:
    """Any concurrent.futures Executor, or 'threads', runs the scenarios."""
    funds = [FUND, 2_100_000_000]
    with ThreadPoolExecutor(2) as pool:
        a = tf.sweep(towns, "guangdong-2020", funds=funds, method="formula", executor=pool)
    b = tf.sweep(towns, "guangdong-2020", funds=funds, method="formula", executor="threads")
    assert a["total"].tolist() == b["total"].tolist() == funds


def test_sweep_on_a_local_dask_cluster(towns: pd.DataFrame) -> None:
    """A dask.distributed Client runs the sweep (in-process cluster for the test)."""
    distributed = pytest.importorskip("distributed")
    funds = [FUND, 2_050_000_000, 2_100_000_000]
    with (
        distributed.LocalCluster(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        table = tf.sweep(towns, "guangdong-2020", funds=funds, method="formula", executor=client)
    assert table["total"].tolist() == funds
    assert table["scenario"].tolist() == [0, 1, 2]


def test_sweep_progress_bar(towns: pd.DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    """progress=True draws a tqdm bar on stderr; progress=False draws none."""
    funds = [FUND, 2_100_000_000]
    tf.sweep(towns, "guangdong-2020", funds=funds, method="formula", executor="serial",
             progress=True)  # fmt: skip
    err = capsys.readouterr().err
    assert "sweep" in err
    assert "/2 [" in err  # the bar counts to 2 (updates are time-throttled)
    tf.sweep(towns, "guangdong-2020", funds=funds, method="formula", executor="serial",
             progress=False)  # fmt: skip
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------------------------
# notebook manners


def test_policy_html_lists_every_parameter_with_its_source() -> None:
    """Policy._repr_html_ shows id, title and each parameter path and source, escaped."""
    pol = tf.get_policy("guangdong-2020")
    html = pol._repr_html_()
    assert "Policy guangdong-2020" in html
    for p in pol.parameters.values():
        assert p.path in html
    assert html.count('class="tf-assume"') == len(pol.assumptions)
    text = _html.policy_text(pol)
    assert text.splitlines()[0] == "Policy guangdong-2020"
    assert "assumptions:" in text
    assert "date from: the revised measures' publication date" in text
    assert "publication date" in html


class _FakeAllocation:
    def __init__(self) -> None:
        self.amounts = pd.Series([1_000_000, 3_000_000], index=["440203100", "440203101"])
        self.fund = 4_000_000
        self.status = "optimal"
        self.objective_value = 12.5
        self.objective_unit = "yuan"
        self.solver = "highs"
        self.solve_seconds = 0.01
        self.provenance: dict[str, Any] = {"policy": "guangdong-2020", "data_hash": "ab" * 32}
        self.shadow_prices = pd.DataFrame(
            {"shadow_price": [0.5], "binding": [1], "unit": ["yuan/yuan"], "meaning": ["m"]},
            index=pd.Index(["fund"]),
        )


def test_allocation_text_and_html() -> None:
    """An allocation's summary gives fund, towns, range, status, solver and shadow prices."""
    alloc = _FakeAllocation()
    text = _html.allocation_text(alloc)
    assert "fund: 4,000,000 yuan" in text
    assert "per town: min 1,000,000 · mean 2,000,000 · max 3,000,000 yuan" in text
    assert "status: optimal (objective 12.5 yuan)" in text
    assert "towns held by: fund 1" in text
    html = _html.allocation_html(alloc)
    assert "shadow prices" in html
    assert "guangdong-2020" in html


# --------------------------------------------------------------------------------------------
# with the allocator


BUREAU = [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Rounding(10_000)]


def test_sweep_allocate_funds(towns: pd.DataFrame) -> None:
    """The default method solves each fund with tf.allocate and its constraints."""
    funds = [1_950_000_000, FUND]
    table = tf.sweep(towns, "guangdong-2020", funds=funds, executor="serial", constraints=BUREAU)
    assert table["status"].tolist() == ["optimal", "optimal"]
    assert table["total"].tolist() == funds
    assert (table["solver"] == "breakpoints").all()
    direct = tf.allocate(towns, "guangdong-2020", fund=FUND, constraints=BUREAU)
    assert table.loc[1, "objective_value"] == pytest.approx(direct.objective_value)
    assert table.loc[1, "losers"] == 0  # hold-harmless: nobody below last year
    assert table.loc[1, "max"] == direct.amounts.max()


def test_sweep_allocate_reports_infeasible_funds(towns: pd.DataFrame) -> None:
    """Hold-harmless with too small a fund is infeasible: reported in the row, not raised."""
    with pytest.warns(UserWarning, match="1 of 2 scenarios infeasible"):
        table = tf.sweep(towns, "guangdong-2020", funds=[1_000_000_000, FUND],
                         executor="serial", constraints=[tf.HoldHarmless()])
    assert table["status"].tolist() == ["infeasible", "optimal"]
    assert "cannot" in table.loc[0, "error"] or "need" in table.loc[0, "error"]


def test_compare_allocations_take_towns_from_the_allocation(towns: pd.DataFrame) -> None:
    """Allocations carry their towns: compare needs no towns= and counts hold-harmless right."""
    a = tf.allocate(towns, "guangdong-2020", fund=FUND)
    b = tf.allocate(towns, "guangdong-2020", fund=FUND, constraints=BUREAU)
    cmp = tf.compare({"formula": a, "bureau": b})
    assert cmp.summary["total"].tolist() == [FUND, FUND]
    assert cmp.summary.loc["bureau", "losers"] == 0
    assert cmp.table["amount:bureau"].sum() == FUND
    assert (cmp.table["amount:bureau"] % 10_000 == 0).all()
    assert "Allocation" in b._repr_html_()
    assert "shadow prices" in b._repr_html_()
