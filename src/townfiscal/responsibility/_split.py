"""Splitting expenditure among levels of government by a responsibility matrix."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal.responsibility._matrix import (
    LEVELS,
    ZONES,
    ResponsibilityMatrix,
    get_responsibility,
)
from townfiscal.towns import canonical_zone

__all__ = ["ExpenditureSplit", "split_expenditure"]

#: Header aliases of a spending table (Chinese workbooks), canonical name on the right.
SPENDING_ALIASES: dict[str, str] = {
    "单位代码": "code", "行政区划代码": "code", "代码": "code",
    "名称": "name", "单位": "name", "单位名称": "name",
    "事项": "item", "支出事项": "item", "项目": "item",
    "金额": "amount", "支出": "amount", "支出金额": "amount",
    "区域": "zone",
    "县(市、区)": "county", "县（市、区）": "county", "地级市": "city",
}
#: Yuan per unit of money in the input.
MONEY_UNITS: dict[str, int] = {"yuan": 1, "元": 1, "wan": 10_000, "万元": 10_000}


def canonical_headers(df: pd.DataFrame, aliases: dict[str, str]
                      ) -> tuple[pd.DataFrame, set[str]]:
    """Rename Chinese or aliased headers to canonical names.

    Returns the renamed frame and the canonical names of the columns whose header said
    "(万元)" (money in units of 10,000 yuan)."""
    out: dict[object, str] = {}
    wan: set[str] = set()
    for col in df.columns:
        name = str(col).strip()
        base = name.replace("（万元）", "").replace("(万元)", "").strip()
        canon = aliases.get(base, base.lower() if base.isascii() else base)
        out[col] = canon
        if base != name:
            wan.add(canon)
    return df.rename(columns=out), wan


def _canonical_zones(zone: pd.Series) -> pd.Series:
    """Zone codes from codes or Chinese names, mapping each distinct value once."""
    codes, uniques = pd.factorize(zone, use_na_sentinel=True)
    canon = np.array([canonical_zone(str(u)) or str(u) for u in uniques] + [None],
                     dtype=object)
    return pd.Series(canon[codes], index=zone.index, dtype="string")  # -1 (NA) → None


class RowLabels:
    """Labels of rows for error messages, made only for the rows named: the row's code where
    it has one, else ``#<n>``, its 1-based data row (as the towns table's validation does)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._codes = df["code"] if "code" in df.columns else None

    def __getitem__(self, k: int) -> str:
        if self._codes is not None:
            v = self._codes.iat[k]
            text = "" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)
            if text.strip():
                return text.strip()
        return f"#{k + 1}"


def row_labels(df: pd.DataFrame) -> RowLabels:
    """The :class:`RowLabels` of a table."""
    return RowLabels(df)


def whole_yuan(values: pd.Series, column: str, labels: RowLabels,
               problems: list[Problem], *, scale: int = 1,
               allow_negative: bool = False) -> npt.NDArray[np.int64]:
    """Integer yuan from a money column, recording every non-numeric, negative or fractional
    value as a problem (with ``scale`` yuan per input unit)."""
    raw = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float) * scale
    bad = ~np.isfinite(raw)
    for k in np.flatnonzero(bad).tolist():
        problems.append(Problem("must be a finite number (yuan)", row=str(labels[k]),
                                column=column, value=values.iat[k]))
    if not allow_negative:
        for k in np.flatnonzero(~bad & (raw < 0)).tolist():
            problems.append(Problem("must not be negative", row=str(labels[k]), column=column,
                                    value=float(raw[k])))
    rounded = np.round(np.where(bad, 0.0, raw))
    for k in np.flatnonzero(~bad & (np.abs(raw - rounded) > 1e-6 * np.maximum(1.0,
                                                                             np.abs(raw)))).tolist():
        problems.append(Problem("must be whole yuan (round it first)", row=str(labels[k]),
                                column=column, value=float(raw[k])))
    return rounded.astype(np.int64)


def split_rows(amount: npt.NDArray[np.int64], shares: npt.NDArray[np.float64]
               ) -> npt.NDArray[np.int64]:
    """Split each integer amount by its row of shares into integers that sum to it exactly.

    Largest-remainder rounding per row, vectorised over rows: each part is the floor of
    ``amount × share``; the yuan left over go one each to the parts with the largest fractional
    remainders, compared to the micro-yuan so that float noise cannot break an exact tie (ties
    go to the higher level, i.e. the earlier column). A part whose share is 0 never
    receives a yuan; a part never goes below 0.

    Parameters:
        amount: int64 yuan, shape ``(n,)``, non-negative.
        shares: float64, shape ``(n, k)``, rows summing to 1.

    Returns:
        int64 yuan, shape ``(n, k)``; ``out.sum(axis=1) == amount``.
    """
    n, k = shares.shape
    if n == 0:
        return np.zeros((0, k), dtype=np.int64)
    s = shares / shares.sum(axis=1, keepdims=True)
    raw = amount.astype(np.float64)[:, None] * s
    base = np.floor(raw)
    # remainders compared to the micro-yuan: fractions equal in exact arithmetic (0.6 of one
    # part and 0.6 of another, computed with different float noise) tie, and ties go up
    frac = np.round(raw - base, 6)
    out: npt.NDArray[np.int64] = base.astype(np.int64)
    rem = amount - out.sum(axis=1)  # yuan still to place (< 0 only after float error)
    cols = np.arange(k)
    up = np.flatnonzero(rem > 0)
    if up.size:  # give: largest fractions first, ties to the earlier level; zero shares never
        key = np.where(s[up] > 0, frac[up], -1.0)
        order = np.argsort(-key, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(cols, order.shape), axis=1)
        out[up] += ((rank < rem[up, None]) & (s[up] > 0)).astype(np.int64)
    down = np.flatnonzero(rem < 0)
    if down.size:  # take: smallest fractions first, never below zero
        key = np.where(out[down] > 0, frac[down], np.inf)
        order = np.argsort(key, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(cols, order.shape), axis=1)
        out[down] -= ((rank < -rem[down, None]) & (out[down] > 0)).astype(np.int64)
    return out


@attrs.frozen(eq=False, repr=False)
class ExpenditureSplit:
    """The result of :func:`split_expenditure`.

    Made by :func:`split_expenditure`, not by hand; frozen.

    Attributes
    ----------
    table:
        The spending rows (canonical columns, item as its id, zone as its code) with one
        int64 yuan column per level (``central`` … ``town``); each row's levels sum to its
        ``amount`` (yuan) exactly.
    totals:
        Int64 yuan per level and ``amount`` (the sum of all rows).
    matrix:
        The :class:`ResponsibilityMatrix` used.

    Examples
    --------
    >>> import pandas as pd, townfiscal as tf
    >>> s = tf.split_expenditure(pd.DataFrame({
    ...     "item": ["义务教育公用经费保障"], "amount": [1_000_000], "zone": ["east_wing"]}),
    ...     "guangdong-2020")
    >>> s.totals.tolist()
    [1000000, 500000, 225000, 75000, 200000, 0]
    >>> s.totals.index.tolist()
    ['amount', 'central', 'province', 'city', 'county', 'town']
    >>> s.matrix_id
    'guangdong-2020'
    """

    table: pd.DataFrame
    totals: pd.Series
    matrix: ResponsibilityMatrix

    @property
    def matrix_id(self) -> str:
        """Id of the matrix used."""
        return self.matrix.id

    def __repr__(self) -> str:
        from townfiscal._html import split_text

        return split_text(self)

    def _repr_html_(self) -> str:
        """A compact summary for Jupyter: rows, total, and the yuan and share per level."""
        from townfiscal._html import split_html

        return split_html(self)

    @property
    def matrix_hash(self) -> str:
        """Content hash of the matrix used (provenance)."""
        return self.matrix.hash

    def explain(self, row: int) -> pd.DataFrame:
        """How one row (by position) was split: per level its share, the exact amount
        (``amount × share``), the whole yuan paid and the share's source.

        Example:
            >>> import pandas as pd, townfiscal as tf
            >>> s = tf.split_expenditure(pd.DataFrame({"item": ["free_textbooks"],
            ...     "amount": [10], "zone": ["north"]}), "guangdong-2020")
            >>> row = s.explain(0).loc["central"]
            >>> float(row["share"]), float(row["exact"]), int(row["yuan"])
            (1.0, 10.0, 10)
        """
        r = self.table.iloc[row]
        share = self.matrix.share(str(r["item"]), str(r["zone"]))
        return pd.DataFrame({
            "share": share.to_numpy(),
            "exact": float(r["amount"]) * share.to_numpy(),
            "yuan": [int(r[lvl]) for lvl in LEVELS],
            "source": [self.matrix.source(str(r["item"]), str(r["zone"]), lvl)
                       for lvl in LEVELS],
        }, index=pd.Index(list(LEVELS), name="level"))

    def by(self, key: str | list[str]) -> pd.DataFrame:
        """Sums of ``amount`` and each level grouped by one or more columns (e.g. ``"item"``,
        ``"zone"``, ``"county"``), int64 yuan."""
        cols = ["amount", *LEVELS]
        return self.table.groupby(key, sort=True)[cols].sum()

    def to_excel(self, path: str | Path) -> None:
        """Write the rows and the totals to a workbook (sheets ``split`` and ``totals``)."""
        with pd.ExcelWriter(path) as xw:
            self.table.to_excel(xw, sheet_name="split", index=False)
            self.totals.rename("yuan").to_frame().to_excel(xw, sheet_name="totals",
                                                            index_label="level")


def split_expenditure(spending: pd.DataFrame, matrix: ResponsibilityMatrix | str,
                      *, towns: pd.DataFrame | None = None, unit: str = "yuan"
                      ) -> ExpenditureSplit:
    """Split each spending row among the levels of government by a responsibility matrix.

    Every row's level columns add up to its ``amount`` to the yuan (largest-remainder rounding
    per row), so the level totals add up to the total spending exactly.

    Parameters:
        spending: one row per (town or county, item): ``item`` (id, English or Chinese name of
            a matrix item), ``amount`` (yuan, whole, ≥ 0; or in 万元 with ``unit="wan"`` or a
            "(万元)" header), ``zone`` (core / east_wing / west_wing / north, or its Chinese
            name); optionally ``code`` (9-digit town or 6-digit county code) and any other
            columns, carried through. Chinese headers (事项, 金额, 区域, 单位代码) are accepted.
        matrix: a :class:`ResponsibilityMatrix` or a matrix id.
        towns: a towns table (indexed by code) to fill a missing or empty ``zone`` from the
            row's ``code``: a town's own zone, or for a 6-digit county code the zone of the
            towns whose codes start with it.
        unit: ``"yuan"`` (default) or ``"wan"`` (万元) for ``amount``.

    Returns:
        :class:`ExpenditureSplit` with ``table`` (the rows plus ``central``, ``province``,
        ``city``, ``county``, ``town`` in int64 yuan) and ``totals``.

    Raises:
        ValidationError: missing columns, unknown items or zones, amounts that are missing,
            negative or not whole yuan, items the matrix has no shares for in the row's zone —
            every problem at once.

    Example:
        >>> import pandas as pd, townfiscal as tf
        >>> s = tf.split_expenditure(pd.DataFrame({
        ...     "code": ["441521101"], "item": ["义务教育公用经费保障"],
        ...     "amount": [1_000_000], "zone": ["east_wing"]}), "guangdong-2020")
        >>> s.table.loc[0, ["central", "province", "city", "county", "town"]].tolist()
        [500000, 225000, 75000, 200000, 0]
    """
    m = get_responsibility(matrix) if isinstance(matrix, str) else matrix
    if unit not in MONEY_UNITS:
        raise ValueError(f"unit must be one of {', '.join(MONEY_UNITS)}, not {unit!r}")
    df, wan = canonical_headers(spending.reset_index() if spending.index.name == "code"
                                else spending.reset_index(drop=True), SPENDING_ALIASES)
    problems: list[Problem] = []
    for col in ("item", "amount"):
        if col not in df.columns:
            problems.append(Problem("missing column", column=col))
    if "zone" not in df.columns and towns is None:
        problems.append(Problem("missing column (or pass towns= to look zones up by code)",
                                column="zone"))
    if problems:
        raise ValidationError(problems, what="spending table")
    if "code" in df.columns:
        df["code"] = df["code"].astype(str).str.strip()
    labels = row_labels(df)

    # zones: given, or looked up from the towns table by code
    zone = (df["zone"].astype("string").str.strip() if "zone" in df.columns
            else pd.Series(pd.NA, index=df.index, dtype="string"))
    zone = _canonical_zones(zone)
    if towns is not None and zone.isna().any():
        if "code" not in df.columns:
            problems.append(Problem("zones missing and no code column to look them up",
                                    column="code"))
        else:
            tz = towns["zone"].astype("string")
            tz.index = tz.index.astype(str)
            county_zone = tz.groupby(tz.index.str[:6]).first()
            looked = df["code"].map(tz).fillna(df["code"].map(county_zone))
            zone = zone.fillna(looked.astype("string"))
    bad_zone = ~zone.isin(ZONES).fillna(False).to_numpy(dtype=bool)
    no_zone = zone.isna().to_numpy(dtype=bool)
    for k in np.flatnonzero(bad_zone).tolist():
        if no_zone[k]:
            problems.append(Problem("no zone: give one, or a code found in the towns table "
                                    "(9-digit town or 6-digit county)", row=str(labels[k]),
                                    column="zone"))
        else:
            problems.append(Problem(f"unknown zone; expected one of {', '.join(ZONES)}",
                                    row=str(labels[k]), column="zone", value=str(zone.iat[k])))

    pos = m._positions(df["item"])
    for k in np.flatnonzero(pos < 0).tolist():
        problems.append(Problem("unknown item; see matrix.items for the ids and names",
                                row=str(labels[k]), column="item", value=df["item"].iat[k]))

    scale = MONEY_UNITS["wan"] if "amount" in wan else MONEY_UNITS[unit]
    amount = whole_yuan(df["amount"], "amount", labels, problems, scale=scale)

    ok = (pos >= 0) & ~bad_zone
    zpos = pd.Index(ZONES).get_indexer(pd.Index(zone.astype(object)))
    shares = np.full((len(df), len(LEVELS)), np.nan)
    shares[ok] = m.shares[pos[ok], zpos[ok], :]
    missing = ok & np.isnan(shares).any(axis=1)
    for k in np.flatnonzero(missing).tolist():
        problems.append(Problem(f"matrix {m.id} has no shares for this item in zone "
                                f"{zone.iat[k]}", row=str(labels[k]), column="item",
                                value=df["item"].iat[k]))
    if problems:
        raise ValidationError(problems, what="spending table")

    parts = split_rows(amount, shares)
    out = df.copy()
    out["item"] = m.items.index.to_numpy()[pos]
    out["zone"] = zone.astype(str).to_numpy()
    out["amount"] = amount
    for j, lvl in enumerate(LEVELS):
        out[lvl] = parts[:, j]
    totals = pd.Series(np.concatenate([[amount.sum()], parts.sum(axis=0)]).astype(np.int64),
                       index=["amount", *LEVELS], name="yuan")
    return ExpenditureSplit(table=out, totals=totals, matrix=m)
