"""Policies as data: loading, sources, schema checks, reforms and hashes."""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources

import pytest

import townfiscal as tf


def test_bundled_policies_are_listed_oldest_first():
    """The Guangdong measures are bundled, with their effective dates."""
    assert tf.list_policies() == ["guangdong-minority-2014", "guangdong-2018", "guangdong-2020"]
    assert tf.get_policy("guangdong-2020").effective == dt.date(2020, 8, 27)
    assert tf.get_policy("guangdong-2018").effective == dt.date(2018, 12, 31)


def test_the_2020_values_are_the_published_ones():
    """Art. 6 weights 0.35/0.35/0.15/0.15; 2 billion yuan; towns and townships."""
    pol = tf.get_policy("guangdong-2020")
    weights = [
        pol[f"factors.{f}.weight"]
        for f in (
            "supported_population",
            "registered_population",
            "capacity_per_supported",
            "expenditure_per_resident",
        )
    ]
    assert weights == [0.35, 0.35, 0.15, 0.15]
    assert pol["fund.default"] == 2_000_000_000
    assert pol["eligibility.kinds"] == ("town", "township")
    assert len(pol["eligibility.areas"]) == 18
    assert pol.parameter("factors.registered_population.weight").source.startswith("Art. 6")
    assert tf.get_policy("guangdong-2018")["tiers.base"] == 2_000_000


def test_every_value_has_a_source_and_unpublished_ones_are_assumptions():
    """Each parameter cites an article or says it is an assumption; the unpublished are flagged."""
    for pid in tf.list_policies():
        pol = tf.get_policy(pid)
        for p in pol.parameters.values():
            assert p.source
        flagged = {p.path for p in pol.assumptions}
        assert "regional_coefficient" in flagged
        # the weak-town measures do not say how a factor becomes a coefficient; 2014 does
        assert ("normalisation.method" in flagged) is (pid != "guangdong-minority-2014")
    assert "tiers.multipliers" in {p.path for p in tf.get_policy("guangdong-2018").assumptions}
    assert "growth_control.cap" in {p.path for p in tf.get_policy("guangdong-2020").assumptions}


def test_with_changes_returns_a_reform_and_leaves_the_original():
    """A reform is a new policy with a new hash; the original keeps its values and hash."""
    pol = tf.get_policy("guangdong-2020")
    before = pol.hash
    reform = pol.with_changes({"growth_control.cap": 0.10})
    assert reform["growth_control.cap"] == 0.10
    assert pol["growth_control.cap"] == 0.15
    assert pol.hash == before != reform.hash
    assert reform.derived_from == "guangdong-2020"
    assert "was 0.15" in reform.parameter("growth_control.cap").source


def test_with_changes_rejects_unknown_paths_and_bad_values():
    """Unknown paths and values that break the schema are named."""
    pol = tf.get_policy("guangdong-2020")
    with pytest.raises(tf.ValidationError, match=r"no parameter 'growth\.cap'"):
        pol.with_changes({"growth.cap": 0.1})
    with pytest.raises(tf.ValidationError, match="must be a number >= 0"):
        pol.with_changes({"factors.registered_population.weight": -0.1})


def test_the_hash_is_stable_and_content_based():
    """The same file gives the same hash, and it is not the object's identity."""
    ref = resources.files("townfiscal.policy") / "files" / "guangdong-2020.toml"
    data = tomllib.loads(ref.read_text(encoding="utf-8"))
    from townfiscal.policy import policy_from_mapping

    again = policy_from_mapping(data)
    assert again is not tf.get_policy("guangdong-2020")
    assert again.hash == tf.get_policy("guangdong-2020").hash
    assert len(again.hash) == 64


def test_a_malformed_policy_file_lists_every_problem(tmp_path):
    """Missing sources, unknown methods and bad values are all reported at once."""
    path = tmp_path / "bad.toml"
    path.write_text(
        'id = "bad"\ntitle = "bad"\neffective = 2021-01-01\nmethod = "lottery"\n'
        'document = "none"\n'
        "[parameters.fund.default]\nvalue = 5\n"
        '[parameters.eligibility.kinds]\nvalue = ["town"]\nsource = "x"\n',
        encoding="utf-8",
    )
    with pytest.raises(tf.ValidationError) as info:
        tf.load_policy(path)
    columns = {p.column for p in info.value.problems}
    assert columns == {"method", "fund.default"}
    assert "policy file bad.toml is invalid" in str(info.value)


def test_schema_problems_of_a_known_method_are_listed(tmp_path):
    """A factor_share policy without factors or regional coefficients says what is missing."""
    path = tmp_path / "thin.toml"
    path.write_text(
        'id = "thin"\ntitle = "t"\neffective = 2021-01-01\nmethod = "factor_share"\n'
        'document = "d"\n'
        '[parameters.eligibility.kinds]\nvalue = ["town", "hamlet"]\nsource = "x"\n'
        '[parameters.eligibility.areas]\nvalue = {"44x" = "?"}\nsource = "x"\n',
        encoding="utf-8",
    )
    with pytest.raises(tf.ValidationError) as info:
        tf.load_policy(path)
    columns = sorted(p.column for p in info.value.problems)
    assert columns == [
        "eligibility.areas",
        "eligibility.kinds",
        "factors",
        "normalisation.method",
        "regional_coefficient",
    ]


def test_unknown_policy_ids_name_the_bundled_ones():
    """get_policy on an unknown id lists what exists."""
    with pytest.raises(KeyError, match="guangdong-2018, guangdong-2020"):
        tf.get_policy("guangdong-1999")


def test_policy_to_dict_carries_sources():
    """The JSON form lists every parameter with value, source and assumption flag."""
    d = tf.get_policy("guangdong-2020").to_dict()
    params = {p["path"]: p for p in d["parameters"]}
    assert params["regional_coefficient"]["value"] == {
        "core": 1.0,
        "east_wing": 1.1,
        "west_wing": 1.1,
        "north": 1.2,
    }
    assert params["regional_coefficient"]["assumption"] is True
    assert d["effective"] == "2020-08-27"


def test_a_policy_says_where_its_date_comes_from(capsys):
    """The 2020 date is the publication date; the 2014 date an assumption; the CLI shows it."""
    from townfiscal.cli import main

    assert "publication date" in tf.get_policy("guangdong-2020").effective_source
    minority = tf.get_policy("guangdong-minority-2014")
    assert minority.effective_source.startswith("assumption:")
    assert minority.to_dict()["effective_source"] == minority.effective_source
    assert main(["policies", "guangdong-2020"]) == 0
    assert "date: the revised measures' publication date, 2020-08-27" in capsys.readouterr().out
