"""The declared domain of every number a user can give the library: a policy's values, a
reform's changes, a fund and the arguments of the constraints.

Each :class:`Domain` is data (kind, bounds, unit and the reason for the bounds), so the
checks, the documentation's table and the HTTP service all read the same thing. A value is
checked at the door: when a policy is loaded or changed, when a constraint is built, when a
fund is passed. Every problem found is reported at once, in one
:class:`~townfiscal.ValidationError` naming the parameter's path, the value and the bound.

The upper bounds are plausibility bounds, not physical ones: a figure beyond them can only
be a slip (a percentage typed as a fraction, a fund in fen instead of yuan). They also keep
every amount within the range where float64 holds whole yuan exactly (below 2**53 ≈ 9.0e15).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any, Literal

import attrs

from townfiscal._errors import Problem, ValidationError

__all__ = [
    "MAX_YUAN",
    "PARAMETER_DOMAINS",
    "Domain",
    "argument_problems",
    "array_problems",
    "check_arguments",
    "check_values",
    "domain_of",
    "keyed_problems",
]

MAX_YUAN = 1e15
"""The largest amount of money (yuan) the library accepts anywhere: 10^15 yuan, about eight
times China's annual GDP. Beyond it a figure can only be a slip, and whole yuan would soon
stop being exact in float64 (2**53 ≈ 9.0e15)."""

MAX_GROWTH = 3.0
"""The largest change against last year a growth bound may allow: +300%."""

_MONEY = (
    "yuan; above 10^15 (about eight times China's annual GDP) a figure can only be a slip, "
    "e.g. fen typed for yuan"
)
_GROWTH = (
    "a change against last year as a fraction (0.15 = +15%); -1 is -100%, and above +300% "
    "a figure is almost surely a percentage typed as a fraction (15 for 0.15). To lift the "
    "bound, leave it out instead"
)


def _format(v: float) -> str:
    if v == int(v) and abs(v) >= 1e5:
        return f"{v:,.0f}" if abs(v) < 1e12 else f"{v:.0e}".replace("e+", "e")
    return f"{v:g}"


@attrs.frozen
class Domain:
    """The values one parameter may take, and why.

    Attributes
    ----------
    path:
        The parameter's path: a policy path (``"growth_control.cap"``; ``*`` stands for any
        name, as in ``"factors.*.weight"``; ``[]`` for each item of a list), ``"fund"``, or
        ``"<Constraint>.<argument>"`` (``"GrowthCap.rate"``).
    kind:
        ``"number"`` (any finite real) or ``"integer"`` (a whole number).
    minimum, maximum:
        The bounds, or ``None`` for none on that side.
    exclusive_minimum:
        Whether the minimum itself is excluded (``> 0`` rather than ``>= 0``).
    unit:
        The unit (``"yuan"``, ``"fraction"``, ``"× base"``), or ``None`` for a pure number.
    reason:
        Why the bounds are where they are, in words; repeated in every error about them.
    optional:
        Whether ``None`` is accepted (the parameter then does not apply).
    per_town:
        Whether the value may also be given per town (a Series or mapping by town code, or
        the name of a column of the towns table); each town's value is then checked.
    infinite_is_none:
        Whether ``+inf`` is accepted, meaning no bound (a cap of ``inf``).

    Examples
    --------
    >>> d = PARAMETER_DOMAINS["GrowthCap.rate"]
    >>> d.minimum, d.maximum
    (-1.0, 3.0)
    >>> print(d.problems(15)[0])
    column 'GrowthCap.rate', value 15: must be a number <= 3 (a change against last year ...
    """

    path: str
    kind: Literal["number", "integer"]
    minimum: float | None = attrs.field(converter=attrs.converters.optional(float))
    maximum: float | None = attrs.field(converter=attrs.converters.optional(float))
    reason: str
    unit: str | None = None
    exclusive_minimum: bool = False
    optional: bool = False
    per_town: bool = False
    infinite_is_none: bool = False

    def bounds(self) -> str:
        """The bounds in words: ``"> 0 and <= 1e15"``."""
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.exclusive_minimum else '>='} {_format(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"<= {_format(self.maximum)}")
        return " and ".join(parts) or "any finite value"

    def problems(self, value: Any, *, path: str | None = None, row: str | None = None
                 ) -> list[Problem]:
        """What is wrong with *value* for this domain (empty when nothing is).

        *path* names the parameter in the problem (default: :attr:`path`); *row* names the
        town for a per-town value.
        """
        where = path or self.path
        problem = value_problem(self, value)
        if problem is None:
            return []
        return [Problem(problem, row=row, column=where, value=_shown(value))]

    def to_dict(self) -> dict[str, Any]:
        """The domain as a JSON-friendly dict (for documentation and API schemas)."""
        return {
            "path": self.path,
            "kind": self.kind,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "exclusive_minimum": self.exclusive_minimum,
            "unit": self.unit,
            "optional": self.optional,
            "per_town": self.per_town,
            "infinite_is_none": self.infinite_is_none,
            "reason": self.reason,
        }


def _shown(value: Any) -> Any:
    """*value* as a problem carries it: a whole number past 2**53 as a float (``1e+300``), so
    an error never echoes hundreds of digits and JSON readers keep its magnitude."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        return value
    whole = int(value)
    if abs(whole) <= 2**53:
        return value
    try:
        return float(whole)
    except OverflowError:
        return math.inf if whole > 0 else -math.inf


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def value_problem(domain: Domain, value: Any) -> str | None:
    """The message for *value* outside *domain*, or ``None`` when it is inside."""
    if value is None:
        return None if domain.optional else "must be a number, not missing (None)"
    if isinstance(value, str):
        if _numeric_text(value):
            return f"must be a number, not text: write {value.strip()} without quotes"
        return f"must be a number, not text ({value!r})"
    if not _is_number(value):
        return f"must be a number, not {type(value).__name__}"
    try:
        v = float(value)
    except OverflowError:  # a whole number beyond float's range: past any bound
        v = math.inf if value > 0 else -math.inf
        bound = domain.maximum if v > 0 else domain.minimum
        side = "<=" if v > 0 else ">="
        return (f"must be a number {side} {_format(bound)} ({domain.reason})" if bound is not None
                else "must be a finite number")
    if math.isnan(v):
        return "must be a number, not NaN"
    if math.isinf(v):
        if v > 0 and domain.infinite_is_none:
            return None
        return "must be a finite number"
    if domain.kind == "integer" and not (isinstance(value, Integral) or v == int(v)):
        return "must be a whole number"
    lo, hi = domain.minimum, domain.maximum
    if lo is not None and (v <= lo if domain.exclusive_minimum else v < lo):
        op = ">" if domain.exclusive_minimum else ">="
        return f"must be a number {op} {_format(lo)} ({domain.reason})"
    if hi is not None and v > hi:
        return f"must be a number <= {_format(hi)} ({domain.reason})"
    return None


def _numeric_text(value: str) -> bool:
    try:
        float(value.replace("_", "").replace(",", ""))
    except ValueError:
        return False
    return True


def array_problems(domain: Domain, codes: Iterable[Any], values: Any, *, path: str,
                   limit: int = 200) -> list[Problem]:
    """Per-town values outside *domain*, one :class:`Problem` per town (row = its code).

    NaN means "no value for this town" and is accepted; ±inf and values out of bounds are
    not. Vectorised; at most *limit* problems are listed.
    """
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    none = (v == np.inf) if domain.infinite_is_none else np.zeros(v.shape, dtype=bool)
    bad = np.isinf(v) & ~none
    with np.errstate(invalid="ignore"):
        if domain.minimum is not None:
            bad |= (v <= domain.minimum) if domain.exclusive_minimum else (v < domain.minimum)
        if domain.maximum is not None:
            bad |= (v > domain.maximum) & ~none
    if domain.kind == "integer":
        bad |= np.isfinite(v) & (v != np.round(v))
    where = np.flatnonzero(bad)[:limit]
    names = np.asarray(list(codes), dtype=object)
    return [Problem(value_problem(domain, float(v[i])) or "", row=str(names[i]), column=path,
                    value=float(v[i])) for i in where.tolist()]


def argument_problems(path: str, value: Any, *, domain: Domain | None = None) -> list[Problem]:
    """What is wrong with an argument given for *path*: a number, or for a per-town domain
    also a Series or mapping by town code (each value checked; NaN: none for that town) or
    a column name (its values are checked when the constraint meets a towns table)."""
    d = domain or domain_of(path)
    if d.per_town:
        if isinstance(value, str):
            if _numeric_text(value):
                return [Problem(
                    f"must be a number, not text: write {value.strip()} without quotes (a "
                    "string names a column of the towns table)", column=path, value=value)]
            return []
        if isinstance(value, Mapping) or (hasattr(value, "index") and hasattr(value, "items")):
            return keyed_problems(d, value, path=path)
    return d.problems(value, path=path)


def keyed_problems(domain: Domain, value: Any, *, path: str) -> list[Problem]:
    """Problems of a Series or mapping of values by key (a town's code, a group's label):
    each value that is not a number, then each number outside *domain* (row = its key).

    NaN means "no value for this key" and is accepted.
    """
    import pandas as pd

    series = pd.Series(value)
    numeric = pd.to_numeric(series, errors="coerce")
    text = series.notna() & numeric.isna()
    out = [Problem(value_problem(domain, series[c]) or "must be a number", row=str(c),
                   column=path, value=series[c])
           for c in series.index[text][:200]]
    return out + array_problems(domain, series.index, numeric.to_numpy(dtype="float64"),
                                path=path)


def check_arguments(family: str, problems: Iterable[Problem] = (), **arguments: Any) -> None:
    """Check a constraint's or an objective's arguments against their declared domains
    (``<family>.<argument>``, see :func:`argument_problems`).

    Raises
    ------
    ValidationError
        One error (``what`` = *family*) listing *problems* found otherwise and every argument
        at fault, each naming its path (and town), value and bound.
    """
    found = list(problems)
    for name, value in arguments.items():
        found += argument_problems(f"{family}.{name}", value)
    if found:
        raise ValidationError(found, what=family)

def check_values(checks: Iterable[tuple[str, Any]], *, what: str) -> None:
    """Check ``(path, value)`` pairs against their domains; one error listing every problem.

    Raises
    ------
    ValidationError
        Naming each path, value and bound at fault.
    """
    problems = [p for path, value in checks for p in domain_of(path).problems(value, path=path)]
    if problems:
        raise ValidationError(problems, what=what)


def domain_of(path: str) -> Domain:
    """The domain declared for *path* (``*`` in a declared path matches any one name)."""
    found = PARAMETER_DOMAINS.get(path)
    if found is not None:
        return found
    parts = path.split(".")
    for key, domain in PARAMETER_DOMAINS.items():
        pattern = key.split(".")
        if len(pattern) == len(parts) and all(
            a == "*" or a == b for a, b in zip(pattern, parts, strict=True)
        ):
            return domain
    raise KeyError(f"no domain is declared for {path!r}")


def _declare(*domains: Domain) -> Mapping[str, Domain]:
    return MappingProxyType({d.path: d for d in domains})


PARAMETER_DOMAINS: Mapping[str, Domain] = _declare(
    # --- policy values (and reform changes to them) ---------------------------------------
    Domain("fund.default", "integer", 0, MAX_YUAN, _MONEY, "yuan", exclusive_minimum=True),
    Domain("factors.*.weight", "number", 0, 1,
           "a factor's share of the composite coefficient; the weights add up to 1",
           "fraction"),
    Domain("normalisation.cap", "number", 0, 1000,
           "the largest factor coefficient as a multiple of the mean; at or below 0 it would "
           "cap every town at nothing, above 1000 × the mean it caps nothing a table of towns "
           "holds", "× mean", exclusive_minimum=True),
    Domain("regional_coefficient.*", "number", 0, 10,
           "a multiplier on the composite coefficient of a zone's towns; 0 would drop the "
           "zone (eligibility does that), above 10 one zone's towns would outweigh all others",
           "× coefficient", exclusive_minimum=True),
    Domain("growth_control.floor", "number", -1, MAX_GROWTH, _GROWTH, "fraction",
           optional=True),
    Domain("growth_control.cap", "number", -1, MAX_GROWTH, _GROWTH, "fraction",
           optional=True),
    Domain("rounding.unit", "integer", 1, 100_000_000,
           "the unit amounts are paid in: 1 (whole yuan) to 10,000 (万元); above "
           "100,000,000 yuan (1亿) one unit exceeds any town's amount", "yuan"),
    Domain("tiers.base", "number", 0, 1e12,
           "a town's standard before the tier multiplier; above 10^12 yuan per town the "
           "standards of a province's towns exceed any fund (10^15 yuan)", "yuan",
           exclusive_minimum=True),
    Domain("tiers.multipliers[]", "number", 0, 100,
           "a tier's standard as a multiple of the base; above 100 × the base one tier "
           "would take nearly all of the fund", "× base"),
    # --- arguments of the library's functions ---------------------------------------------
    Domain("fund", "integer", 0, MAX_YUAN, _MONEY, "yuan", exclusive_minimum=True),
    Domain("Floor.amount", "number", 0, MAX_YUAN,
           "yuan; a negative floor binds nothing (no amount is below 0), and above 10^15 "
           "(about eight times China's annual GDP) a figure can only be a slip", "yuan",
           per_town=True),
    Domain("Cap.amount", "number", 0, MAX_YUAN,
           "yuan; a negative cap cannot be met (no amount is below 0), and above 10^15 "
           "(about eight times China's annual GDP) a figure can only be a slip; inf: no cap",
           "yuan", per_town=True, infinite_is_none=True),
    Domain("HoldHarmless.ratio", "number", 0, 1 + MAX_GROWTH,
           "a share of last year's amount (0.95 = 95%); above 4 (+300%) a figure is almost "
           "surely a percentage typed as a fraction", "× last year", per_town=True),
    Domain("GrowthCap.rate", "number", -1, MAX_GROWTH, _GROWTH, "fraction", per_town=True),
    Domain("GrowthCap.no_prior", "number", 0, MAX_YUAN, _MONEY, "yuan", optional=True),
    Domain("GroupTotal.lo", "number", 0, MAX_YUAN, _MONEY, "yuan", optional=True),
    Domain("GroupTotal.hi", "number", 0, MAX_YUAN, f"{_MONEY}; inf or None: no cap", "yuan",
           optional=True, infinite_is_none=True),
    Domain("CapacityFloor.share", "number", 0, 1,
           "a share of the county's average capacity per person (0.65 = 65%); above 1 every "
           "town would have to be above its own county's average", "fraction"),
    Domain("Rounding.unit", "integer", 1, 100_000_000,
           "the unit amounts are paid in: 1 (whole yuan) to 10,000 (万元); above "
           "100,000,000 yuan (1亿) one unit exceeds any town's amount", "yuan"),
    Domain("Proportional.target", "number", 0, MAX_YUAN, _MONEY, "yuan", optional=True,
           per_town=True),
    Domain("MinDeviation.target", "number", 0, MAX_YUAN, _MONEY, "yuan", optional=True,
           per_town=True),
    Domain("MinShortfall.need", "number", 0, MAX_YUAN, _MONEY, "yuan", per_town=True),
    Domain("WeightedObjective.weight", "number", 0, 1e6,
           "how much one objective counts against the others; a ratio above 10^6 leaves the "
           "others below the solver's tolerance", exclusive_minimum=True),
)
"""Every declared domain, by path (read-only). See :class:`Domain`."""
