"""Reading towns tables shaped the way county and city finance bureaus hand them over.

Each shape loads with money identical to the clean table to the yuan, or gives an error naming
the file, the sheet, the row as Excel numbers it, the header as written and the value.
"""

from __future__ import annotations

import string
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import townfiscal as tf
from _workbooks import (
    INSTRUCTIONS,
    MONEY,
    ZH,
    bureau_rows,
    sample,
    write_csv,
    write_ods,
    write_xlsx,
)
from townfiscal.cli import main
from townfiscal.towns import SOURCE, read_table, read_towns_report

FIXTURE_XLS = Path(__file__).parent / "data" / "bureau-2021.xls"

NUMBERS = ["registered_population", "resident_population", "supported_population", "area_km2",
           *MONEY]


@pytest.fixture(scope="module")
def clean():
    """Twelve units of the example, money in whole yuan: what every shape must read back as."""
    return sample(tf.load_example())


def assert_same_towns(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same units, text and categories; money equal to the yuan; other numbers equal."""
    assert got.index.tolist() == want.index.tolist()
    for c in ("name", "county", "city", "zone", "kind"):
        assert got[c].tolist() == want[c].tolist(), c
    for c in MONEY:
        np.testing.assert_array_equal(np.round(got[c].to_numpy()), want[c].to_numpy(), err_msg=c)
    for c in NUMBERS[:4]:
        np.testing.assert_allclose(got[c].to_numpy(), want[c].to_numpy(), rtol=1e-12)


def read_quietly(path, **kw):
    """read_towns, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return tf.read_towns(path, **kw)


# --- each shape ---------------------------------------------------------------------------


def test_a_title_and_unit_line_above_the_headers(tmp_path, clean):
    """A merged title and 单位：万元 above the headers: found, money read as 万元 to the yuan."""
    path = write_xlsx(tmp_path / "测算表.xlsx", [("测算表", bureau_rows(clean, unit="wan",
                                                                     total=False, notes=False))])
    towns = read_quietly(path)
    assert_same_towns(towns, clean)
    src = towns.attrs[SOURCE]
    assert (src["sheet"], src["header_row"], src["unit"], src["unit_text"]) == (
        "测算表", 3, "wan", "单位：万元")
    assert src["titles"] == ["2021年度乡镇财力补助测算表", "单位：万元"]


def test_the_data_sheet_is_found_after_an_instructions_sheet(tmp_path, clean):
    """A 说明 sheet first: the second sheet is read, and the report says why."""
    path = write_xlsx(tmp_path / "t.xlsx", [("说明", INSTRUCTIONS),
                                            ("数据", bureau_rows(clean, total=False))])
    towns, report = read_towns_report(path)
    assert_same_towns(towns, clean)
    assert report.sheet == "数据"
    assert report.sheet_reason == ("the sheet with the most known headers (13; the other "
                                   "sheets: '说明' 0)")


def test_a_hidden_sheet_is_passed_over(tmp_path, clean):
    """A hidden sheet with the same headers (a bureau's working copy) is not chosen."""
    rows = bureau_rows(clean, total=False, notes=False)
    path = write_xlsx(tmp_path / "t.xlsx", [("旧表", rows), ("说明", INSTRUCTIONS),
                                            ("2021", rows)], hidden=("旧表",))
    assert read_quietly(path).attrs[SOURCE]["sheet"] == "2021"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"])
def test_csv_in_the_encodings_excel_writes(tmp_path, clean, encoding):
    """GBK/GB18030 (Excel on Chinese Windows) and UTF-8 with or without BOM read alike."""
    path = write_csv(tmp_path / "t.csv", bureau_rows(clean, unit="wan"), encoding=encoding)
    towns = read_quietly(path)
    assert_same_towns(towns, clean)
    expected = {"gbk": "gb18030", "gb18030": "gb18030"}.get(encoding, encoding)
    assert towns.attrs[SOURCE]["encoding"] == expected


def test_unicode_text_is_utf16_and_tab_separated(tmp_path, clean):
    """Excel's "Unicode text" (UTF-16 with BOM, tabs) reads like any CSV."""
    path = write_csv(tmp_path / "t.txt", bureau_rows(clean), encoding="utf-16",
                     delimiter="\t")
    towns = read_quietly(path)
    assert_same_towns(towns, clean)
    assert towns.attrs[SOURCE]["encoding"] == "utf-16"


def test_a_gb18030_character_outside_gbk_is_kept(tmp_path, clean):
    """A rare character of CJK extension A (not in GBK) survives a GB18030 file."""
    renamed = clean.copy()
    renamed.iloc[0, renamed.columns.get_loc("name")] = "䢺镇"
    path = write_csv(tmp_path / "t.csv", bureau_rows(renamed), encoding="gb18030")
    assert read_quietly(path)["name"].iloc[0] == "䢺镇"


def test_a_legacy_xls_workbook(clean):
    """The committed .xls: 说明 sheet, title, 单位：万元, 12-digit codes, blank row, 合计, notes."""
    towns, report = read_towns_report(FIXTURE_XLS)
    assert_same_towns(towns, clean)
    assert (report.format, report.sheet, report.header_row, report.unit) == (
        "xls", "测算表", 3, "wan")
    assert [(s.line, s.kind) for s in report.skipped] == [
        (9, "blank"), (17, "total"), (18, "note"), (19, "note")]


def test_an_ods_workbook(tmp_path, clean):
    """An OpenDocument spreadsheet with a 说明 sheet and a title reads like an .xlsx."""
    path = write_ods(tmp_path / "t.ods", [("说明", INSTRUCTIONS),
                                          ("测算表", bureau_rows(clean, unit="wan"))])
    towns = read_quietly(path)
    assert_same_towns(towns, clean)
    assert towns.attrs[SOURCE]["format"] == "ods"


def test_twelve_digit_codes_are_cut_to_nine(tmp_path, clean):
    """统计用区划代码 (9 digits + 000), as numbers or as text, become the township codes."""
    for as_text in (False, True):
        path = write_xlsx(tmp_path / f"t{as_text}.xlsx",
                          [("s", bureau_rows(clean, twelve_digit=True, as_text=as_text))])
        towns = read_quietly(path)
        assert towns.index.tolist() == clean.index.tolist()
        assert towns.attrs[SOURCE]["notes"] == [
            "12 codes are 12-digit 统计用区划代码, read as their 9-digit township codes"]


def test_a_village_code_is_an_error_at_its_row(tmp_path, clean):
    """A 12-digit code not ending in 000 names a village: one problem at its Excel row."""
    rows = bureau_rows(clean, twelve_digit=True, total=False, notes=False)
    rows[5][0] = int(str(rows[5][0])[:9] + "201")  # title, unit, header: data from row 4
    path = write_xlsx(tmp_path / "t.xlsx", [("测算表", rows)])
    with pytest.raises(tf.ValidationError) as info:
        tf.read_towns(path)
    (p,) = info.value.problems
    assert (p.file, p.sheet, p.lines, p.header, p.value) == (
        "t.xlsx", "测算表", (6,), "行政区划代码", f"{clean.index[2]}201")
    assert "village-level unit" in p.message


def test_totals_subtotals_and_notes_are_skipped_and_reported(tmp_path, clean):
    """合计, 小计, the 注 line and the signature line are left out and listed by Excel row."""
    rows = bureau_rows(clean, subtotal=True, serial=True)
    path = write_xlsx(tmp_path / "t.xlsx", [("s", rows)])
    towns, report = read_towns_report(path)
    assert_same_towns(towns, clean)
    n = len(clean)
    assert [(s.line, s.kind, s.text) for s in report.skipped] == [
        (4 + n, "subtotal", f"{clean['county'].iloc[0]}小计"),
        (5 + n, "total", "合计"),
        (6 + n, "note", "注：1. 人口为年末数；2. 可用财力含上级补助。"),
        (7 + n, "note", "填表人：张三"),
    ]
    assert towns.attrs[SOURCE]["skipped"][1] == {"line": 5 + n, "kind": "total", "text": "合计"}


def test_a_total_that_disagrees_with_the_rows_is_a_warning(tmp_path, clean):
    """A 合计 that is not the sum of the rows above (a row left out) is named in a warning."""
    rows = bureau_rows(clean, unit="wan", notes=False)
    total = rows[-1]
    col = total.index(float(clean["fiscal_capacity"].sum()) / 10_000)
    total[col] += 1.5  # 1.5 万元 more than the rows
    path = write_xlsx(tmp_path / "t.xlsx", [("测算表", rows)])
    with pytest.warns(tf.PlausibilityWarning) as caught:
        towns = tf.read_towns(path)
    (w,) = caught
    assert f"t.xlsx, sheet '测算表', row {3 + len(clean) + 1} (合计), column '可用财力'" in str(
        w.message)
    assert "(difference -1.50)" in str(w.message)
    assert_same_towns(towns, clean)


def test_blank_rows_inside_the_table(tmp_path, clean):
    """Blank rows between towns are skipped and counted; Excel rows stay right after them."""
    rows = bureau_rows(clean, blank_after=(1, 2, 7), total=False, notes=False)
    rows[9][10] = "many"  # the 5th town, after two blank rows: Excel row 10; 可用财力
    path = write_csv(tmp_path / "t.csv", rows, encoding="gbk")
    with pytest.raises(tf.ValidationError) as info:
        tf.read_towns(path)
    (p,) = info.value.problems
    assert (p.file, p.sheet, p.lines, p.header, p.value) == ("t.csv", None, (10,), "可用财力",
                                                             "many")
    assert str(p) == (f"t.csv, row 10 ({clean.index[4]}), column '可用财力', value 'many': "
                      "not a number")
    rows[9][10] = 1.0e6
    _, report = read_towns_report(write_csv(tmp_path / "u.csv", rows))
    assert [s.line for s in report.skipped] == [6, 8, 14]


def test_full_width_digits_and_thousands_separators(tmp_path, clean):
    """Numbers written as text: "１２，３４５．６", "1,234,567.0" read as the numbers."""
    for full_width, thousands in ((True, False), (False, True), (True, True)):
        rows = bureau_rows(clean, unit="wan", full_width=full_width, thousands=thousands)
        towns = read_quietly(write_csv(tmp_path / "t.csv", rows, encoding="gb18030"))
        assert_same_towns(towns, clean)


def test_units_in_headers_and_a_unit_line_that_says_yuan(tmp_path, clean):
    """可用财力（万元） headers read as 万元; a 单位：元 line wins over unit="wan"."""
    path = write_xlsx(tmp_path / "a.xlsx", [("s", bureau_rows(clean, unit="wan",
                                                            unit_line=False, header_units=True))])
    assert_same_towns(read_quietly(path), clean)
    path = write_xlsx(tmp_path / "b.xlsx", [("s", bureau_rows(clean, unit="yuan"))])
    assert_same_towns(read_quietly(path, unit="wan"), clean)


def test_everything_at_once_in_a_gbk_csv(tmp_path, clean):
    """Title, unit line, serial numbers, 12-digit codes as text, blank rows, thousands
    separators, 小计, 合计 and notes, in GBK: the clean table."""
    rows = bureau_rows(clean, unit="wan", twelve_digit=True, as_text=True, thousands=True,
                       blank_after=(3,), subtotal=True, serial=True)
    towns, report = read_towns_report(write_csv(tmp_path / "t.csv", rows, encoding="gbk"))
    assert_same_towns(towns, clean)
    assert (report.encoding, report.header_row, report.unit) == ("gb18030", 3, "wan")
    assert [s.kind for s in report.skipped] == ["blank", "subtotal", "total", "note", "note"]


def test_everything_at_once_in_a_workbook(tmp_path, clean):
    """说明 sheet, merged title, unit line, 12-digit codes, blank rows, 合计 and notes."""
    rows = bureau_rows(clean, unit="wan", twelve_digit=True, blank_after=(0, 5))
    path = write_xlsx(tmp_path / "t.xlsx", [("说明", INSTRUCTIONS), ("测算表", rows)])
    assert_same_towns(read_quietly(path), clean)


# --- where problems are -------------------------------------------------------------------


def test_problems_name_file_sheet_excel_row_header_and_value(tmp_path, clean):
    """Bad cells are named as a clerk finds them: sheet, Excel row, header as written, value."""
    rows = bureau_rows(clean, unit="wan", header_units=True, unit_line=False)
    # title (1), headers (2), towns from row 3
    rows[4][10] = "abc"  # row 5, 可用财力（万元）
    rows[7][6] = -5  # row 8, 户籍人口
    rows[9][0] = rows[3][0]  # row 10 repeats the code of row 4
    rows[11][5] = "南极"  # row 12, 区域
    path = write_xlsx(tmp_path / "测算表.xlsx", [("说明", INSTRUCTIONS), ("2021年", rows)])
    with pytest.raises(tf.ValidationError) as info:
        tf.read_towns(path)
    found = {(p.lines, p.header, p.value, p.message[:15]) for p in info.value.problems}
    assert found == {
        ((5,), "可用财力（万元）", "abc", "not a number"),
        ((8,), "户籍人口", -5.0, "must not be nega"[:15]),
        ((4, 10), "行政区划代码", str(clean.index[1]), "duplicate code"),
        ((12,), "区域", "南极", "unknown zone; e"),
    }
    assert {(p.file, p.sheet) for p in info.value.problems} == {("测算表.xlsx", "2021年")}
    text = str(info.value)
    assert text.startswith("towns file 测算表.xlsx is invalid: 4 problems")
    assert (f"测算表.xlsx, sheet '2021年', rows 4 and 10 ({clean.index[1]}), column '行政区划代码'"
            f", value '{clean.index[1]}': duplicate code") in text
    assert info.value.to_dict()["problems"][0]["lines"]


def test_missing_headers_say_which_headers_were_read(tmp_path, clean):
    """A header row given wrong: the missing columns, and once the headers read from that row."""
    path = write_xlsx(tmp_path / "t.xlsx", [("s", bureau_rows(clean))])
    with pytest.raises(tf.ValidationError) as info:
        tf.read_towns(path, header_row=2)
    last = info.value.problems[-1]
    assert last.lines == (2,)
    assert last.message.startswith("the headers read are '单位：元'")
    assert len(info.value.problems) == 11  # ten required columns, one line of headers


def test_sheet_and_header_row_arguments(tmp_path, clean):
    """sheet= and header_row= override detection; a missing sheet lists the sheets."""
    rows = bureau_rows(clean, total=False, notes=False)
    path = write_xlsx(tmp_path / "t.xlsx", [("说明", INSTRUCTIONS), ("a", rows), ("b", rows)])
    towns = tf.read_towns(path, sheet="b", header_row=3)
    assert towns.attrs[SOURCE]["sheet"] == "b"
    assert tf.read_towns(path, sheet=2).attrs[SOURCE]["sheet"] == "b"
    with pytest.raises(tf.ValidationError, match=r"no sheet 'c'; the workbook's sheets are "
                       r"0: '说明', 1: 'a', 2: 'b'"):
        tf.read_towns(path, sheet="c")
    with pytest.raises(tf.ValidationError, match="header row 99 is beyond the last row"):
        tf.read_towns(path, header_row=99)


# --- files that are not tables ------------------------------------------------------------


def _broken_files(tmp_path: Path, clean: pd.DataFrame) -> dict[str, tuple[Path, str]]:
    good = write_xlsx(tmp_path / "good.xlsx", [("s", bureau_rows(clean))])
    files = {}

    def put(name: str, data: bytes, says: str) -> None:
        path = tmp_path / name
        path.write_bytes(data)
        files[name] = (path, says)

    put("report.xlsx", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "it is a PDF document")
    put("empty.csv", b"", "the file is empty (0 bytes)")
    put("empty.xlsx", b"", "the file is empty (0 bytes)")
    put("cut.xlsx", good.read_bytes()[:2000], "damaged or incomplete zip file")
    put("page.xls", b"<html><body><table><tr><td>1</td></tr></table></body></html>",
        "a web page (HTML)")
    put("photo.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(100), "it is an image")
    put("noise.xls", bytes(range(256)) * 8, "a binary file of an unknown kind")
    buf = tmp_path / "doc.xlsx"
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    files["doc.xlsx"] = (buf, "a word-processor document")
    ole = tmp_path / "old.xls"
    ole.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    files["old.xls"] = (ole, "an old Office (OLE) file that is not a readable Excel workbook")
    return files


def test_an_unreadable_file_is_one_line_saying_what_it_seems_to_be(tmp_path, clean):
    """PDF, empty, truncated, HTML, image, noise, Word, broken OLE: one UnreadableFileError."""
    for name, (path, says) in _broken_files(tmp_path, clean).items():
        with pytest.raises(tf.UnreadableFileError) as info:
            tf.read_towns(path)
        text = str(info.value)
        assert text.startswith(f"cannot read {name}: "), text
        assert says in text, text
        assert "\n" not in text
        assert isinstance(info.value, tf.ValidationError)
        assert info.value.problems[0].file == name


def test_the_cli_prints_one_line_for_an_unreadable_file(tmp_path, clean, capsys):
    """No traceback: `error: cannot read …` and exit status 1, for every command reading it."""
    for name, (path, says) in _broken_files(tmp_path, clean).items():
        for argv in (["allocate", "--towns", str(path)], ["validate", str(path)]):
            assert main(argv) == 1
            err = capsys.readouterr().err.strip()
            assert err.count("\n") == 0, (name, err)
            assert says in err, (name, err)
            assert "Traceback" not in err


def test_a_csv_named_xls_is_read_as_csv(tmp_path, clean):
    """An export that is CSV text under an .xls name is read, and the report says so."""
    path = write_csv(tmp_path / "export.xls", bureau_rows(clean), encoding="gbk")
    towns, report = read_towns_report(path)
    assert_same_towns(towns, clean)
    assert report.notes == ("the file is named .xls but is CSV text; read as such",)



def test_text_named_xlsx_that_is_no_table_says_what_the_file_is_first(tmp_path):
    """Text saved as .xlsx that holds no towns table: the first problem says it is text."""
    path = tmp_path / "towns.xlsx"
    path.write_text("年度报告\n见附件\n", encoding="utf-8")
    with pytest.raises(tf.ValidationError) as info:
        tf.read_towns(path)
    first, *rest = info.value.problems
    assert str(first) == "towns.xlsx: the file is named .xlsx but is CSV text; read as such"
    assert any(p.column == "code" and "missing" in p.message for p in rest)

# --- plausibility ---------------------------------------------------------------------------


def test_absurd_magnitudes_are_one_warning_naming_each_row(tmp_path, clean):
    """Fiscal capacity 1e30 and a prior amount of 1e13: one warning naming both cells."""
    rows = bureau_rows(clean, total=False, notes=False)
    rows[3][10] = 1e30  # row 4
    rows[6][12] = 1e13  # row 7
    with pytest.warns(tf.PlausibilityWarning) as caught:
        towns = tf.read_towns(write_xlsx(tmp_path / "t.xlsx", [("s", rows)]))
    (w,) = caught
    text = str(w.message)
    assert text.splitlines()[0] == "towns file t.xlsx: 2 things to check"
    assert (f"t.xlsx, sheet 's', row 4 ({clean.index[0]}), column '可用财力': 1e+30 yuan is "
            "above 100,000,000,000 yuan") in text
    assert f"row 7 ({clean.index[3]}), column '上年补助': 1e+13 yuan is above" in text
    assert len(towns.attrs[SOURCE]["warnings"]) == 2


def test_a_money_column_in_the_wrong_unit_is_a_warning(tmp_path, clean):
    """Yuan read as 万元 (unit="wan" on a yuan file) and 万元 read as yuan are both named."""
    yuan_file = write_xlsx(tmp_path / "y.xlsx", [("s", bureau_rows(clean, unit_line=False))])
    with pytest.warns(tf.PlausibilityWarning, match="looks like yuan read as 万元"):
        tf.read_towns(yuan_file, unit="wan")
    wan_file = write_xlsx(tmp_path / "w.xlsx", [("s", bureau_rows(clean, unit="wan",
                                                                  unit_line=False))])
    with pytest.warns(tf.PlausibilityWarning) as caught:
        tf.read_towns(wan_file)
    text = str(caught[0].message)
    for header in ("可用财力", "一般公共预算支出"):
        assert f"column '{header}': the median is" in text
    assert "looks like 万元 read as yuan" in text


def test_the_example_and_the_synthetic_tables_raise_no_plausibility_warning():
    """The bounds sit well outside real tables: the example and China's 41,352 units pass."""
    from townfiscal.towns._plausible import implausible

    assert implausible(tf.load_example()) == []
    assert implausible(tf.make_towns("china")) == []


# --- what was found travels with the table ------------------------------------------------


def test_the_source_reaches_an_allocations_provenance(tmp_path):
    """allocate() from a bureau workbook records the file, sheet, header row and unit."""
    towns = tf.load_example()
    keep = towns[towns["county"].isin(["海丰县", "陆丰市", "陆河县"])]
    rows = bureau_rows(keep, unit="wan", twelve_digit=True)
    path = write_xlsx(tmp_path / "汕尾.xlsx", [("说明", INSTRUCTIONS), ("测算表", rows)])
    read = read_quietly(path)
    alloc = tf.allocate(read, "guangdong-2020", fund=100_000_000)
    assert alloc.provenance["towns_source"] == {
        "file": "汕尾.xlsx", "format": "xlsx", "sheet": "测算表", "header_row": 3,
        "unit": "wan", "rows": len(keep),
        "skipped": f"{4 + len(keep)} total; {5 + len(keep)} note; {6 + len(keep)} note"}
    fa = tf.formula_allocation(read, "guangdong-2020", fund=100_000_000)
    assert fa.attrs["towns_source"]["sheet"] == "测算表"


def test_the_cli_allocates_from_a_bureau_workbook(tmp_path, capsys):
    """`allocate --towns` on a titled .xlsx with a 说明 sheet: what was found, then the result."""
    towns = tf.load_example()
    rows = bureau_rows(towns, unit="wan", twelve_digit=True)
    path = write_xlsx(tmp_path / "2021.xlsx", [("说明", INSTRUCTIONS), ("测算表", rows)])
    assert main(["allocate", "--towns", str(path)]) == 0
    out = capsys.readouterr()
    assert "total             2,000,000,000 yuan" in out.out
    assert "sheet '测算表'" in out.err
    assert "unit line '单位：万元': money in 万元" in out.err
    assert main(["validate", str(path), "--sheet", "测算表", "--header-row", "3"]) == 0
    assert "valid — 1,757 units" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["validate", str(path), "--header-row", "0"])
    assert "rows are numbered from 1, as in Excel" in capsys.readouterr().err


def test_the_cli_tables_read_through_the_same_reader(tmp_path, capsys):
    """split's spending table may have a title line, a 合计 row and be GBK."""
    rows = [["2021年支出表"], ["item", "amount", "zone"], ["roads", "11", "north"],
            ["合计", "11", ""]]
    spending = write_csv(tmp_path / "s.csv", rows, encoding="gbk")
    matrix = write_csv(tmp_path / "m.csv", [
        ["item", "zone", "central", "province", "city", "county", "town", "source"],
        ["roads", "north", 0, 0.5, 0, 0.5, 0, "assumption: halves"]])
    assert main(["split", str(spending), "--matrix", str(matrix)]) == 0
    assert "11 yuan" in capsys.readouterr().out


def test_read_table_keeps_excel_rows_for_the_caller(tmp_path):
    """The internal entry point: cells as read, headers as written, each row's Excel number."""
    path = write_xlsx(tmp_path / "t.xlsx", [("s", [["上年分配表"], ["代码", "金额"],
                                                  [441521101, 5.0], [], [441521102, 7.0],
                                                  ["合计", 12.0]])])
    frame, report = read_table(path)
    assert frame.columns.tolist() == ["代码", "金额"]
    assert frame.to_numpy().tolist() == [[441521101.0, 5.0], [441521102.0, 7.0]]
    assert report.lines.tolist() == [3, 5]
    assert (report.header_row, report.sheet) == (2, "s")
    assert report.warnings == ()


# --- round trips ----------------------------------------------------------------------------

_NAMES = st.text(alphabet="东西南北中山河湖城乡镇街道新安和平甲乙丙丁", min_size=1, max_size=5)


@st.composite
def clean_tables(draw):
    """A valid towns table of 1–8 units, money in whole yuan."""
    n = draw(st.integers(1, 8))
    codes = draw(st.lists(st.integers(100_000_000, 999_999_999), min_size=n, max_size=n,
                          unique=True))
    counties = st.sampled_from(["海丰县", "陆丰市", "龙门县"])
    zones = st.sampled_from(["core", "east_wing", "west_wing", "north"])
    money = st.integers(1_000_000, 3_000_000_000)
    rows = [{
        "code": str(c), "name": draw(_NAMES) + "镇", "kind": "town", "county": draw(counties),
        "city": "汕尾市", "zone": draw(zones),
        "registered_population": float(draw(st.integers(1_000, 900_000))),
        "resident_population": float(draw(st.integers(1_000, 900_000))),
        "supported_population": float(draw(st.integers(10, 5_000))),
        "area_km2": draw(st.integers(100, 900_000)) / 100,
        "fiscal_capacity": float(draw(money)), "expenditure": float(draw(money)),
        "prior_amount": float(draw(st.integers(100_000, 50_000_000))),
    } for c in codes]
    return pd.DataFrame(rows).set_index("code")


_FORMATS = ["xlsx", "ods", "csv:utf-8", "csv:utf-8-sig", "csv:gbk", "csv:utf-16"]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=clean_tables(), fmt=st.sampled_from(_FORMATS), unit=st.sampled_from(["yuan", "wan"]),
       title=st.booleans(), suffix=st.sampled_from(string.ascii_lowercase))
def test_a_clean_table_round_trips_through_each_format(tmp_path, table, fmt, unit, title,
                                                       suffix):
    """Written in any format, in yuan or 万元, a clean table reads back to the yuan."""
    rows = bureau_rows(table, unit=unit, title="测算表" if title else None,
                       total=False, notes=False, unit_line=unit == "wan" or title)
    kind, _, encoding = fmt.partition(":")
    name = tmp_path / f"t{suffix}.{ 'txt' if encoding == 'utf-16' else kind}"
    if kind == "xlsx":
        write_xlsx(name, [("s", rows)])
    elif kind == "ods":
        write_ods(name, [("s", rows)])
    else:
        write_csv(name, rows, encoding=encoding, delimiter="\t" if encoding == "utf-16" else ",")
    got = read_quietly(name)
    want = tf.validate_towns(table)
    assert got.index.tolist() == want.index.tolist()
    for c in MONEY:
        np.testing.assert_array_equal(np.round(got[c].to_numpy()), want[c].to_numpy())
    assert got["name"].tolist() == want["name"].tolist()


def test_the_bureau_layout_writes_every_canonical_column():
    """The test workbooks carry every column the library reads, under its Chinese header."""
    assert set(ZH) == {c.name for c in tf.COLUMNS}
    assert all(ZH[c.name] == c.zh for c in tf.COLUMNS)


@pytest.mark.parametrize(("line", "unit"), [
    ("单位：万元", "wan"), ("金额单位：元", "yuan"), ("单位：人、万元、平方公里", "wan"),
    ("（万元）", "wan"), ("编制单位：某县财政局    单位：万元", "wan"),
    ("编制单位：某县财政局", None)])
def test_unit_lines_as_bureaus_write_them(tmp_path, line, unit):
    """The unit is the first money unit after 单位, or a bracketed unit alone on its line."""
    path = write_csv(tmp_path / "t.csv", [["测算表"], [line], ["代码", "金额"], ["1", "2"]])
    _, report = read_table(path)
    assert report.unit == unit
    assert report.unit_text == (line if unit else None)


def test_a_unit_the_library_does_not_read_is_an_error(tmp_path, clean):
    """单位：亿元 is named, not silently read as yuan."""
    rows = bureau_rows(clean)
    rows[1] = ["单位：亿元"]
    with pytest.raises(tf.ValidationError, match="the unit line names a unit the library does "
                       "not read") as info:
        tf.read_towns(write_xlsx(tmp_path / "t.xlsx", [("s", rows)]))
    assert info.value.problems[0].value == "单位：亿元"


def test_a_header_over_two_rows(tmp_path, clean):
    """Group headings merged above their columns (人口, 财力) and 代码 merged down two rows."""
    rows = bureau_rows(clean, unit="wan", total=False, notes=False)
    headers = rows[2]
    upper = [*headers[:6], "人口", None, None, headers[9], "财力（万元）", None, headers[12]]
    lower = [None] * 6 + [*headers[6:9], None, *headers[10:12], None]
    path = write_xlsx(tmp_path / "t.xlsx", [("s", [*rows[:2], upper, lower, *rows[3:]])],
                      merge_title=False)
    towns, report = read_towns_report(path)
    assert_same_towns(towns, clean)
    assert report.header_row == 4
    assert report.header_reason.endswith("over rows 3 and 4")
    assert report.lines[0] == 5


def test_codes_excel_saved_in_scientific_notation_are_explained(tmp_path, clean):
    """A CSV saved by Excel writes 12-digit codes as 4.41521E+11: the error says why and what
    to do, at the code's row."""
    rows = bureau_rows(clean, twelve_digit=True, as_text=True, title=None, unit_line=False,
                       total=False, notes=False)
    rows[2][0] = "4.40115E+11"  # the second town, Excel row 3
    with pytest.raises(tf.ValidationError) as info:
        tf.read_towns(write_csv(tmp_path / "t.csv", rows))
    (p,) = info.value.problems
    assert (p.lines, p.header, p.value) == ((3,), "行政区划代码", "4.40115E+11")
    assert p.message.startswith("a code in scientific notation, as Excel saves long numbers")


def test_a_county_merged_over_its_towns(tmp_path, clean):
    """县(市、区) and 地级市 cells merged down over their towns (Excel keeps the value in the
    first cell only) give every town its county and city."""
    from openpyxl import load_workbook

    towns = clean.sort_values(["city", "county"])
    rows = bureau_rows(towns, total=False, notes=False)
    path = write_xlsx(tmp_path / "t.xlsx", [("s", rows)])
    wb = load_workbook(path)
    ws = wb["s"]
    first = 4  # title, unit line, headers
    for column, letter in (("county", "D"), ("city", "E")):
        values = towns[column].tolist()
        start = 0
        for i in range(1, len(values) + 1):
            if i == len(values) or values[i] != values[start]:
                if i - start > 1:
                    ws.merge_cells(f"{letter}{first + start}:{letter}{first + i - 1}")
                start = i
    assert any(r.max_row > r.min_row for r in ws.merged_cells.ranges)
    wb.save(path)
    assert_same_towns(read_quietly(path), towns)
