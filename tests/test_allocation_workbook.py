"""The 分配表 the command line writes: the library's workbook, clean numbers, usual permissions."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal._files import atomic_path
from townfiscal.cli import main, write_table

FUND = 2_000_000_000
CJK = re.compile(r"[\u4e00-\u9fff]")
SHEETS = ["分配表", "市县汇总", "参数", "来源", "乡镇基础数据"]


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@cache
def workbook(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's rows (the header first), read once per file."""
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb}
    finally:
        wb.close()


def cells(path: Path, sheet: str) -> tuple[list[Any], list[tuple[Any, ...]]]:
    rows = workbook(path)[sheet]
    return list(rows[0]), rows[1:]


def column(path: Path, sheet: str, header: str) -> list[Any]:
    head, rows = cells(path, sheet)
    i = head.index(header)
    return [r[i] for r in rows if r[0] != "合计"]


@pytest.fixture(scope="module")
def optimised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`allocate --hold-harmless --out` and Allocation.to_excel of the same allocation."""
    folder = tmp_path_factory.mktemp("wb")
    cli = folder / "cli.xlsx"
    assert main(["allocate", "--hold-harmless", "--out", str(cli)]) == 0
    alloc = tf.allocate(tf.load_example(), "guangdong-2020", constraints=[tf.HoldHarmless(1.0)])
    return cli, alloc.to_excel(folder / "lib.xlsx")


@pytest.fixture(scope="module")
def formula(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`allocate --out` with formula amounts (no optimiser option)."""
    out = tmp_path_factory.mktemp("wb") / "分配表.xlsx"
    assert main(["allocate", "--out", str(out)]) == 0
    return out


def test_the_command_writes_the_same_workbook_as_to_excel(optimised: tuple[Path, Path]) -> None:
    """Every sheet but the time written holds the same cells as Allocation.to_excel's."""
    a, b = (workbook(p) for p in optimised)
    assert list(a) == list(b) == [*SHEETS, "影子价格"]
    for name in a:
        rows_a, rows_b = a[name], b[name]
        if name == "来源":  # the time of the run and of writing differ
            rows_a = [r for r in rows_a if r[2] not in {"created", "written"}]
            rows_b = [r for r in rows_b if r[2] not in {"created", "written"}]
        assert rows_a == rows_b, name


def test_every_header_is_chinese_shadow_prices_too(optimised: tuple[Path, Path],
                                                   formula: Path) -> None:
    """Each sheet's header cells hold Chinese (but the provenance's key column, 键 itself)."""
    for path in (*optimised, formula):
        for title, rows in workbook(path).items():
            assert all(CJK.search(str(h)) for h in rows[0]), (path.name, title, rows[0])
    head, rows = cells(optimised[0], "影子价格")
    assert head == ["约束", "约束名称", "影子价格", "起作用镇数", "单位", "含义"]
    assert [r[:2] for r in rows] == [("Fund", "资金总额"), ("HoldHarmless", "不低于上年")]
    assert rows[1][3] == 163  # towns held at last year's amount


def test_binding_constraints_are_named_in_chinese_and_read_back(
        optimised: tuple[Path, Path]) -> None:
    """起作用的约束 says 不低于上年 (the shadow-price sheet's name); read_allocation gives the
    family names back as Allocation.to_frame has them."""
    held = column(optimised[0], "分配表", "起作用的约束")
    assert held.count("不低于上年") == 163
    assert set(held) == {"不低于上年", None}
    back = tf.read_allocation(optimised[0]).table["binding"]
    assert back.eq("HoldHarmless").sum() == 163


def test_formula_workbook_names_each_factor_in_chinese(formula: Path) -> None:
    """A formula allocation's factor columns get the factor's Chinese name from the policy."""
    head, _ = cells(formula, "分配表")
    assert "户籍人口系数" in head
    assert "人均可用财力(因素值)" in head
    assert not [h for h in head if h.startswith(("value_", "coef_"))]
    assert list(workbook(formula)) == SHEETS


def test_money_is_whole_yuan_and_no_float_carries_noise(optimised: tuple[Path, Path],
                                                        formula: Path) -> None:
    """Paid amounts, last year's and the change are ints; no float has noise in its last digits."""
    for path in (*optimised, formula):
        for header in ("分配金额(元)", "上年补助(元)", "较上年增减(元)"):
            assert all(type(v) is int for v in column(path, "分配表", header)), header
        for title, rows in workbook(path).items():
            floats = np.array([v for r in rows[1:] for v in r if isinstance(v, float)])
            assert (floats == np.array([float(f"{v:.12g}") for v in floats])).all(), title
            assert not (floats == np.round(floats)).any(), title  # whole numbers are ints
    # the formula's growth caps are prior × 1.15: kept to the fen, not 2024546.2499999998
    upper = column(formula, "分配表", "上限(元)")
    prior = column(formula, "分配表", "上年补助(元)")
    assert upper[0] == 2_024_546.25 == round(prior[0] * 1.15, 2)


def test_a_town_without_a_cap_has_a_blank_not_the_fund(optimised: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    """No Cap: every 上限 is blank; with --cap 3,000,000 every town shows that cap."""
    assert set(column(optimised[0], "分配表", "上限(元)")) == {None}
    capped = tmp_path / "capped.xlsx"
    assert main(["allocate", "--cap", "3,000,000", "--out", str(capped)]) == 0
    assert set(column(capped, "分配表", "上限(元)")) == {3_000_000}


def test_each_provenance_fact_is_one_row(optimised: tuple[Path, Path], formula: Path) -> None:
    """No label or key repeats: 政策 and townfiscal 版本 appear once each."""
    for path in (*optimised, formula):
        _, rows = cells(path, "来源")
        labels, keys = [r[0] for r in rows], [r[2] for r in rows]
        assert len(labels) == len(set(labels)), labels
        assert len(keys) == len(set(keys)), keys
        assert labels.count("政策") == 1
        assert labels.count("townfiscal 版本") == 1
    prov = tf.read_allocation(optimised[0]).provenance
    assert prov["policy_id"] == "guangdong-2020"
    assert "policy" not in prov
    assert prov["method"] == "breakpoint search"


def test_amounts_and_totals_equal_the_fund_to_the_yuan(optimised: tuple[Path, Path],
                                                       formula: Path) -> None:
    """Per town, on the 合计 row and in the grand total of 市县汇总: the fund exactly."""
    for path in (*optimised, formula):
        amounts = column(path, "分配表", "分配金额(元)")
        assert len(amounts) == 1_002
        assert sum(amounts) == FUND
        head, rows = cells(path, "分配表")
        assert rows[-1][0] == "合计"
        assert rows[-1][head.index("分配金额(元)")] == FUND
        head, rows = cells(path, "市县汇总")
        assert rows[-1][0] == "合计"
        assert rows[-1][head.index("分配金额(元)")] == FUND
    assert tf.read_allocation(formula).fund == FUND


def test_csv_is_the_allocation_sheet_in_utf8_with_a_bom(formula: Path, tmp_path: Path) -> None:
    """--out x.csv: a BOM, then the 分配表 sheet's header and cells without the 合计 row."""
    out = tmp_path / "分配表.csv"
    assert main(["allocate", "--out", str(out)]) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw[3:].decode("utf-8")
    head, rows = cells(formula, "分配表")
    assert text.splitlines()[0].split(",") == head
    table = pd.read_csv(out, encoding="utf-8-sig", dtype={"行政区划代码": str})
    assert table["行政区划代码"].tolist() == [r[0] for r in rows[:-1]]
    assert table["分配金额(元)"].dtype == np.int64
    assert table["分配金额(元)"].sum() == FUND
    assert "1760475,205414" in text  # last year's amount and the change, written as integers


def test_the_command_writes_with_the_umask_permissions(tmp_path: Path) -> None:
    """`allocate --out` under umask 022 gives 0644, not mkstemp's 0600, and no stray file."""
    out = tmp_path / "分配表.xlsx"
    with umask(0o022):
        assert main(["allocate", "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
@pytest.mark.parametrize("name", ["分配表.xlsx", "分配表.csv"])
def test_output_files_get_the_umask_permissions(tmp_path: Path, mask: int, mode: int,
                                                name: str) -> None:
    """Every writer's file has 0o666 less the umask: the 分配表 in either format, the CLI's
    tables (split, devolve, transfers) and the comparison workbook."""
    table = pd.DataFrame({"amount": [600, 400]}, index=pd.Index(["441521100", "441521101"]))
    with umask(mask):
        paths = [tf.write_allocation(table, tmp_path / name),
                 write_table(pd.DataFrame({"x": [1.5]}), tmp_path / f"t{Path(name).suffix}")]
    assert [p.stat().st_mode & 0o777 for p in paths] == [mode, mode]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_the_comparison_workbook_gets_them_too(tmp_path: Path) -> None:
    """Comparison.to_excel under umask 027: 0640."""
    towns = tf.load_example()
    pol = tf.get_policy("guangdong-2020")
    cmp = tf.compare({"a": tf.formula_allocation(towns, pol),
                      "b": tf.formula_allocation(towns, pol, fund=2_100_000_000)}, towns=towns)
    with umask(0o027):
        path = cmp.to_excel(tmp_path / "比较表.xlsx")
    assert path.stat().st_mode & 0o777 == 0o640


def test_write_table_writes_whole_floats_as_integers(tmp_path: Path) -> None:
    """Float columns holding sums of yuan lose their noise; fractions keep 15 digits."""
    frame = pd.DataFrame({"yuan": [196_100.0000000002, np.nan], "ratio": [0.1 + 0.2, 1.0]},
                         index=pd.Index(["a", "b"], name="code"))
    path = write_table(frame, tmp_path / "t.csv")
    assert path.read_text(encoding="utf-8-sig").splitlines() == [
        "行政区划代码,yuan,ratio", "a,196100,0.3", "b,,1"]


def test_write_table_heads_in_chinese(tmp_path: Path) -> None:
    """Known columns get the 分配表's Chinese headers, zones, kinds and yes/no in Chinese;
    a split's city and county are levels of government; a command adds its own."""
    frame = pd.DataFrame({"zone": ["east_wing"], "kind": ["town"], "eligible": [True],
                          "fiscal_capacity": [1.0], "city": [2], "prog": [3]},
                         index=pd.Index(["441521101"], name="code"))
    places = write_table(frame, tmp_path / "a.csv", headers={"prog": "某项补助(元)"})
    levels = write_table(frame, tmp_path / "b.csv", levels=True)
    assert places.read_text(encoding="utf-8-sig").splitlines() == [
        "行政区划代码,区域,类型,是否补助对象,可用财力(元),地级市,某项补助(元)",
        "441521101,东翼,镇,是,1,2,3"]
    assert levels.read_text(encoding="utf-8-sig").splitlines()[0].split(",")[5:] == [
        "市(元)", "prog"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    """An error inside atomic_path keeps what was there and removes its temporary file."""
    target = tmp_path / "a.xlsx"
    target.write_text("old", encoding="utf-8")

    def fail() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fail()
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.xlsx"]


def test_a_wrong_file_type_fails_before_allocating(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """--out x.pdf: exit 2 with one line, nothing printed about an allocation."""
    assert main(["allocate", "--out", str(tmp_path / "x.pdf")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "use a .csv or .xlsx file name" in err


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.tuples(st.integers(0, 10**8), st.integers(0, 10**10),
                               st.sampled_from([0.0, 1e-9, -2e-10, 0.004, np.inf])),
                     min_size=1, max_size=20))
def test_any_table_is_written_without_noise(tmp_path: Path,
                                            data: list[tuple[int, int, float]]) -> None:
    """Any amounts and caps, with float noise or none: amounts are ints that sum to the fund
    on the 合计 row, caps are to the fen, ints when whole, blank when infinite or at least the
    fund, and the amounts read back exact."""
    codes = [f"4415211{i:02d}" for i in range(len(data))]
    amount = [a for a, _, _ in data]
    upper = [(c + noise) if np.isfinite(noise) else noise for _, c, noise in data]
    table = pd.DataFrame({"amount": amount, "upper": upper}, index=pd.Index(codes, name="code"))
    path = tf.write_allocation(table, tmp_path / "t.xlsx")
    head, rows = cells(path, "分配表")
    workbook.cache_clear()  # the same file name is written again for the next example
    amounts = [r[head.index("分配金额(元)")] for r in rows]
    assert all(type(a) is int for a in amounts)
    assert amounts[-1] == sum(amounts[:-1]) == sum(amount)
    fund = sum(amount)
    for got, cap in zip([r[head.index("上限(元)")] for r in rows[:-1]], upper, strict=True):
        if not np.isfinite(cap) or cap >= fund:
            assert got is None
        else:
            assert got == round(cap, 2)
            assert type(got) is int if round(cap, 2) == round(cap) else type(got) is float
    assert tf.read_allocation(path).amounts.tolist() == amount
