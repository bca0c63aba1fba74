"""The trace of one town's formula amount."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from townfiscal._trace import Step, Trace
from townfiscal.policy import Policy
from townfiscal.rules._eligibility import eligibility
from townfiscal.rules._factors import factor_specs
from townfiscal.rules._formula import FormulaComputation, compute_formula, parameter_refs

__all__ = ["explain_formula", "formula_steps"]


def explain_formula(
    towns: pd.DataFrame, policy: Policy | str, code: str, fund: float | None = None
) -> Trace:
    """The trace of one town's formula amount: inputs, each factor, the coefficient, the
    share, growth control and rounding, with every parameter read and the article it encodes.

    Parameters
    ----------
    towns, policy, fund:
        As for :func:`~townfiscal.formula_allocation` (the whole table is needed: shares and
        factor means depend on every eligible town).
    code:
        The town's 9-digit code.

    Returns
    -------
    Trace
        ``str(trace)`` reads as a worked calculation; ``trace.to_dict()`` is JSON-friendly.
        For a town the policy does not cover, the trace says why and ``amount`` is 0.

    Raises
    ------
    KeyError
        When no unit has that code.

    Examples
    --------
    >>> import townfiscal as tf
    >>> tr = tf.explain_formula(tf.load_example(), "guangdong-2020", "441581101")
    >>> tr.step("amount").value == tr.amount
    True
    """
    comp = compute_formula(towns, policy, fund)
    return Trace(
        code=str(code),
        name=str(comp.towns["name"].to_dict().get(str(code), "")),
        policy=comp.policy.id,
        steps=tuple(formula_steps(comp, str(code))),
        amount=_amount(comp, str(code)),
    )


def _amount(comp: FormulaComputation, code: str) -> int:
    amounts: dict[Any, Any] = comp.table["amount"].to_dict()
    return int(amounts.get(code, 0))


def formula_steps(comp: FormulaComputation, code: str) -> list[Step]:
    """The steps of *code*'s formula amount (shared with the allocator's explanations)."""
    pol, towns, table = comp.policy, comp.towns, comp.table
    if code not in towns.index:
        raise KeyError(f"no unit with code {code!r} in the towns table")
    row: dict[Any, Any] = towns.loc[code].to_dict()
    elig: dict[Any, Any] = eligibility(towns, pol).loc[code].to_dict()
    steps = [
        Step(
            "eligibility",
            f"kind {row['kind']} in {row['city']} / {row['county']}",
            bool(elig["eligible"]),
            note=str(elig["reason"]),
            parameters=tuple(parameter_refs(pol, ["eligibility.kinds", "eligibility.areas"])),
        )
    ]
    if not elig["eligible"]:
        steps.append(Step("amount", "not covered by the policy", 0, "yuan"))
        return steps
    t: dict[Any, Any] = table.loc[code].to_dict()
    n = len(table)
    weighted_terms = []
    for spec in factor_specs(pol):
        base = f"factors.{spec.name}"
        value = float(t[f"value_{spec.name}"])
        coef = float(t[f"coef_{spec.name}"])
        mean = comp.means[spec.name]
        inputs = f"{spec.numerator} {row[spec.numerator]:,.0f}"
        if spec.denominator:
            inputs += f" / {spec.denominator} {row[spec.denominator]:,.0f} = {value:,.6g}"
        share = pol["normalisation.method"] == "share"
        if share:
            ratio = (f"share of the total = {value:,.4g} / {mean:,.6g}"
                     if spec.direction == "higher"
                     else f"share of the total of 1/value = (1 / {value:,.4g}) / {mean:,.6g}")
        else:
            ratio = (
                f"value / mean = {value:,.4g} / {mean:,.4g}"
                if spec.direction == "higher"
                else (f"mean / value = {mean:,.4g} / {value:,.4g}")
            )
        cap = pol.get("normalisation.cap")
        capped = cap is not None and coef >= float(cap) - 1e-12
        steps.append(
            Step(
                f"factor {spec.symbol}: {spec.label}",
                f"{inputs}; coefficient {ratio}" + (f", capped at {cap}" if capped else ""),
                coef,
                note=(f"total of {'1/value' if spec.direction == 'lower' else 'the value'} "
                      f"over the {n} eligible towns: {mean:,.6g}" if share
                      else f"mean over the {n} eligible towns: {mean:,.6g}"),
                parameters=tuple(
                    parameter_refs(
                        pol,
                        [
                            f"{base}.weight",
                            f"{base}.direction",
                            "normalisation.method",
                            "normalisation.cap",
                        ],
                    )
                ),
            )
        )
        weighted_terms.append(f"{spec.weight:g}×{coef:.4f}")
    r = float(t["regional"])
    steps.append(
        Step(
            f"regional coefficient r ({row['zone']})",
            f"r[{row['zone']}]",
            r,
            parameters=tuple(parameter_refs(pol, ["regional_coefficient"])),
        )
    )
    steps.append(
        Step(
            "composite coefficient C",
            f"({' + '.join(weighted_terms)}) × {r:g}",
            float(t["coefficient"]),
            parameters=tuple(
                parameter_refs(pol, [f"factors.{s.name}.weight" for s in factor_specs(pol)])
            ),
        )
    )
    fund = comp.fund
    if pol.method == "tier_standard":
        mult = pol["tiers.multipliers"]
        tier = int(t["tier"])
        steps.append(
            Step(
                "tier",
                f"rank by C among {n} towns, largest first, in {len(mult)} equal groups",
                tier,
                parameters=tuple(parameter_refs(pol, ["tiers.split"])),
            )
        )
        steps.append(
            Step(
                "standard",
                f"base {pol['tiers.base']:,} × multiplier {mult[tier - 1]}",
                float(t["standard"]),
                "yuan",
                parameters=tuple(parameter_refs(pol, ["tiers.base", "tiers.multipliers"])),
            )
        )
        weight_sum = float(table["standard"].sum())
        steps.append(
            Step(
                "proportional amount",
                f"fund {fund:,} × standard / Σ standards {weight_sum:,.0f}",
                float(t["proportional"]),
                "yuan",
            )
        )
    else:
        steps.append(
            Step(
                "share",
                f"C / ΣC = {float(t['coefficient']):.6f} / {comp.coefficient_sum:.6f}",
                float(t["share"]),
            )
        )
        steps.append(
            Step(
                "proportional amount",
                f"fund {fund:,} × share",
                float(t["proportional"]),
                "yuan",
                parameters=tuple(parameter_refs(pol, ["fund.default"])),
            )
        )
    prior, lo, hi = float(t["prior_amount"]), float(t["lower"]), float(t["upper"])
    exact = float(t["unrounded"])
    if np.isfinite(prior) and prior > 0:
        bounds = f"[{lo:,.2f}, {hi:,.2f}] from last year's {prior:,.0f}"
        if exact <= lo + 1e-6:
            note = "held at the floor: the proportional amount is below it"
        elif exact >= hi - 1e-6:
            note = "held at the cap: the proportional amount is above it"
        else:
            note = "within its bounds: scaled with the other unclamped towns"
    else:
        bounds = "no prior amount: exempt from growth control"
        note = "scaled with the other unclamped towns"
    steps.append(
        Step(
            "growth control",
            f"clip(λ × {comp.weight_column}, lower, upper) with λ = {comp.scale:,.6g}; {bounds}",
            exact,
            "yuan",
            note=note + " (the total stays exactly the fund)",
            parameters=tuple(
                parameter_refs(
                    pol, ["growth_control.floor", "growth_control.cap", "growth_control.new_towns"]
                )
            ),
        )
    )
    steps.append(
        Step(
            "amount",
            f"largest-remainder rounding of {exact:,.4f} to whole units",
            int(t["amount"]),
            "yuan",
            parameters=tuple(parameter_refs(pol, ["rounding.unit"])),
        )
    )
    return steps
