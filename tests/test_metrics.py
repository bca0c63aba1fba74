"""Equalisation measures: hand-computed values, identities and properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal import metrics

# --------------------------------------------------------------------------------------------
# hand-computed values


def test_gini_of_one_to_four_is_a_quarter() -> None:
    """Gini of 1, 2, 3, 4: Σ|xi−xj| over ordered pairs = 20, / (2·n²·μ) = 20/80."""
    assert metrics.gini([1, 2, 3, 4]) == pytest.approx(0.25)


def test_gini_weighted_equals_gini_of_repeated_people() -> None:
    """Three people with 1 and one with 3: weights give the same Gini as four rows."""
    assert metrics.gini([1, 3], weights=[3, 1]) == pytest.approx(0.25)
    assert metrics.gini([1, 1, 1, 3]) == pytest.approx(0.25)


@pytest.mark.parametrize("n", [2, 3, 5, 10, 100])
def test_gini_one_has_everything_is_n_minus_1_over_n(n: int) -> None:
    """One of n units holding everything gives (n − 1)/n."""
    values = np.zeros(n)
    values[-1] = 7.5
    assert metrics.gini(values) == pytest.approx((n - 1) / n)


def test_gini_of_equal_incomes_is_zero_weighted_or_not() -> None:
    """Everybody with the same value per person gives Gini 0, whatever the weights."""
    assert metrics.gini([4_000.0] * 5) == pytest.approx(0.0, abs=1e-12)
    assert metrics.gini([4_000.0] * 3, weights=[10, 2_000, 35_000]) == pytest.approx(0.0, abs=1e-12)


def test_theil_of_one_and_three() -> None:
    """Theil of 1 and 3: μ = 2, T = ½(½ ln ½ + 1½ ln 1½)."""
    expected = 0.5 * (0.5 * math.log(0.5) + 1.5 * math.log(1.5))
    assert metrics.theil([1, 3]) == pytest.approx(expected)


@pytest.mark.parametrize("n", [2, 4, 9])
def test_theil_one_has_everything_is_log_n(n: int) -> None:
    """One of n units holding everything gives ln n; equal values give 0."""
    values = np.zeros(n)
    values[0] = 3.0
    assert metrics.theil(values) == pytest.approx(math.log(n))
    assert metrics.theil(np.full(n, 3.0)) == pytest.approx(0.0, abs=1e-12)


def test_cv_weighted_one_and_three() -> None:
    """Weights 3 and 1 on 1 and 3: μ = 1.5, variance 0.75, CV = √0.75 / 1.5 = 1/√3."""
    assert metrics.coefficient_of_variation([1, 3], weights=[3, 1]) == pytest.approx(
        1 / math.sqrt(3)
    )
    assert metrics.coefficient_of_variation([1, 3]) == pytest.approx(0.5)


def test_max_min_ratio_ignores_towns_without_people() -> None:
    """Max/min is over towns with people; a poorest value of 0 gives infinity."""
    assert metrics.max_min_ratio([2_000, 5_000, 8_000]) == 4.0
    assert metrics.max_min_ratio([1, 5, 8], weights=[0, 1, 1]) == pytest.approx(1.6)
    assert metrics.max_min_ratio([0, 5]) == math.inf


def test_lorenz_points_of_three_and_one() -> None:
    """Lorenz of 3 and 1 goes (0,0) → (½, ¼) → (1,1)."""
    curve = metrics.lorenz([3, 1])
    assert curve["population_share"].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert curve["value_share"].tolist() == pytest.approx([0.0, 0.25, 1.0])


def test_lorenz_weighted_points() -> None:
    """Weights 3 and 1 on 1 and 3: the 3 poorer people (¾) hold 3 of 6 yuan (½)."""
    curve = metrics.lorenz([3, 1], weights=[1, 3])
    assert curve["population_share"].tolist() == pytest.approx([0.0, 0.75, 1.0])
    assert curve["value_share"].tolist() == pytest.approx([0.0, 0.5, 1.0])


def test_grouped_measures_are_per_group() -> None:
    """With by=, each group is measured on its own towns only."""
    values = pd.Series(
        [1.0, 3.0, 2.0, 2.0, 0.0, 0.0, 5.0], index=[f"44000010{i}" for i in range(7)]
    )
    groups = pd.Series(["a", "a", "b", "b", "c", "c", "c"], index=values.index, name="city")
    g = metrics.gini(values, by=groups)
    assert isinstance(g, pd.Series)
    assert g.index.tolist() == ["a", "b", "c"]
    assert g.tolist() == pytest.approx([0.25, 0.0, 2 / 3])
    r = metrics.max_min_ratio(values, by=groups)
    assert isinstance(r, pd.Series)
    assert r.tolist() == [3.0, 1.0, math.inf]


def test_grouped_lorenz_starts_each_group_at_zero() -> None:
    """A grouped Lorenz curve has one (0, 0)-started curve per group."""
    curve = metrics.lorenz([3, 1, 5], by=["x", "x", "y"])
    assert curve["group"].tolist() == ["x", "x", "x", "y", "y"]
    assert curve["population_share"].tolist() == pytest.approx([0, 0.5, 1, 0, 1])
    assert curve["value_share"].tolist() == pytest.approx([0, 0.25, 1, 0, 1])


def test_all_zero_group_is_nan() -> None:
    """A group whose values are all 0 has no defined Gini, Theil or CV."""
    assert math.isnan(metrics.gini([0, 0]))
    assert math.isnan(metrics.theil([0, 0]))
    assert math.isnan(metrics.coefficient_of_variation([0, 0]))


def test_bad_values_are_all_reported() -> None:
    """Negative, NaN and bad weights are listed together in one ValidationError."""
    values = pd.Series([1.0, -2.0, np.nan], index=["a", "b", "c"])
    weights = pd.Series([1.0, -1.0, 1.0], index=["a", "b", "c"])
    with pytest.raises(tf.ValidationError) as err:
        metrics.gini(values, weights)
    rows = sorted((p.row, p.column) for p in err.value.problems)
    assert rows == [("b", "values"), ("b", "weights"), ("c", "values")]


def test_weights_align_on_the_index() -> None:
    """Weights given as a Series are matched to values by town code, not position."""
    values = pd.Series([1.0, 3.0], index=["a", "b"])
    weights = pd.Series([1.0, 3.0], index=["b", "a"])  # a has 3 people
    assert metrics.gini(values, weights) == pytest.approx(0.25)
    with pytest.raises(tf.ValidationError, match="no weights"):
        metrics.gini(values, pd.Series([1.0], index=["a"]))


# --------------------------------------------------------------------------------------------
# towns-table helpers


def _towns() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "city": ["汕头市", "汕头市", "韶关市", "韶关市"],
            "zone": ["east_wing", "east_wing", "north", "north"],
            "fiscal_capacity": [1_000_000.0, 3_000_000.0, 2_000_000.0, 6_000_000.0],
            "resident_population": [1_000, 1_000, 1_000, 3_000],
            "registered_population": [2_000, 1_000, 500, 500],
            "supported_population": [50, 60, 40, 80],
        },
        index=pd.Index(["440513101", "440513102", "440222101", "510222101"], name="code"),
    )


def test_capacity_per_capita_before_and_after() -> None:
    """(capacity + amount) / people; towns without an amount get 0; extra codes are ignored."""
    towns = _towns()
    before = metrics.capacity_per_capita(towns)
    assert before.tolist() == [1_000.0, 3_000.0, 2_000.0, 2_000.0]
    amounts = pd.Series({"440513101": 2_000_000, "999999999": 5})
    after = metrics.capacity_per_capita(towns, amounts)
    assert after.tolist() == [3_000.0, 3_000.0, 2_000.0, 2_000.0]
    reg = metrics.capacity_per_capita(towns, population="registered_population")
    assert reg.tolist() == [500.0, 3_000.0, 4_000.0, 12_000.0]


def test_capacity_per_capita_rejects_zero_population_and_unknown_column() -> None:
    """Every town without people is named; an unknown population column is refused."""
    towns = _towns()
    towns.loc[["440513101", "440222101"], "resident_population"] = 0
    with pytest.raises(tf.ValidationError) as err:
        metrics.capacity_per_capita(towns)
    assert [p.row for p in err.value.problems] == ["440513101", "440222101"]
    with pytest.raises(tf.ValidationError, match="population must be one of"):
        metrics.capacity_per_capita(_towns(), population="area_km2")


def test_equalisation_before_after_all_towns() -> None:
    """The summary has each measure before, after and the change, hand-computed."""
    towns = _towns()
    out = metrics.equalisation(towns, pd.Series({"440513101": 2_000_000}))
    row = out.loc["all"]
    assert row["towns"] == 4
    assert row["population"] == 6_000
    # before: 1000 yuan/person (1k people), 2000 (4k), 3000 (1k); μ = 12m / 6k = 2000
    # Σ w_i w_j |y_i − y_j| = 2·(1k·4k·1000 + 1k·1k·2000 + 4k·1k·1000) = 20e9 → G = 20e9 / 144e9
    mu = 2_000
    values = np.array([1_000, 2_000, 2_000, 3_000])
    w = np.array([1_000, 1_000, 3_000, 1_000])
    pairs = (w[:, None] * w[None, :] * np.abs(values[:, None] - values[None, :])).sum()
    assert row["gini_before"] == pytest.approx(pairs / (2 * 6_000**2 * mu))
    assert row["gini_before"] == pytest.approx(5 / 36)
    assert row["max_min_before"] == 3.0
    assert row["max_min_after"] == 1.5
    assert row["gini_change"] == pytest.approx(row["gini_after"] - row["gini_before"])
    assert row["gini_after"] < row["gini_before"]


def test_equalisation_by_city_and_by_province() -> None:
    """Grouping by a column or by province (first two code digits) measures each group."""
    towns = _towns()
    by_city = metrics.equalisation(towns, by="city")
    assert by_city.index.tolist() == ["汕头市", "韶关市"]
    assert by_city["gini_before"].tolist() == pytest.approx([0.25, 0.0])
    assert "gini_after" not in by_city.columns
    by_prov = metrics.equalisation(towns, pd.Series({"510222101": 3_000_000}), by="province")
    assert by_prov.index.tolist() == ["44", "51"]
    assert by_prov["towns"].tolist() == [3, 1]
    assert by_prov["gini_after"].tolist() == pytest.approx([2 / 9, 0.0])
    unweighted = metrics.equalisation(towns, by="zone", weighted=False)
    assert unweighted.loc["north", "gini_before"] == pytest.approx(0.0)
    with pytest.raises(tf.ValidationError, match="no such column"):
        metrics.equalisation(towns, by="township")


# --------------------------------------------------------------------------------------------
# properties

# yuan per person: 0 or at least a thousandth of a yuan (no subnormal floats)
incomes = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e7)),
    min_size=1,
    max_size=40,
)
people = st.integers(min_value=1, max_value=100_000)


@st.composite
def weighted_incomes(draw: st.DrawFn) -> tuple[list[float], list[int]]:
    ys = draw(incomes)
    ws = draw(st.lists(people, min_size=len(ys), max_size=len(ys)))
    return ys, ws


@given(weighted_incomes(), st.floats(min_value=1e-3, max_value=1e3))
@settings(max_examples=150, deadline=None)
def test_measures_are_scale_invariant(data: tuple[list[float], list[int]], c: float) -> None:
    """Multiplying every value by a positive constant changes no measure."""
    ys, ws = data
    assume(sum(ys) > 0)
    y = np.array(ys)
    for fn in (metrics.gini, metrics.theil, metrics.coefficient_of_variation):
        assert fn(y * c, ws) == pytest.approx(fn(y, ws), rel=1e-7, abs=1e-9)
    if min(ys) > 0:  # the ratio needs a positive least value (no assume: it filtered most)
        assert metrics.max_min_ratio(y * c, ws) == pytest.approx(metrics.max_min_ratio(y, ws))


@given(weighted_incomes())
@settings(max_examples=200, deadline=None)
def test_gini_in_unit_interval_and_theil_nonnegative(data: tuple[list[float], list[int]]) -> None:
    """0 ≤ Gini < 1 (at most 1 − the richest's population share) and Theil ≥ 0."""
    ys, ws = data
    assume(sum(ys) > 0)
    g = metrics.gini(ys, ws)
    assert isinstance(g, float)
    assert 0.0 <= g < 1.0
    richest_share = ws[int(np.argmax(ys))] / sum(ws)
    assert g <= 1.0 - richest_share + 1e-9
    assert metrics.theil(ys, ws) >= 0.0


@given(weighted_incomes(), st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None)
def test_gini_ignores_order_and_matches_repeated_people(
    data: tuple[list[float], list[int]], rnd: object
) -> None:
    """Shuffling towns changes nothing; integer weights equal repeating each value."""
    ys, ws = data
    assume(sum(ys) > 0 and sum(ws) <= 2_000)
    order = np.random.default_rng(len(ys)).permutation(len(ys))
    g = metrics.gini(ys, ws)
    assert metrics.gini(np.array(ys)[order], np.array(ws)[order]) == pytest.approx(g, abs=1e-9)
    assert metrics.gini(np.repeat(ys, ws)) == pytest.approx(g, abs=1e-9)


@given(weighted_incomes())
@settings(max_examples=100, deadline=None)
def test_gini_is_twice_the_area_between_diagonal_and_lorenz(
    data: tuple[list[float], list[int]],
) -> None:
    """Gini = 1 − 2 × (area under the Lorenz curve, by the trapezoid rule)."""
    ys, ws = data
    assume(sum(ys) > 0)
    curve = metrics.lorenz(ys, ws)
    x = curve["population_share"].to_numpy()
    y = curve["value_share"].to_numpy()
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
    assert metrics.gini(ys, ws) == pytest.approx(1 - 2 * area, abs=1e-9)
    assert np.all(np.diff(x) >= 0)
    assert np.all(np.diff(y) >= -1e-12)
    assert np.all(y <= x + 1e-9)


@given(weighted_incomes(), st.lists(st.sampled_from("abc"), min_size=40, max_size=40))
@settings(max_examples=100, deadline=None)
def test_grouped_gini_equals_gini_of_each_group(
    data: tuple[list[float], list[int]], labels: list[str]
) -> None:
    """The vectorised per-group result equals measuring each group's towns alone."""
    ys, ws = data
    groups = labels[: len(ys)]
    grouped = metrics.gini(ys, ws, by=groups)
    assert isinstance(grouped, pd.Series)
    for name in grouped.index:
        mask = np.array(groups) == name
        alone = metrics.gini(np.array(ys)[mask], np.array(ws)[mask])
        if math.isnan(alone):
            assert math.isnan(grouped[name])
        else:
            assert grouped[name] == pytest.approx(alone, abs=1e-9)
