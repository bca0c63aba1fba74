"""Every transfer a town receives: the weak-town subsidy and the flat programmes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import townfiscal as tf


def towns3() -> pd.DataFrame:
    """Two identical eligible towns, one subdistrict (not eligible); police stations 2, 0, 1."""
    rows = [("441521101", "梅陇镇", "town", 2), ("441521102", "小漠镇", "town", 0),
            ("441502001", "新港街道", "subdistrict", 1)]
    return tf.validate_towns(pd.DataFrame({
        "code": [r[0] for r in rows], "name": [r[1] for r in rows],
        "kind": [r[2] for r in rows], "county": ["海丰县", "海丰县", "城区"],
        "city": "汕尾市", "zone": "east_wing",
        "registered_population": 20_000, "resident_population": 20_000,
        "supported_population": 100, "fiscal_capacity": 10_000_000,
        "expenditure": 20_000_000, "police_stations": [r[3] for r in rows]}))


def test_programmes_are_data_with_sources():
    """People's Congress: 300,000 yuan per town a year, 998 towns published; police 740m/542."""
    progs = tf.get_programmes("guangdong-2020")
    assert tf.list_programmes() == ["guangdong-2020"]
    pc = progs["peoples_congress"]
    assert (pc.kind, pc.rate, pc.published_count, pc.scope) == ("per_unit", 300_000.0, 998,
                                                                "eligible")
    assert "30萬元" in pc.source
    police = progs["police_stations"]
    assert police.rate == pytest.approx(740_000_000 / 542 / 3)
    assert "assumption:" in police.source
    assert progs.defaults == ["weak_town_subsidy", "peoples_congress"]


def test_columns_add_up_to_total_hand_computed():
    """Fund 1,000,000 over two identical towns: 500,000 + 300,000 = 800,000 each; 0 else."""
    tr = tf.transfers(towns3(), "guangdong-2020", fund=1_000_000)
    assert tr["weak_town_subsidy"].tolist() == [500_000, 500_000, 0]
    assert tr["peoples_congress"].tolist() == [300_000, 300_000, 0]
    assert tr["total"].tolist() == [800_000, 800_000, 0]
    assert tr["eligible"].tolist() == [True, True, False]
    assert (tr[["weak_town_subsidy", "peoples_congress"]].sum(axis=1) == tr["total"]).all()


def test_police_stations_spread_evenly_per_station_and_year():
    """740m / 542 / 3 = 455,104.55 a station a year: 910,209.10 and 455,104.55 round to a
    total of 1,365,314; the yuan left over goes to the larger remainder (.55)."""
    tr = tf.transfers(towns3(), "guangdong-2020", fund=1_000_000,
                      include=["peoples_congress", "police_stations"])
    assert list(tr.columns[-3:]) == ["peoples_congress", "police_stations", "total"]
    assert tr["police_stations"].tolist() == [910_209, 0, 455_105]
    assert tr["total"].tolist() == [1_210_209, 300_000, 455_105]


def test_a_given_allocation_replaces_the_formula():
    """subsidy= (e.g. the optimiser's amounts) is used as the weak-town column."""
    given = pd.Series({"441521101": 700_000, "441521102": 300_000})
    tr = tf.transfers(towns3(), "guangdong-2020", subsidy=given)
    assert tr["weak_town_subsidy"].tolist() == [700_000, 300_000, 0]
    with pytest.raises(tf.ValidationError) as err:
        tf.transfers(towns3(), "guangdong-2020",
                     subsidy=pd.Series({"441599999": 1, "441521101": -2.5}))
    assert {p.row for p in err.value.problems} == {"441599999", "441521101"}


def test_missing_count_column_and_unknown_programme():
    """A per-count programme needs its column; an unknown id is a KeyError."""
    t = towns3().drop(columns="police_stations")
    with pytest.raises(tf.ValidationError, match="police_stations"):
        tf.transfers(t, "guangdong-2020", fund=1_000_000, include=["police_stations"])
    bad = towns3()
    bad["police_stations"] = [1.5, -1, 0]
    with pytest.raises(tf.ValidationError) as err:
        tf.transfers(bad, "guangdong-2020", fund=1_000_000, include=["police_stations"])
    assert len(err.value.problems) == 2
    with pytest.raises(KeyError, match="no programme"):
        tf.transfers(towns3(), "guangdong-2020", include=["moon_base"])


def test_malformed_programme_file_lists_every_problem(tmp_path):
    """Unknown kind, negative amount, missing source, bad scope: all reported."""
    (tmp_path / "bad.toml").write_text('''
id = "bad"
[programmes.a]
kind = "lottery"
[programmes.b]
kind = "per_unit"
amount = { value = -5, source = "x" }
scope = { value = "everywhere", source = "y" }
[programmes.c]
kind = "per_unit"
amount = { value = 5 }
''', encoding="utf-8")
    with pytest.raises(tf.ValidationError) as err:
        tf.get_programmes(tmp_path / "bad.toml")
    msgs = " | ".join(str(p) for p in err.value.problems)
    assert "unknown kind" in msgs
    assert "negative" in msgs
    assert "unknown scope" in msgs
    assert "source" in msgs


def test_example_totals():
    """On the bundled example: the fund exactly, and 300,000 for each eligible town."""
    towns = tf.load_example()
    tr = tf.transfers(towns, "guangdong-2020", fund=2_000_000_000)
    n = int(tr["eligible"].sum())
    assert n == 1002
    assert int(tr["weak_town_subsidy"].sum()) == 2_000_000_000
    assert int(tr["peoples_congress"].sum()) == 300_000 * n
    assert (tr["total"] == tr["weak_town_subsidy"] + tr["peoples_congress"]).all()
    assert tr["total"].dtype == np.int64
    assert tr.attrs["units_paid"]["peoples_congress"] == 1002
    assert tr.attrs["published_counts"] == {"peoples_congress": 998}
