"""The allocation table (分配表): Chinese headers, exact totals, sheets, round trip."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import townfiscal as tf
from townfiscal import report

FUND = 2_000_000_000
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def example() -> tuple[pd.DataFrame, tf.Policy, pd.DataFrame]:
    towns = tf.load_example()
    pol = tf.get_policy("guangdong-2020")
    fa = tf.formula_allocation(towns, pol, fund=FUND)
    return towns, pol, fa


@pytest.fixture(scope="module")
def workbook(
    example: tuple[pd.DataFrame, tf.Policy, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    towns, pol, fa = example
    table = fa[["coefficient", "share", "lower", "upper", "amount"]].copy()
    table["binding"] = [("hold_harmless",) if i % 5 == 0 else () for i in range(len(table))]
    path = tmp_path_factory.mktemp("xlsx") / "分配表.xlsx"
    prov = {
        "solver": "HiGHS 1.7",
        "data_hash": "0" * 64,
        "versions": {"pulp": "3.3.2", "highspy": "1.7"},
        "status": "optimal",
    }
    out = tf.write_allocation(table, path, provenance=prov, policy=pol, towns=towns)
    assert out == path
    return path


def _small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["甲镇", "乙镇", "丙乡"],
            "city": ["韶关市", "韶关市", "韶关市"],
            "county": ["武江区", "武江区", "乳源瑶族自治县"],
            "zone": ["north", "north", "north"],
            "amount": [1_250_000, 750_001, 999_999],
            "prior_amount": [1_000_000.0, np.nan, 1_000_000.0],
        },
        index=pd.Index(["440203100", "440203101", "440232200"], name="code"),
    )


def test_sheets_headers_formats_and_frozen_panes(workbook: Path) -> None:
    """The workbook opens with openpyxl; sheets and headers are Chinese, formats and panes set."""
    wb = load_workbook(workbook)
    assert wb.sheetnames == ["分配表", "市县汇总", "参数", "来源", "乡镇基础数据"]
    ws = wb["分配表"]
    headers = [c.value for c in ws[1]]
    assert headers[:5] == ["行政区划代码", "名称", "地级市", "县(市、区)", "区域"]
    assert "分配金额(元)" in headers
    assert "分配金额(万元)" in headers
    assert all(CJK.search(str(h)) for h in headers)
    for name in wb.sheetnames:
        assert all(CJK.search(str(c.value)) for c in wb[name][1] if c.value != "键"), name
    assert ws.freeze_panes == "C2"
    assert wb["市县汇总"].freeze_panes == "A2"
    yuan = headers.index("分配金额(元)") + 1
    wan = headers.index("分配金额(万元)") + 1
    assert ws.cell(row=2, column=yuan).number_format == "#,##0"
    assert ws.cell(row=2, column=wan).number_format == "#,##0.00##"
    assert ws.cell(row=2, column=3).value == "韶关市"  # sorted by code: 4402… first
    assert ws.cell(row=2, column=5).value == "北部生态发展区"


def test_totals_equal_the_fund_to_the_yuan(workbook: Path) -> None:
    """The 合计 row, the grand total, and the sums of city and county rows all equal the fund."""
    wb = load_workbook(workbook)
    ws = wb["分配表"]
    headers = [c.value for c in ws[1]]
    yuan = headers.index("分配金额(元)")
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    towns = [r for r in rows if r[0] != "合计"]
    total = [r for r in rows if r[0] == "合计"]
    assert len(towns) == 1_002
    assert sum(r[yuan] for r in towns) == FUND
    assert total[0][yuan] == FUND
    assert all(isinstance(r[yuan], int) for r in towns)
    sheet = pd.DataFrame(
        list(wb["市县汇总"].iter_rows(min_row=2, values_only=True)),
        columns=[c.value for c in wb["市县汇总"][1]],
    )
    by_level = sheet.groupby("汇总级别")["分配金额(元)"].sum()
    assert by_level.to_dict() == {"县": FUND, "市": FUND, "合计": FUND}
    assert sheet.groupby("汇总级别")["乡镇数"].sum()["县"] == 1_002
    counties = sheet[sheet["汇总级别"] == "县"].groupby("地级市")["分配金额(元)"].sum()
    cities = sheet[sheet["汇总级别"] == "市"].set_index("地级市")["分配金额(元)"]
    assert counties.sort_index().to_dict() == cities.sort_index().to_dict()
    assert sheet["分配金额(万元)"].iloc[-1] == pytest.approx(200_000.0)


def test_round_trip_table_provenance_and_parameters(
    workbook: Path, example: tuple[pd.DataFrame, tf.Policy, pd.DataFrame]
) -> None:
    """read_allocation gives back the amounts, columns, provenance and every parameter."""
    towns, pol, fa = example
    back = tf.read_allocation(workbook)
    assert isinstance(back, tf.AllocationWorkbook)
    assert back.fund == FUND
    pd.testing.assert_series_equal(
        back.amounts.sort_index(), fa["amount"].sort_index(), check_names=False
    )
    assert back.table["amount"].dtype == np.int64
    assert back.table.loc["440203100", "name"] == "西联镇"
    assert back.table.loc["440203100", "zone"] == "north"
    np.testing.assert_allclose(back.table["coefficient"], fa["coefficient"].sort_index())
    assert back.table.loc["440203100", "binding"] == "hold_harmless"
    prior = towns.loc[back.table.index, "prior_amount"]
    np.testing.assert_allclose(back.table["change"], back.table["amount"] - prior)
    assert back.provenance["policy_id"] == "guangdong-2020"
    assert back.provenance["policy_hash"] == pol.hash
    assert back.provenance["versions"] == {"pulp": "3.3.2", "highspy": "1.7"}
    assert back.provenance["fund"] == FUND
    assert back.provenance["solver"] == "HiGHS 1.7"
    params = back.parameters.set_index("path")
    assert list(params.index) == list(pol.parameters)
    for path, p in pol.parameters.items():
        d = p.to_dict()
        assert params.at[path, "source"] == d["source"]
        assert params.at[path, "value"] == d["value"], path
        assert params.at[path, "assumption"] == d["assumption"]


def test_towns_sheet_reads_back_with_read_towns(
    workbook: Path, example: tuple[pd.DataFrame, tf.Policy, pd.DataFrame]
) -> None:
    """tf.read_towns reads the 乡镇基础数据 sheet, by default, into the same towns table."""
    towns, _, fa = example
    back = tf.read_towns(workbook)
    pd.testing.assert_frame_equal(back, towns.loc[fa.index].sort_index(), check_dtype=False)
    named = tf.read_towns(workbook, sheet="乡镇基础数据")
    pd.testing.assert_frame_equal(named, back)
    assert tf.read_allocation(workbook).towns is not None


def test_small_table_hand_computed(tmp_path: Path) -> None:
    """A three-town table: change, 万元, county and city totals as computed by hand."""
    path = tf.write_allocation(_small(), tmp_path / "a.xlsx")
    wb = load_workbook(path)
    ws = wb["分配表"]
    headers = [c.value for c in ws[1]]
    assert headers == [
        "行政区划代码", "名称", "地级市", "县(市、区)", "区域", "分配金额(元)", "分配金额(万元)",
        "上年补助(元)", "较上年增减(元)", "增减幅度",
    ]  # fmt: skip
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert rows[0][5:] == (1_250_000, 125.0, 1_000_000, 250_000, 0.25)
    assert rows[1][5:] == (750_001, 75.0001, None, 750_001, None)  # new: gains it all
    assert rows[3][0] == "合计"
    assert rows[3][5:9] == (3_000_000, 300.0, 2_000_000, 1_000_000)
    totals = list(wb["市县汇总"].iter_rows(min_row=2, values_only=True))
    assert totals == [
        ("县", "韶关市", "武江区", 2, 2_000_001, 200.0001, 1_000_000, 1_000_001),
        ("县", "韶关市", "乳源瑶族自治县", 1, 999_999, 99.9999, 1_000_000, -1),
        ("市", "韶关市", "韶关市 小计", 3, 3_000_000, 300.0, 2_000_000, 1_000_000),
        ("合计", "合计", None, 3, 3_000_000, 300.0, 2_000_000, 1_000_000),
    ]
    assert "乡镇基础数据" not in wb.sheetnames
    back = tf.read_allocation(path)
    assert back.amounts.to_dict() == {"440203100": 1_250_000, "440203101": 750_001,
                                      "440232200": 999_999}  # fmt: skip
    assert back.towns is None
    assert list(back.parameters.columns) == ["path", "value", "unit", "description",
                                             "source", "assumption"]  # fmt: skip


class _FakeAllocation:
    """What the writer needs of an Allocation: to_frame, provenance, policy, towns."""

    def __init__(self, frame: pd.DataFrame, policy: tf.Policy) -> None:
        self._frame = frame
        self.policy = policy
        self.provenance: dict[str, Any] = {"solver": "test", "fund": 3_000_000}
        self.towns = None

    def to_frame(self) -> pd.DataFrame:
        return self._frame


def test_writes_an_allocation_like_object(tmp_path: Path) -> None:
    """An object with to_frame/provenance/policy is written like a table plus its parts."""
    pol = tf.get_policy("guangdong-2020")
    alloc = _FakeAllocation(_small().reset_index(), pol)
    back = tf.read_allocation(tf.write_allocation(alloc, tmp_path / "b.xlsx"))
    assert back.provenance["solver"] == "test"
    assert back.provenance["policy_id"] == "guangdong-2020"
    assert len(back.parameters) == len(pol.parameters)
    assert back.fund == 3_000_000


def test_bad_tables_are_refused_and_nothing_written(tmp_path: Path) -> None:
    """Fractional yuan, duplicate codes or no amount column: one error, no file."""
    bad = _small()
    bad["amount"] = [1.5, 2.0, np.nan]
    path = tmp_path / "bad.xlsx"
    with pytest.raises(tf.ValidationError) as err:
        tf.write_allocation(bad, path)
    assert [p.row for p in err.value.problems] == ["440203100", "440232200"]
    assert not path.exists()
    dup = pd.concat([_small(), _small().iloc[:1]])
    with pytest.raises(tf.ValidationError, match="duplicate town code"):
        tf.write_allocation(dup, path)
    with pytest.raises(tf.ValidationError, match="'amount' column"):
        tf.write_allocation(_small().drop(columns="amount"), path)
    with pytest.raises(tf.ValidationError, match="Allocation or a per-town DataFrame"):
        tf.write_allocation([1, 2], path)
    assert not path.exists()


def test_read_allocation_errors(tmp_path: Path) -> None:
    """A missing file or a workbook without 分配表 is reported."""
    with pytest.raises(FileNotFoundError):
        tf.read_allocation(tmp_path / "none.xlsx")
    other = tmp_path / "other.xlsx"
    pd.DataFrame({"a": [1]}).to_excel(other, sheet_name="Sheet1")
    with pytest.raises(tf.ValidationError, match="no sheet named '分配表'"):
        tf.read_allocation(other)
    assert report.SHEETS["allocation"] == "分配表"


def test_a_policy_id_fills_the_parameters_sheet(tmp_path: Path) -> None:
    """write_allocation resolves a policy id like a Policy: parameters and hash are written."""
    towns = tf.load_example()
    fa = tf.formula_allocation(towns, "guangdong-2020")
    path = tf.write_allocation(fa, tmp_path / "a.xlsx", policy="guangdong-2020", towns=towns)
    back = tf.read_allocation(path)
    assert back.provenance["policy_hash"] == tf.get_policy("guangdong-2020").hash
    assert len(back.parameters) == len(tf.get_policy("guangdong-2020").parameters)
