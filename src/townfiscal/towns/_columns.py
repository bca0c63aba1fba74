"""The canonical columns of the towns table, their Chinese headers and aliases, and units."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs
import numpy as np
import pandas as pd

from townfiscal._errors import Problem

__all__ = ["COLUMNS", "KINDS", "ZONES", "Column", "Unit", "canonical_zone", "kind_from_code"]

ColumnKind = Literal["code", "text", "people", "money", "area", "category"]
Unit = Literal["yuan", "wan"]


@attrs.frozen
class Column:
    """One canonical column of the towns table."""

    name: str
    zh: str
    kind: ColumnKind
    required: bool
    description: str
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column(
        "code",
        "行政区划代码",
        "code",
        True,
        "9-digit township code (unique)",
        ("代码", "区划代码", "统计用区划代码", "乡镇代码"),
    ),
    Column("name", "名称", "text", True, "town name", ("镇(乡)名称", "乡镇名称", "镇名", "乡镇")),
    Column(
        "kind",
        "类型",
        "category",
        False,
        "town / township / subdistrict / other (default: from the code)",
        ("单位类型",),
    ),
    Column("county", "县(市、区)", "text", True, "administering county", ("县", "县区", "所属县")),
    Column("city", "地级市", "text", True, "prefecture city", ("市", "地市", "所属市")),
    Column(
        "zone",
        "区域",
        "category",
        True,
        "core / east_wing / west_wing / north (一核一带一区)",
        ("功能区", "所属区域"),
    ),
    Column("registered_population", "户籍人口", "people", True, "registered population, people"),
    Column("resident_population", "常住人口", "people", True, "resident population, people"),
    Column("supported_population", "财政供养人口", "people", True, "people on the public payroll"),
    Column("area_km2", "面积", "area", False, "land area, km²", ("行政区域面积", "土地面积")),
    Column("fiscal_capacity", "可用财力", "money", True, "disposable fiscal capacity, yuan"),
    Column(
        "expenditure",
        "一般公共预算支出",
        "money",
        True,
        "general budget expenditure, yuan",
        ("支出",),
    ),
    Column(
        "prior_amount",
        "上年补助",
        "money",
        False,
        "last year's subsidy, yuan (blank: none)",
        ("上年补助额", "上年补助资金"),
    ),
)
"""The canonical columns, in order."""

_BY_NAME = {c.name: c for c in COLUMNS}

ZONES: Mapping[str, tuple[str, ...]] = {
    "core": ("核心区", "珠三角核心区", "珠三角", "一核"),
    "east_wing": ("东翼", "沿海经济带东翼"),
    "west_wing": ("西翼", "沿海经济带西翼"),
    "north": ("北部生态发展区", "北部", "北部生态区", "一区"),
}
"""Zones of Guangdong's "one core, one belt, one zone" (一核一带一区), with Chinese aliases."""

KINDS: Mapping[str, tuple[str, ...]] = {
    "town": ("镇",),
    "township": ("乡", "民族乡"),
    "subdistrict": ("街道", "街道办事处"),
    "other": ("其他", "其它"),
}
"""Kinds of township-level unit, with Chinese aliases."""

_CODE_RE = re.compile(r"^[1-9]\d{8}$")
_UNIT_RE = re.compile(r"^(?P<base>.*?)\s*[(（]\s*(?P<unit>[^()（）]*)\s*[)）]\s*$")
_WAN = {"万元", "万", "wan", "10k yuan", "10,000 yuan"}
_YUAN = {"元", "yuan", "cny", "rmb"}
_NON_UNITS = {"市、区"}  # parentheses that belong to the header itself: 县(市、区)


def known_header(text: str) -> bool:
    """Whether *text* is a header of a canonical column (``"可用财力（万元）"``, ``"code"``)."""
    m = _UNIT_RE.match(text)
    return (_ALIASES.get(_fold(text)) is not None
            or (m is not None and _ALIASES.get(_fold(m["base"])) is not None))


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).lower().replace("（", "(").replace("）", ")")


def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for col in COLUMNS:
        for label in (col.name, col.zh, *col.aliases, col.name.replace("_", " ")):
            table[_fold(label)] = col.name
    return table


_ALIASES = _alias_table()


def _category_table(spec: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    table = {}
    for canonical, aliases in spec.items():
        for label in (canonical, *aliases):
            table[_fold(label)] = canonical
    return table


_ZONE_ALIASES = _category_table(ZONES)
_KIND_ALIASES = _category_table(KINDS)


def canonical_zone(label: str) -> str | None:
    """The canonical zone a label names (``"东翼"`` → ``"east_wing"``), or ``None``."""
    return _ZONE_ALIASES.get(_fold(label))


def kind_from_code(codes: Iterable[str] | pd.Series) -> pd.Series:
    """The kind of each township-level unit from its code's last three digits.

    001–099 subdistrict, 100–199 town, 200–399 township, 400 and up other (source notes §2;
    NBS coding rules). A ``kind`` column in the data wins over this default. It never raises:
    a code whose last three characters are not digits is ``"other"``.

    Parameters
    ----------
    codes:
        Township codes (9-digit strings), as any iterable or a :class:`pandas.Series`.

    Returns
    -------
    pandas.Series of str
        ``"subdistrict"``, ``"town"``, ``"township"`` or ``"other"`` per code, with the
        index of *codes* when it is a Series (else 0, 1, …).

    Examples
    --------
    >>> kind_from_code(["445281100", "441502001", "441823203"]).tolist()
    ['town', 'subdistrict', 'township']
    """
    s = pd.Series(list(codes) if not isinstance(codes, pd.Series) else codes, dtype=object)
    suffix = pd.to_numeric(s.astype(str).str[-3:], errors="coerce").to_numpy(dtype=np.float64)
    kinds = np.select(
        [suffix < 100, suffix < 200, suffix < 400],
        ["subdistrict", "town", "township"],
        default="other",
    )
    return pd.Series(kinds, index=s.index, dtype=object)


def _rename(
    frame: pd.DataFrame, unit: Unit, problems: list[Problem],
    written: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Map headers to canonical names; return the frame and each money column's yuan factor.

    *written*, when given, receives each canonical name's header as written.
    """
    renames: dict[Any, str] = {}
    scale: dict[str, float] = {}
    seen: dict[str, Any] = {}
    for header in frame.columns:
        text = str(header).strip()
        base, marker = text, None
        m = _UNIT_RE.match(text)
        if m and _fold(m["unit"]) not in {_fold(x) for x in _NON_UNITS}:
            base, marker = m["base"], _fold(m["unit"])
        canonical = _ALIASES.get(_fold(base)) or _ALIASES.get(_fold(text))
        if canonical is None:
            continue
        if canonical in seen:
            problems.append(
                Problem(
                    f"two headers both mean {canonical!r}: {seen[canonical]!r} and {header!r}",
                    column=canonical,
                )
            )
            continue
        seen[canonical] = header
        renames[header] = canonical
        if written is not None:
            written[canonical] = text
        if _BY_NAME[canonical].kind == "money":
            if marker is None:
                scale[canonical] = 10_000.0 if unit == "wan" else 1.0
            elif marker in {_fold(u) for u in _WAN}:
                scale[canonical] = 10_000.0
            elif marker in {_fold(u) for u in _YUAN}:
                scale[canonical] = 1.0
            else:
                problems.append(
                    Problem(
                        f"unknown money unit {m['unit'] if m else marker!r} in the header; "
                        "expected 元 or 万元",
                        column=canonical,
                        value=str(header),
                    )
                )
    return frame.rename(columns=renames), scale
