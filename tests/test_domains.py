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
    assert "add up to" in problem.message and "= 1.55, not 1" in problem.message
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
        assert d.path == path and d.kind in {"number", "integer"} and d.reason
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
