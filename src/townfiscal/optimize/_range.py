"""``tf.fund_range``: the least and the most fund the constraints allow, and what sets each end.

What "the fund the constraints allow" means
-------------------------------------------
A fund ``F`` is allowed when :func:`~townfiscal.allocate` can spend it exactly, that is when

1. the policy's formula can share it out under its own growth control: the growth floors
   need at most ``F`` and the growth caps allow at least ``F`` (``Σ prior·(1 + floor)`` …
   ``Σ prior·(1 + cap)`` over the eligible towns with a prior amount, each bound rounded
   inward to the policy's ``rounding.unit`` as the formula pays it; towns without a prior
   amount are exempt, so one such town removes the upper end); and
2. some amounts ``x`` with ``Σ x = F`` meet every constraint of the model over the same
   eligible towns: each town's bounds (in whole rounding units), the orders, the group
   totals and the constraints' rows (e.g. :class:`CapacityFloor` with ``reference="after"``).

The set of such funds is an interval (the model is convex), so it is given by its two ends,
each rounded inward to whole rounding units. An end that per-town bounds, orders or the
growth control set is met by whole-unit amounts exactly; an end that a row sets (a group
total, ``CapacityFloor(reference="after")``) is the continuous model's, and whole-unit
amounts may need a few units inside it. Constraints are taken with the model built at a
*reference* fund (the one given, else the policy's default, moved into the growth-control
room): a constraint that reads a column which itself moves with the fund (``target``) is
taken at that fund. The ends are exact: with per-town bounds and orders only they are sums
of the bounds after the orders are propagated; otherwise two linear programs (least and most
``Σ x``) are solved with HiGHS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd

from townfiscal._domains import check_values
from townfiscal._errors import Conflict, InfeasibleError
from townfiscal.optimize._constraints import Constraint
from townfiscal.optimize._context import ModelContext
from townfiscal.optimize._ends import fund_ends, whole_unit_ends
from townfiscal.optimize._model import assemble
from townfiscal.optimize._objectives import Proportional
from townfiscal.policy import Policy, get_policy
from townfiscal.rules._formula import growth_room, parameter_note

__all__ = ["FundRange", "fund_range"]


def _yuan(v: float) -> str:
    return f"{v:,.0f}" if math.isfinite(v) else "unbounded"


@attrs.frozen
class FundRange:
    """The least and the most fund :func:`~townfiscal.allocate` can spend under the
    constraints, and what sets each end (see :func:`fund_range`).

    Attributes
    ----------
    least, most
        Yuan, whole rounding units; ``most`` is ``inf`` when nothing caps the total.
    least_set_by, most_set_by
        The constraint families (or policy parameters, as ``path = value (source)``) that
        hold the end where it is; empty when nothing does (``most`` unbounded).
    policy
        The policy id.
    unit
        The rounding unit, yuan.
    """

    least: float
    most: float
    least_set_by: tuple[str, ...]
    most_set_by: tuple[str, ...]
    policy: str
    unit: int = 1

    def __contains__(self, fund: object) -> bool:
        if not isinstance(fund, (int, float, np.integer, np.floating)):
            return False
        return self.least <= float(fund) <= self.most

    def describe(self) -> str:
        """Both ends and what sets them, one line each."""
        lo_by = ", ".join(self.least_set_by) or "nothing"
        hi_by = ", ".join(self.most_set_by) or "nothing caps the total"
        return (f"least fund {_yuan(self.least)} yuan, set by {lo_by}\n"
                f"most fund  {_yuan(self.most)} yuan, set by {hi_by}")

    def __repr__(self) -> str:
        lo_by = ", ".join(self.least_set_by) or "-"
        hi_by = ", ".join(self.most_set_by) or "-"
        return (f"FundRange({_yuan(self.least)} … {_yuan(self.most)} yuan; "
                f"least set by {lo_by}; most set by {hi_by})")

    def _repr_html_(self) -> str:
        import html

        def e(x: Any) -> str:
            return html.escape(str(x), quote=True)

        rows = [("least", self.least, self.least_set_by), ("most", self.most, self.most_set_by)]
        body = "".join(
            f"<tr><th>{e(k)}</th><td style='text-align:right'>{e(_yuan(v))}</td>"
            f"<td>{e(', '.join(by) or '—')}</td></tr>" for k, v, by in rows)
        return (f"<div><b>Fund range ({e(self.policy)}), yuan</b><table><thead><tr><th></th>"
                f"<th>fund</th><th>set by</th></tr></thead><tbody>{body}</tbody></table></div>")


def fund_range(
    towns: pd.DataFrame,
    policy: Policy | str,
    constraints: Sequence[Constraint] = (),
    *,
    fund: float | None = None,
) -> FundRange:
    """The least and the most fund the constraints allow, and what sets each end.

    A fund is allowed when :func:`~townfiscal.allocate` can spend it exactly with these
    constraints: the policy's formula can share it out under its growth control (the growth
    floors need no more, the caps allow no less) and some amounts adding up to it meet every
    constraint over the policy's eligible towns. Those funds form an interval; its ends are
    computed exactly (sums of the per-town bounds after the orders when there are no group
    totals or rows, otherwise two linear programs solved with HiGHS) and rounded inward to
    whole rounding units. An end set by the policy names the parameter with its value and
    source, e.g. ``growth_control.cap = 0.15 (assumption: …)``. Constraints that read a
    column moving with the fund (``target``) are taken at the reference fund.

    Parameters
    ----------
    towns
        A towns table.
    policy
        A :class:`~townfiscal.Policy` or policy id.
    constraints
        From the catalogue, as for :func:`~townfiscal.allocate`.
    fund
        The reference fund the model is built at (default: the policy's ``fund.default``),
        moved into the growth-control room if outside it.

    Returns
    -------
    FundRange

    Raises
    ------
    InfeasibleError
        No fund at all meets every constraint.

    Example::

        >>> import townfiscal as tf
        >>> r = tf.fund_range(tf.load_example(), "guangdong-2020", [tf.HoldHarmless()])
        >>> r.least <= 2_000_000_000 <= r.most
        True
    """
    from townfiscal.optimize._allocation import _model_frame
    from townfiscal.rules._formula import _prepared, compute_formula
    from townfiscal.towns import validate_keyed

    if fund is not None:
        check_values([("fund", fund)], what="fund_range")
    pol = get_policy(policy)
    checked, key = validate_keyed(towns)
    prep = _prepared(checked, key, pol)
    # the formula rounds to the policy's unit inside its growth bounds (lower up, upper down)
    g_lo, g_hi = growth_room(pol, prep.lower, prep.upper)
    ref: float | None = fund if fund is not None else pol.get("fund.default")
    if ref is not None or pol.method != "tier_standard":
        base = float(ref) if ref is not None else max(g_lo, 1.0)
        ref = float(min(max(base, math.ceil(g_lo)), math.floor(g_hi) if math.isfinite(g_hi)
                        else base))
        ref = float(max(round(ref), 1))
    comp = compute_formula(checked, pol, ref)
    ctx = ModelContext(_model_frame(comp), int(comp.fund), all_towns=comp.towns)
    asm = assemble(ctx, constraints, Proportional(), spend="at_most")
    least, most, least_by, most_by = fund_ends(asm)
    tol = 1e-9 * max(abs(g_lo), abs(least), 1.0)
    floor_note = parameter_note(pol, "growth_control.floor")
    cap_note = parameter_note(pol, "growth_control.cap")
    if g_lo > least + tol:
        least, least_by = g_lo, (floor_note,)
    elif g_lo > 0 and abs(g_lo - least) <= tol:
        least_by = (*least_by, floor_note)
    if math.isfinite(g_hi):
        if g_hi < most - tol:
            most, most_by = g_hi, (cap_note,)
        elif abs(g_hi - most) <= tol:
            most_by = (*most_by, cap_note)
    unit = asm.unit
    least_u, most_u = whole_unit_ends(least, most, unit)
    least_u = max(least_u, unit)  # a fund is a positive whole number
    if least_u > most_u:
        raise InfeasibleError([Conflict(
            f"the least fund the constraints allow, {_yuan(least)} yuan "
            f"({', '.join(least_by)}), is above the most, {_yuan(most)} yuan "
            f"({', '.join(most_by)})", constraints=(*least_by, *most_by),
            required=least, available=most)], headline="no fund meets every constraint")
    return FundRange(float(least_u), float(most_u), least_by, most_by, pol.id, unit)
