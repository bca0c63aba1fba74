"""`townfiscal split` and `townfiscal responsibilities`."""

from __future__ import annotations

import re

import openpyxl
import pandas as pd

from townfiscal.cli import main


def test_split_reads_chinese_csv_and_writes_rows(tmp_path, capsys):
    """事项/金额(万元)/区域 in, exact per-level columns out; totals printed."""
    src = tmp_path / "spending.csv"
    src.write_text("单位代码,事项,金额(万元),区域\n"
                   "441521101,义务教育公用经费保障,100,东翼\n"
                   "441402101,基本公共卫生服务,\"1,234.5678\",北部\n", encoding="utf-8-sig")
    out = tmp_path / "split.csv"
    assert main(["split", str(src), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"total 合计\s+13,345,678 yuan", text)
    rows = pd.read_csv(out, dtype={"行政区划代码": str}, encoding="utf-8-sig")
    rows = rows.set_index("行政区划代码")
    shares = ["中央(元)", "省(元)", "市(元)", "县(元)", "镇(元)"]
    assert rows.loc["441521101", shares].tolist() == [500_000, 225_000, 75_000, 200_000, 0]
    assert (rows[shares].sum(axis=1) == rows["金额(元)"]).all()


def test_split_looks_zones_up_in_the_towns_table_and_writes_excel(tmp_path):
    """Without a zone column the zones come from --towns; .xlsx output."""
    src = tmp_path / "spending.xlsx"
    pd.DataFrame({"code": ["441521101"], "item": ["free_textbooks"],
                  "amount": [99]}).to_excel(src, index=False)
    towns = tmp_path / "towns.csv"
    import townfiscal as tf

    tf.load_example().loc[["441521101"]].to_csv(towns, encoding="utf-8-sig")
    out = tmp_path / "split.xlsx"
    assert main(["split", str(src), "--towns", str(towns), "--out", str(out)]) == 0
    sheet = openpyxl.load_workbook(out).active
    header = [c.value for c in sheet[1]]
    row = next(sheet.iter_rows(min_row=2, values_only=True))
    assert row[header.index("区域")] == "东翼"
    assert row[header.index("中央(元)")] == 99


def test_split_with_bad_rows_exits_1_listing_them(tmp_path, capsys):
    """Unknown items and negative amounts: exit 1, every problem on stderr."""
    src = tmp_path / "bad.csv"
    src.write_text("item,amount,zone\nmoon,5,core\nfree_textbooks,-1,mars\n", encoding="utf-8")
    assert main(["split", str(src)]) == 1
    err = capsys.readouterr().err
    assert "3 problems" in err
    assert "unknown item" in err
    assert "unknown zone" in err


def test_split_with_a_matrix_table(tmp_path, capsys):
    """--matrix accepts a .csv matrix (item, zone, levels, source)."""
    m = tmp_path / "m.csv"
    m.write_text("item,zone,central,province,city,county,town,source\n"
                 "roads,north,0,0.5,0,0.5,0,assumption: halves\n", encoding="utf-8")
    src = tmp_path / "s.csv"
    src.write_text("item,amount,zone\nroads,11,north\n", encoding="utf-8")
    assert main(["split", str(src), "--matrix", str(m)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"province 省\s+6 yuan", out)  # 5.5 / 5.5: the tie goes up a level
    assert re.search(r"county 县\s+5 yuan", out)


def test_responsibilities_lists_and_shows(capsys):
    """The list names guangdong-2020; showing a zone prints its items with shares."""
    assert main(["responsibilities"]) == 0
    assert "guangdong-2020" in capsys.readouterr().out
    assert main(["responsibilities", "guangdong-2020", "--zone", "north", "--sources"]) == 0
    text = capsys.readouterr().out
    assert "zone north" in text
    assert "义务教育公用经费保障" in text
    # the project holds no copy of the annex, so the item's share is a marked assumption
    assert "free_textbooks / north / central = 1.0000  [assumption: the centre pays" in text
