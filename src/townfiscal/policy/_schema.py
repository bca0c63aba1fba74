"""Method-specific checks of a policy's parameters (run when a policy is loaded or changed)."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import TYPE_CHECKING, Any

from townfiscal._errors import Problem
from townfiscal.towns import COLUMNS, KINDS, ZONES

if TYPE_CHECKING:
    from townfiscal.policy._policy import Policy

__all__ = ["DIRECTIONS", "NORMALISATIONS", "check_policy"]

DIRECTIONS = ("higher", "lower")
"""Factor directions: ``higher`` — a larger value means more need; ``lower`` — a smaller one."""

NORMALISATIONS = ("mean_ratio",)
"""How a factor's values become coefficients (see :mod:`townfiscal.rules`)."""

_FACTOR_KEYS = {"weight", "numerator", "denominator", "direction", "symbol", "label"}


def _number(v: Any) -> bool:
    return isinstance(v, int | float | Real) and type(v) is not bool and v == v


def check_policy(policy: Policy) -> list[Problem]:
    """Every problem with a policy's parameters, as :class:`~townfiscal.Problem` (column = path)."""
    numeric = {c.name for c in COLUMNS if c.kind in {"people", "money", "area"}}
    problems: list[Problem] = []

    def bad(path: str, message: str) -> None:
        problems.append(Problem(message, column=path, value=policy.get(path)))

    def require(path: str) -> bool:
        if path not in policy:
            problems.append(Problem(f"method {policy.method!r} needs this parameter", column=path))
            return False
        return True

    if require("eligibility.kinds"):
        kinds = policy["eligibility.kinds"]
        if not isinstance(kinds, tuple) or not kinds or any(k not in KINDS for k in kinds):
            bad("eligibility.kinds", f"must be a non-empty list of {', '.join(KINDS)}")
    if require("eligibility.areas"):
        areas = policy["eligibility.areas"]
        if not isinstance(areas, Mapping) or not areas:
            bad("eligibility.areas", "must be a table of area code prefix = name")
        else:
            for code in areas:
                if not (code.isdigit() and len(code) in {2, 4, 6, 9}):
                    problems.append(
                        Problem(
                            "area codes must be 2, 4, 6 or 9 digits (province, city, county, unit)",
                            column="eligibility.areas",
                            value=code,
                        )
                    )

    names = sorted({p.path.split(".")[1] for p in policy.under("factors")})
    if not names:
        problems.append(Problem("the policy defines no factors", column="factors"))
    total_weight = 0.0
    for name in names:
        base = f"factors.{name}"
        for p in policy.under(base):
            key = p.path[len(base) + 1 :]
            if key not in _FACTOR_KEYS:
                bad(p.path, f"unknown factor key; expected {', '.join(sorted(_FACTOR_KEYS))}")
        if require(f"{base}.weight"):
            w = policy[f"{base}.weight"]
            if not _number(w) or w < 0:
                bad(f"{base}.weight", "must be a number >= 0")
            else:
                total_weight += float(w)
        for key in ("numerator", "denominator"):
            path = f"{base}.{key}"
            if key == "numerator" and not require(path):
                continue
            if path in policy and policy[path] not in numeric:
                bad(path, f"must name a numeric column: {', '.join(sorted(numeric))}")
        if require(f"{base}.direction") and policy[f"{base}.direction"] not in DIRECTIONS:
            bad(f"{base}.direction", f"must be one of {', '.join(DIRECTIONS)}")
    if names and total_weight <= 0:
        problems.append(Problem("factor weights must not all be zero", column="factors"))

    if require("normalisation.method") and policy["normalisation.method"] not in NORMALISATIONS:
        bad("normalisation.method", f"must be one of {', '.join(NORMALISATIONS)}")
    if "normalisation.cap" in policy:
        cap = policy["normalisation.cap"]
        if not _number(cap) or cap <= 0:
            bad("normalisation.cap", "must be a number > 0")

    if require("regional_coefficient"):
        rc = policy["regional_coefficient"]
        if not isinstance(rc, Mapping):
            bad("regional_coefficient", "must be a table of zone = coefficient")
        else:
            for zone, value in rc.items():
                if zone not in ZONES:
                    problems.append(
                        Problem(
                            f"unknown zone; expected {', '.join(ZONES)}",
                            column="regional_coefficient",
                            value=zone,
                        )
                    )
                elif not _number(value) or value <= 0:
                    problems.append(
                        Problem(
                            f"coefficient for {zone} must be a number > 0",
                            column="regional_coefficient",
                            value=value,
                        )
                    )

    floor, cap = policy.get("growth_control.floor"), policy.get("growth_control.cap")
    if floor is not None and (not _number(floor) or floor < -1):
        bad("growth_control.floor", "must be a number >= -1 (a change against last year)")
    if cap is not None and (not _number(cap) or cap < -1):
        bad("growth_control.cap", "must be a number >= -1 (a change against last year)")
    if _number(floor) and _number(cap) and cap < floor:
        bad("growth_control.cap", f"is below growth_control.floor ({floor})")
    if policy.get("growth_control.new_towns", "exempt") != "exempt":
        bad("growth_control.new_towns", "only 'exempt' is supported")

    fund = policy.get("fund.default")
    if fund is not None and (not _number(fund) or fund <= 0):
        bad("fund.default", "must be a positive number of yuan")
    unit = policy.get("rounding.unit")
    if unit is not None and (not isinstance(unit, int) or unit < 1):
        bad("rounding.unit", "must be a whole number of yuan >= 1")

    if policy.method == "tier_standard":
        if require("tiers.base") and (
            not _number(policy["tiers.base"]) or policy["tiers.base"] <= 0
        ):
            bad("tiers.base", "must be a positive number of yuan")
        if require("tiers.multipliers"):
            m = policy["tiers.multipliers"]
            if not isinstance(m, tuple) or not m or any(not _number(v) or v < 0 for v in m):
                bad("tiers.multipliers", "must be a non-empty list of numbers >= 0, tier 1 first")
        if require("tiers.split") and policy["tiers.split"] != "equal_count":
            bad("tiers.split", "only 'equal_count' is supported")
    return problems
