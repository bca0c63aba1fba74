"""Formula amounts: shares of the fund (2020, Art. 5) or tiered standards (2018, Art. 5)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal._domains import PARAMETER_DOMAINS
from townfiscal._errors import InfeasibleError, Problem, ValidationError
from townfiscal._rounding import round_to_total
from townfiscal.policy import Policy, get_policy
from townfiscal.rules._eligibility import eligible_arrays
from townfiscal.rules._factors import (
    composite_arrays,
    factor_specs,
    pool_factor_arrays,
    regional_arrays,
)
from townfiscal.rules._growth import capped_proportional, growth_bounds
from townfiscal.rules._towns import check_policy_needs
from townfiscal.towns import mark, prior_of, source_of, validate_keyed

__all__ = [
    "FormulaComputation",
    "assign_tiers",
    "compute_formula",
    "formula_allocation",
    "parameter_refs",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_CARRIED = ("name", "kind", "county", "city", "zone")


def assign_tiers(coefficient: npt.ArrayLike, count: int, codes: npt.ArrayLike) -> IntArray:
    """Tier of each town: rank by coefficient, largest (weakest) first, in *count* equal groups.

    Tier 1 holds the towns with the largest composite coefficient (the weakest), tier
    *count* the smallest. Tier t holds the ranks r (0-based) with ``r·count // n = t - 1``,
    so group sizes differ by at most one town; ties are broken by code, so the result is
    deterministic.

    The 2018 measures rank by composite coefficient from small to large. This library's
    coefficient is oriented by need (larger = weaker), so ranking it largest first is the
    article's order read from the other end, up to which group gets the extra town when the
    count is not a multiple of *count* (an assumption; see the tiers-2018 rule page).

    >>> assign_tiers([0.9, 1.3, 1.1, 0.7, 1.0], 5, ["a", "b", "c", "d", "e"]).tolist()
    [4, 1, 2, 5, 3]
    """
    c = np.asarray(coefficient, dtype=np.float64)
    n = c.size
    order = np.lexsort((np.asarray(codes), -c))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return (rank * count // max(n, 1) + 1).astype(np.int64)


@attrs.frozen
class FormulaComputation:
    """Everything the formula computed, kept so that any town's amount can be traced."""

    policy: Policy
    towns: pd.DataFrame
    table: pd.DataFrame
    fund: int
    means: dict[str, float]
    coefficient_sum: float
    scale: float
    weight_column: str
    #: Which rows of ``towns`` the policy covers (the rows of ``table``), when known.
    eligible: npt.NDArray[np.bool_] | None = attrs.field(default=None, eq=False, repr=False)


def _fund_of(policy: Policy, fund: float | None) -> int | None:
    if fund is None:
        default = policy.get("fund.default")
        return None if default is None else int(default)
    problems = PARAMETER_DOMAINS["fund"].problems(fund)
    if problems:  # a positive whole number of yuan, at most 10^15
        raise ValidationError(problems, what="formula request")
    return int(fund)


@attrs.frozen(eq=False)
class _Prepared:
    """What a policy makes of a table before any fund: the towns it covers (after checking
    what it needs of them), their factors, coefficients and growth-control bounds.

    Shared by every computation on the same table content and rules, so its arrays are
    read-only and the result table is built from copies of them.
    """

    pool: npt.NDArray[np.bool_]
    index: pd.Index
    text: dict[str, Any]  # the carried text columns' values over the pool
    coefs: dict[str, FloatArray]
    means: dict[str, float]
    regional: FloatArray
    coefficient: FloatArray
    prior: FloatArray
    lower: FloatArray
    upper: FloatArray


#: Preparations by the table's content key and the policy's hash. Both change with any
#: change of the table or the rules, so a hit means: this very content, checked against these
#: very rules. Newest last; a lock, because the service may compute in threads.
_PREPARED: OrderedDict[tuple[str, str], _Prepared] = OrderedDict()
_PREPARED_KEPT = 32
_PREPARED_LOCK = threading.Lock()


def _prepared(towns: pd.DataFrame, key: str | None, policy: Policy) -> _Prepared:
    """:func:`_prepare`, remembered for a table with a content key *key*."""
    if key is None:
        return _prepare(towns, policy)
    with _PREPARED_LOCK:
        found = _PREPARED.get((key, policy.hash))
        if found is not None:
            _PREPARED.move_to_end((key, policy.hash))
            return found
    prep = _prepare(towns, policy)
    with _PREPARED_LOCK:
        _PREPARED[(key, policy.hash)] = prep
        while len(_PREPARED) > _PREPARED_KEPT:
            _PREPARED.popitem(last=False)
    return prep


def _prepare(towns: pd.DataFrame, pol: Policy) -> _Prepared:
    pool = eligible_arrays(towns.index.to_numpy(dtype=object),
                           towns["kind"].to_numpy(dtype=object), pol)
    check_policy_needs(towns, pol, covered=pool)
    take = np.flatnonzero(pool)
    coefs, means = pool_factor_arrays(towns, pol, take)
    regional = regional_arrays(towns["zone"].to_numpy(dtype=object)[take], pol)
    coefficient = composite_arrays(coefs, regional, factor_specs(pol))
    prior = (
        towns["prior_amount"].to_numpy(dtype=np.float64)[take]
        if "prior_amount" in towns
        else np.full(take.size, np.nan)
    )
    lower, upper = growth_bounds(prior, pol.get("growth_control.floor"),
                                 pol.get("growth_control.cap"))
    text = {c: (towns[c].to_numpy()[take] if towns[c].dtype == np.dtype(object)
                else towns[c].array.take(take))
            for c in _CARRIED if c in towns.columns}
    arrays = [pool, regional, coefficient, prior, lower, upper, *coefs.values(),
              *(v for v in text.values() if isinstance(v, np.ndarray))]
    for arr in arrays:
        arr.flags.writeable = False
    return _Prepared(pool=pool, index=towns.index[take], text=text, coefs=coefs, means=means,
                     regional=regional, coefficient=coefficient, prior=prior, lower=lower,
                     upper=upper)


def _text_column(values: Any, index: pd.Index) -> Any:
    """A carried text column for the result table, keeping its dtype."""
    if isinstance(values, np.ndarray):
        # a bare object array would be inferred as pandas' string dtype by the constructor
        return pd.Series(values, index=index, dtype=object, copy=False)
    return values


def parameter_note(policy: Policy, path: str) -> str:
    """``path = value (source)`` of a policy value, saying whether it is an assumption:
    ``growth_control.cap = 0.15 (assumption: …)`` or ``… (published: <source>)``."""
    try:
        p = policy.parameter(path)
    except (KeyError, ValueError):
        return path
    source = p.source if p.is_assumption else f"published: {p.source}"
    return f"{path} = {p.value!r} ({source})"


def growth_room(policy: Policy, lower: npt.NDArray[np.float64], upper: npt.NDArray[np.float64]
                ) -> tuple[float, float]:
    """The funds the formula can share out under growth control: the floors rounded up and
    the caps rounded down to the policy's unit, summed (``inf`` when a town has no cap)."""
    unit = float(policy.get("rounding.unit", 1))
    least = float((np.ceil(lower / unit - 1e-9) * unit).sum())
    with np.errstate(invalid="ignore"):
        most = float(np.where(np.isfinite(upper), np.floor(upper / unit + 1e-9) * unit,
                              np.inf).sum())
    return least, most


def growth_infeasible(exc: InfeasibleError, pol: Policy, lower: npt.NDArray[np.float64],
                       upper: npt.NDArray[np.float64], fund: float) -> InfeasibleError:
    """``exc`` with the growth-control parameter that causes it named (value and source) and
    the funds the formula can share out (in the policy's rounding units, as it pays them)."""
    least, most = growth_room(pol, lower, upper)
    path = ("growth_control.floor" if fund < least else
            "growth_control.cap" if fund > most else None)
    if path is None:
        return exc
    room = (f"{least:,.0f} … {most:,.0f} yuan" if np.isfinite(most)
            else f"at least {least:,.0f} yuan")
    note = (f"set by {parameter_note(pol, path)}; the formula can share out {room} "
            "(tf.fund_range gives the range with constraints)")
    details = [attrs.evolve(c, message=f"{c.message} — {note}",
                            constraints=tuple(dict.fromkeys((*c.constraints, path))))
               for c in exc.details]
    return InfeasibleError(details, headline=str(exc).splitlines()[0])


def compute_formula(
    towns: pd.DataFrame, policy: Policy | str, fund: float | None = None
) -> FormulaComputation:
    """Run the whole formula and keep every intermediate value (see :func:`formula_allocation`).

    Vectorised over the towns on numpy arrays; pandas only reads the table's columns and
    builds the result table. What does not depend on the fund (eligibility, the policy's
    checks, factors, coefficients, growth-control bounds) is remembered for a validated
    table and the same rules.
    """
    pol = get_policy(policy)
    source, prior = source_of(towns), prior_of(towns)
    towns, key = validate_keyed(towns)  # unmarked while the formula reads it: see the end
    prep = _prepared(towns, key, pol)
    index, coefficient = prep.index, prep.coefficient
    n = index.size
    total_c = float(coefficient.sum())
    codes = index.to_numpy()
    columns: dict[str, Any] = {c: _text_column(v, index) for c, v in prep.text.items()}
    columns.update(prep.coefs)
    columns["regional"] = prep.regional
    columns["coefficient"] = coefficient
    columns["share"] = coefficient / total_c if total_c > 0 else np.zeros(n)

    amount_fund = _fund_of(pol, fund)
    if pol.method == "tier_standard":
        multipliers = np.asarray(pol["tiers.multipliers"], dtype=np.float64)
        tier = assign_tiers(coefficient, multipliers.size, codes)
        columns["tier"] = tier
        columns["standard"] = float(pol["tiers.base"]) * multipliers[tier - 1]
        weight_column = "standard"
        if amount_fund is None:
            amount_fund = round(float(columns["standard"].sum()))
    else:
        weight_column = "coefficient"
        if amount_fund is None:
            raise ValidationError(
                [
                    Problem(
                        f"policy {pol.id} has no default fund (fund.default); pass fund=",
                        column="fund",
                    )
                ],
                what="formula request",
            )

    columns["prior_amount"] = prep.prior
    lower, upper = prep.lower, prep.upper
    weights = np.asarray(columns[weight_column], dtype=np.float64)
    wsum = float(weights.sum())
    columns["proportional"] = (amount_fund * weights / wsum if wsum > 0 else np.zeros(n))
    columns["lower"] = lower
    columns["upper"] = upper
    names = codes.tolist()
    unit = int(pol.get("rounding.unit", 1))
    try:
        exact, scale = capped_proportional(weights, amount_fund, lower, upper, codes=names)
        columns["unrounded"] = exact
        columns["amount"] = round_to_total(exact, amount_fund, lower, upper, unit=unit,
                                           codes=names)
    except InfeasibleError as exc:
        raise growth_infeasible(exc, pol, lower, upper, amount_fund) from None
    # copy=True: the shared, read-only arrays of the preparation must not back the table
    table = pd.DataFrame(columns, index=index, copy=True)
    table.attrs.update(
        {"policy": pol.id, "policy_hash": pol.hash, "fund": amount_fund, "method": pol.method}
    )
    if source is not None:  # read from a file: which file, sheet, header row, unit, skips
        table.attrs["towns_source"] = source
    if prior is not None:  # last year's amounts rolled forward from a file: which, and who moved
        table.attrs["towns_prior"] = prior
    if key is not None:  # a table the library validated: passed in again, it is trusted
        mark(towns, key)
    return FormulaComputation(
        policy=pol,
        towns=towns,
        table=table,
        fund=amount_fund,
        means=dict(prep.means),
        coefficient_sum=total_c,
        scale=scale,
        weight_column=weight_column,
        eligible=prep.pool,
    )


def formula_allocation(
    towns: pd.DataFrame, policy: Policy | str, fund: float | None = None
) -> pd.DataFrame:
    """The amount the policy's formula gives each eligible town, with every step shown.

    Steps, all vectorised over the towns: eligibility (Art. 4) → each factor's value and
    coefficient (Art. 6) → the composite coefficient ``C = (Σ w·coef) × r`` (Art. 6) →
    for ``factor_share`` policies the share ``C / ΣC`` of the fund (2020 Art. 5), for
    ``tier_standard`` policies the tier and its standard (2018 Art. 5) → growth control as
    capped proportional allocation (the total stays exactly the fund) → whole yuan (or the
    policy's rounding unit) by largest remainders, keeping the total and the bounds.

    Parameters
    ----------
    towns:
        A towns table (see :func:`~townfiscal.read_towns`).
    policy:
        A :class:`~townfiscal.Policy` or a policy id.
    fund:
        The fund to share out, yuan. Defaults to the policy's ``fund.default``; for a
        ``tier_standard`` policy without one, the standards are paid as they are.

    Returns
    -------
    pandas.DataFrame
        Over the eligible towns, indexed by code: ``name, kind, county, city, zone``;
        ``value_<factor>`` and ``coef_<factor>`` for each factor; ``regional``;
        ``coefficient``; ``share``; for tier policies ``tier`` (1 = weakest) and ``standard``;
        ``prior_amount``; ``proportional`` (the amount before growth control); ``lower`` and
        ``upper`` (growth-control bounds); ``unrounded``; and ``amount`` (int64 yuan, summing to
        the fund exactly). ``.attrs`` records the policy id and hash and the fund.

    Raises
    ------
    ValidationError
        When the towns table is invalid for this policy, or the fund is not a positive
        whole number of yuan.
    InfeasibleError
        When growth control cannot be met with this fund (last year's floors need more, or
        the caps allow less).

    Examples
    --------
    >>> import townfiscal as tf
    >>> fa = tf.formula_allocation(tf.load_example(), "guangdong-2020", fund=2_000_000_000)
    >>> int(fa["amount"].sum()), len(fa)
    (2000000000, 1002)
    """
    return compute_formula(towns, policy, fund).table


def parameter_refs(policy: Policy, paths: list[str]) -> list[dict[str, Any]]:
    """The parameters at *paths* with their values and sources (for traces)."""
    out = []
    for path in paths:
        if path in policy:
            p = policy.parameter(path)
            out.append(p.to_dict())
    return out
