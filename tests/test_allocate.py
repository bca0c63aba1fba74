"""tf.allocate on the bundled example: the public API, the result object and its explanations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import townfiscal as tf

FUND = 2_000_000_000
BUREAU = [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Floor(500_000), tf.Rounding(10_000)]


@pytest.fixture(scope="module")
def bureau(example: pd.DataFrame) -> tf.Allocation:
    """The example under hold-harmless, +15% growth cap, a 500,000 floor, in 万元."""
    return tf.allocate(example, "guangdong-2020", fund=FUND, constraints=BUREAU)


def test_without_constraints_the_formula_amounts_come_back(example: pd.DataFrame) -> None:
    """With no constraint the closest allocation to the formula amounts is those amounts."""
    alloc = tf.allocate(example, "guangdong-2020", fund=FUND)
    formula = tf.formula_allocation(example, "guangdong-2020", fund=FUND)
    assert alloc.objective_value == pytest.approx(0.0, abs=1e-3)
    pd.testing.assert_series_equal(alloc.amounts, formula["amount"], check_names=False)
    assert alloc.status == "optimal"


def test_bureau_constraints_hold_after_rounding(bureau: tf.Allocation,
                                                example: pd.DataFrame) -> None:
    """Whole 万元, the fund to the yuan, every town within last year and +15%, ≥ 500,000."""
    a = bureau.amounts
    assert a.dtype == np.int64
    assert int(a.sum()) == FUND
    assert (a % 10_000 == 0).all()
    prior = example.loc[a.index, "prior_amount"]
    has_prior = prior.notna()
    assert (a[has_prior] >= prior[has_prior]).all()
    assert (a[has_prior] <= 1.15 * prior[has_prior]).all()
    assert (a >= 500_000).all()
    assert len(a) == 1_002


def test_same_input_same_amounts(bureau: tf.Allocation, example: pd.DataFrame) -> None:
    """Run again, the amounts are identical to the yuan."""
    again = tf.allocate(example, "guangdong-2020", fund=FUND, constraints=BUREAU)
    pd.testing.assert_series_equal(again.amounts, bureau.amounts)


def test_to_frame(bureau: tf.Allocation) -> None:
    """Per town: target, amount, change against last year, binding families."""
    f = bureau.to_frame()
    assert {"target", "optimum", "amount", "prior_amount", "change", "binding"} <= set(f.columns)
    known = f["prior_amount"].notna()
    assert known.any()
    assert (f.loc[known, "change"] == f.loc[known, "amount"] - f.loc[known, "prior_amount"]).all()
    held = f["binding"].str.contains("GrowthCap")
    assert held.any()
    # a town held by the growth cap sits at its cap (whole 万元 below 1.15 × last year)
    row = f[held].iloc[0]
    assert row["amount"] == np.floor(1.15 * row["prior_amount"] / 10_000) * 10_000
    assert row["optimum"] < row["target"]


def test_shadow_prices_have_families_and_units(bureau: tf.Allocation) -> None:
    """The fund and every family have a shadow price with its unit."""
    sp = bureau.shadow_prices
    assert {"Fund", "HoldHarmless", "GrowthCap", "Floor"} <= set(sp.index)
    assert sp.loc["Fund", "unit"] == "× target"
    assert sp.loc["Fund", "shadow_price"] == pytest.approx(bureau.result.scale)
    assert (sp["unit"].drop("Fund") == "yuan (Σ (x − t)² / t) per yuan").all()
    assert sp.loc["GrowthCap", "binding"] == bureau.to_frame()["binding"].str.contains(
        "GrowthCap").sum()


def test_fund_shadow_price_is_the_derivative(example: pd.DataFrame) -> None:
    """10 million yuan above the formula's fund, the fund's shadow price (here 1: each extra
    yuan is one more yuan of deviation) predicts the objective's change for 10,000 more."""
    target = tf.formula_allocation(example, "guangdong-2020", fund=FUND)["amount"]
    cons = [tf.HoldHarmless(), tf.GrowthCap(0.15)]

    def run(fund: int) -> tf.Allocation:
        return tf.allocate(example, "guangdong-2020", fund=fund, constraints=cons,
                           objective=tf.MinDeviation(target=target))

    base, more = run(FUND + 10_000_000), run(FUND + 10_010_000)
    price = float(base.shadow_prices.loc["Fund", "shadow_price"])
    assert base.objective_value == pytest.approx(10_000_000, rel=1e-9)
    assert price == pytest.approx(1.0)
    assert more.objective_value - base.objective_value == pytest.approx(price * 10_000,
                                                                       rel=1e-6)


def test_explain_says_what_moved_the_town(bureau: tf.Allocation) -> None:
    """A town held by the growth cap: the trace has the formula steps, then the optimiser's
    target, bounds, optimum (naming GrowthCap and its amount), rounding and amount."""
    f = bureau.to_frame()
    code = f.index[f["binding"] == "GrowthCap"][0]
    tr = bureau.explain(code)
    labels = [s.label for s in tr.steps]
    assert labels[0] == "eligibility"
    assert labels[-5:] == ["target", "bounds", "optimum", "rounding", "amount"]
    note = tr.step("optimum").note or ""
    assert "lowered by" in note
    assert "GrowthCap" in note
    assert tr.amount == int(bureau.amounts[code])
    assert "GrowthCap" in str(tr)
    with pytest.raises(KeyError):
        bureau.explain("000000000")


def test_provenance(bureau: tf.Allocation) -> None:
    """Policy id and hash, data hash, solver and library versions are recorded."""
    p = bureau.provenance
    assert p["policy"] == "guangdong-2020"
    assert p["policy_hash"] == tf.get_policy("guangdong-2020").hash
    assert len(p["data_hash"]) == 64
    assert p["solver"] == "breakpoints"
    assert p["solver_version"].startswith("townfiscal breakpoint search")
    assert p["fund"] == FUND
    assert "Rounding(unit=10000, exact='auto')" in p["constraints"]


def test_cbc_finds_the_same_optimum(example: pd.DataFrame) -> None:
    """PuLP's CBC reaches the same least deviation as HiGHS on the bureau's model, and the
    same amounts once the ties are broken."""
    kw = {"fund": FUND, "constraints": BUREAU, "objective": tf.MinDeviation()}
    highs = tf.allocate(example, "guangdong-2020", **kw)  # type: ignore[arg-type]
    cbc = tf.allocate(example, "guangdong-2020", solver="cbc", **kw)  # type: ignore[arg-type]
    assert cbc.objective_value == pytest.approx(highs.objective_value, rel=1e-7, abs=1.0)
    assert cbc.solver == "PULP_CBC_CMD"
    assert cbc.amounts.equals(highs.amounts)


def test_tier_order_on_the_tier_policy(example: pd.DataFrame) -> None:
    """Under the 2018 tiers every town of a weaker tier gets at least every stronger one."""
    alloc = tf.allocate(example, "guangdong-2018", fund=FUND,
                        constraints=[tf.TierOrder(), tf.Rounding(10_000)])
    tiers = alloc.formula.table["tier"]
    a = alloc.amounts
    by_tier = a.groupby(tiers)
    lows, highs = by_tier.min(), by_tier.max()
    assert (lows.to_numpy()[:-1] >= highs.to_numpy()[1:]).all()
    assert int(a.sum()) == FUND


def test_tier_order_needs_tiers(example: pd.DataFrame) -> None:
    """The 2020 policy has no tiers: TierOrder is refused with a pointer to NeedOrder."""
    with pytest.raises(tf.ValidationError, match="NeedOrder"):
        tf.allocate(example, "guangdong-2020", fund=FUND, constraints=[tf.TierOrder()])


def test_need_order_and_max_min(example: pd.DataFrame) -> None:
    """NeedOrder holds after rounding; a MaxMin term raises the lowest capacity per person."""
    alloc = tf.allocate(example, "guangdong-2020", fund=FUND,
                        constraints=[tf.NeedOrder(), tf.Rounding(10_000)])
    coef = alloc.formula.table["coefficient"].to_numpy()
    a = alloc.amounts.to_numpy()
    order = np.argsort(-coef, kind="stable")
    assert np.all(np.diff(a[order]) <= 0)
    t = alloc.formula.table
    towns = example.loc[t.index]
    per_cap = (towns["fiscal_capacity"] + alloc.amounts) / towns["supported_population"]
    fair = tf.allocate(example, "guangdong-2020", fund=FUND,
                       objective=tf.MaxMin() + 1e-6 * tf.MinDeviation())
    per_cap_fair = (towns["fiscal_capacity"] + fair.amounts) / towns["supported_population"]
    assert per_cap_fair.min() > per_cap.min()


def test_to_excel(bureau: tf.Allocation, tmp_path: Path) -> None:
    """The workbook has the allocation table (分配表), shadow prices and provenance."""
    path = bureau.to_excel(tmp_path / "alloc.xlsx")
    sheets = pd.read_excel(path, sheet_name=None, index_col=0, engine="openpyxl")
    assert set(sheets) == {"分配表", "市县汇总", "参数", "来源", "乡镇基础数据", "影子价格"}
    towns = sheets["分配表"].drop(index="合计")
    assert int(towns["分配金额(元)"].sum()) == FUND
    assert tf.read_allocation(path).amounts.sort_index().equals(bureau.amounts.sort_index())


def test_write_model(bureau: tf.Allocation, tmp_path: Path) -> None:
    """The solved QP exports with town-named columns, family-named rows and its Hessian."""
    text = bureau.write_model(tmp_path / "model.lp").read_text()
    assert "Fund_1:" in text
    code = bureau.amounts.index[0]
    assert f"x_{code}" in text
    assert f"x_{code} * x_{code}" in text


def test_write_model_of_least_deviation(example: pd.DataFrame, tmp_path: Path) -> None:
    """The least-deviation LP exports with one column per piece of each town's amount."""
    alloc = tf.allocate(example, "guangdong-2020", fund=FUND, constraints=BUREAU,
                        objective=tf.MinDeviation())
    text = alloc.write_model(tmp_path / "model.lp").read_text()
    assert "Fund_1:" in text
    assert f"seg_{alloc.amounts.index[0]}_" in text
