"""Plausibility of a towns table: values no Chinese township-level unit has, and money columns
whose scale says they were read in the wrong unit.

Validation rejects what cannot be used (a negative population, text in a number column);
these checks flag what can be used but is almost certainly a mistake, as one
:class:`PlausibilityWarning` listing every finding. The bounds are set well beyond the
largest real units, so that a real table never trips them:

- **populations** (registered, resident): at most 2,000,000 people. The most populous
  township-level units — subdistricts of Shenzhen, Dongguan's largest towns such as 虎门镇 and
  长安镇 — have well under a million residents (2020 census).
- **people on the public payroll** (财政供养人口): at most 100,000; a large town's payroll,
  teachers included, is a few thousand.
- **area**: at most 250,000 km². China's largest county, 若羌县 in Xinjiang, has 202,298 km²;
  no township is larger than its county.
- **fiscal capacity and general budget expenditure**: at most 100 bn yuan (1e11). The richest
  towns' budgets are a few billion yuan (a few 1e9); a county-level city's is rarely above
  50 bn.
- **last year's subsidy**: at most 10 bn yuan (1e10), more than a whole province's
  town-subsidy fund (Guangdong's was about 2 bn yuan in 2020).

The unit check looks at each money column's median over the towns with a positive value,
in yuan after conversion:

- fiscal capacity or expenditure with a median below 100,000 yuan is a column of 万元 read as
  yuan (no town runs on less than a million yuan a year; the bundled Guangdong example's
  smallest budget is 3.4 million); above 10 bn yuan (1e10), a column of yuan read as 万元;
- last year's subsidy with a median below 1,000 yuan, or above 1 bn yuan (1e9), likewise
  (the example's median subsidy is 1.7 million yuan).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal.towns._columns import _UNIT_RE

__all__ = ["BOUNDS", "UNIT_SCALE", "Bound", "PlausibilityWarning", "implausible", "message"]


class PlausibilityWarning(UserWarning):
    """A towns table holds values no Chinese town has, or a money column whose scale suggests
    the wrong unit (yuan read as 万元, or the reverse).

    One warning lists every finding; a table read from a file also keeps them in
    ``towns.attrs["townfiscal.source"]["warnings"]``.
    """


@attrs.frozen
class Bound:
    """The most a column can plausibly hold for one township-level unit, and why."""

    column: str
    most: float
    unit: str
    reason: str


BOUNDS: tuple[Bound, ...] = (
    Bound("registered_population", 2e6, "people",
          "the most populous township-level units have well under a million people"),
    Bound("resident_population", 2e6, "people",
          "the most populous township-level units have well under a million people"),
    Bound("supported_population", 1e5, "people",
          "a large town's public payroll is a few thousand people"),
    Bound("area_km2", 2.5e5, "km²", "China's largest county, 若羌县, has 202,298 km²"),
    Bound("fiscal_capacity", 1e11, "yuan", "the richest towns' budgets are a few bn yuan"),
    Bound("expenditure", 1e11, "yuan", "the richest towns' budgets are a few bn yuan"),
    Bound("prior_amount", 1e10, "yuan",
          "more than a whole province's town-subsidy fund (Guangdong's: about 2 bn yuan)"),
)
"""The bounds of :func:`implausible`, with their reasons (see the module's text)."""

UNIT_SCALE: Mapping[str, tuple[float, float]] = {
    "fiscal_capacity": (1e5, 1e10),
    "expenditure": (1e5, 1e10),
    "prior_amount": (1e3, 1e9),
}
"""Per money column, the range its median (yuan, over positive values) must fall in."""

#: Findings listed per column before the rest are counted.
_LISTED = 5


def implausible(
    towns: pd.DataFrame,
    *,
    lines: npt.NDArray[np.int64] | None = None,
    headers: Mapping[str, str] | None = None,
    where: str = "",
) -> list[str]:
    """Every finding about a validated towns table, one sentence each (none: ``[]``).

    Vectorised over the towns; *lines* (Excel row per town) and *headers* (the headers as
    written, by canonical name) make the sentences name the place in the file; *where*
    starts each (``"towns.xlsx, sheet '乡镇', "``).
    """
    out: list[str] = []
    wrong_unit = set()
    for column, (low, high) in UNIT_SCALE.items():
        if column not in towns.columns:
            continue
        values = towns[column].to_numpy(dtype=np.float64)
        positive = values[values > 0]
        if positive.size == 0:
            continue
        median = float(np.median(positive))
        header = _header(column, headers)
        if median < low:
            out.append(f"{where}column {header!r}: the median is {median:,.2f} yuan, below "
                       f"{low:,.0f}: the column looks like 万元 read as yuan (pass unit='wan', "
                       f"--unit wan, or write the unit in the header: {_bare(header)}（万元）)")
        elif median > high:
            wrong_unit.add(column)  # its values above the bound are the unit's doing
            out.append(f"{where}column {header!r}: the median is {median:,.0f} yuan, above "
                       f"{high:,.0f}: the column looks like yuan read as 万元 (pass "
                       f"unit='yuan', or write the unit in the header: {_bare(header)}（元）)")
    codes = towns.index.to_numpy(dtype=object)
    for bound in BOUNDS:
        if bound.column not in towns.columns or bound.column in wrong_unit:
            continue
        values = towns[bound.column].to_numpy(dtype=np.float64)
        over = np.flatnonzero(values > bound.most)
        header = _header(bound.column, headers)
        for i in over[:_LISTED]:
            row = f"row {int(lines[i])} ({codes[i]})" if lines is not None else f"town {codes[i]}"
            out.append(f"{where}{row}, column {header!r}: {values[i]:,.6g} {bound.unit} is "
                       f"above {bound.most:,.0f} {bound.unit}, more than any town has "
                       f"({bound.reason})")
        if over.size > _LISTED:
            out.append(f"{where}column {header!r}: {over.size - _LISTED} more values above "
                       f"{bound.most:,.0f} {bound.unit}")
    return out


def _header(column: str, headers: Mapping[str, str] | None) -> str:
    return (headers or {}).get(column, column)


def _bare(header: str) -> str:
    """A header without its unit marker: ``可用财力（元）`` → ``可用财力``."""
    m = _UNIT_RE.match(header)
    return header if m is None else m["base"]


def message(findings: Sequence[str], what: str) -> str:
    """One warning's text for all the findings."""
    n = len(findings)
    return "\n".join([f"{what}: {n} thing{'s' if n != 1 else ''} to check",
                      *(f"  - {f}" for f in findings)])
