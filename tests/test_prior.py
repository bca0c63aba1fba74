"""Last year's table rolled forward: read_prior, roll_forward, read_towns(prior=) and --prior."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import townfiscal as tf
from townfiscal.cli import main
from townfiscal.towns import PRIOR, example_path

POLICY = tf.get_policy("guangdong-2020")


@pytest.fixture(scope="module")
def towns() -> pd.DataFrame:
    return tf.load_example()


@pytest.fixture(scope="module")
def last_year(towns: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[tf.Allocation, Path]:
    """Year one: an optimised allocation and the 分配表 it writes."""
    alloc = tf.allocate(towns, POLICY, constraints=[tf.HoldHarmless(1.0)])
    return alloc, alloc.to_excel(tmp_path_factory.mktemp("y1") / "2020分配表.xlsx")


def rolled(*args: object, **kwargs: object) -> tuple[pd.DataFrame, list[str]]:
    """tf.read_towns with the warnings it gives, as text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = tf.read_towns(*args, **kwargs)  # type: ignore[arg-type]
    return out, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def bureau_sheet(path: Path, rows: list[list[object]], *, title: bool = True) -> Path:
    """A workbook as a bureau sends it: a 说明 sheet first, a title and a 单位 line."""
    wb = openpyxl.Workbook()
    info = wb.active
    assert info is not None
    info.title = "说明"
    info.append(["本表为2020年各镇补助资金分配结果。"])
    ws = wb.create_sheet("2020年分配")
    if title:
        ws.append(["2020年财力薄弱镇补助资金分配表"])
        ws.merge_cells("A1:D1")
        ws.append(["单位：万元"])
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_round_trip_gives_last_years_amounts_to_the_yuan(towns: pd.DataFrame,
                                                         last_year: tuple[tf.Allocation, Path]
                                                         ) -> None:
    """allocate → to_excel → read_towns(prior=): prior_amount is each amount, to the yuan."""
    alloc, path = last_year
    year2, messages = rolled(example_path(), prior=path, policy=POLICY)
    paid = alloc.amounts
    assert year2.loc[paid.index, "prior_amount"].astype(np.int64).equals(paid.rename(
        "prior_amount"))
    assert year2["prior_amount"].notna().sum() == len(paid) == 1_002
    info = year2.attrs[PRIOR]
    assert info["kind"] == "分配表 written by townfiscal"
    assert info["amount_header"] == "分配金额(元)"  # not its 上年补助 column (two years back)
    assert info["source_fund"] == alloc.fund == info["total"]
    assert (info["matched"], info["appeared"], info["vanished"]) == (1_002, [], [])
    # the example's own 上年补助 (2019's) differs for most towns: said once
    assert messages == [f"last year's table 2020分配表.xlsx: it replaces the towns table's own "
                        f"上年补助 for {info['replaced']:,} towns"]
    assert info["replaced"] == int((towns.loc[paid.index, "prior_amount"] != paid).sum())


def test_year_two_allocates_against_year_one(last_year: tuple[tf.Allocation, Path]) -> None:
    """Hold-harmless in year two holds every town at least at its year-one amount."""
    alloc, path = last_year
    year2, _ = rolled(example_path(), prior=path, policy=POLICY)
    second = tf.allocate(year2, POLICY, fund=2_150_000_000, constraints=[tf.HoldHarmless(1.0)])
    assert (second.amounts >= alloc.amounts.reindex(second.amounts.index)).all()
    assert second.provenance["towns_prior"]["file"] == "2020分配表.xlsx"
    assert int(second.to_frame()["change"].sum()) == 150_000_000


def test_a_bureau_table_in_wan_with_12_digit_codes(tmp_path: Path) -> None:
    """Title, 单位：万元 line, 12-digit and numeric codes, a 合计 row: yuan to the yuan."""
    codes = ["440203100", "440203101", "440203102"]
    wan = [196.5889, 152.136, 212.9275]
    rows: list[list[object]] = [["序号", "乡镇代码", "乡镇名称", "2020年补助"]]
    rows += [[1, codes[0] + "000", "西联镇", wan[0]], [2, int(codes[1]), "西河镇", wan[1]],
             [3, "４４０２０３１０２", "龙归镇", f"{wan[2]:,}"], ["合计", None, None, sum(wan)]]
    path = bureau_sheet(tmp_path / "2020年补助.xlsx", rows)
    prior = tf.read_prior(path)
    assert prior.to_dict() == {"440203100": 1_965_889.0, "440203101": 1_521_360.0,
                               "440203102": 2_129_275.0}
    info = prior.attrs[PRIOR]
    assert (info["sheet"], info["header_row"], info["unit"]) == ("2020年分配", 3, "wan")
    assert info["unit_source"] == "the unit line '单位：万元'"
    assert info["skipped"] == "7 total"
    assert info["kind"] == "table"


def test_unit_from_the_header_and_a_gbk_csv(tmp_path: Path) -> None:
    """补助金额(万元) in a GBK CSV: the header's unit; 元 beside 万元: the 元 column is read."""
    path = tmp_path / "上年.csv"
    path.write_bytes("行政区划代码,名称,补助金额(万元)\n440203100,西联镇,196.5889\n"
                     .encode("gb18030"))
    prior = tf.read_prior(path)
    assert prior.to_dict() == {"440203100": 1_965_889.0}
    assert prior.attrs[PRIOR]["encoding"] == "gb18030"
    both = tmp_path / "both.csv"
    both.write_text("代码,金额(万元),金额(元)\n440203100,196.59,1965889\n", encoding="utf-8")
    assert tf.read_prior(both).to_dict() == {"440203100": 1_965_889.0}


def test_the_latest_year_column_or_the_one_named(tmp_path: Path) -> None:
    """2019年补助 and 2020年补助: the 2020 column; two unrelated candidates need column=."""
    path = tmp_path / "years.csv"
    path.write_text("代码,2019年补助,2020年补助\n440203100,1760475,1965889\n", encoding="utf-8")
    prior = tf.read_prior(path)
    assert prior.iloc[0] == 1_965_889.0
    assert prior.attrs[PRIOR]["amount_reason"] == "the year 2020's column"
    two = tmp_path / "two.csv"
    two.write_text("代码,分配金额,补助金额\n440203100,1760475,1965889\n", encoding="utf-8")
    with pytest.raises(tf.ValidationError, match="more than one column could be"):
        tf.read_prior(two)
    assert tf.read_prior(two, column="补助金额").iloc[0] == 1_965_889.0
    none = tmp_path / "none.csv"
    none.write_text("代码,人口\n440203100,46450\n", encoding="utf-8")
    with pytest.raises(tf.ValidationError, match="no amount column"):
        tf.read_prior(none)


def test_duplicate_codes_and_bad_rows_are_named_by_excel_row(tmp_path: Path) -> None:
    """One error: a code twice (both rows), a village code, text and a negative amount."""
    rows: list[list[object]] = [["乡镇代码", "乡镇名称", "补助金额"],
                                ["440203100", "西联镇", 196.5], ["440203101", "西河镇", "待定"],
                                ["440203100", "西联镇", 196.5], ["440203102001", "某村", 1.0],
                                ["440203103", "丁镇", -5]]
    path = bureau_sheet(tmp_path / "dup.xlsx", rows)
    with pytest.raises(tf.ValidationError) as err:
        tf.read_prior(path)
    text = str(err.value)
    assert len(err.value.problems) == 4
    assert "sheet '2020年分配', rows 4 and 6 (440203100), column '乡镇代码'" in text
    assert "the same code twice" in text
    assert "row 7, column '乡镇代码', value '440203102001': a village's 12-digit code" in text
    assert "row 5 (440203101), column '补助金额', value '待定': not an amount" in text
    assert "row 8 (440203103), column '补助金额', value -5: must not be negative" in text


def test_codes_excel_saved_in_scientific_notation_are_explained(tmp_path: Path) -> None:
    """A code Excel saved to CSV as 4.40203E+11 is explained as the towns table explains it,
    not skipped as a numbered note ("4. …") in a three-column table."""
    path = tmp_path / "2020.csv"
    path.write_text("乡镇代码,乡镇名称,补助金额\n440203100,西联镇,1965\n"
                    "4.40203E+11,西河镇,1521\n", encoding="utf-8")
    with pytest.raises(tf.ValidationError) as err:
        tf.read_prior(path)
    (p,) = err.value.problems
    assert (p.lines, p.header, p.value) == ((3,), "乡镇代码", "4.40203E+11")
    assert p.message.startswith("a code in scientific notation, as Excel saves long numbers")


def test_appearing_and_vanishing_towns_are_reported(towns: pd.DataFrame,
                                                    last_year: tuple[tf.Allocation, Path]
                                                    ) -> None:
    """Towns the policy covers but last year's table lacks, and codes no longer in the towns
    table, are named in one warning and kept in attrs; subdistricts are not 'new'."""
    alloc, _ = last_year
    prior = alloc.amounts.drop(["440203100", "440203101"])
    prior["441599100"] = 1_000_000  # not a town of this year's table
    this_year = towns.drop(index="445381119")  # merged away: its code vanishes
    with pytest.warns(tf.RollForwardWarning) as caught:
        year2 = tf.roll_forward(this_year.drop(columns="prior_amount"), prior, policy=POLICY)
    info = year2.attrs[PRIOR]
    assert info["appeared"] == ["440203100", "440203101"]
    assert info["vanished"] == ["445381119", "441599100"]
    assert np.isnan(year2.loc[["440203100", "440203101"], "prior_amount"]).all()
    text = str(caught[0].message)
    assert "2 of the 1,001 towns guangdong-2020 covers are not in it" in text
    assert "440203100 西联镇, 440203101 西河镇" in text
    assert "2 of its towns are not in this year's table" in text
    assert "bind them" in text
    assert "445381119, 441599100" in text
    # new towns are exempt from growth control (the policy's new_towns rule): no bounds
    fa = tf.formula_allocation(year2, POLICY)
    assert np.isinf(fa.loc["440203100", "upper"])
    assert fa.loc["440203100", "lower"] == 0


def test_series_tables_and_allocations_roll_forward_too(towns: pd.DataFrame,
                                                        last_year: tuple[tf.Allocation, Path]
                                                        ) -> None:
    """An Allocation, a Series or a code/amount table: the same prior_amount; bad ones refused."""
    alloc, _ = last_year
    bare = towns.drop(columns="prior_amount")
    a = tf.roll_forward(bare, alloc, policy=POLICY)
    b = tf.roll_forward(bare, alloc.amounts.astype(float), policy=POLICY)
    c = tf.roll_forward(bare, alloc.amounts.rename("amount").reset_index(), policy=POLICY)
    assert a["prior_amount"].equals(b["prior_amount"])
    assert a["prior_amount"].equals(c["prior_amount"])
    with pytest.raises(tf.ValidationError, match="the same code twice"):
        tf.roll_forward(bare, pd.Series([1.0, 2.0], index=["440203100", "440203100"]))
    with pytest.raises(tf.ValidationError, match="non-negative"):
        tf.roll_forward(bare, pd.Series([-1.0], index=["440203100"]))
    with pytest.raises(TypeError, match="prior must be"):
        tf.roll_forward(bare, 42)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fen=st.lists(st.integers(100_000, 10**11), min_size=1, max_size=30),
       wan=st.booleans(), twelve=st.booleans())
def test_any_table_reads_back_to_the_yuan(tmp_path: Path, fen: list[int], wan: bool,
                                          twelve: bool) -> None:
    """Whole yuan (1,000 to 1e9, a town's range) written in 元 or in 万元 (4 decimals), codes in
    9 or 12 digits: read back exact."""
    codes = [f"4402{i:05d}" for i in range(len(fen))]
    yuan = [f // 100 for f in fen]
    head = "补助金额(万元)" if wan else "补助金额(元)"
    body = "".join(f"{c + ('000' if twelve else '')},{(y / 10_000 if wan else y)!r}\n"
                   for c, y in zip(codes, yuan, strict=True))
    path = tmp_path / "p.csv"
    path.write_text(f"代码,{head}\n{body}", encoding="utf-8")
    prior = tf.read_prior(path)
    assert prior.index.tolist() == codes
    assert prior.tolist() == yuan  # exact: no float noise from the 万元 conversion


def test_cli_allocate_with_prior_end_to_end(last_year: tuple[tf.Allocation, Path],
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """allocate --prior 2020分配表.xlsx --hold-harmless --out: its 上年补助 is year one's."""
    alloc, path = last_year
    out = tmp_path / "2021分配表.xlsx"
    assert main(["allocate", "--prior", str(path), "--fund", "2,150,000,000",
                 "--hold-harmless", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert ("last year's amounts: 2020分配表.xlsx (townfiscal's 分配表, sheet '分配表', column "
            "'分配金额(元)' in 元 by the header '分配金额(元)'): 1,002 towns matched, "
            "2,000,000,000 yuan") in err
    wb = tf.read_allocation(out)
    assert wb.table["prior_amount"].astype(np.int64).equals(
        alloc.amounts.rename("prior_amount"))
    assert (wb.amounts >= wb.table["prior_amount"]).all()
    assert wb.fund == 2_150_000_000
    assert wb.provenance["towns_prior"]["file"] == "2020分配表.xlsx"
    labels = [r[0] for r in openpyxl.load_workbook(out)["来源"].iter_rows(values_only=True)]
    assert "上年补助来源" in labels


def test_cli_prior_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    """A prior table with a code twice: exit 1, both rows named, no traceback."""
    path = tmp_path / "dup.csv"
    path.write_text("代码,金额\n440203100,1965889\n440203100,1521360\n", encoding="utf-8")
    assert main(["allocate", "--prior", str(path)]) == 1
    err = capsys.readouterr().err
    assert "rows 2 and 3 (440203100)" in err
    assert "Traceback" not in err


def test_cli_validate_checks_last_years_table_too(last_year: tuple[tf.Allocation, Path],
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """validate FILE --prior: what was read and matched on stdout; a bad prior table exits 1."""
    _, path = last_year
    towns = tmp_path / "towns.csv"
    tf.load_example().drop(columns="prior_amount").to_csv(towns, encoding="utf-8-sig")
    assert main(["validate", str(towns), "--policy", "guangdong-2020", "--prior",
                 str(path)]) == 0
    out = capsys.readouterr().out
    assert "1,002 towns matched, 2,000,000,000 yuan" in out
    assert "towns.csv: valid — 1,757 units" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("乡镇代码,本年补助\n4402031,1965889\n", encoding="utf-8")
    assert main(["validate", str(towns), "--prior", str(bad)]) == 1
    assert "row 2, column '乡镇代码', value '4402031': not a township code" in (
        capsys.readouterr().err)


def test_prior_for_a_dataframe_source(last_year: tuple[tf.Allocation, Path]) -> None:
    """read_towns(DataFrame, prior=Allocation): the same roll-forward as from a file."""
    alloc, _ = last_year
    with pytest.warns(tf.RollForwardWarning, match="replaces the towns table's own"):
        year2 = tf.read_towns(tf.load_example(), prior=alloc, policy=POLICY)
    assert year2.loc[alloc.amounts.index, "prior_amount"].tolist() == alloc.amounts.tolist()
    assert year2.attrs[PRIOR]["kind"] == "Allocation"
