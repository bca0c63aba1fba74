"""Method-specific checks of a policy's parameters (run when a policy is loaded or changed)."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import TYPE_CHECKING, Any

from townfiscal._domains import domain_of
from townfiscal._errors import Problem
from townfiscal.towns import COLUMNS, KINDS, ZONES

if TYPE_CHECKING:
    from townfiscal.policy._policy import Policy

__all__ = ["DIRECTIONS", "NORMALISATIONS", "check_policy"]

DIRECTIONS = ("higher", "lower")
"""Factor directions: ``higher`` — a larger value means more need; ``lower`` — a smaller one."""

NORMALISATIONS = ("mean_ratio", "share")
"""How a factor's values become coefficients: ``mean_ratio`` (value ÷ mean, or mean ÷ value
where less is needier, capped at ``normalisation.cap``) or ``share`` (the town's share of the
total of the value, or of its inverse; the cap does not apply); see
:func:`townfiscal.rules.factor_coefficients`."""

WEIGHT_TOLERANCE = 1e-9
"""How far the factor weights' sum may be from 1 (float noise of decimal weights)."""

_FACTOR_KEYS = {"weight", "numerator", "denominator", "direction", "symbol", "label"}


def _number(v: Any) -> bool:
    return isinstance(v, int | float | Real) and type(v) is not bool and v == v


def check_policy(policy: Policy) -> list[Problem]:
    """Every problem with a policy's parameters, as :class:`~townfiscal.Problem` (column = path).

    Each number is checked against its declared domain (see
    :data:`townfiscal.PARAMETER_DOMAINS`): type, finiteness, sign and a plausible range, the
    problem naming the path, the value and the bound. The factor weights must add up to 1.
    """
    numeric = {c.name for c in COLUMNS if c.kind in {"people", "money", "area"}}
    problems: list[Problem] = []

    def bad(path: str, message: str) -> None:
        problems.append(Problem(message, column=path, value=policy.get(path)))

    def within(path: str) -> bool:
        """Whether the value at *path* is inside its declared domain (else: a problem)."""
        found = domain_of(path).problems(policy.get(path), path=path)
        problems.extend(found)
        return not found

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
    weights: dict[str, float] = {}
    for name in names:
        base = f"factors.{name}"
        for p in policy.under(base):
            key = p.path[len(base) + 1 :]
            if key not in _FACTOR_KEYS:
                bad(p.path, f"unknown factor key; expected {', '.join(sorted(_FACTOR_KEYS))}")
        if require(f"{base}.weight") and within(f"{base}.weight"):
            weights[f"{base}.weight"] = float(policy[f"{base}.weight"])
        for key in ("numerator", "denominator"):
            path = f"{base}.{key}"
            if key == "numerator" and not require(path):
                continue
            if path in policy and policy[path] not in numeric:
                bad(path, f"must name a numeric column: {', '.join(sorted(numeric))}")
        if require(f"{base}.direction") and policy[f"{base}.direction"] not in DIRECTIONS:
            bad(f"{base}.direction", f"must be one of {', '.join(DIRECTIONS)}")
    total_weight = sum(weights.values())
    if names and len(weights) == len(names) and total_weight <= 0:
        problems.append(Problem("factor weights must not all be zero", column="factors"))
    elif names and len(weights) == len(names) and abs(total_weight - 1.0) > WEIGHT_TOLERANCE:
        terms = " + ".join(f"{v:g}" for v in weights.values())
        problems.append(Problem(
            f"the factor weights add up to {terms} = {total_weight:.6g}, not 1: each weight "
            "is its factor's share of the composite coefficient, so a reform that raises one "
            "lowers others by as much (or scale all of them by 1 / their sum)",
            column="factors", value=round(total_weight, 12)))

    if require("normalisation.method") and policy["normalisation.method"] not in NORMALISATIONS:
        bad("normalisation.method", f"must be one of {', '.join(NORMALISATIONS)}")
    if "normalisation.cap" in policy:
        within("normalisation.cap")

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
                else:
                    within_zone = domain_of(f"regional_coefficient.{zone}")
                    problems.extend(within_zone.problems(value,
                                                         path=f"regional_coefficient.{zone}"))

    floor, cap = policy.get("growth_control.floor"), policy.get("growth_control.cap")
    floor_ok = "growth_control.floor" not in policy or within("growth_control.floor")
    cap_ok = "growth_control.cap" not in policy or within("growth_control.cap")
    if floor_ok and cap_ok and _number(floor) and _number(cap) and cap < floor:
        bad("growth_control.cap", f"is below growth_control.floor ({floor})")
    if policy.get("growth_control.new_towns", "exempt") != "exempt":
        bad("growth_control.new_towns", "only 'exempt' is supported")

    if "fund.default" in policy:
        within("fund.default")
    if "rounding.unit" in policy:
        within("rounding.unit")

    if policy.method == "tier_standard":
        if require("tiers.base"):
            within("tiers.base")
        if require("tiers.multipliers"):
            m = policy["tiers.multipliers"]
            if not isinstance(m, tuple) or not m:
                bad("tiers.multipliers", "must be a non-empty list of numbers >= 0, tier 1 first")
            else:
                each = domain_of("tiers.multipliers[]")
                for i, v in enumerate(m):
                    problems.extend(each.problems(v, path=f"tiers.multipliers[{i}]"))
        if require("tiers.split") and policy["tiers.split"] != "equal_count":
            bad("tiers.split", "only 'equal_count' is supported")
    return problems
