"""Messy towns workbooks as finance bureaus send them, written by the tests themselves.

:func:`bureau_rows` lays a clean towns table out the way a bureau's sheet does (a merged title,
a 单位 line, Chinese headers, 合计 and 小计 rows, notes, blank rows, 12-digit codes, numbers
as text with full-width digits or thousands separators); the writers put such rows into an
``.xlsx`` (openpyxl), an ``.ods`` (a minimal OpenDocument writer below: the format is a zip of
XML) or a CSV file in any encoding. ``tests/data/make_xls.py`` turns the same rows into the
committed ``.xls`` fixture with LibreOffice, since no maintained Python library writes .xls.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd

#: The Chinese headers a bureau writes, by canonical column.
ZH = {
    "code": "行政区划代码", "name": "名称", "kind": "类型", "county": "县(市、区)",
    "city": "地级市", "zone": "区域", "registered_population": "户籍人口",
    "resident_population": "常住人口", "supported_population": "财政供养人口",
    "area_km2": "面积", "fiscal_capacity": "可用财力", "expenditure": "一般公共预算支出",
    "prior_amount": "上年补助",
}
MONEY = ("fiscal_capacity", "expenditure", "prior_amount")
ZONE_ZH = {"core": "珠三角核心区", "east_wing": "东翼", "west_wing": "西翼",
           "north": "北部生态发展区"}
KIND_ZH = {"town": "镇", "township": "乡", "subdistrict": "街道", "other": "其他"}
_FULL = str.maketrans("0123456789,.", "０１２３４５６７８９，．")

Row = list[Any]


def sample(towns: pd.DataFrame, n: int = 12) -> pd.DataFrame:
    """*n* units of the example from several counties, money in whole yuan."""
    picked = towns.iloc[:: max(1, len(towns) // n)].head(n).copy()
    for c in MONEY:
        picked[c] = picked[c].round()
    return picked


def bureau_rows(
    towns: pd.DataFrame,
    *,
    unit: str = "yuan",
    title: str | None = "2021年度乡镇财力补助测算表",
    unit_line: bool = True,
    header_units: bool = False,
    twelve_digit: bool = False,
    total: bool = True,
    subtotal: bool = False,
    notes: bool = True,
    blank_after: Sequence[int] = (),
    as_text: bool = False,
    full_width: bool = False,
    thousands: bool = False,
    serial: bool = False,
) -> list[Row]:
    """The rows of a bureau's sheet for *towns* (canonical columns, money in yuan).

    Money is written in *unit* (``"wan"``: divided by 10,000); the unit is said by a
    ``单位：万元`` line under the title (*unit_line*) or in the headers (*header_units*).
    """
    cols = list(ZH)
    factor = 10_000.0 if unit == "wan" else 1.0
    word = "万元" if unit == "wan" else "元"
    headers = [ZH[c] + (f"（{word}）" if header_units and c in MONEY else "") for c in cols]
    lead = ["序号"] if serial else []
    rows: list[Row] = []
    if title is not None:
        rows.append([title])
    if unit_line:
        rows.append([f"单位：{word}"])
    rows.append(lead + headers)

    def cell(value: Any, column: str) -> Any:
        if column == "code":
            code = str(value) + ("000" if twelve_digit else "")
            return code if as_text else int(code)
        if column == "zone":
            return ZONE_ZH[value]
        if column == "kind":
            return KIND_ZH[value]
        if isinstance(value, str):
            return value
        if value != value:  # NaN: a blank cell (no prior amount)
            return None
        number = float(value) / (factor if column in MONEY else 1.0)
        if not (as_text or full_width or thousands):
            return number
        text = f"{number:,}" if thousands else repr(number)
        return text.translate(_FULL) if full_width else text

    frame = towns.reset_index()
    for i, rec in enumerate(frame.itertuples(index=False)):
        values = rec._asdict()
        rows.append(([i + 1] if serial else []) + [cell(values[c], c) for c in cols])
        if i in blank_after:
            rows.append([])
    sums = [float(frame[c].sum()) / (factor if c in MONEY else 1.0) for c in cols[6:]]
    if subtotal:
        rows.append(([""] if serial else []) + ["", f"{frame['county'].iloc[0]}小计"])
    if total:
        rows.append(([""] if serial else []) + ["合计", "", "", "", "", "", *sums])
    if notes:
        rows.append(["注：1. 人口为年末数；2. 可用财力含上级补助。"])
        rows.append(["填表人：张三", "", "审核人：李四"])
    return rows


def write_xlsx(path: Path, sheets: Sequence[tuple[str, Sequence[Row]]],
               *, merge_title: bool = True, hidden: Sequence[str] = ()) -> Path:
    """An ``.xlsx`` with one sheet per (name, rows); the title merged across the table."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets:
        ws = wb.create_sheet(name)
        width = max((len(r) for r in rows), default=1)
        for r in rows:
            ws.append([None if v == "" else v for v in r])
        if merge_title and rows and len(rows[0]) == 1 and width > 1:
            ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
        if name in hidden:
            ws.sheet_state = "hidden"
    wb.save(path)
    return path


def write_ods(path: Path, sheets: Sequence[tuple[str, Sequence[Row]]]) -> Path:
    """An OpenDocument spreadsheet, written directly: a zip of a mimetype, a manifest and
    content.xml with one table per sheet (numbers as floats, text as strings)."""
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    body = []
    for name, rows in sheets:
        body.append(f'<table:table table:name="{escape(name)}">')
        for r in rows:
            cells = []
            for v in r:
                if v is None or v == "":
                    cells.append("<table:table-cell/>")
                elif isinstance(v, int | float) and not isinstance(v, bool):
                    cells.append(f'<table:table-cell office:value-type="float" '
                                 f'office:value="{v!r}"><text:p>{v!r}</text:p>'
                                 "</table:table-cell>")
                else:
                    cells.append(f'<table:table-cell office:value-type="string"><text:p>'
                                 f"{escape(str(v))}</text:p></table:table-cell>")
            body.append("<table:table-row>" + "".join(cells or ["<table:table-cell/>"])
                        + "</table:table-row>")
        body.append("</table:table>")
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
               'office:version="1.2"><office:body><office:spreadsheet>'
               + "".join(body) + "</office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
                'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" '
                'manifest:media-type="text/xml"/></manifest:manifest>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def write_csv(path: Path, rows: Sequence[Row], *, encoding: str = "utf-8",
              delimiter: str = ",") -> Path:
    """A CSV file of *rows* in *encoding* (``"utf-16"`` writes a BOM, as Excel's Unicode text)."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    for r in rows:
        w.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in r])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


INSTRUCTIONS: list[Row] = [
    ["填表说明"],
    ["1. 本表由各县（市、区）财政局填报，金额单位为万元。"],
    ["2. 行政区划代码填写统计用区划代码。"],
    [],
    ["联系人：王五", "电话：0660-1234567"],
]
"""A 说明 sheet, as bureaus put before the data."""
