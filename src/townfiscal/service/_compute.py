"""From request bodies to library calls and back to JSON: inputs resolved, all problems at once."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

import attrs
import msgspec
import numpy as np
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal.policy import Policy, get_policy, list_policies
from townfiscal.rules import eligibility, formula_allocation, validate_towns
from townfiscal.service._models import (
    EligibilityRequest,
    EligibilityResult,
    FormulaRequest,
    FormulaResult,
    FundRangeRequest,
    FundRangeResult,
)
from townfiscal.towns import COLUMNS, load_example

__all__ = [
    "MAX_FUND",
    "Inputs",
    "check_columns",
    "data_hash",
    "eligibility_result",
    "example_towns",
    "formula_result",
    "records",
    "resolve",
]

MAX_FUND = 10**15
"""The largest fund the service accepts, yuan: amounts are int64 and must not overflow."""

_SCALARS = (str, int, float, bool, type(None))
_TEXT = {n for c in COLUMNS if c.kind in {"text", "category"} for n in (c.name, c.zh)}
_CODE = {n for c in COLUMNS if c.kind == "code" for n in (c.name, c.zh)}
_NUMBER = {n for c in COLUMNS if c.kind in {"people", "money", "area"} for n in (c.name, c.zh)}


def _cell_problem(key: str, value: Any) -> str | None:
    """What is wrong with one posted cell's JSON type, if anything: text columns take
    text, the code text or a whole number, figures a number (or one written as text), and
    any other column a number, text, true/false or null."""
    if not isinstance(value, _SCALARS):
        return "must be a number, text or null"
    if key in _TEXT and not isinstance(value, str | None):
        return "must be text"
    if key in _CODE and (isinstance(value, bool) or not isinstance(value, str | int | None)):
        return "must be text (9 digits) or a whole number"
    if key in _NUMBER and isinstance(value, bool):
        return "must be a number"
    return None


# What pandas infers for a column whose every cell is of a type its column takes: such a
# column is passed without looking at its cells one by one.
_CLEAN = {
    "text": {"string", "empty"},
    "code": {"string", "integer", "empty"},
    "number": {"integer", "floating", "mixed-integer-float", "decimal", "string", "empty"},
    "any": {"integer", "floating", "mixed-integer-float", "decimal", "string", "boolean",
            "empty"},
}


def _cell_problems(rows: list[dict[str, Any]], frame: pd.DataFrame) -> list[Problem]:
    """Cells of a posted towns table whose JSON type their column does not take (see
    :func:`_cell_problem`), row by row. A column pandas infers as of one right type is
    passed whole; only the others are read cell by cell."""
    out: list[tuple[int, int, Problem]] = []
    for j, key in enumerate(frame.columns):
        kind = ("text" if key in _TEXT else "code" if key in _CODE
                else "number" if key in _NUMBER else "any")
        values = frame[key]
        if pd.api.types.infer_dtype(values, skipna=True) in _CLEAN.get(kind, ()):
            continue
        for i, row in enumerate(rows):
            if key not in row:
                continue
            value = row[key]
            message = _cell_problem(str(key), value)
            if message is not None:
                problem = Problem(message, row=f"#{i + 1}", column=str(key),
                                  value=str(value)[:80])
                out.append((i, j, problem))
    return [p for _, _, p in sorted(out, key=lambda t: (t[0], t[1]))]


@functools.lru_cache(maxsize=1)
def example_towns() -> pd.DataFrame:
    """The bundled example, loaded and validated once per process (never modified)."""
    return load_example()


@attrs.frozen(eq=False)
class Inputs:
    """A request's policy (reformed when it asked for changes) and validated towns table."""

    policy: Policy
    towns: pd.DataFrame
    example: bool


def _policy(
    policy_id: str, changes: Mapping[str, Any] | None, problems: list[Problem]
) -> Policy | None:
    if policy_id not in list_policies():
        problems.append(
            Problem(
                f"unknown policy; bundled policies: {', '.join(list_policies())}",
                column="policy",
                value=policy_id,
            )
        )
        return None
    pol = get_policy(policy_id)
    if not changes:
        return pol
    try:
        return pol.with_changes(changes)
    except ValidationError as exc:
        problems.extend(
            attrs.evolve(p, column=f"changes.{p.column}" if p.column else "changes")
            for p in exc.problems
        )
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        problems.append(Problem(f"the changed policy cannot be used: {exc}", column="changes"))
    return None


def _towns(
    rows: list[dict[str, Any]] | None, unit: str, policy: Policy | None, problems: list[Problem]
) -> pd.DataFrame | None:
    if rows is None:
        return example_towns()
    if not rows:
        problems.append(Problem("no rows: give at least one town, or omit towns", column="towns"))
        return None
    frame = pd.DataFrame.from_records(rows)
    bad = _cell_problems(rows, frame)
    if bad:
        problems.extend(bad)
        return None
    try:
        return validate_towns(frame, unit=unit, policy=policy, what="towns")  # type: ignore[arg-type]
    except ValidationError as exc:
        problems.extend(exc.problems)
    return None


def check_fund(fund: int | None, problems: list[Problem]) -> None:
    """A fund, when given, is a positive whole number of yuan no larger than :data:`MAX_FUND`."""
    if fund is not None and not 0 < fund <= MAX_FUND:
        problems.append(
            Problem(
                f"the fund must be a positive whole number of yuan, at most {MAX_FUND:,}",
                column="fund",
                value=fund,
            )
        )


def resolve(
    req: EligibilityRequest | FormulaRequest,
    *,
    what: str,
    extra: list[Problem] | None = None,
) -> Inputs:
    """The policy and towns a request names, every problem with them reported at once.

    Raises
    ------
    ValidationError
        Listing every problem: unknown policy, bad changes, invalid towns (rows, columns,
        values), a fund out of range, and any *extra* problems the caller found.
    """
    problems: list[Problem] = list(extra or [])
    policy = _policy(req.policy, req.changes, problems)
    towns = _towns(req.towns, req.unit, policy, problems)
    if isinstance(req, FormulaRequest):
        check_fund(req.fund, problems)
    if problems or policy is None or towns is None:
        raise ValidationError(problems, what=what)
    return Inputs(policy=policy, towns=towns, example=req.towns is None)


def data_hash(towns: pd.DataFrame) -> str:
    """SHA-256 (hex) of a validated towns table: its columns, codes and values."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, towns.columns)).encode("utf-8"))
    h.update(pd.util.hash_pandas_object(towns, index=True).to_numpy().tobytes())
    return h.hexdigest()


def _column(values: pd.Series) -> list[Any]:
    if pd.api.types.is_float_dtype(values):
        arr = values.to_numpy(dtype=np.float64)
        out: list[Any] = arr.tolist()
        for i in np.flatnonzero(~np.isfinite(arr)):
            out[int(i)] = None
        return out
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
        return list(values.tolist())
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        # Text with gaps: converted at once (Arrow-backed text is slow one value at a time).
        out = values.to_numpy(dtype=object).tolist()
        for i in np.flatnonzero(values.isna().to_numpy()):
            out[int(i)] = None
        return out
    return [
        None
        if v is None or (isinstance(v, float) and not np.isfinite(v))
        else (v.item() if isinstance(v, np.generic) else v)
        for v in values.tolist()
    ]


@functools.lru_cache(maxsize=64)
def _row_type(names: tuple[str, ...]) -> type[msgspec.Struct]:
    """A struct with one field per column, encoded as a JSON object keyed by *names*."""
    fields = [f"f{i}" for i in range(len(names))]
    return msgspec.defstruct(
        "Row",
        [(f, object) for f in fields],
        rename=dict(zip(fields, names, strict=True)),
        gc=False,  # rows hold scalars only: nothing for the garbage collector to find
    )


def records(frame: pd.DataFrame) -> list[Any]:
    """The rows of *frame* (index first) as JSON objects: NaN and ±inf become ``None``.

    A row is a msgspec struct whose fields are the columns: JSON encoders (msgspec,
    Litestar) write it as the object ``{column: value, …}``, in column order, and building
    it costs a third of a dict. Frames whose column names repeat get dicts.
    """
    flat = frame.reset_index()
    names = tuple(str(c) for c in flat.columns)
    columns = [_column(values) for _, values in flat.items()]
    if len(set(names)) < len(names):
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    row = _row_type(names)
    return [row(*values) for values in zip(*columns, strict=True)]


def amounts_by_code(amount: pd.Series) -> dict[str, int]:
    """A Series of whole yuan as ``{code: yuan}``."""
    return dict(zip(map(str, amount.index), amount.astype("int64").tolist(), strict=True))


def eligibility_result(req: EligibilityRequest) -> EligibilityResult:
    """``POST /eligibility``: which towns the policy covers and why."""
    inputs = resolve(req, what="eligibility request")
    elig = eligibility(inputs.towns, inputs.policy)
    return EligibilityResult(
        policy=inputs.policy.id,
        policy_hash=inputs.policy.hash,
        count=len(elig),
        eligible=int(elig["eligible"].sum()),
        towns=records(elig),
    )


_NUMERIC_ARGUMENTS = frozenset({"amount", "target", "need", "capacity", "population"})
"""Fields of constraints and objectives that may name a column, which must hold numbers."""


def _text_columns(parts: list[tuple[str, Any]], towns: Any) -> list[Problem]:
    """Problems for every per-town amount of *parts* (``(path, constraint or objective)``)
    that names a column of *towns* holding text, such as ``name`` or ``county``."""
    problems: list[Problem] = []
    for path, obj in parts:
        if not attrs.has(type(obj)):
            continue
        for field in attrs.fields(type(obj)):
            value = getattr(obj, field.name)
            where = f"{path}.{field.name}"
            if isinstance(value, list | tuple):
                problems += _text_columns(
                    [(f"{where}[{k}]", v) for k, v in enumerate(value)], towns
                )
            elif attrs.has(type(value)):
                problems += _text_columns([(where, value)], towns)
            elif (
                field.name in _NUMERIC_ARGUMENTS
                and isinstance(value, str)
                and value in towns.columns
                and not _numeric(towns[value])
            ):
                problems.append(
                    Problem(
                        f"names the column {value!r}, which holds text; a per-town amount "
                        "needs a column of numbers (or a number, or {town code: yuan})",
                        column=where,
                        value=value,
                    )
                )
    return problems


def _numeric(column: Any) -> bool:
    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def check_columns(
    towns: pd.DataFrame, constraints: list[Any], objective: Any, *, what: str
) -> None:
    """Refuse a per-town amount of *constraints* or *objective* that names a column of
    *towns* holding text (``Floor(amount="name")``), naming the field of each.

    Raises
    ------
    ValidationError
        Listing every such field.
    """
    found = _text_columns(
        [(f"constraints[{k}]", c) for k, c in enumerate(constraints)]
        + ([("objective", objective)] if objective is not None else []),
        towns,
    )
    if found:
        raise ValidationError(found, what=what)


def fund_range_result(req: FundRangeRequest, constraints: list[Any]) -> FundRangeResult:
    """``POST /fund-range``: the least and the most fund, and what sets each end."""
    import math

    from townfiscal.optimize import fund_range

    inputs = resolve(FormulaRequest(policy=req.policy, changes=req.changes, towns=req.towns,
                                    unit=req.unit), what="fund range request")
    check_columns(inputs.towns, constraints, None, what="fund range request")
    r = fund_range(inputs.towns, inputs.policy, constraints)
    return FundRangeResult(
        policy=inputs.policy.id,
        policy_hash=inputs.policy.hash,
        data_hash=data_hash(inputs.towns),
        least=math.ceil(float(r.least)),
        most=math.floor(float(r.most)) if math.isfinite(float(r.most)) else None,
        least_set_by=[str(s) for s in r.least_set_by],
        most_set_by=[str(s) for s in r.most_set_by],
        text=str(r.describe()),
    )


def formula_result(req: FormulaRequest) -> FormulaResult:
    """``POST /formula``: the policy's formula amounts with every intermediate value."""
    inputs = resolve(req, what="formula request")
    fa = formula_allocation(inputs.towns, inputs.policy, fund=req.fund)
    return FormulaResult(
        policy=inputs.policy.id,
        policy_hash=inputs.policy.hash,
        data_hash=data_hash(inputs.towns),
        fund=int(fa.attrs["fund"]),
        total=int(fa["amount"].sum()),
        amounts=amounts_by_code(fa["amount"]),
        towns=records(fa),
    )
