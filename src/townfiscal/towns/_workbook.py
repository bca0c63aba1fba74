"""Reading a table from a file as a finance bureau sends it: the library's one file reader.

Bureau workbooks are made for people: a title line merged across the columns above the
headers, a ``单位：万元`` line under it, a 说明 (instructions) sheet before the data, 合计 and
小计 rows, notes and signatures under the table, legacy ``.xls`` files, CSV files saved by
Excel on Chinese Windows (GBK/GB18030) or as "Unicode text" (UTF-16, tab-separated).
:func:`read_table` finds the table in all that and says what it found in a
:class:`ReadReport`; every data row keeps its row number as Excel shows it, so that a problem
found later can name the row a clerk looks at.

:func:`townfiscal.towns.read_towns` builds on it; so do the command line's other tables
(spending, moves, matrices) and last year's allocation table read for a roll-forward.

- ``.xlsx``/``.xlsm``, ``.xls`` and ``.ods`` are read with python-calamine (Rust, several
  times faster than openpyxl: ``benchmarks/bench_read.py``);
- ``.csv``/``.txt``/``.tsv``: UTF-8 with or without BOM, UTF-16 (BOM), else the encoding
  charset-normalizer detects, GB2312/GBK read as their superset GB18030; comma- or
  tab-separated;
- ``.parquet`` (the ``parquet`` extra): as written, no detection.

What a file really is comes from its first bytes, not its name: a CSV export named ``.xls``
is read as CSV (and the report says so), a PDF or a Word document renamed ``.xlsx`` is one
:class:`~townfiscal.UnreadableFileError` saying what it seems to be.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal._errors import MissingExtraError, Problem, UnreadableFileError, ValidationError

__all__ = [
    "ReadReport",
    "SkippedRow",
    "column_letter",
    "describe_source",
    "numbers",
    "read_table",
]

Format = Literal["xlsx", "xls", "ods", "csv", "parquet"]
RowKind = Literal["total", "subtotal", "note", "blank", "header"]

#: File names the reader takes, by their suffix.
SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
            ".xls": "xls", ".ods": "ods", ".parquet": "parquet"}

#: How many rows from the top of a sheet are searched for the header row.
_HEADER_SEARCH = 40


@attrs.frozen
class SkippedRow:
    """A row of the file that is not data: a total, a note, a blank or a repeated header.

    ``line`` is its row number as Excel shows it; ``text`` its first text, as written
    (shortened to 40 characters).
    """

    line: int
    kind: RowKind
    text: str

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-friendly dict."""
        return {"line": self.line, "kind": self.kind, "text": self.text}


@attrs.frozen(eq=False)
class ReadReport:
    """What :func:`read_table` found in a file, and where each data row came from.

    Attributes
    ----------
    file:
        The file's name.
    format:
        ``"xlsx"``, ``"xls"``, ``"ods"``, ``"csv"`` or ``"parquet"``: what the file's content
        is (which may differ from its name: see :attr:`notes`).
    sheet, sheet_reason:
        The sheet read (``None`` for CSV and parquet) and why that one.
    header_row, header_reason:
        The header row as Excel numbers it (0 when there is none: parquet) and how it was
        found.
    headers:
        The column headers as written, one per column of the table returned.
    titles:
        The text of the lines above the headers (title, unit line).
    unit, unit_text:
        The money unit a title or unit line states (``"wan"`` for 万元, ``"yuan"`` for 元,
        ``None`` when none does or the unit is one the library does not read) and that text
        (``"单位：万元"``), or ``None``.
    encoding:
        A CSV file's encoding (``"utf-8-sig"``, ``"utf-8"``, ``"gb18030"``, ``"utf-16"``…).
    skipped:
        Every row under the headers that is not data (totals, notes, blanks, repeated headers).
    lines:
        Per row of the table returned, its row number as Excel shows it (1-based, title lines
        counted); a CSV file's record numbers (the rows Excel shows when it opens the file).
    warnings:
        Doubts about the file, one sentence each: a 合计 row that disagrees with the sum of
        the rows above it.
    notes:
        Other things worth saying (a file whose content differs from its name).
    """

    file: str
    format: Format
    sheet: str | None
    sheet_reason: str
    header_row: int
    header_reason: str
    headers: tuple[str, ...]
    titles: tuple[str, ...] = ()
    unit: Literal["yuan", "wan"] | None = None
    unit_text: str | None = None
    encoding: str | None = None
    skipped: tuple[SkippedRow, ...] = ()
    lines: npt.NDArray[np.int64] = attrs.field(factory=lambda: np.zeros(0, np.int64),
                                               repr=False)
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def _check_unit_line(self, what: str) -> None:
        """Raise :class:`ValidationError` when a unit line names a unit the library does not
        read (``单位：千元``): money in an unknown unit must not be read as yuan."""
        if self.unit_text is not None and self.unit is None:
            raise ValidationError([Problem(
                "the unit line names a unit the library does not read; write the money in 元 "
                "or 万元", file=self.file, sheet=self.sheet, value=self.unit_text)], what=what)

    def to_dict(self) -> dict[str, Any]:
        """What was found, small and JSON-friendly (for ``DataFrame.attrs`` and provenance).

        Blank rows are counted, not listed; other skipped rows are listed up to 50.
        """
        listed = [s.to_dict() for s in self.skipped if s.kind != "blank"]
        out: dict[str, Any] = {
            "file": self.file,
            "format": self.format,
            "sheet": self.sheet,
            "sheet_reason": self.sheet_reason,
            "header_row": self.header_row,
            "header_reason": self.header_reason,
            "unit": self.unit,
            "unit_text": self.unit_text,
            "encoding": self.encoding,
            "rows": int(self.lines.size),
            "skipped": listed[:50],
            "blank_rows": sum(s.kind == "blank" for s in self.skipped),
        }
        if len(listed) > 50:
            out["skipped_more"] = len(listed) - 50
        if self.titles:
            out["titles"] = list(self.titles)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def describe(self) -> str:
        """What was read, in a few lines for a person (the command line prints it)."""
        return describe_source(self.to_dict())


def describe_source(info: Mapping[str, Any]) -> str:
    """A :meth:`ReadReport.to_dict` (as a table's ``attrs`` keep it) in a few lines for a
    person: the file, the sheet and why, the header row, the unit line, the rows skipped."""
    where = f"{info['file']} ({info['format']}"
    where += f", {info['encoding']})" if info.get("encoding") else ")"
    lines = [f"read {where}"]
    if info.get("sheet") is not None:
        lines.append(f"  sheet {info['sheet']!r}: {info.get('sheet_reason', '')}")
    if info.get("header_row"):
        reason = f" ({info['header_reason']})" if info.get("header_reason") else ""
        lines.append(f"  headers in row {info['header_row']}{reason}")
    if info.get("unit_text"):
        unit = {"wan": ": money in 万元", "yuan": ": money in 元"}.get(
            info.get("unit") or "", ": not a unit the library reads")
        lines.append(f"  unit line {info['unit_text']!r}{unit}")
    lines.append(f"  {info.get('rows', 0):,} data rows")
    skipped = list(info.get("skipped") or [])
    labels = {"total": "total", "subtotal": "subtotal", "note": "note",
              "header": "repeated header"}
    for kind, label in labels.items():
        rows = [s for s in skipped if s["kind"] == kind]
        if rows:
            texts = "; ".join(s["text"] for s in rows[:5]) + (" …" if len(rows) > 5 else "")
            where = _ranges([s["line"] for s in rows])
            lines.append(f"  skipped {_count(len(rows), label)}: "
                         f"row{'s' if len(rows) > 1 else ''} {where} ({texts})")
    if info.get("skipped_more"):
        lines.append(f"  skipped {_count(info['skipped_more'], 'more row')}")
    if info.get("blank_rows"):
        lines.append(f"  skipped {_count(info['blank_rows'], 'blank row')}")
    lines += [f"  note: {n}" for n in info.get("notes", [])]
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    """``"1 total"``, ``"3 totals"``."""
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


def _ranges(numbers: Sequence[int]) -> str:
    """``[3, 4, 5, 9]`` as ``"3-5, 9"``."""
    out: list[str] = []
    start = prev = None
    for n in numbers:
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = n
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out)


def column_letter(index: int) -> str:
    """Excel's letter for a 0-based column index: 0 → ``A``, 27 → ``AB``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# --- what a file is -----------------------------------------------------------------------

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _sniff(path: Path, head: bytes) -> tuple[str, str]:
    """What the first bytes say the file is: a reader's format, or ``"?"`` and why not."""
    if not head:
        return "?", "the file is empty (0 bytes)"
    if head.startswith(b"%PDF"):
        return "?", "it is a PDF document, not a table: export the table from its source"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "?", "it is an image, not a table"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                mimetype = z.read("mimetype").decode("ascii", "replace") \
                    if "mimetype" in names else ""
        except (zipfile.BadZipFile, OSError, KeyError):
            return "?", "it is a damaged or incomplete zip file (an .xlsx cut short?)"
        if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
            return "xlsx", ""
        if "spreadsheet" in mimetype:
            return "ods", ""
        if any(n.startswith("word/") for n in names) or "text" in mimetype:
            return "?", "it is a word-processor document (Word or Writer), not a workbook"
        if any(n.startswith("ppt/") for n in names) or "presentation" in mimetype:
            return "?", "it is a presentation, not a workbook"
        return "?", "it is a zip archive but not a workbook"
    if head.startswith(_OLE):
        return "xls", ""
    low = head.lstrip(codecs.BOM_UTF8).lstrip().lower()
    if low.startswith((b"<html", b"<!doctype html", b"<table", b"<meta")):
        return "?", ("it is a web page (HTML) saved under a workbook's name, as some systems "
                     "export tables: open it in Excel and save it as .xlsx")
    if low.startswith(b"<?xml"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in head:
            return "?", ("it is an Excel 2003 XML spreadsheet: open it in Excel and save it as "
                         ".xlsx")
        return "?", "it is an XML document, not a table"
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if max(even, odd) < len(head) // 4:
            return "?", "it is a binary file of an unknown kind, not a table"
    return "csv", ""


_NAMES = {"xlsx": "an Excel workbook (.xlsx)", "xls": "a legacy Excel workbook (.xls)",
          "ods": "an OpenDocument spreadsheet (.ods)", "csv": "CSV text"}


# --- text files ---------------------------------------------------------------------------

_GB = {"gb2312", "gbk", "gb18030", "cp936", "hz", "hz_gb_2312", "gb_2312_80", "euc_cn"}


#: What a table that is not UTF-8 or UTF-16 may be in: GB18030 (a superset of GB2312 and GBK,
#: what Excel on mainland Chinese Windows writes), Big5 (traditional Chinese) and Windows'
#: western code page. Detection among a few candidates is reliable on short files, where
#: an open choice mistakes a few lines of GBK for Korean.
_CANDIDATES = ["gb18030", "big5", "cp1252"]


def _decode(data: bytes, name: str) -> tuple[str, str]:
    """The text of a CSV file and its encoding's name."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    head = data[:4096]
    if head.count(0) * 4 >= len(head):  # UTF-16 without a BOM: every other byte of ASCII is 0
        encoding = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        return data.decode(encoding, "replace"), encoding
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=_CANDIDATES).best()
    encoding = (best.encoding if best is not None else "").lower().replace("-", "_")
    if encoding in _GB or not encoding:
        # GB18030 is a superset of GB2312 and GBK: decode with it whatever the detector
        # named, and let it decide when the detector could not
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            raise UnreadableFileError(
                name, "it is neither UTF-8, UTF-16 nor GBK/GB18030 text, nor a workbook"
            ) from None
    return data.decode(encoding, "replace"), encoding


def _csv_grid(text: str) -> list[list[Any]]:
    sample = text[:20_000]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    return [[c.strip() or None for c in row]
            for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


# --- workbooks ----------------------------------------------------------------------------


def _calamine_error(exc: Exception, name: str, fmt: str) -> UnreadableFileError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "password" in text.lower() or type(exc).__name__ == "PasswordError":
        return UnreadableFileError(name, f"it is {_NAMES[fmt]} protected by a password")
    kind = ("an old Office (OLE) file that is not a readable Excel workbook (a Word document, "
            "a workbook protected by a password, or a damaged .xls?)") if fmt == "xls" \
        else f"a damaged {_NAMES[fmt]}"
    return UnreadableFileError(name, f"it seems to be {kind}: {text}")


def _open_workbook(path: Path, fmt: str) -> Any:
    try:
        from python_calamine import CalamineWorkbook
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingExtraError.needs("reading a workbook", "python-calamine", "all") from exc
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine's errors are its own classes: CalamineError, ZipError…
        raise _calamine_error(exc, path.name, fmt) from None


def _grid_of(sheet: Any, name: str, fmt: str, nrows: int | None = None) -> list[list[Any]]:
    try:
        rows = sheet.to_python(skip_empty_area=False, nrows=nrows)
    except Exception as exc:
        raise _calamine_error(exc, name, fmt) from None
    return [[(v.strip() or None) if type(v) is str else v for v in row] for row in rows]


# --- finding the table --------------------------------------------------------------------

HeaderTest = Callable[[str], bool]


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _header_scores(grid: Sequence[Sequence[Any]], known: HeaderTest | None) -> list[int]:
    """Per row of the top of a sheet: how much it looks like the header row."""
    scores = []
    for row in grid[:_HEADER_SEARCH]:
        texts = [v.strip() for v in row if isinstance(v, str) and v.strip()]
        if known is not None:
            scores.append(sum(1 for t in texts if known(t)))
        else:  # no known headers: the first row of text cells only, two at least
            filled = sum(v is not None for v in row)
            scores.append(len(texts) if len(texts) >= 2 and len(texts) == filled else 0)
    return scores


def _header_like(row: Sequence[Any], known: HeaderTest) -> bool:
    """Whether a row next to the header row is part of the header: text only, with two
    known headers at least."""
    cells = [v for v in row if v is not None]
    return (all(isinstance(v, str) for v in cells)
            and sum(1 for v in cells if known(v.strip())) >= 2)


def _find_header(grid: Sequence[Sequence[Any]], known: HeaderTest | None) -> tuple[int, int]:
    """The 0-based header row and its score (0: none found)."""
    scores = _header_scores(grid, known)
    if not scores or max(scores) == 0:
        return next((i for i, row in enumerate(grid) if any(v is not None for v in row)), 0), 0
    best = max(scores)
    if known is None:  # the first row of text that is at least half as wide as the widest
        return next(i for i, s in enumerate(scores) if 2 * s >= best), best
    return scores.index(best), best


#: A unit line: "单位：万元", "金额单位：元", "单位：人、万元、平方公里" (the first money unit after
#: 单位), or the unit alone in brackets, "（万元）".
_UNIT_LINE = re.compile(
    r"单位\s*[:：]?[^元]*?(?P<u>亿元|千元|百元|万元|元)|^[(（]\s*(?P<p>万元|元|亿元)\s*[)）]$")


def _unit_of(titles: Sequence[str]) -> tuple[Literal["yuan", "wan"] | None, str | None]:
    for t in titles:
        m = _UNIT_LINE.search(re.sub(r"\s+", "", t))
        if m:
            word = m["u"] or m["p"]
            unit = {"万元": "wan", "元": "yuan"}.get(word)
            return unit, t  # type: ignore[return-value]
    return None, None


_TOTAL = re.compile(r"^.{0,20}?(?P<w>合计|总计|共计|小计)$|^(?P<e>total|grand total|subtotal|sum)$",
                    re.IGNORECASE)
_NOTE = re.compile(
    r"^(?:注|说明|备注|附注|注释|资料来源|数据来源|来源|填表说明|填报说明|制表人?|制表单位|填表人|"
    r"填报人|填报单位|审核人?|负责人|单位负责人|财务负责人|联系人|联系电话|填报日期|制表日期|"
    r"日期|note|notes|source)\s*\d*\s*[:：、.]|^注\s*\d*\s*$|^\d+[.、．]\s*\S",
    re.IGNORECASE)


#: A number as Excel writes a long one into a CSV file (4.40203E+11): a code, not a word
#: (its leading "4." must not make the row a numbered note).
_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?[eE]\+?\d+")

_is_word = np.frompyfunc(
    lambda v: type(v) is str and not v.replace(",", "").replace(".", "", 1).isdigit()
    and not _SCIENTIFIC.fullmatch(v.strip()), 1, 1)


def _classify(cells: npt.NDArray[np.object_],
              headers: Sequence[str]) -> tuple[npt.NDArray[np.object_], list[str]]:
    """Per row under the headers: ``""`` for data, else what kind of row it is not; and each
    row's first word (its first text that is not a number)."""
    n, width = cells.shape
    kinds = np.full(n, "", dtype=object)
    if n == 0:
        return kinds, []
    filled = cells != None  # noqa: E711 (elementwise on an object array)
    count = filled.sum(axis=1)
    # each row's first word, column by column over the rows still without one (most rows
    # have theirs in the first two columns: a code, then a name)
    first = np.full(n, "", dtype=object)
    has_word = np.zeros(n, dtype=bool)
    todo = np.arange(n)
    for j in range(width):
        if todo.size == 0:
            break
        column = cells[todo, j]
        word = _is_word(column).astype(bool)
        first[todo[word]] = column[word]
        has_word[todo[word]] = True
        todo = todo[~word]
    folded = pd.Series(first, dtype=object).astype(str).str.replace(r"\s+", "", regex=True)
    kinds[count == 0] = "blank"
    total = folded.str.extract(_TOTAL)
    is_sub = (total["w"] == "小计").to_numpy()
    is_total = (total["w"].notna() | total["e"].notna()).to_numpy() & (count > 0)
    kinds[is_total & is_sub] = "subtotal"
    kinds[is_total & ~is_sub] = "total"
    # a repeated header row (tables printed over several pages repeat them)
    head = [_fold_header(h) for h in headers]
    named = [h for h in head if h and not h.startswith("(column")]
    for i in np.flatnonzero(folded.isin(named).to_numpy() & (kinds == "")):
        same = sum(_fold_header(_text(v)) == h for v, h in zip(cells[i], head, strict=True)
                   if h)
        if 2 * same >= max(2, len(named)):
            kinds[i] = "header"
    # notes: a note line (注：…) and every later row with at most one text cell
    single_text = (count <= 1) & has_word
    note = folded.str.contains(_NOTE).to_numpy() & (count <= 3) & (kinds == "")
    if note.any():
        later = np.arange(n) >= int(np.argmax(note))
        kinds[later & (kinds == "") & (note | single_text)] = "note"
    # a trailing block of single text lines under the last full row (a date, a signature)
    full = np.flatnonzero((count * 2 >= max(int(count.max()), 1)) & (kinds == ""))
    if full.size:
        kinds[(np.arange(n) > full[-1]) & (kinds == "") & single_text] = "note"
    return kinds, first.tolist()


def _fold_header(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


_NUMBER_TEXT = str.maketrans("０１２３４５６７８９，．－＋　", "0123456789,.-+ ")


def _as_float(v: Any) -> float:
    if isinstance(v, bool):
        return float("nan")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        t = v.translate(_NUMBER_TEXT).replace(",", "").strip()
        try:
            return float(t)
        except ValueError:
            return float("nan")
    return float("nan")


def numbers(series: pd.Series) -> pd.Series:
    """Cells as numbers: numbers as they are, text with full-width digits or thousands
    separators (``"１２,３４５.６"``) read as the number it writes, anything else NaN."""
    obj = series.astype(object)
    out = pd.to_numeric(obj, errors="coerce").astype(np.float64)
    retry = (out.isna() & obj.notna()).to_numpy()
    if retry.any():  # text pandas does not read as a number: clean it and try again
        text = obj[retry].astype(str).str.translate(_NUMBER_TEXT)
        text = text.str.replace(",", "", regex=False).str.strip()
        out[retry] = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    return out


def _check_totals(body: pd.DataFrame, kinds: npt.NDArray[np.object_], lines: npt.NDArray[Any],
                  headers: Sequence[str], first: Sequence[str], where: str) -> list[str]:
    """A 合计 row against the sums of the data rows, column by column."""
    totals = np.flatnonzero(kinds == "total")
    if totals.size != 1:  # several 合计 rows are subtotals by another name: no single check
        return []
    data = kinds == ""
    t = int(totals[0])
    out = []
    for j, header in enumerate(headers):
        stated = _as_float(body.iat[t, j])
        if stated != stated:
            continue
        values = numbers(body.iloc[np.flatnonzero(data), j]).to_numpy(dtype=np.float64)
        if values.size == 0 or np.isnan(values).all():
            continue
        got = float(np.nansum(values))
        if abs(got - stated) > max(0.5, 1e-6 * abs(stated)):
            out.append(f"{where}row {int(lines[t])} ({first[t] or '合计'}), column "
                       f"{header!r}: the total says {stated:,.2f} but the rows add up to "
                       f"{got:,.2f} (difference {got - stated:+,.2f}); a row may be missing, "
                       "doubled or mistyped")
    return out


# --- the reader ---------------------------------------------------------------------------


def read_table(
    path: str | PathLike[str],
    *,
    sheet: str | int | None = None,
    header_row: int | None = None,
    known: HeaderTest | None = None,
    prefer_sheet: str | None = None,
    what: str = "file",
) -> tuple[pd.DataFrame, ReadReport]:
    """Read the table in a file as a person made it: find its sheet, headers and data rows.

    The library's one file reader (``towns.read_towns``, the command line's tables and a
    prior year's allocation table all use it). It does the file-level work only — format,
    encoding, sheet, header row, title and unit lines, totals, notes and blank rows — and
    leaves the meaning of the columns to its caller.

    Parameters
    ----------
    path:
        A ``.xlsx``/``.xlsm``, ``.xls``, ``.ods``, ``.csv``/``.txt``/``.tsv`` or
        ``.parquet`` file (what it is is read from its content; the name only has to be one
        of these).
    sheet:
        The sheet to read, by name or 0-based index. By default *prefer_sheet* when the
        workbook has it, else the visible sheet whose top rows look most like the headers
        (*known*), so that a 说明 sheet before the data is passed over.
    header_row:
        The header row as Excel numbers it (1-based, title lines counted). By default the row
        among the top 40 with the most headers *known* recognises (without *known*: the first
        row of text cells at least half as wide as the widest such row).
    known:
        Whether a cell's text is a header the caller knows (``"可用财力（万元）"``).
    prefer_sheet:
        A sheet name to read whenever the workbook has it (an allocation table's towns sheet).
    what:
        What the file is, for error messages (``"towns file"``).

    Returns
    -------
    (pandas.DataFrame, ReadReport)
        The data rows, with the headers as written (stripped) as column names and the cells
        as read (numbers as numbers from a workbook, text from a CSV; empty cells ``None``);
        and what was found, with each row's Excel row number in ``report.lines``.

    Raises
    ------
    FileNotFoundError
        No such file.
    UnreadableFileError
        The file is empty, damaged or not a table (one line saying what it seems to be).
    ValidationError
        An unsupported file name, or a *sheet* or *header_row* the file does not have.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such {what}: {p}")
    if p.is_dir():
        raise UnreadableFileError(p.name, "it is a folder, not a file")
    suffix = p.suffix.lower()
    named = SUFFIXES.get(suffix)
    if named is None:
        raise ValidationError(
            [Problem(f"unsupported file type {suffix!r}; use .xlsx, .xls, .ods, .csv or "
                     ".parquet", value=str(p))], what=f"{what} {p.name}")
    if named == "parquet":
        return _read_parquet(p, what)
    with p.open("rb") as fh:
        head = fh.read(4096)
    sniffed, why = _sniff(p, head)
    if sniffed == "?":
        raise UnreadableFileError(p.name, why)
    fmt: Format = sniffed  # type: ignore[assignment]
    notes = []
    if fmt != named and not (fmt == "csv" and named == "csv"):
        notes.append(f"the file is named {suffix} but is {_NAMES[fmt]}; read as such")
    encoding = None
    if fmt == "csv":
        text, encoding = _decode(p.read_bytes(), p.name)
        grid = _csv_grid(text)
        sheet_name, sheet_reason = None, "CSV"
        if sheet is not None:
            notes.append(f"a CSV file has no sheets: sheet {sheet!r} ignored")
    else:
        grid, sheet_name, sheet_reason = _read_sheet(p, fmt, sheet, known, prefer_sheet, what)
    frame, report = _table(grid, p.name, sheet_name, header_row, known, what)
    report = attrs.evolve(report, format=fmt, sheet_reason=sheet_reason, encoding=encoding,
                          notes=tuple(notes) + report.notes)
    return frame, report


def _read_parquet(p: Path, what: str) -> tuple[pd.DataFrame, ReadReport]:
    try:
        frame = pd.read_parquet(p)
    except ImportError as exc:  # pandas names no module: pyarrow is the extra's
        raise MissingExtraError.needs("reading a .parquet file", "pyarrow", "parquet") from exc
    except (ValueError, OSError) as exc:
        raise UnreadableFileError(p.name, f"it is not a readable parquet file ({exc})") from None
    index_named = frame.index.name is not None
    if index_named:
        frame = frame.reset_index()
    headers = tuple(str(c) for c in frame.columns)
    return frame, ReadReport(
        file=p.name, format="parquet", sheet=None, sheet_reason="parquet", header_row=0,
        header_reason="parquet column names", headers=headers,
        lines=np.arange(1, len(frame) + 1, dtype=np.int64))


def _read_sheet(p: Path, fmt: str, sheet: str | int | None, known: HeaderTest | None,
                prefer: str | None, what: str) -> tuple[list[list[Any]], str, str]:
    wb = _open_workbook(p, fmt)
    try:
        names: list[str] = list(wb.sheet_names)
        if not names:
            raise UnreadableFileError(p.name, f"it is {_NAMES[fmt]} without any sheet")
        if sheet is not None:
            name = _sheet_named(names, sheet, p.name, what)
            reason = "as asked"
        elif prefer is not None and prefer in names:
            name, reason = prefer, "the towns sheet of an allocation table (分配表)"
        else:
            name, reason = _choose_sheet(wb, names, known, p.name, fmt)
        sh = wb.get_sheet_by_name(name)
        grid = _grid_of(sh, p.name, fmt)
        _fill_merged(grid, getattr(sh, "merged_cell_ranges", None))
    finally:
        wb.close()
    return grid, name, reason


def _fill_merged(grid: list[list[Any]], ranges: Sequence[Any] | None) -> None:
    """Cells merged down more than one row take the merged value in every row: a county's name
    merged over its towns, a header merged down a two-row header. (Excel keeps the value in
    the top-left cell only.) Merges within one row — a title across the columns — are left
    alone."""
    for (r0, c0), (r1, c1) in ranges or ():
        if r1 <= r0 or r0 >= len(grid):
            continue
        value = grid[r0][c0] if c0 < len(grid[r0]) else None
        for r in range(r0, min(r1, len(grid) - 1) + 1):
            row = grid[r]
            for c in range(c0, min(c1, len(row) - 1) + 1):
                if row[c] is None:
                    row[c] = value


def _sheet_named(names: list[str], sheet: str | int, file: str, what: str) -> str:
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if 0 <= sheet < len(names):
            return names[sheet]
    else:
        wanted = str(sheet).strip()
        for n in names:
            if n == wanted or n.strip().lower() == wanted.lower():
                return n
        if wanted.isdigit() and 0 <= int(wanted) < len(names):  # --sheet 1 on the command line
            return names[int(wanted)]
    listed = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names))
    raise ValidationError([Problem(f"no sheet {sheet!r}; the workbook's sheets are {listed}",
                                   file=file, value=sheet)], what=f"{what} {file}")


def _choose_sheet(wb: Any, names: list[str], known: HeaderTest | None, file: str,
                  fmt: str) -> tuple[str, str]:
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    hidden = {m.name for m in wb.sheets_metadata if m.visible != SheetVisibleEnum.Visible
              or m.typ != SheetTypeEnum.WorkSheet}
    candidates = [n for n in names if n not in hidden] or names
    if len(candidates) == 1:
        return candidates[0], ("the only sheet" if len(names) == 1
                               else "the only visible worksheet")
    best, best_score, looked = candidates[0], -1, []
    for n in candidates:
        top = _grid_of(wb.get_sheet_by_name(n), file, fmt, nrows=_HEADER_SEARCH)
        _, score = _find_header(top, known)
        looked.append((n, score))
        if score > best_score:
            best, best_score = n, score
    others = [f"{n!r} {s}" for n, s in looked if n != best]
    label = "known headers" if known is not None else "header cells"
    if best_score <= 0:
        return candidates[0], f"the first sheet (no sheet has {label})"
    return best, (f"the sheet with the most {label} ({best_score}; the other sheets: "
                  f"{', '.join(others)})")


def _table(grid: list[list[Any]], file: str, sheet: str | None, header_row: int | None,
           known: HeaderTest | None, what: str) -> tuple[pd.DataFrame, ReadReport]:
    width = max((len(r) for r in grid), default=0)
    if width == 0 or all(v is None for r in grid for v in r):
        raise UnreadableFileError(file, "the sheet is empty" if sheet is not None
                                  else "the file holds no table (no cells)")
    rows = [r + [None] * (width - len(r)) for r in grid]
    where = f"{file}, " + (f"sheet {sheet!r}, " if sheet is not None else "")
    if header_row is not None:
        if not 1 <= header_row <= len(rows) or all(v is None for v in rows[header_row - 1]):
            raise ValidationError(
                [Problem(f"header row {header_row} is "
                         + ("beyond the last row" if header_row > len(rows) or header_row < 1
                            else "blank") + f" (the sheet has {len(rows)} rows)",
                         file=file, sheet=sheet, value=header_row)], what=f"{what} {file}")
        h, reason = header_row - 1, "as asked"
    else:
        h, score = _find_header(rows, known)
        reason = (f"{score} known headers" if known is not None and score
                  else "the first row of headers" if score else "the first non-blank row")
    # a header over two rows (人口 merged above 户籍人口 and 常住人口, 代码 merged down): the
    # lower row's headers, and the upper row's where the lower is blank
    top = h
    if header_row is None and known is not None:
        if h > 0 and _header_like(rows[h - 1], known):
            top = h - 1
        elif h + 1 < len(rows) and _header_like(rows[h + 1], known):
            h += 1
    head = list(rows[h])
    if top < h:
        head = [cell if cell is not None else above
                for cell, above in zip(head, rows[top], strict=True)]
        reason += f", over rows {top + 1} and {h + 1}"
    titles = tuple(" ".join(_text(v) for v in r if v is not None) for r in rows[:top]
                   if any(v is not None for v in r))
    unit, unit_text = _unit_of(titles)
    cells = np.empty((len(rows) - h - 1, width), dtype=object)
    cells[:] = rows[h + 1:] if len(rows) > h + 1 else np.empty((0, width), dtype=object)
    keep = [j for j in range(width) if head[j] is not None or np.any(cells[:, j] != None)]  # noqa: E711
    cells = cells[:, keep]
    headers = [_text(head[j]) if head[j] is not None else f"(column {column_letter(j)})"
               for j in keep]
    lines = np.arange(h + 2, h + 2 + len(cells), dtype=np.int64)
    kinds, first = _classify(cells, headers)
    skipped = tuple(SkippedRow(int(lines[i]), kinds[i], str(first[i])[:40])
                    for i in np.flatnonzero(kinds != ""))
    data = kinds == ""
    body = pd.DataFrame(cells, columns=pd.Index(headers, dtype=object), dtype=object)
    warnings = _check_totals(body, kinds, lines, headers, first, where)
    frame = body.loc[data].reset_index(drop=True)
    report = ReadReport(
        file=file, format="csv", sheet=sheet, sheet_reason="", header_row=h + 1,
        header_reason=reason, headers=tuple(headers), titles=titles, unit=unit,
        unit_text=unit_text, skipped=skipped, lines=lines[data], warnings=tuple(warnings))
    return frame, report

