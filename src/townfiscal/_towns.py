"""The towns table: canonical columns, Chinese and English headers, units, validation, readers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal._errors import Problem, ValidationError

if TYPE_CHECKING:
    from townfiscal._policy import Policy

__all__ = [
    "COLUMNS",
    "KINDS",
    "ZONES",
    "Column",
    "kind_from_code",
    "read_towns",
    "validate_towns",
]

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


def kind_from_code(codes: Iterable[str] | pd.Series) -> pd.Series:
    """The kind of each township-level unit from its code's last three digits.

    001–099 subdistrict, 100–199 town, 200–399 township, 400 and up other (RULES.md §2;
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
    frame: pd.DataFrame, unit: Unit, problems: list[Problem]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Map headers to canonical names; return the frame and each money column's yuan factor."""
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


def read_towns(
    source: str | PathLike[str] | pd.DataFrame,
    *,
    unit: Unit = "yuan",
    sheet: str | int | None = None,
    policy: Policy | None = None,
) -> pd.DataFrame:
    """Read and validate a towns table from a file or a DataFrame.

    Accepts ``.csv`` (UTF-8, with or without BOM), ``.xlsx`` and ``.parquet`` files, with the
    canonical English headers or the Chinese ones an analyst's workbook has (行政区划代码, 名称,
    县(市、区), 地级市, 区域, 户籍人口, 常住人口, 财政供养人口, 面积, 可用财力, 一般公共预算支出,
    上年补助). Money columns are in yuan unless *unit* is ``"wan"`` (万元, 10,000 yuan);
    a header marked ``(万元)`` or ``(元)`` overrides *unit* for its column. Zones and kinds may
    be written in Chinese (东翼, 北部生态发展区, 镇, 乡, 街道 …).

    Parameters
    ----------
    source:
        A path or a DataFrame.
    unit:
        ``"yuan"`` or ``"wan"``: the unit of money columns whose header does not say.
    sheet:
        For ``.xlsx``: the sheet name or index. By default the towns sheet of an allocation
        table written by :func:`~townfiscal.write_allocation` (``乡镇基础数据``) when the
        workbook has one, else the first sheet.
    policy:
        When given, also check what the policy's formula needs (see :func:`validate_towns`).

    Returns
    -------
    pandas.DataFrame indexed by ``code``, money in yuan.

    Raises
    ------
    ValidationError
        Listing every problem found (file-level, header, row, column and value).
    FileNotFoundError
        When the file does not exist.

    Examples
    --------
    >>> towns = read_towns("towns.xlsx", unit="wan")  # doctest: +SKIP
    """
    if isinstance(source, pd.DataFrame):
        return validate_towns(source, unit=unit, policy=policy)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no such towns file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in {".csv", ".txt"}:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        elif suffix in {".xlsx", ".xlsm"}:
            frame = pd.read_excel(
                path, sheet_name=_towns_sheet(path) if sheet is None else sheet,
                dtype=object, engine="openpyxl")
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            raise ValidationError(
                [
                    Problem(
                        f"unsupported file type {suffix!r}; use .csv, .xlsx or .parquet",
                        value=str(path),
                    )
                ],
                what=f"towns file {path.name}",
            )
    except ValidationError:
        raise
    except (ValueError, KeyError, OSError, ImportError) as exc:
        raise ValidationError(
            [Problem(f"cannot read the file: {exc}", value=str(path))],
            what=f"towns file {path.name}",
        ) from exc
    return validate_towns(frame, unit=unit, policy=policy, what=f"towns file {path.name}")


def _as_text(series: pd.Series) -> pd.Series:
    """Strings, stripped; blanks for missing values; ``441521100.0`` (Excel) as ``441521100``."""
    obj = series.astype(object)
    missing = obj.isna().to_numpy(dtype=bool)
    text = obj.astype(str).str.strip().astype(object)
    dotted = text.str.endswith(".0").to_numpy(dtype=bool)
    if dotted.any():
        text[dotted] = text[dotted].str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    return text.where(~missing, "")


def _as_number(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype(np.float64)
    text = _as_text(series).str.replace(",", "", regex=False)
    return pd.to_numeric(text.where(text != "", None), errors="coerce").astype(np.float64)


def _map_labels(raw: pd.Series, table: Mapping[str, str]) -> pd.Series:
    """Map labels through an alias table, folding each distinct label once."""
    lookup = {u: table.get(_fold(u)) if u else None for u in raw.unique()}
    return raw.map(lookup)


def validate_towns(
    frame: pd.DataFrame,
    *,
    unit: Unit = "yuan",
    policy: Policy | None = None,
    what: str = "towns table",
) -> pd.DataFrame:
    """Check a towns table and return a clean copy indexed by ``code``.

    Collects every problem before raising: missing required columns, malformed (not 9 digits)
    or duplicate codes, empty names, unknown zones or kinds, numbers that are missing,
    non-numeric, negative or not finite. With a *policy*, also the zero denominators of its
    per-capita factors among the towns it covers (e.g. a town with no fiscally-supported
    population cannot have a per-capita capacity).

    A table already validated (as returned by this function) is accepted again as it is.

    Parameters
    ----------
    frame:
        The table, with ``code`` as a column or as the index; English or Chinese headers.
    unit:
        ``"yuan"`` or ``"wan"`` (万元) for money columns whose header does not say.
    policy:
        Optional :class:`~townfiscal.Policy` whose needs are also checked.
    what:
        How to name the table in the error message.

    Returns
    -------
    pandas.DataFrame indexed by ``code`` (str), with the canonical columns first (money in
    yuan, people and km² as float64, ``prior_amount`` NaN where none) and any other columns
    kept after them.

    Raises
    ------
    ValidationError
        Whose ``.problems`` lists every problem with its row (town code), column and value.

    Examples
    --------
    >>> import townfiscal as tf
    >>> raw = tf.load_example().head(3).reset_index()   # code as a column
    >>> clean = validate_towns(raw)
    >>> clean.index.name, len(clean), str(clean["area_km2"].dtype)
    ('code', 3, 'float64')
    >>> raw.loc[0, "area_km2"] = -3.0
    >>> raw.loc[1, "zone"] = "south"
    >>> try:
    ...     validate_towns(raw)
    ... except tf.ValidationError as err:
    ...     print(err)
    towns table is invalid: 2 problems
      - row 440103002, column 'zone', value 'south': unknown zone; expected one of core, ...
      - row 440103001, column 'area_km2', value -3.0: must not be negative
    """
    if unit == "yuan" and _already_clean(frame):
        # A table in canonical form (as this function returns it) passes every check below;
        # skip the text clean-up, which dominates repeated calls in sweeps.
        clean = frame.copy()
        if policy is not None:
            check_policy_needs(clean, policy, what)
        return clean
    problems: list[Problem] = []
    df = frame.copy()
    if df.index.name is not None and _ALIASES.get(_fold(str(df.index.name))) == "code":
        df = df.reset_index()
    df, scale = _rename(df, unit, problems)
    # Two headers for one column were reported by _rename; check only the first of them.
    df = df.loc[:, ~df.columns.duplicated()]
    df = df.reset_index(drop=True)

    missing = [c.name for c in COLUMNS if c.required and c.name not in df.columns]
    for name in missing:
        col = _BY_NAME[name]
        problems.append(
            Problem(f"required column is missing (header {col.name!r} or {col.zh!r})", column=name)
        )

    # Row labels: the code when it is well formed, else the 1-based data row number.
    codes = (
        _as_text(df["code"]) if "code" in df.columns else pd.Series([""] * len(df), dtype=object)
    )
    well_formed = codes.str.fullmatch(_CODE_RE.pattern[1:-1]).to_numpy(dtype=bool)
    numbers = pd.Series(np.arange(1, len(df) + 1), dtype=object).map("#{}".format)
    labels = np.where(well_formed, codes.to_numpy(dtype=object), numbers.to_numpy(dtype=object))

    if "code" in df.columns:
        for i in np.flatnonzero(~well_formed):
            problems.append(
                Problem(
                    "code must be 9 digits (NBS township code)",
                    row=labels[i],
                    column="code",
                    value=codes.iloc[i],
                )
            )
        dup = codes.duplicated(keep=False) & (codes != "")
        for i in np.flatnonzero(dup.to_numpy()):
            problems.append(
                Problem("duplicate code", row=labels[i], column="code", value=codes.iloc[i])
            )
        df["code"] = codes

    for name in ("name", "county", "city"):
        if name in df.columns:
            text = _as_text(df[name])
            for i in np.flatnonzero((text == "").to_numpy()):
                problems.append(Problem("must not be empty", row=labels[i], column=name))
            df[name] = text

    if "zone" in df.columns:
        raw = _as_text(df["zone"])
        mapped = _map_labels(raw, _ZONE_ALIASES)
        for i in np.flatnonzero(mapped.isna().to_numpy()):
            problems.append(
                Problem(
                    f"unknown zone; expected one of {', '.join(ZONES)}",
                    row=labels[i],
                    column="zone",
                    value=raw.iloc[i],
                )
            )
        df["zone"] = mapped

    default_kind = kind_from_code(codes)
    if "kind" in df.columns:
        raw = _as_text(df["kind"])
        mapped = _map_labels(raw, _KIND_ALIASES)
        unknown = mapped.isna() & (raw != "")
        for i in np.flatnonzero(unknown.to_numpy()):
            problems.append(
                Problem(
                    f"unknown kind; expected one of {', '.join(KINDS)}",
                    row=labels[i],
                    column="kind",
                    value=raw.iloc[i],
                )
            )
        df["kind"] = mapped.where(mapped.notna(), default_kind)
    else:
        df["kind"] = default_kind

    for col in COLUMNS:
        if col.kind not in {"people", "money", "area"} or col.name not in df.columns:
            continue
        raw = df[col.name]
        values = _as_number(raw)
        blank = raw.isna() if values.dtype == raw.dtype else raw.isna() | (_as_text(raw) == "")
        optional_blank = blank & (col.name == "prior_amount" or not col.required)
        bad_text = values.isna() & ~blank
        for i in np.flatnonzero(bad_text.to_numpy()):
            problems.append(
                Problem("not a number", row=labels[i], column=col.name, value=raw.iloc[i])
            )
        for i in np.flatnonzero((blank & ~optional_blank).to_numpy()):
            problems.append(Problem("missing value", row=labels[i], column=col.name))
        arr = values.to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            nonfinite = np.isinf(arr)
            negative = arr < 0
        for i in np.flatnonzero(nonfinite):
            problems.append(Problem("not finite", row=labels[i], column=col.name, value=arr[i]))
        for i in np.flatnonzero(negative & ~nonfinite):
            problems.append(
                Problem("must not be negative", row=labels[i], column=col.name, value=float(arr[i]))
            )
        df[col.name] = values * scale.get(col.name, 1.0)

    if problems:
        raise ValidationError(problems, what=what)

    order = [c.name for c in COLUMNS if c.name in df.columns]
    df = df[order + [c for c in df.columns if c not in order]]
    df = df.set_index("code")
    df.index.name = "code"
    if policy is not None:
        check_policy_needs(df, policy, what)
    return df


def check_policy_needs(
    towns: pd.DataFrame,
    policy: Policy,
    what: str = "towns table",
    covered: npt.NDArray[np.bool_] | None = None,
) -> None:
    """Columns the policy reads must exist; its per-capita denominators must be positive.

    Only the towns the policy covers are checked: pass their mask as *covered* when the
    caller has it already, else it is computed here.

    Raises
    ------
    ValidationError
        Naming each missing column, and each covered town with a blank or a zero where the
        policy reads or divides.
    """
    from townfiscal.rules._eligibility import eligible_mask
    from townfiscal.rules._factors import factor_specs

    problems: list[Problem] = []
    specs = factor_specs(policy)
    needed = sorted({c for s in specs for c in (s.numerator, s.denominator) if c})
    for name in needed:
        if name not in towns.columns:
            problems.append(Problem(f"policy {policy.id} needs this column", column=name))
    if problems:
        raise ValidationError(problems, what=what)
    if covered is None:
        covered = eligible_mask(towns, policy)
    for name in needed:
        blank = covered & np.isnan(towns[name].to_numpy(dtype=np.float64))
        for code in towns.index[blank]:
            problems.append(
                Problem(
                    f"missing value: policy {policy.id} needs it for covered towns",
                    row=code,
                    column=name,
                )
            )
    zones = policy.get("regional_coefficient", {})
    if zones:
        no_zone = covered & ~towns["zone"].isin(list(zones)).to_numpy(dtype=bool)
        for code in towns.index[no_zone]:
            problems.append(
                Problem(
                    f"policy {policy.id} has no regional coefficient for this zone",
                    row=code,
                    column="zone",
                    value=towns.at[code, "zone"],
                )
            )
    for spec in specs:
        if spec.denominator is None:
            continue
        zero = covered & (towns[spec.denominator].to_numpy() <= 0)
        for code in towns.index[zero]:
            problems.append(
                Problem(
                    f"must be positive: policy {policy.id} divides by it for factor {spec.name!r}",
                    row=code,
                    column=spec.denominator,
                    value=_as_float(towns.at[code, spec.denominator]),
                )
            )
    if problems:
        raise ValidationError(problems, what=what)


def _as_float(value: Any) -> float:
    return float(value)


TOWNS_SHEET = "乡镇基础数据"
"""The name of the towns sheet in an allocation table (分配表) workbook."""


def _towns_sheet(path: Path) -> str | int:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    try:
        return TOWNS_SHEET if TOWNS_SHEET in workbook.sheetnames else 0
    finally:
        workbook.close()


_TEXT_COLUMNS = ("name", "kind", "county", "city", "zone")
_NUMBER_COLUMNS = tuple(c.name for c in COLUMNS if c.kind in {"people", "money", "area"})


def _all_text(values: pd.Series | pd.Index, *, strict: bool) -> bool:
    """Only non-empty str values, in an object column (or any string dtype unless *strict*)."""
    dtype_ok = values.dtype is np.dtype(object) or (
        not strict and pd.api.types.is_string_dtype(values.dtype))
    return bool(dtype_ok and pd.api.types.infer_dtype(values, skipna=False) == "string")


def _already_clean(frame: pd.DataFrame) -> bool:
    """Whether *frame* is exactly what :func:`validate_towns` returns for a valid table.

    Vectorised checks only; any doubt returns False and the full validation runs (and
    reports the problems).
    """
    index = frame.index
    if index.name != "code" or not _all_text(index, strict=True) or "code" in frame.columns:
        return False
    canonical = [c.name for c in COLUMNS if c.name in frame.columns]
    if any(c.required and c.name != "code" and c.name not in frame.columns for c in COLUMNS):
        return False
    if "kind" not in frame.columns or list(frame.columns[: len(canonical)]) != canonical:
        return False
    if any(_ALIASES.get(_fold(str(c))) is not None for c in frame.columns[len(canonical):]):
        return False
    for name in _TEXT_COLUMNS:
        col = frame[name]
        # the full path leaves name, county and city as object columns; kind and zone as
        # whatever pandas' mapping gives (a string dtype on pandas 3)
        if not _all_text(col, strict=name in {"name", "county", "city"}) or col.eq("").any():
            return False
    if not frame["zone"].isin(list(ZONES)).all() or not frame["kind"].isin(list(KINDS)).all():
        return False
    if not pd.Series(index, dtype=object).str.fullmatch(r"[1-9]\d{8}").all():
        return False
    if index.has_duplicates:
        return False
    for name in _NUMBER_COLUMNS:
        if name not in frame.columns:
            continue
        if frame[name].dtype != np.float64:
            return False
        arr = frame[name].to_numpy()
        nan = np.isnan(arr)
        if np.isinf(arr).any() or (arr[~nan] < 0).any():
            return False
        if nan.any() and _BY_NAME[name].required:
            return False
    return True
