"""Validation of a towns table: every problem at once, a clean copy indexed by code."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal.towns._columns import (
    _ALIASES,
    _BY_NAME,
    _CODE_RE,
    _KIND_ALIASES,
    _ZONE_ALIASES,
    COLUMNS,
    KINDS,
    ZONES,
    Unit,
    _fold,
    _rename,
    kind_from_code,
)
from townfiscal.towns._content import VALIDATED, content_key, is_marked, mark

__all__ = ["validate_keyed", "validate_towns"]

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
    what: str = "towns table",
) -> pd.DataFrame:
    """Check a towns table and return a clean copy indexed by ``code``.

    The towns wing's validation, which knows no policy: :func:`townfiscal.validate_towns`
    (documented there, with the checks and an example) adds the check of what a policy needs.

    The copy it returns carries a mark (see :mod:`townfiscal.towns._content`): a table whose
    mark still matches its content — one this function returned, or a copy or an unpickled
    copy of it, unchanged since — is accepted without checking it again.
    """
    towns, key = validate_keyed(frame, unit=unit, what=what)
    towns.attrs = copy.deepcopy({k: v for k, v in frame.attrs.items() if k != VALIDATED})
    return mark(towns, key)


def validate_keyed(
    frame: pd.DataFrame,
    *,
    unit: Unit = "yuan",
    what: str = "towns table",
) -> tuple[pd.DataFrame, str | None]:
    """:func:`validate_towns`, returning the clean copy unmarked, with no ``attrs``, and its
    content key apart (``None`` when it has none).

    For the library's own hot paths: pandas deep-copies a frame's ``attrs`` into every
    column read from it, so the working copy is left bare; the caller marks it when done.
    """
    if unit == "yuan":
        key = is_marked(frame)
        if key is None and _already_clean(frame):
            # A table in canonical form (as this function returns it) passes every check
            # below; skip the text clean-up, which dominates repeated calls in sweeps.
            key = content_key(frame)
            if key is None:
                return _bare(_copy(frame)), None
        if key is not None:
            return _bare(_copy(frame)), key
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
    df = _bare(df)
    return df, content_key(df)


#: pandas 3 always copies on write: a shallow copy no longer shares changes with its source.
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


def _copy(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy that later changes to *frame* do not reach (shallow under copy-on-write)."""
    return frame.copy(deep=not _COPY_ON_WRITE)


def _bare(frame: pd.DataFrame) -> pd.DataFrame:
    frame.attrs = {}
    return frame


_TEXT_COLUMNS = ("name", "kind", "county", "city", "zone")
_NUMBER_COLUMNS = tuple(c.name for c in COLUMNS if c.kind in {"people", "money", "area"})


def _all_text(values: pd.Series | pd.Index, *, strict: bool) -> bool:
    """Only non-empty str values, in an object column (or any string dtype unless *strict*)."""
    # by equality: an unpickled table's dtype is an equal object, not the same one
    dtype_ok = values.dtype == np.dtype(object) or (
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
