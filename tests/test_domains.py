"""Declared parameter domains: policy values, reform changes and arguments checked at the door."""

from __future__ import annotations

import math

import pytest

import townfiscal as tf
from townfiscal._domains import PARAMETER_DOMAINS, argument_problems, domain_of


def test_every_bundled_policy_is_inside_the_declared_domains():
    """The bundled policies load, and each number of theirs has a declared domain it meets."""
    for pid in tf.list_policies():
        pol = tf.get_policy(pid)
        for p in pol.parameters.values():
            if isinstance(p.value, (int, float)) and not isinstance(p.value, bool):
                assert domain_of(p.path).problems(p.value) == [], p.path


def test_reform_weights_must_add_up_to_one():
    """Weights summing to 1.55 are named with their sum; a balanced reform passes."""
    pol = tf.get_policy("guangdong-2020")
    with pytest.raises(tf.ValidationError) as info:
        pol.with_changes({"factors.registered_population.weight": 0.9})
    (problem,) = info.value.problems
    assert problem.column == "factors"
    assert problem.value == pytest.approx(1.55)
    assert "add up to" in problem.message
    assert "= 1.55, not 1" in problem.message
    ok = pol.with_changes({"factors.registered_population.weight": 0.40,
                           "factors.supported_population.weight": 0.30})
    assert sum(ok[f"factors.{f}.weight"] for f in (
        "registered_population", "supported_population", "capacity_per_supported",
        "expenditure_per_resident")) == pytest.approx(1.0)


def test_every_problem_of_a_reform_is_reported_at_once():
    """Three bad values give three problems, each naming its path, value and bound."""
    pol = tf.get_policy("guangdong-2020")
    with pytest.raises(tf.ValidationError) as info:
        pol.with_changes({"growth_control.cap": 15, "fund.default": "2000000000",
                          "regional_coefficient": {"core": 1.0, "east_wing": 0.0,
                                                   "west_wing": 1.1, "north": math.inf}})
    by_path = {p.column: p for p in info.value.problems}
    assert set(by_path) == {"growth_control.cap", "fund.default",
                            "regional_coefficient.east_wing", "regional_coefficient.north"}
    assert by_path["growth_control.cap"].message.startswith("must be a number <= 3 (")
    assert by_path["growth_control.cap"].value == 15
    assert "not text: write 2000000000 without quotes" in by_path["fund.default"].message
    assert by_path["regional_coefficient.east_wing"].message.startswith("must be a number > 0")
    assert by_path["regional_coefficient.north"].message == "must be a finite number"


@pytest.mark.parametrize("value", [1e300, 2**70, -2_000_000, math.nan, None, "2e6"])
def test_a_tier_base_out_of_its_domain_is_refused(value):
    """tiers.base beyond 10^12 yuan, negative, NaN, missing or text is refused by name."""
    with pytest.raises(tf.ValidationError) as info:
        tf.get_policy("guangdong-2018").with_changes({"tiers.base": value})
    (problem,) = info.value.problems
    assert problem.column == "tiers.base"


def test_a_growth_cap_can_still_be_lifted_with_none():
    """None (no cap) is inside the optional growth-control domains."""
    pol = tf.get_policy("guangdong-2020").with_changes({"growth_control.cap": None})
    assert pol["growth_control.cap"] is None


def test_declared_domains_are_data():
    """Every domain states a kind, its bounds in words and a reason; patterns resolve."""
    for path, d in PARAMETER_DOMAINS.items():
        assert d.path == path
        assert d.kind in {"number", "integer"}
        assert d.reason
        assert d.to_dict()["reason"] == d.reason
    assert domain_of("factors.anything.weight").path == "factors.*.weight"
    assert PARAMETER_DOMAINS["fund"].bounds() == "> 0 and <= 1e15"
    with pytest.raises(KeyError):
        domain_of("no.such.path")


def test_per_town_values_name_each_town_at_fault():
    """A mapping by code gets one problem per bad town; NaN means no value and passes."""
    problems = argument_problems("Floor.amount", {"a": 1.0, "b": -3.0, "c": math.nan,
                                                  "d": "x"})
    assert {(p.row, p.value) for p in problems} == {("b", -3.0), ("d", "x")}


@pytest.mark.parametrize(("make", "path", "start"), [
    (lambda: tf.GrowthCap(15), "GrowthCap.rate", "must be a number <= 3 ("),
    (lambda: tf.Floor(-5), "Floor.amount", "must be a number >= 0 ("),
    (lambda: tf.Floor("600000"), "Floor.amount",
     "must be a number, not text: write 600000 without quotes"),
    (lambda: tf.Cap([1, 2]), "Cap.amount", "must be a number, not list"),
    (lambda: tf.HoldHarmless(95), "HoldHarmless.ratio", "must be a number <= 4 ("),
    (lambda: tf.GrowthCap(0.1, no_prior=math.nan), "GrowthCap.no_prior",
     "must be a number, not NaN"),
    (lambda: tf.CapacityFloor(65), "CapacityFloor.share", "must be a number <= 1 ("),
    (lambda: tf.Rounding(0), "Rounding.unit", "must be a number >= 1 ("),
    (lambda: tf.NeedOrder(3), "NeedOrder.by", "must name a column"),  # type: ignore[arg-type]
    (lambda: tf.MinDeviation(target=-3.0), "MinDeviation.target", "must be a number >= 0"),
    (lambda: tf.MinDeviation() * 0, "WeightedObjective.weight[0]", "must be a number > 0"),
])
def test_constraint_and_objective_arguments_are_checked_when_built(make, path, start):
    """A bad argument is refused at construction, naming the argument, value and bound."""
    with pytest.raises(tf.ValidationError) as info:
        make()
    (problem,) = info.value.problems
    assert problem.column == path
    assert problem.message.startswith(start)


def test_every_bad_argument_of_a_constraint_is_listed():
    """GroupTotal with a bad label value, a negative one and lo above hi lists each."""
    with pytest.raises(tf.ValidationError) as info:
        tf.GroupTotal("city", hi={"汕头市": -1.0, "汕尾市": "x"})
    assert {(p.row, p.column) for p in info.value.problems} == {
        ("汕头市", "GroupTotal.hi"), ("汕尾市", "GroupTotal.hi")}
    with pytest.raises(tf.ValidationError, match=r"is above GroupTotal.hi \(3\)"):
        tf.GroupTotal("city", lo=5, hi=3)
    with pytest.raises(tf.ValidationError) as info:
        tf.CapacityFloor(65, reference="later")  # type: ignore[arg-type]
    assert {p.column for p in info.value.problems} == {
        "CapacityFloor.share", "CapacityFloor.reference"}


def test_a_column_argument_is_checked_town_by_town():
    """A column named for Floor is read and each town whose value is out of the domain named."""
    import pandas as pd

    from townfiscal.optimize import ModelContext

    frame = pd.DataFrame({"floor": [1_000_000.0, -1.0, 2e15, math.nan]},
                         index=["441521100", "441521101", "441521102", "441521103"])
    ctx = ModelContext(frame, 10_000_000)
    compiled = tf.Floor("floor").compile(ModelContext(frame.iloc[[0, 3]], 10_000_000))
    assert compiled[0].lower.tolist()[0] == 1_000_000.0
    with pytest.raises(tf.ValidationError) as info:
        tf.Floor("floor").compile(ctx)
    assert [(p.row, p.value) for p in info.value.problems] == [
        ("441521101", -1.0), ("441521102", 2e15)]
    assert info.value.problems[0].column == "Floor.amount (column 'floor')"


@pytest.mark.parametrize("fund", [1e300, 2**70, "2000000000", -1, 2.5, math.inf])
def test_a_fund_outside_its_domain_is_refused(example, fund):
    """formula_allocation, allocate and fund_range refuse a fund that is no whole yuan <= 1e15."""
    for call in (lambda: tf.formula_allocation(example, "guangdong-2020", fund=fund),
                 lambda: tf.fund_range(example, "guangdong-2020", fund=fund)):
        with pytest.raises(tf.ValidationError) as info:
            call()
        assert [p.column for p in info.value.problems] == ["fund"]


def test_one_yuan_past_the_city_caps_names_them(example):
    """A fund 1 yuan above what the city caps allow names GroupTotal[city] and the figure."""
    cons = [tf.HoldHarmless(), tf.GroupTotal("city", hi=300_000_000)]
    top = tf.fund_range(example, "guangdong-2018", cons)
    assert top.most == 4_500_000_000
    assert top.most_set_by == ("GroupTotal[city]",)
    with pytest.raises(tf.InfeasibleError) as info:
        tf.allocate(example, "guangdong-2018", fund=int(top.most) + 1, constraints=cons)
    (conflict,) = info.value.details
    assert "no single family" not in str(info.value)
    assert conflict.constraints == ("Fund", "GroupTotal[city]")
    assert conflict.available == 4_500_000_000
    assert conflict.required == 4_500_000_001
    assert "allow at most 4,500,000,000 yuan, 1 yuan less" in conflict.message
    with pytest.raises(tf.InfeasibleError) as info:
        tf.allocate(example, "guangdong-2018", fund=int(top.least) - 1, constraints=cons)
    assert "need at least 1,857,010,214 yuan, 1 yuan more" in str(info.value)


def test_a_sweep_checks_every_fund_and_value_before_running(example):
    """Each fund and each value of a swept parameter is checked at once, before any run."""
    with pytest.raises(tf.ValidationError) as info:
        tf.sweep(example, "guangdong-2020", param="growth_control.cap", values=[0.1, 15, -2],
                 fund=1e300, method="formula", executor="serial")
    assert [(p.column, p.value) for p in info.value.problems] == [
        ("fund", 1e300), ("growth_control.cap", 15), ("growth_control.cap", -2)]


def test_the_service_names_a_bad_argument_by_its_json_path():
    """Domain problems of constraints and objective weights come back under JSON paths."""
    pytest.importorskip("litestar")
    from townfiscal.service._engine import default_codec

    codec = default_codec()
    with pytest.raises(tf.ValidationError) as info:
        codec.constraints([{"type": "GrowthCap", "rate": 15}, {"type": "Floor", "amount": "6e5"}])
    assert [(p.column, p.value) for p in info.value.problems] == [
        ("constraints[0].rate", 15), ("constraints[1].amount", "6e5")]
    with pytest.raises(tf.ValidationError) as info:
        codec.objective({"type": "WeightedObjective", "parts": [
            {"weight": 1, "objective": {"type": "MinDeviation"}},
            {"weight": 0, "objective": {"type": "MinDeviation"}}]})
    assert [p.column for p in info.value.problems] == ["objective.parts[1].weight"]


@pytest.mark.parametrize(("value", "shown"), [(10**400, math.inf), (-10**400, -math.inf),
                                              (2**70, float(2**70))])
def test_a_whole_number_beyond_float_is_refused_not_overflowed(value, shown):
    """An int too large for a float is past the bound, and the problem shows its magnitude."""
    with pytest.raises(tf.ValidationError) as info:
        tf.Floor(value)
    (problem,) = info.value.problems
    assert problem.value == shown
    assert problem.message.startswith("must be a number <= 1e15" if value > 0
                                      else "must be a number >= 0")


def test_a_constraint_naming_a_text_column_names_each_town():
    """Floor(amount='name') refuses the text of every town by code, not a raw ValueError."""
    towns = tf.load_example()
    for call in (lambda: tf.fund_range(towns, "guangdong-2020", [tf.Floor(amount="name")]),
                 lambda: tf.allocate(towns, "guangdong-2020",
                                     constraints=[tf.Floor(amount="name")])):
        with pytest.raises(tf.ValidationError) as info:
            call()
        first = info.value.problems[0]
        assert (first.row, first.column, first.value) == ("440203100", "name", "西联镇")
        assert first.message == "Floor needs numbers, but the column 'name' holds text"
