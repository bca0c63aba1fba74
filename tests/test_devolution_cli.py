"""`townfiscal devolve`."""

from __future__ import annotations

import pandas as pd

import townfiscal as tf
from townfiscal.cli import main


def test_devolve_prints_counties_and_writes_three_tables(tmp_path, capsys):
    """Moves in; transfers, updated towns and the subsidy comparison out."""
    moves = tmp_path / "moves.csv"
    moves.write_text("code,posts,powers\n441521101,30,12\n441523100,\"1,200\",\n",
                     encoding="utf-8")
    tr, towns, cmp = (tmp_path / n for n in ("tr.xlsx", "towns.csv", "cmp.csv"))
    assert main(["devolve", str(moves), "--out", str(tr), "--towns-out", str(towns),
                 "--compare", str(cmp)]) == 0
    text = capsys.readouterr().out
    assert "1,230 posts to 2 towns from 2 counties, 147,600,000 yuan a year" in text
    assert "汕尾市海丰县" in text
    code = {"行政区划代码": str}
    got = pd.read_excel(tr, dtype=code, engine="openpyxl").set_index("行政区划代码")
    assert got.loc["441521101", "金额(元)"] == 3_600_000
    assert got.loc["441523100", "金额(元)"] == 144_000_000
    ch = pd.read_csv(cmp, dtype=code, encoding="utf-8-sig").set_index("行政区划代码")
    assert int(ch["增减(元)"].sum()) == 0
    assert len(ch) == 1002
    t = pd.read_csv(towns, dtype=code, encoding="utf-8-sig").set_index("行政区划代码")
    assert len(t) == 1757
    assert tf.read_towns(towns).loc["441521101", "supported_population"] == t.loc[
        "441521101", "财政供养人口"]  # the updated towns table reads back


def test_devolve_with_own_costs_and_capacity(tmp_path, capsys):
    """--cost-per-post and --operating-cost-per-post override the matrix's assumptions."""
    moves = tmp_path / "moves.csv"
    moves.write_text("code,posts\n441521101,10\n", encoding="utf-8")
    out = tmp_path / "tr.csv"
    assert main(["devolve", str(moves), "--cost-per-post", "80,000",
                 "--operating-cost-per-post", "0", "--capacity-follows", "--out",
                 str(out)]) == 0
    assert "800,000 yuan a year" in capsys.readouterr().out


def test_devolve_rejects_bad_moves(tmp_path, capsys):
    """Unknown town and negative posts: exit 1, both listed."""
    moves = tmp_path / "moves.csv"
    moves.write_text("code,posts\n441599999,1\n441521101,-2\n", encoding="utf-8")
    assert main(["devolve", str(moves)]) == 1
    err = capsys.readouterr().err
    assert "2 problems" in err
    assert "unknown town" in err
    assert "must not be negative" in err
