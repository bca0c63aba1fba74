"""A comparison of scenarios as a 比较表 workbook a bureau's leaders can read."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import townfiscal as tf

FUND = 2_000_000_000


@pytest.fixture(scope="module")
def comparison() -> tf.Comparison:
    towns = tf.load_example()
    a = tf.allocate(towns, "guangdong-2020", fund=FUND)
    b = tf.allocate(towns, "guangdong-2020", fund=FUND, constraints=[tf.Floor(1_200_000)])
    return tf.compare({"公式": a, "保底120万": b})


def test_the_workbook_has_chinese_headers_and_every_town(comparison: tf.Comparison,
                                                         tmp_path: Path) -> None:
    """比较表: a row per town under Chinese headers, the amounts in yuan as written."""
    path = comparison.to_excel(tmp_path / "比较表.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["比较表", "分市汇总", "方案汇总"]
    ws = wb["比较表"]
    headers = [c.value for c in ws[1]]
    assert headers[:6] == ["行政区划代码", "名称", "县(市、区)", "地级市", "区域", "上年补助(元)"]
    assert "保底120万·较公式(元)" in headers
    assert ws.max_row == 1 + len(comparison.table)
    col = headers.index("保底120万·补助(元)") + 1
    amounts = {str(ws.cell(r, 1).value): ws.cell(r, col).value for r in range(2, ws.max_row + 1)}
    assert amounts == comparison.table["amount:保底120万"].astype(int).to_dict()
    assert ws.cell(2, col).number_format == "#,##0"


def test_city_totals_add_up_to_the_fund(comparison: tf.Comparison, tmp_path: Path) -> None:
    """分市汇总: one row per city and a 合计 row equal to the fund in every scenario."""
    path = comparison.to_excel(tmp_path / "比较表.xlsx")
    frame = pd.read_excel(path, sheet_name="分市汇总", index_col=0, engine="openpyxl")
    assert frame.loc["合计"].tolist() == [FUND, FUND]
    cities = frame.drop(index="合计")
    assert len(cities) == comparison.table["city"].nunique()
    assert cities.sum().tolist() == [FUND, FUND]


def test_the_summary_sheet_names_its_measures_in_chinese(comparison: tf.Comparison,
                                                         tmp_path: Path) -> None:
    """方案汇总: a row per scenario; the 119 towns the floor raises gain against the formula."""
    path = comparison.to_excel(tmp_path / "比较表.xlsx")
    frame = pd.read_excel(path, sheet_name="方案汇总", index_col=0, engine="openpyxl")
    assert list(frame.index) == ["公式", "保底120万"]
    assert frame.loc["保底120万", "补助合计(元)"] == FUND
    assert frame.loc["保底120万", "较基准增加镇数"] == 119


def test_the_summary_reads_as_money(comparison: tf.Comparison) -> None:
    """Totals, least and most are whole yuan (2000000000, not 2.000000e+09); means to the fen."""
    s = comparison.summary
    assert s["total"].dtype == "int64"
    assert s["min"].tolist() == [709_489, 1_200_000]
    assert "2000000000" in str(s)
    assert "e+09" not in str(s)
    assert s["mean"].tolist() == [1_996_007.98, 1_996_007.98]
