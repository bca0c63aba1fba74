"""`townfiscal transfers`."""

from __future__ import annotations

import re

import pandas as pd

import townfiscal as tf
from townfiscal.cli import main


def test_transfers_on_the_example(tmp_path, capsys):
    """Defaults: the weak-town subsidy and People's Congress funds, with a total."""
    out = tmp_path / "tr.csv"
    assert main(["transfers", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"weak_town_subsidy\s+2,000,000,000 yuan", text)
    assert re.search(r"peoples_congress\s+300,600,000 yuan", text)
    assert re.search(r"total\s+2,300,600,000 yuan", text)
    t = pd.read_csv(out, dtype={"行政区划代码": str}, encoding="utf-8-sig")
    subsidy, congress = t["财力薄弱镇（乡）补助(元)"], t["人大工作和建设经费(元)"]
    assert (subsidy + congress == t["合计(元)"]).all()
    assert int(t["合计(元)"].sum()) == 2_300_600_000


def test_transfers_with_police_stations(tmp_path, capsys):
    """--include police_stations reads the towns' station counts."""
    towns = tf.load_example().head(3).copy()
    towns["police_stations"] = [1, 0, 2]
    path = tmp_path / "towns.csv"
    towns.to_csv(path, encoding="utf-8-sig")
    assert main(["transfers", "--towns", str(path), "--fund", "1000000", "--include",
                 "police_stations"]) == 0
    assert re.search(r"police_stations\s+1,365,314 yuan", capsys.readouterr().out)


def test_transfers_without_the_station_column_exits_1(capsys):
    """A per-count programme without its column is an input error."""
    assert main(["transfers", "--include", "police_stations"]) == 1
    assert "police_stations" in capsys.readouterr().err
