"""The allocation table (分配表): an Excel workbook a treasury clerk can use, and its reader.

:func:`write_allocation` writes, from a per-town table (``alloc.to_frame()`` or any DataFrame
indexed by town code with an ``amount`` column in integer yuan), its provenance and its policy:

- **分配表** — one row per town: code, name, city, county, zone, the amount in yuan and in 万元,
  last year's amount and the change, and whatever else the table carries (target, coefficient,
  tier, binding constraints); a closing 合计 row. Chinese headers, number formats, frozen header
  row and code/name columns, a filter on the header.
- **市县汇总** — totals by county and by city, and the grand total (equal to the fund to the yuan).
- **参数** — every policy value with its unit, its meaning and its article (or the assumption).
- **来源** — the provenance: policy id and hash, data hash, library and solver versions, date.
- **乡镇基础数据** — the towns table itself, when given, readable by :func:`townfiscal.read_towns`
  (``tf.read_towns(path)`` picks that sheet by itself).
- **影子价格** — from :meth:`Allocation.to_excel <townfiscal.Allocation.to_excel>` (and
  ``townfiscal allocate --out`` with optimiser options): per constraint family its shadow price,
  the towns it holds, the unit and the meaning.

The sheets come in that order. Money is written as it is paid: whole yuan as integers (never
``196100.0000000002``), bounds and optima to the fen; a town without a cap has a blank 上限,
not the whole fund. Each provenance fact is one row.

:func:`read_allocation` reads such a workbook back into an :class:`AllocationWorkbook` (the
per-town table with canonical English column names, the provenance, the parameters, the towns).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from functools import cache
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal._files import atomic_path
from townfiscal._version import version
from townfiscal.optimize._allocation import Allocation, register_writer
from townfiscal.policy import get_policy
from townfiscal.towns import COLUMNS, KINDS, TOWNS_SHEET, ZONES, read_towns

if TYPE_CHECKING:  # openpyxl is imported when a workbook is written or read, not with the module
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

__all__ = [
    "ALLOCATION_HEADERS",
    "SHEETS",
    "AllocationWorkbook",
    "read_allocation",
    "write_allocation",
    "write_comparison",
]

#: Sheet names, by role.
SHEETS: Mapping[str, str] = {
    "allocation": "分配表",
    "totals": "市县汇总",
    "parameters": "参数",
    "provenance": "来源",
    "towns": TOWNS_SHEET,
    "shadow_prices": "影子价格",
}

# kind of a column decides its number format: yuan, wan (万元), people, ratio, pct, text
_Spec = tuple[str, str]

#: Chinese header and format of each known column of the per-town table.
ALLOCATION_HEADERS: Mapping[str, _Spec] = {
    "code": ("行政区划代码", "text"),
    "name": ("名称", "text"),
    "city": ("地级市", "text"),
    "county": ("县(市、区)", "text"),
    "zone": ("区域", "zone"),
    "kind": ("类型", "kind"),
    "tier": ("档次", "int"),
    "coefficient": ("综合系数", "ratio"),
    "share": ("分配比例", "ratio"),
    "target": ("目标金额(元)", "yuan"),
    "formula_amount": ("公式测算金额(元)", "yuan"),
    "lower": ("下限(元)", "yuan"),
    "upper": ("上限(元)", "yuan"),
    "amount": ("分配金额(元)", "yuan"),
    "amount_wan": ("分配金额(万元)", "wan"),
    "prior_amount": ("上年补助(元)", "yuan"),
    "change": ("较上年增减(元)", "yuan"),
    "change_pct": ("增减幅度", "pct"),
    "binding": ("起作用的约束", "text"),
    "optimum": ("线性规划最优解(元)", "yuan2"),
    "lower_dual": ("下限影子价格", "ratio"),
    "upper_dual": ("上限影子价格", "ratio"),
    "eligible": ("是否补助对象", "text"),
    "regional": ("区域系数", "ratio"),
    "proportional": ("增幅控制前金额(元)", "yuan"),
    "unrounded": ("取整前金额(元)", "yuan2"),
}
_FIRST = ("code", "name", "city", "county", "zone", "kind", "tier", "coefficient", "share")
_FORMATS = {
    "yuan": "#,##0",
    "yuan2": "#,##0.00",
    "wan": "#,##0.00##",
    "value": "#,##0.00",
    "int": "0",
    "ratio": "0.000000",
    "pct": "0.00%",
    "people": "#,##0",
    "area": "#,##0.00",
}
_ZONE_ZH = {z: aliases[0] for z, aliases in ZONES.items()}
_KIND_ZH = {k: aliases[0] for k, aliases in KINDS.items()}
_TOTAL = "合计"

#: Chinese labels of provenance keys (others are written as they are).
PROVENANCE_LABELS: Mapping[str, str] = {
    "title": "标题",
    "fund": "资金总额(元)",
    "policy_id": "政策",
    "policy_title": "政策名称",
    "policy_hash": "政策哈希(SHA-256)",
    "data_hash": "数据哈希(SHA-256)",
    "towns": "乡镇数",
    "townfiscal_version": "townfiscal 版本",
    "versions": "软件版本",
    "solver": "求解器",
    "status": "求解状态",
    "objective": "目标函数",
    "objective_value": "目标函数值",
    "constraints": "约束",
    "created": "生成时间",
    "policy": "政策",
    "townfiscal": "townfiscal 版本",
    "solver_version": "求解器版本",
    "numpy": "numpy 版本",
    "pandas": "pandas 版本",
    "model": "模型规模",
    "spend": "资金使用方式",
    "rounding": "取整方式",
    "method": "计算方法",
    "towns_source": "乡镇数据来源",
    "towns_prior": "上年补助来源",
    "written": "写出时间",
}

#: Provenance keys that say the same as another: an Allocation records ``policy`` and
#: ``townfiscal``, a workbook ``policy_id`` and ``townfiscal_version``. One row each.
_SAME_AS = {"policy": "policy_id", "townfiscal": "townfiscal_version"}


@cache
def _styles() -> tuple[Any, Any, Any]:
    """The header font, the header fill and the total rows' fill (made on first use)."""
    from openpyxl.styles import Font, PatternFill

    return (Font(bold=True), PatternFill("solid", fgColor="DDEBF7"),
            PatternFill("solid", fgColor="F2F2F2"))


@attrs.frozen(repr=False)
class AllocationWorkbook:
    """An allocation table read back from Excel by :func:`read_allocation`.

    Made by :func:`read_allocation`, not by hand; frozen.

    Attributes
    ----------
    table:
        The per-town table indexed by code with canonical column names (``amount`` int64
        yuan, ``lower``/``upper``/``prior_amount`` in yuan, zone and kind as codes).
    provenance:
        The provenance dict as written (``policy_id``, ``policy_hash``, ``fund`` in yuan,
        ``townfiscal_version``, …).
    parameters:
        One row per policy value: ``path``, ``value``, ``unit``, ``description``, ``source``,
        ``assumption``.
    towns:
        The towns table when the workbook has one (validated: money in yuan, populations in
        people, areas in km²), else ``None``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import townfiscal as tf
    >>> towns = tf.load_example()
    >>> pol = tf.get_policy("guangdong-2020")
    >>> fa = tf.formula_allocation(towns, pol, fund=2_000_000_000)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_allocation(fa, pathlib.Path(folder) / "分配表.xlsx",
    ...                             policy=pol, towns=towns)
    ...     wb = read_allocation(path)
    >>> wb.fund, int(wb.amounts["441581101"]), wb.provenance["policy_id"]
    (2000000000, 3271065, 'guangdong-2020')
    """

    table: pd.DataFrame
    provenance: dict[str, Any]
    parameters: pd.DataFrame
    towns: pd.DataFrame | None = None

    @property
    def amounts(self) -> pd.Series[Any]:
        """Yuan per town (int64), indexed by code."""
        return self.table["amount"]

    @property
    def fund(self) -> int:
        """The total paid, in yuan."""
        return int(self.table["amount"].sum())

    def __repr__(self) -> str:
        from townfiscal._html import workbook_text

        return workbook_text(self)

    def _repr_html_(self) -> str:
        """A compact summary for Jupyter: towns, fund, provenance and the largest amounts."""
        from townfiscal._html import workbook_html

        return workbook_html(self)


# --------------------------------------------------------------------------------------------
# writing


def _as_parts(
    allocation: Any,
    provenance: Mapping[str, Any] | None,
    policy: Any,
    towns: pd.DataFrame | None,
) -> tuple[pd.DataFrame, dict[str, Any], Any, pd.DataFrame | None]:
    """Table, provenance, policy and towns from an Allocation-like object or a DataFrame."""
    if isinstance(allocation, pd.DataFrame):
        table = allocation
    elif hasattr(allocation, "to_frame"):
        table = allocation.to_frame()
        formula = getattr(allocation, "formula", None)  # an Allocation keeps its formula run
        if provenance is None:
            provenance = getattr(allocation, "provenance", None)
        if policy is None:
            policy = getattr(allocation, "policy", None) or getattr(formula, "policy", None)
        if towns is None:
            towns = getattr(allocation, "towns", None)
            if not isinstance(towns, pd.DataFrame):
                towns = getattr(formula, "towns", None)
    else:
        raise ValidationError(
            [
                Problem(
                    "expected an Allocation or a per-town DataFrame",
                    value=type(allocation).__name__,
                )
            ],
            what="allocation table",
        )
    prov = dict(provenance or {})
    return table, prov, policy, towns


def _prepare_table(table: pd.DataFrame, towns: pd.DataFrame | None) -> pd.DataFrame:
    problems: list[Problem] = []
    df = table.copy()
    if "code" in df.columns:
        df = df.set_index("code")
    df.index = pd.Index([str(c) for c in df.index], dtype=object)
    df.index.name = "code"
    if "amount" not in df.columns:
        problems.append(
            Problem("the per-town table needs an 'amount' column (yuan)", column="amount")
        )
    else:
        amount = pd.to_numeric(df["amount"], errors="coerce").astype(np.float64)
        bad = ~np.isfinite(amount.to_numpy()) | (amount.to_numpy() != np.round(amount.to_numpy()))
        problems += [
            Problem("amount must be a whole number of yuan", row=str(c), column="amount", value=v)
            for c, v in df.loc[bad, "amount"].items()
        ]
    dup = df.index[df.index.duplicated()]
    problems += [Problem("duplicate town code", row=str(c), column="code") for c in dup]
    if problems:
        raise ValidationError(problems, what="allocation table")
    df["amount"] = df["amount"].astype(np.float64).round().astype(np.int64)
    if towns is not None:
        for col in ("name", "city", "county", "zone", "prior_amount"):
            if col not in df.columns and col in towns.columns:
                df[col] = towns[col].reindex(df.index)
    if "prior_amount" in df.columns:
        prior = df["prior_amount"].astype(np.float64)
        # recomputed so the workbook is consistent whatever the table said: a town paid nothing
        # last year gains its whole amount; the rate is a ratio (shown as a percentage)
        df["change"] = df["amount"] - prior.fillna(0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            df["change_pct"] = np.where(prior > 0, (df["amount"] - prior) / prior, np.nan)
    df["amount_wan"] = df["amount"] / 10_000.0
    if "upper" in df.columns:
        # a cap of the whole fund or more (the optimiser's bound where no family caps a town)
        # or an infinite one (no last year's amount to grow from) caps nothing: left blank
        upper = pd.to_numeric(df["upper"], errors="coerce").astype(np.float64)
        df["upper"] = upper.where(np.isfinite(upper) & (upper < int(df["amount"].sum())))
    if "binding" in df.columns:
        df["binding"] = df["binding"].map(_join_binding)
    first = [c for c in _FIRST if c in df.columns]
    known = [c for c in ALLOCATION_HEADERS if c in df.columns and c not in first and c != "code"]
    rest = [c for c in df.columns if c not in first and c not in known]
    df = df[first + known + rest]
    # codes are hierarchical (province, city, county, town): code order groups by city, county
    return df.sort_index(kind="stable")


_FAMILIES_SPLIT = re.compile(r"\s*[,，、]\s*")


def _join_binding(v: Any) -> Any:
    """The families holding a town (a list, or ``"HoldHarmless, NeedOrder"`` as
    ``Allocation.to_frame`` gives them) by their Chinese names: ``不低于上年、需求顺序``."""
    if isinstance(v, list | tuple | set | frozenset):
        names = [str(x) for x in v]
    elif isinstance(v, str):
        names = [n for n in _FAMILIES_SPLIT.split(v.strip()) if n]
    else:
        return v
    return "、".join(FAMILY_NAMES.get(n, n) for n in names) or None


def _split_binding(v: Any) -> Any:
    """A 起作用的约束 cell read back: the families' own names, as ``Allocation.to_frame`` joins
    them (``"HoldHarmless, NeedOrder"``)."""
    if not isinstance(v, str):
        return v
    return ", ".join(_FAMILY_FROM_ZH.get(n, n) for n in _FAMILIES_SPLIT.split(v.strip()) if n)


#: Decimals kept per kind of number: yuan paid are whole, bounds and optima are kept to the fen,
#: 万元 to the yuan; ratios, people and areas keep 12 significant digits (a float's last ones
#: are noise).
_DECIMALS = {"yuan": 2, "yuan2": 2, "wan": 4}


def _tidy(values: pd.Series[Any], kind: str) -> list[Any]:
    """A numeric column's cells as Python numbers without float noise: rounded to the kind's
    decimals (12 significant digits for ratios), whole numbers as ``int``, missing as blank.
    Other columns go through :func:`_cell` unchanged."""
    if values.dtype.kind not in "fiu" or kind in {"text", "zone", "kind"}:
        return [_cell(v) for v in values]
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(arr)
    if kind in _DECIMALS:
        arr = np.round(arr, _DECIMALS[kind])
    else:  # 12 significant digits by each value's magnitude; below 1e-12 is solver noise
        arr = np.where(np.abs(arr) < 1e-12, 0.0, arr)
        magnitude = np.floor(np.log10(np.abs(np.where(finite & (arr != 0), arr, 1.0))))
        # an integer over an exact power of ten divides to the closest float to the decimal
        scale = 10.0 ** np.clip(11 - magnitude, 0, 22)
        arr = np.round(arr * scale) / scale
    whole = finite & (arr == np.round(arr)) & (np.abs(arr) < 2.0**53)
    out: list[Any] = arr.tolist()
    for i in np.flatnonzero(whole):
        out[i] = int(arr[i])
    for i in np.flatnonzero(~finite):
        out[i] = _cell(float(values.iloc[i]) if values.dtype.kind == "f" else values.iloc[i])
    return out


def _cell(v: Any) -> Any:
    """A value openpyxl can write: numpy scalars to Python, NaN to blank."""
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dt.datetime | dt.date | int | float | str | bool):
        return v
    if v is pd.NA or v is pd.NaT:
        return None
    return str(v)


def _header_row(ws: Worksheet, headers: list[str], widths: list[float]) -> None:
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    font, fill, _ = _styles()
    ws.append(headers)
    for i, width in enumerate(widths, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font = font
        cell.fill = fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"


def _format_columns(ws: Worksheet, kinds: list[str], first_row: int, last_row: int) -> None:
    for j, kind in enumerate(kinds, start=1):
        fmt = _FORMATS.get(kind)
        if fmt is None:
            continue
        for (cell,) in ws.iter_rows(min_row=first_row, max_row=last_row, min_col=j, max_col=j):
            cell.number_format = fmt


def _width(kind: str, header: str) -> float:
    base = {"yuan": 16, "wan": 14, "ratio": 11, "pct": 10, "text": 14, "zone": 14}.get(kind, 12)
    return float(max(base, 2 * len(header) + 2))


_CJK = re.compile(r"[（(]([^()（）]*[\u4e00-\u9fff][^()（）]*)[)）]")


def _factor_headers(policy: Any) -> dict[str, _Spec]:
    """Chinese headers of a formula allocation's per-factor columns (``value_<factor>``,
    ``coef_<factor>``), from the Chinese in each factor's label ("registered population
    (户籍人口)" gives 户籍人口(因素值) and 户籍人口系数)."""
    out: dict[str, _Spec] = {}
    for path, param in (getattr(policy, "parameters", None) or {}).items():
        parts = str(path).split(".")
        if len(parts) != 3 or parts[0] != "factors" or parts[2] != "label":
            continue
        label = str(getattr(param, "value", param))
        found = _CJK.search(label)
        zh = found.group(1) if found else label
        out[f"value_{parts[1]}"] = (f"{zh}(因素值)", "value")
        out[f"coef_{parts[1]}"] = (f"{zh}系数", "ratio")
    return out


def _sheet_columns(df: pd.DataFrame, policy: Any) -> tuple[list[_Spec], list[list[Any]]]:
    """The 分配表 sheet's header and kind per column (code first) and its cells per column:
    zones and kinds in Chinese, numbers without float noise."""
    known = {**ALLOCATION_HEADERS, **_factor_headers(policy)}
    specs = [ALLOCATION_HEADERS["code"]]
    specs += [known.get(c, (c, "ratio" if df[c].dtype.kind == "f" else "text"))
              for c in df.columns]
    cells: list[list[Any]] = [[str(c) for c in df.index]]
    for col, (_, kind) in zip(df.columns, specs[1:], strict=True):
        if col == "zone":
            cells.append([_cell(_ZONE_ZH.get(v, v)) for v in df[col]])
        elif col == "kind":
            cells.append([_cell(_KIND_ZH.get(v, v)) for v in df[col]])
        elif df[col].dtype.kind == "b":
            cells.append(["是" if v else "否" for v in df[col]])
        else:
            cells.append(_tidy(df[col], kind))
    return specs, cells


def _write_table_sheet(wb: Workbook, df: pd.DataFrame, policy: Any) -> None:
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(SHEETS["allocation"])
    specs, cells = _sheet_columns(df, policy)
    kinds = [k for _, k in specs]
    _header_row(ws, [h for h, _ in specs], [_width(k, h) for h, k in specs])
    for row in zip(*cells, strict=True):
        ws.append(list(row))
    total: list[Any] = [_TOTAL]
    for col, kind in zip(df.columns, kinds[1:], strict=True):
        if col == "amount":
            total.append(int(df["amount"].sum()))
        elif col == "amount_wan":
            total.append(_tidy(pd.Series([int(df["amount"].sum()) / 10_000.0]), kind)[0])
        elif col in _SUMMED:
            total.append(_tidy(pd.Series([df[col].astype(np.float64).sum()]), kind)[0])
        else:
            total.append(None)
    ws.append(total)
    last = ws.max_row
    font, _, total_fill = _styles()
    for cell in ws[last]:
        cell.font = font
        cell.fill = total_fill
    _format_columns(ws, kinds, 2, last)
    ws.freeze_panes = "C2" if "name" in df.columns else "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(specs))}{last - 1}"


#: Columns the 合计 row sums (besides the amount): money whose total means something.
_SUMMED = frozenset({"prior_amount", "change", "target", "formula_amount", "proportional"})


def _totals(df: pd.DataFrame) -> pd.DataFrame:
    """Totals per county and per city, and the grand total (rows in reading order)."""
    amount = df["amount"].astype(np.int64)
    prior = df["prior_amount"].astype(np.float64) if "prior_amount" in df.columns else None
    rows: list[dict[str, Any]] = []

    def row(level: str, city: Any, county: Any, mask: np.ndarray) -> dict[str, Any]:
        r: dict[str, Any] = {
            "level": level,
            "city": city,
            "county": county,
            "towns": int(mask.sum()),
            "amount": int(amount[mask].sum()),
        }
        r["amount_wan"] = r["amount"] / 10_000.0
        if prior is not None:
            r["prior_amount"] = float(prior[mask].sum())
            r["change"] = r["amount"] - r["prior_amount"]
        return r

    cities = df["city"].astype(str).to_numpy() if "city" in df.columns else None
    counties = df["county"].astype(str).to_numpy() if "county" in df.columns else None
    if cities is not None:
        for city in pd.unique(cities):
            in_city = cities == city
            if counties is not None:
                for county in pd.unique(counties[in_city]):
                    rows.append(row("县", city, county, in_city & (counties == county)))
            rows.append(row("市", city, f"{city} 小计", in_city))
    rows.append(row(_TOTAL, _TOTAL, None, np.ones(len(df), dtype=bool)))
    return pd.DataFrame(rows)


_TOTALS_HEADERS: Mapping[str, _Spec] = {
    "level": ("汇总级别", "text"),
    "city": ("地级市", "text"),
    "county": ("县(市、区)", "text"),
    "towns": ("乡镇数", "int"),
    "amount": ("分配金额(元)", "yuan"),
    "amount_wan": ("分配金额(万元)", "wan"),
    "prior_amount": ("上年补助(元)", "yuan"),
    "change": ("较上年增减(元)", "yuan"),
}


def _write_totals_sheet(wb: Workbook, df: pd.DataFrame) -> None:
    ws = wb.create_sheet(SHEETS["totals"])
    totals = _totals(df)
    specs = [_TOTALS_HEADERS[c] for c in totals.columns]
    _header_row(ws, [h for h, _ in specs], [_width(k, h) for h, k in specs])
    font, _, total_fill = _styles()
    cells = [_tidy(totals[c], k) for c, (_, k) in zip(totals.columns, specs, strict=True)]
    for rec in zip(*cells, strict=True):
        ws.append(list(rec))
        if rec[0] != "县":
            for cell in ws[ws.max_row]:
                cell.font = font
                cell.fill = total_fill
    _format_columns(ws, [k for _, k in specs], 2, ws.max_row)


def _parameter_rows(policy: Any) -> list[dict[str, Any]]:
    params = getattr(policy, "parameters", None)
    if params is None:
        return []
    rows = []
    for path, p in params.items():
        d = p.to_dict() if hasattr(p, "to_dict") else {"path": path, "value": p}
        rows.append(
            {
                "path": d.get("path", path),
                "value": d.get("value"),
                "unit": d.get("unit"),
                "description": d.get("description"),
                "source": d.get("source"),
                "assumption": bool(d.get("assumption", False)),
            }
        )
    return rows


_PARAM_HEADERS: Mapping[str, tuple[str, float]] = {
    "path": ("参数", 44),
    "value": ("取值", 16),
    "unit": ("单位", 10),
    "description": ("含义", 40),
    "source": ("依据（条款或假设）", 60),
    "assumption": ("是否假设", 10),
}


def _value_cell(v: Any) -> Any:
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    return json.dumps(v, ensure_ascii=False)


def _write_parameters_sheet(wb: Workbook, policy: Any) -> None:
    from openpyxl.styles import Alignment

    ws = wb.create_sheet(SHEETS["parameters"])
    _header_row(
        ws, [h for h, _ in _PARAM_HEADERS.values()], [w for _, w in _PARAM_HEADERS.values()]
    )
    for r in _parameter_rows(policy):
        ws.append(
            [
                r["path"],
                _value_cell(r["value"]),
                r["unit"],
                r["description"],
                r["source"],
                "是" if r["assumption"] else "否",
            ]
        )
        ws.cell(row=ws.max_row, column=5).alignment = Alignment(wrap_text=True, vertical="top")


def _provenance_rows(prov: Mapping[str, Any], policy: Any, df: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if policy is not None:
        out.setdefault("policy_id", getattr(policy, "id", None))
        out.setdefault(
            "policy_title", getattr(policy, "title_zh", None) or getattr(policy, "title", None)
        )
        out.setdefault("policy_hash", getattr(policy, "hash", None))
    for key, value in prov.items():
        same = _SAME_AS.get(key)
        if same is None:
            out[key] = value
        elif out.get(same) in (None, value):
            out[same] = value
        else:  # they disagree: keep both, each under its own name
            out[key] = value
    out.setdefault("fund", int(df["amount"].sum()))
    out.setdefault("towns", len(df))
    if "townfiscal_version" not in out:
        out["townfiscal_version"] = version()
    out["written"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return {k: v for k, v in out.items() if v is not None}


def _write_provenance_sheet(wb: Workbook, prov: Mapping[str, Any]) -> None:
    from openpyxl.styles import Alignment

    ws = wb.create_sheet(SHEETS["provenance"])
    _header_row(ws, ["项目", "值", "键"], [22, 70, 22])
    for key, value in prov.items():
        if isinstance(value, dt.datetime | dt.date):
            text: Any = value.isoformat()
        elif isinstance(value, bool | int | float | str):
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False, default=str)
        ws.append([PROVENANCE_LABELS.get(key, key), _cell(text), key])
        if key == "fund":
            ws.cell(row=ws.max_row, column=2).number_format = _FORMATS["yuan"]
        ws.cell(row=ws.max_row, column=2).alignment = Alignment(wrap_text=True, vertical="top")


def _write_towns_sheet(wb: Workbook, towns: pd.DataFrame) -> None:
    ws = wb.create_sheet(SHEETS["towns"])
    cols = [c for c in COLUMNS if c.name == "code" or c.name in towns.columns]
    headers = [c.zh + ("(元)" if c.kind == "money" else "") for c in cols]
    kinds = [
        {"money": "yuan", "people": "people", "area": "area"}.get(c.kind, "text") for c in cols
    ]
    _header_row(ws, headers, [_width(k, h) for h, k in zip(headers, kinds, strict=True)])
    cells = []
    for c, kind in zip(cols[1:], kinds[1:], strict=True):
        names = _ZONE_ZH if c.name == "zone" else _KIND_ZH if c.name == "kind" else None
        cells.append([_cell(names.get(v, v)) for v in towns[c.name]] if names is not None
                     else _tidy(towns[c.name], kind))
    for code, *values in zip(towns.index, *cells, strict=True):
        ws.append([str(code), *values])
    _format_columns(ws, kinds, 2, ws.max_row)
    ws.freeze_panes = "C2"


#: Chinese names of the optimiser's constraint families (others are written as they are).
FAMILY_NAMES: Mapping[str, str] = {
    "Fund": "资金总额",
    "Floor": "最低补助",
    "Cap": "最高补助",
    "HoldHarmless": "不低于上年",
    "GrowthCap": "增幅上限",
    "TierOrder": "档次顺序",
    "NeedOrder": "需求顺序",
    "GroupTotal": "分组总额",
    "CapacityFloor": "人均财力下限",
    "Rounding": "取整",
}

_SHADOW_HEADERS: Mapping[str, tuple[str, str, float]] = {
    "family": ("约束", "text", 16),
    "family_zh": ("约束名称", "text", 14),
    "shadow_price": ("影子价格", "ratio", 14),
    "binding": ("起作用镇数", "int", 12),
    "unit": ("单位", "text", 30),
    "meaning": ("含义", "text", 90),
}


def _write_shadow_prices_sheet(wb: Workbook, prices: pd.DataFrame) -> None:
    """Per constraint family: its name, shadow price, towns held, unit and meaning."""
    from openpyxl.styles import Alignment

    ws = wb.create_sheet(SHEETS["shadow_prices"])
    frame = prices.copy()
    frame.insert(0, "family", [str(f) for f in frame.index])
    frame.insert(1, "family_zh", [FAMILY_NAMES.get(str(f), str(f)) for f in frame.index])
    cols = [c for c in _SHADOW_HEADERS if c in frame.columns]
    cols += [c for c in frame.columns if c not in _SHADOW_HEADERS]
    specs = [_SHADOW_HEADERS.get(c, (str(c), "text", 14.0)) for c in cols]
    _header_row(ws, [h for h, _, _ in specs], [w for _, _, w in specs])
    cells = [_tidy(frame[c], k) for c, (_, k, _) in zip(cols, specs, strict=True)]
    for rec in zip(*cells, strict=True):
        ws.append(list(rec))
        ws.cell(row=ws.max_row, column=len(cols)).alignment = Alignment(wrap_text=True,
                                                                         vertical="top")
    _format_columns(ws, [k for _, k, _ in specs], 2, ws.max_row)


def _write_frame_sheet(wb: Workbook, name: str, frame: pd.DataFrame) -> None:
    ws = wb.create_sheet(name)
    headers = [str(frame.index.name or ""), *map(str, frame.columns)]
    _header_row(ws, headers, [max(14.0, 1.2 * len(h) + 2) for h in headers])
    for idx, row in zip(frame.index, frame.itertuples(index=False, name=None), strict=True):
        ws.append([_cell(idx), *(_cell(v) for v in row)])


def write_allocation(
    allocation: Any,
    path: str | PathLike[str],
    *,
    provenance: Mapping[str, Any] | None = None,
    policy: Any = None,
    towns: pd.DataFrame | None = None,
    extra_sheets: Mapping[str, pd.DataFrame] | None = None,
    shadow_prices: pd.DataFrame | None = None,
) -> Path:
    """Write the allocation table (分配表) as an Excel workbook.

    Parameters
    ----------
    allocation
        An Allocation (its ``to_frame()``, ``provenance``, ``policy`` and ``towns`` are used)
        or a per-town DataFrame indexed by code (or with a ``code`` column) with ``amount`` in
        whole yuan and any of: name, city, county, zone, kind, tier, coefficient, share,
        target, lower, upper, prior_amount, change, binding, and other columns (written
        under their own names).
    path
        Where to write the ``.xlsx`` file (overwritten). A ``.csv`` name writes the 分配表
        sheet alone (the same headers and cells, without the 合计 row), UTF-8 with a BOM so
        that Excel opens the Chinese correctly.
    provenance
        Key → value (policy id and hash, data hash, versions, solver, time …); nested values
        are written as JSON. Given here, it wins over the Allocation's.
    policy
        A :class:`~townfiscal.Policy` (or a policy id or file) whose parameters and sources
        fill the 参数 sheet.
    towns
        The towns table: fills name/city/county/zone/prior_amount where the table lacks them,
        and is written to the 乡镇基础数据 sheet (the towns of the table only).
    extra_sheets
        More sheets to add at the end, ``{sheet name: DataFrame}`` (index written first).
    shadow_prices
        The optimiser's shadow prices (:attr:`Allocation.shadow_prices
        <townfiscal.Allocation.shadow_prices>`), written to the 影子价格 sheet with Chinese
        headers; taken from the Allocation when not given.

    Returns
    -------
    The path written. It appears whole or not at all, with the permissions a new file gets
    (the umask's, ``0644`` under the usual ``022``).

    Raises
    ------
    ValidationError
        No ``amount`` column, amounts that are not whole yuan, or duplicate codes; nothing is
        written then.

    Examples
    --------
    >>> import townfiscal as tf
    >>> towns = tf.load_example()
    >>> pol = tf.get_policy("guangdong-2020")
    >>> fa = tf.formula_allocation(towns, pol, fund=2_000_000_000)
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_allocation(fa, pathlib.Path(folder) / "分配表.xlsx", policy=pol,
    ...                             towns=towns)
    ...     read_allocation(path).fund
    2000000000
    """
    table, prov, policy, towns = _as_parts(allocation, provenance, policy, towns)
    if shadow_prices is None and not isinstance(allocation, pd.DataFrame):
        shadow_prices = getattr(allocation, "shadow_prices", None)
    if isinstance(policy, str | PathLike):
        policy = get_policy(policy)
    df = _prepare_table(table, towns)
    out = Path(path)
    if out.suffix.lower() == ".csv":
        return _write_csv(df, policy, out)
    if out.suffix.lower() != ".xlsx":
        raise ValueError(f"cannot write {out.name}: use an .xlsx (or .csv) file name")
    prov = _provenance_rows(prov, policy, df)
    from openpyxl import Workbook

    wb = Workbook()
    default = wb.active
    if default is not None:
        wb.remove(default)
    _write_table_sheet(wb, df, policy)
    _write_totals_sheet(wb, df)
    _write_parameters_sheet(wb, policy)
    _write_provenance_sheet(wb, prov)
    if towns is not None:
        _write_towns_sheet(wb, towns.loc[towns.index.intersection(df.index)].reindex(df.index))
    if isinstance(shadow_prices, pd.DataFrame):
        _write_shadow_prices_sheet(wb, shadow_prices)
    for name, frame in (extra_sheets or {}).items():
        _write_frame_sheet(wb, name, frame)
    with atomic_path(out) as tmp:
        wb.save(tmp)
    return out


def _write_csv(df: pd.DataFrame, policy: Any, out: Path) -> Path:
    """The 分配表 sheet alone as CSV: the same headers and cells, no 合计 row, UTF-8 with a
    BOM so that Excel reads the Chinese."""
    specs, cells = _sheet_columns(df, policy)
    # object columns keep whole yuan as integers beside blanks (a float column would not)
    frame = pd.DataFrame({i: pd.Series(c, dtype=object) for i, c in enumerate(cells)})
    frame.columns = pd.Index([h for h, _ in specs])
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    return out


#: Chinese headers of a comparison's summary columns (the others keep their names).
_COMPARISON_SUMMARY_ZH: Mapping[str, _Spec] = {
    "total": ("补助合计(元)", "yuan"),
    "towns": ("镇数", "int"),
    "mean": ("平均(元)", "yuan"),
    "min": ("最少(元)", "yuan"),
    "max": ("最多(元)", "yuan"),
    "winners": ("较上年增加镇数", "int"),
    "losers": ("较上年减少镇数", "int"),
    "unchanged": ("与上年持平镇数", "int"),
    "new": ("新增镇数", "int"),
    "gini_before": ("基尼系数(补助前)", "ratio"),
    "gini_after": ("基尼系数(补助后)", "ratio"),
    "min_per_capita": ("人均财力最低(元)", "yuan2"),
    "up_vs_baseline": ("较基准增加镇数", "int"),
    "down_vs_baseline": ("较基准减少镇数", "int"),
}


def write_comparison(comparison: Any, path: str | PathLike[str]) -> Path:
    """Write a comparison of scenarios (比较表) as an Excel workbook with Chinese headers.

    Sheets: 比较表 (per town: code, name, county, city, zone, last year's amount, then per
    scenario its amount, its change on last year and, but for the baseline, its difference
    from the baseline, in yuan), 分市汇总 (per city and scenario: the total, with the
    province's 合计 last) and 方案汇总 (per scenario: total, towns, spread, winners and losers,
    inequality before and after). The file is written whole or not at all.

    Parameters
    ----------
    comparison
        A :class:`~townfiscal.Comparison` (from :func:`townfiscal.compare`).
    path
        Where to write the ``.xlsx`` file (overwritten).

    Returns
    -------
    The path written.
    """
    from openpyxl import Workbook

    table: pd.DataFrame = comparison.table
    names: list[str] = list(comparison.names)
    base = str(comparison.baseline)
    specs: list[tuple[str, str, str]] = [("code", "行政区划代码", "text")]
    for col, zh, kind in (("name", "名称", "text"), ("county", "县(市、区)", "text"),
                          ("city", "地级市", "text"), ("zone", "区域", "zone"),
                          ("prior_amount", "上年补助(元)", "yuan")):
        if col in table.columns:
            specs.append((col, zh, kind))
    for n in names:
        specs.append((f"amount:{n}", f"{n}·补助(元)", "yuan"))
        specs.append((f"change:{n}", f"{n}·较上年(元)", "yuan"))
        if f"diff:{n}" in table.columns:
            specs.append((f"diff:{n}", f"{n}·较{base}(元)", "yuan"))
    wb = Workbook()
    default = wb.active
    if default is not None:
        wb.remove(default)
    ws = wb.create_sheet("比较表")
    _header_row(ws, [h for _, h, _ in specs], [_width(k, h) for _, h, k in specs])
    frame = table.reset_index(names="code")
    zone = frame["zone"].map(lambda z: _ZONE_ZH.get(z, z)) if "zone" in frame else None
    for i, row in enumerate(frame.itertuples(index=False, name=None)):
        record = dict(zip(frame.columns, row, strict=True))
        if zone is not None:
            record["zone"] = zone.iloc[i]
        ws.append([_cell(record[c]) for c, _, _ in specs])
    _format_columns(ws, [k for _, _, k in specs], 2, ws.max_row)

    amounts = frame[[f"amount:{n}" for n in names]].astype(np.float64)
    city = frame["city"].astype(str) if "city" in frame else pd.Series("", index=frame.index)
    by_city = amounts.groupby(city.to_numpy()).sum()
    by_city.loc[_TOTAL] = amounts.sum()
    ws = wb.create_sheet("分市汇总")
    headers = ["地级市", *(f"{n}·补助(元)" for n in names)]
    _header_row(ws, headers, [14.0, *(_width("yuan", h) for h in headers[1:])])
    font, _, total_fill = _styles()
    for label, row in zip(by_city.index, by_city.itertuples(index=False, name=None),
                          strict=True):
        ws.append([str(label), *(_cell(v) for v in row)])
        if label == _TOTAL:
            for cell in ws[ws.max_row]:
                cell.font = font
                cell.fill = total_fill
    _format_columns(ws, ["text", *["yuan"] * len(names)], 2, ws.max_row)

    summary: pd.DataFrame = comparison.summary
    columns = list(summary.columns)
    ws = wb.create_sheet("方案汇总")
    heads = ["方案", *(_COMPARISON_SUMMARY_ZH.get(c, (c, ""))[0] for c in columns)]
    kinds = ["text", *(_COMPARISON_SUMMARY_ZH.get(c, ("", "ratio"))[1] for c in columns)]
    _header_row(ws, heads, [_width(k, h) for h, k in zip(heads, kinds, strict=True)])
    for label, row in zip(summary.index, summary.itertuples(index=False, name=None),
                          strict=True):
        ws.append([str(label), *(_cell(v) for v in row)])
    _format_columns(ws, kinds, 2, ws.max_row)

    out = Path(path)
    with atomic_path(out) as tmp:
        wb.save(tmp)
    return out


# --------------------------------------------------------------------------------------------
# reading

_FROM_ZH = {zh: name for name, (zh, _) in ALLOCATION_HEADERS.items()}
_ZONE_FROM_ZH = {zh: z for z, zh in _ZONE_ZH.items()}
_KIND_FROM_ZH = {zh: k for k, zh in _KIND_ZH.items()}
_FAMILY_FROM_ZH = {zh: f for f, zh in FAMILY_NAMES.items()}


def _rows(ws: Worksheet) -> tuple[list[str], list[tuple[Any, ...]]]:
    it = ws.iter_rows(values_only=True)
    header = [str(h) if h is not None else "" for h in next(it, ())]
    return header, [r for r in it if any(v is not None for v in r)]


def _json_or_text(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def read_allocation(path: str | PathLike[str]) -> AllocationWorkbook:
    """Read an allocation table written by :func:`write_allocation` (or ``alloc.to_excel``).

    Parameters
    ----------
    path
        The ``.xlsx`` file.

    Returns
    -------
    AllocationWorkbook: ``table`` (per town, indexed by code, canonical column names,
    ``amount`` int64 yuan; the 万元 column and the 合计 row dropped), ``provenance``,
    ``parameters`` and ``towns`` (read with :func:`townfiscal.read_towns`, or ``None``).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValidationError
        When the workbook has no 分配表 sheet, no code or amount column, or amounts that are
        not whole yuan.

    Examples
    --------
    Write a formula allocation and read it back (in a temporary folder):

    >>> import pathlib, tempfile
    >>> import townfiscal as tf
    >>> towns = tf.load_example()
    >>> pol = tf.get_policy("guangdong-2020")
    >>> fa = tf.formula_allocation(towns, pol, fund=2_000_000_000)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_allocation(fa, pathlib.Path(folder) / "分配表.xlsx",
    ...                             policy=pol, towns=towns)
    ...     wb = read_allocation(path)
    >>> wb.fund, len(wb.table), str(wb.amounts.dtype)
    (2000000000, 1002, 'int64')
    >>> wb.parameters.loc[wb.parameters["path"] == "growth_control.cap", "value"].item()
    0.15
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such workbook: {p}")
    from openpyxl import load_workbook

    wb = load_workbook(p, read_only=True, data_only=True)
    try:
        what = f"allocation workbook {p.name}"
        if SHEETS["allocation"] not in wb.sheetnames:
            raise ValidationError(
                [Problem(f"no sheet named {SHEETS['allocation']!r}", value=wb.sheetnames)],
                what=what,
            )
        header, rows = _rows(wb[SHEETS["allocation"]])
        names = [_FROM_ZH.get(h, h) for h in header]
        frame = pd.DataFrame.from_records(rows, columns=names)
        problems = [
            Problem("column is missing", column=c)
            for c in ("code", "amount")
            if c not in frame.columns
        ]
        if problems:
            raise ValidationError(problems, what=what)
        frame = frame[frame["code"].astype(str) != _TOTAL]
        frame.index = pd.Index([str(c) for c in frame["code"]], dtype=object, name="code")
        frame = frame.drop(columns="code").drop(columns=["amount_wan"], errors="ignore")
        amount = pd.to_numeric(frame["amount"], errors="coerce")
        bad = amount.isna() | (amount != amount.round())
        if bad.any():
            raise ValidationError(
                [
                    Problem(
                        "amount is not a whole number of yuan",
                        row=str(c),
                        column="amount",
                        value=frame.at[c, "amount"],
                    )
                    for c in frame.index[bad.to_numpy()]
                ],
                what=what,
            )
        frame["amount"] = amount.astype(np.int64)
        for col in frame.columns:
            kind = ALLOCATION_HEADERS.get(str(col), ("", "text"))[1]
            if col == "zone":
                frame[col] = frame[col].map(lambda v: _ZONE_FROM_ZH.get(v, v))
            elif col == "kind":
                frame[col] = frame[col].map(lambda v: _KIND_FROM_ZH.get(v, v))
            elif col == "binding":
                frame[col] = frame[col].map(_split_binding)
            elif kind in {"yuan", "yuan2", "ratio", "pct", "wan"} and col != "amount":
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(np.float64)
            elif kind == "int":
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")

        provenance: dict[str, Any] = {}
        if SHEETS["provenance"] in wb.sheetnames:
            _, prows = _rows(wb[SHEETS["provenance"]])
            for label, value, key in (tuple(r[:3]) + (None,) * (3 - len(r[:3])) for r in prows):
                provenance[str(key if key is not None else label)] = _json_or_text(value)

        parameters = pd.DataFrame(columns=list(_PARAM_HEADERS))
        if SHEETS["parameters"] in wb.sheetnames:
            _, rrows = _rows(wb[SHEETS["parameters"]])
            recs = [dict(zip(_PARAM_HEADERS, r, strict=False)) for r in rrows]
            for rec in recs:
                rec["value"] = _json_or_text(rec.get("value"))
                rec["assumption"] = rec.get("assumption") == "是"
            if recs:
                parameters = pd.DataFrame(recs, columns=list(_PARAM_HEADERS))
        has_towns = SHEETS["towns"] in wb.sheetnames
    finally:
        wb.close()

    towns = None
    if has_towns:
        towns = read_towns(p, sheet=SHEETS["towns"])
    return AllocationWorkbook(
        table=frame, provenance=provenance, parameters=parameters, towns=towns
    )


def _allocation_workbook(allocation: Allocation, path: Path) -> Path:
    """:meth:`Allocation.to_excel`: the 分配表 with the shadow prices as a last sheet."""
    return write_allocation(allocation, path)


register_writer(".xlsx", _allocation_workbook)
