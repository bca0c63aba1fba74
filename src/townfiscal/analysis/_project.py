"""Multi-year projections: each year's amounts become the next year's ``prior_amount``.

Growth control (the policy's floor and cap on last year's amount) and hold-harmless depend on
last year's amounts, so a what-if over several years has to be allocated year by year. A bureau
asks, for instance: where does a +15% growth cap leave the neediest towns after five years?
:func:`project` answers by chaining :func:`townfiscal.allocate` calls and measuring each year.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal.analysis import metrics
from townfiscal.optimize import Allocation, allocate
from townfiscal.policy import Policy, get_policy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Projection", "project"]

#: The share of towns, by need (the formula's coefficient), whose path the summary follows.
NEEDIEST_SHARE = 0.1


@attrs.frozen(eq=False)
class Projection:
    """Amounts over several years, each year's amounts rolled into the next year's
    ``prior_amount``.

    ``table`` is tidy: one row per year and covered town (``year``, ``code``, ``name``,
    ``county``, ``city``, ``coefficient``, ``prior_amount``, ``formula`` — the formula's share
    before growth control —, ``target``, ``amount``, ``at_floor``, ``at_cap``). ``summary`` has
    one row per year: the fund, the towns paid, the smallest, median and largest amounts, the
    Gini coefficient of amounts per registered resident (people-weighted), the towns held at
    their floor (last year's amount, hold-harmless or a ``Floor``) or cap (growth control or a
    ``Cap``), and the neediest tenth of towns' amount as a share of their formula amount
    (``needy_vs_formula``: below 1 where caps hold them back). ``allocations`` keeps each
    year's :class:`~townfiscal.Allocation`.
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    allocations: Mapping[int, Allocation]

    @property
    def years(self) -> list[int]:
        """The projected years, in order."""
        return [int(y) for y in self.summary.index]

    def amounts(self) -> pd.DataFrame:
        """Amounts (yuan) as a town × year table."""
        wide = self.table.pivot(index="code", columns="year", values="amount")
        wide.columns.name = "year"
        return wide

    def plot(self, *, title: str | None = None) -> Figure:
        """Two panels by year: the amounts' smallest, median and largest (万元), and the
        neediest tenth's amount as a share of their formula amount, with the towns held at a
        floor or a cap."""
        from townfiscal.analysis.plots import _cjk, _finish, _InlineFigure

        s = self.summary
        years = [int(y) for y in s.index]
        with _cjk() as families:
            fig = _InlineFigure(figsize=(8.0, 6.0), layout="constrained")
            top, bottom = fig.subplots(2, 1, sharex=True)
            for column, label, style in (("max", "最大 largest", "--"),
                                         ("median", "中位数 median", "-"),
                                         ("min", "最小 smallest", ":")):
                top.plot(years, s[column] / 10_000, style, marker="o", label=label)
            top.set_ylabel("补助 amount (万元)")
            top.legend(loc="best")
            bottom.plot(years, 100 * s["needy_vs_formula"], marker="o", color="C3",
                        label="最需要的10% neediest tenth")
            bottom.axhline(100, color="0.6", lw=0.8)
            bottom.set_ylabel("占公式测算 % of formula amount")
            counts = bottom.twinx()
            counts.bar(years, s["at_floor"], width=0.35, align="edge", alpha=0.25,
                       color="C0", label="保底 at floor")
            counts.bar(years, -s["at_cap"], width=0.35, align="edge", alpha=0.25,
                       color="C1", label="封顶 at cap (below 0)")
            counts.set_ylabel("镇数 towns")
            lines, labels = bottom.get_legend_handles_labels()
            more, more_labels = counts.get_legend_handles_labels()
            bottom.legend(lines + more, labels + more_labels, loc="best", fontsize="small")
            bottom.set_xticks(years, [str(y) for y in years])
            bottom.set_xlabel("年度 year")
            fig.suptitle(title or "多年测算 Projection: each year's amounts roll into the next")
            return _finish(fig, families)

    def __repr__(self) -> str:
        first, last = self.summary.iloc[0], self.summary.iloc[-1]
        return (f"<Projection {self.years[0]}–{self.years[-1]}: {len(self.summary)} years, "
                f"{int(last['towns'])} towns; fund {first['fund']:,.0f} → {last['fund']:,.0f} "
                f"yuan; neediest tenth at {first['needy_vs_formula']:.1%} → "
                f"{last['needy_vs_formula']:.1%} of their formula amount>")

    def _repr_html_(self) -> str:
        shown = self.summary.copy().astype(object)
        for column in ("fund", "min", "median", "max"):
            shown[column] = [f"{v:,.0f}" for v in self.summary[column]]
        shown["gini"] = [f"{v:.4f}" for v in self.summary["gini"]]
        shown["needy_vs_formula"] = [f"{v:.1%}" for v in self.summary["needy_vs_formula"]]
        return (f"<p><b>Projection</b> over {len(shown)} years "
                f"({self.years[0]}–{self.years[-1]}): each year's amounts are the next year's "
                f"prior amounts.</p>" + shown.to_html())


def _years(policies: Any, funds: Any, years: Sequence[int] | None) -> list[int]:
    for source in (years, funds if isinstance(funds, Mapping) else None,
                   policies if isinstance(policies, Mapping) else None):
        if source is not None:
            out = sorted(int(y) for y in source)
            if len(set(out)) != len(out) or not out:
                raise ValidationError([Problem("years must be distinct and at least one",
                                               value=repr(source))], what="project")
            return out
    raise ValidationError([Problem(
        "say which years: pass funds or policies as a mapping year → value, or years=")],
        what="project")


def _funds(funds: Any, years: list[int]) -> dict[int, int]:
    if isinstance(funds, Mapping):
        missing = [y for y in years if y not in funds]
        if missing:
            raise ValidationError([Problem("no fund for this year", row=str(y))
                                   for y in missing], what="project")
        values = {y: funds[y] for y in years}
    elif isinstance(funds, Sequence) and not isinstance(funds, str):
        if len(funds) != len(years):
            raise ValidationError([Problem(
                f"{len(funds)} funds for {len(years)} years", value=repr(funds))],
                what="project")
        values = dict(zip(years, funds, strict=True))
    else:
        values = dict.fromkeys(years, funds)
    out: dict[int, int] = {}
    problems = []
    for y, v in values.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = float("nan")
        if not np.isfinite(f) or f < 0 or f != int(f):
            problems.append(Problem("the fund must be a whole number of yuan ≥ 0", row=str(y),
                                    value=repr(v)))
        else:
            out[y] = int(f)
    if problems:
        raise ValidationError(problems, what="project")
    return out


def _policies(policies: Any, years: list[int]) -> dict[int, Policy]:
    """A policy per year: one for all, or per year a Policy, an id, or changes to apply to the
    previous year's policy (a mapping of parameter paths to values)."""
    if not isinstance(policies, Mapping):
        one = policies if isinstance(policies, Policy) else get_policy(str(policies))
        return dict.fromkeys(years, one)
    out: dict[int, Policy] = {}
    current: Policy | None = None
    for y in years:
        given = policies.get(y)
        if isinstance(given, Policy):
            current = given
        elif isinstance(given, str):
            current = get_policy(given)
        elif isinstance(given, Mapping):
            if current is None:
                raise ValidationError([Problem(
                    "changes for the first year need a policy to change", row=str(y))],
                    what="project")
            current = current.with_changes(dict(given), reason=f"projection, {y}")
        elif given is not None:
            raise ValidationError([Problem(
                "expected a Policy, a policy id or a mapping of changes", row=str(y),
                value=type(given).__name__)], what="project")
        if current is None:
            raise ValidationError([Problem("no policy for the first year", row=str(y))],
                                  what="project")
        out[y] = current
    return out


def project(
    towns: pd.DataFrame,
    policies: Policy | str | Mapping[int, Policy | str | Mapping[str, Any]],
    funds: int | Sequence[int] | Mapping[int, int],
    *,
    years: Sequence[int] | None = None,
    constraints: Sequence[Any] = (),
    **allocate_options: Any,
) -> Projection:
    """Allocate year after year, each year's amounts becoming the next year's prior amounts.

    ``towns`` holds the first year's ``prior_amount`` (last year's amounts). Each year the
    fund is allocated with that year's policy and ``constraints`` (as :func:`townfiscal.allocate`
    takes them, with ``allocate_options`` such as ``objective=``); the amounts then replace
    ``prior_amount``: a covered town's amount, or no amount (NaN) for a town the year did not
    cover, which a growth control then treats as new.

    Parameters
    ----------
    towns
        The towns table, with the first year's ``prior_amount``.
    policies
        One policy (or id) for every year, or per year a Policy, an id, or a mapping of changes
        applied to the previous year's policy (``{2023: {"growth_control.cap": 0.10}}``).
    funds
        One fund for every year (with ``years``), a sequence aligned with ``years``, or a
        mapping year → fund (yuan).
    years
        The years, when neither ``funds`` nor ``policies`` is a mapping.

    Returns
    -------
    Projection
        The tidy year × town table, the per-year summary, each year's allocation, ``plot()``.

    Raises
    ------
    ValidationError
        Years, funds or policies that do not fit together.
    InfeasibleError
        A year's constraints cannot all hold; the message names the year.
    """
    from townfiscal._errors import InfeasibleError

    ys = _years(policies, funds, years)
    fund_of = _funds(funds, ys)
    policy_of = _policies(policies, ys)
    current = towns.copy()
    rows: list[pd.DataFrame] = []
    summary: list[dict[str, Any]] = []
    allocations: dict[int, Allocation] = {}
    for y in ys:
        try:
            alloc = allocate(current, policy_of[y], fund=fund_of[y], constraints=constraints,
                             **allocate_options)
        except InfeasibleError as exc:
            exc.add_note(f"in the projection's year {y}")
            raise
        allocations[y] = alloc
        frame = _year_frame(alloc, y)
        rows.append(frame)
        summary.append(_summarise(frame, current, fund_of[y], y))
        nxt = current.copy()
        nxt["prior_amount"] = np.nan
        nxt.loc[frame["code"], "prior_amount"] = frame["amount"].to_numpy(dtype=np.float64)
        current = nxt
    table = pd.concat(rows, ignore_index=True)
    return Projection(table, pd.DataFrame(summary).set_index("year"), allocations)


def _year_frame(alloc: Allocation, year: int) -> pd.DataFrame:
    f = alloc.to_frame()
    fr = alloc.formula.table.reindex(f.index)
    lo = np.fmax(f["lower"].to_numpy(dtype=np.float64),
                 fr["lower"].to_numpy(dtype=np.float64, na_value=np.nan))
    hi = np.fmin(f["upper"].to_numpy(dtype=np.float64),
                 fr["upper"].to_numpy(dtype=np.float64, na_value=np.nan))
    amount = f["amount"].to_numpy(dtype=np.float64)
    return pd.DataFrame({
        "year": year,
        "code": f.index.astype(str),
        "name": f["name"].to_numpy(),
        "county": f["county"].to_numpy(),
        "city": f["city"].to_numpy(),
        "coefficient": fr["coefficient"].to_numpy(dtype=np.float64),
        "prior_amount": f["prior_amount"].to_numpy(dtype=np.float64),
        "formula": fr["proportional"].to_numpy(dtype=np.float64),
        "target": f["target"].to_numpy(dtype=np.float64),
        "amount": f["amount"].to_numpy(dtype=np.int64),
        # within a unit of the rounding of the bound that holds the town
        "at_floor": np.isfinite(lo) & (lo > 0) & (amount <= lo + 1.0),
        "at_cap": np.isfinite(hi) & (amount >= hi - 1.0),
    })


def _summarise(frame: pd.DataFrame, towns: pd.DataFrame, fund: int, year: int
               ) -> dict[str, Any]:
    amount = frame["amount"].to_numpy(dtype=np.float64)
    codes = pd.Index(frame["code"])
    people = towns.reindex(codes)["registered_population"].to_numpy(dtype=np.float64) if (
        "registered_population" in towns.columns) else np.ones(len(frame))
    ok = np.isfinite(people) & (people > 0)
    gini = metrics.gini(amount[ok] / people[ok], people[ok]) if ok.any() else np.nan
    k = max(1, int(np.ceil(NEEDIEST_SHARE * len(frame))))
    needy = np.argsort(-frame["coefficient"].to_numpy(dtype=np.float64), kind="stable")[:k]
    formula_needy = float(frame["formula"].to_numpy(dtype=np.float64)[needy].sum())
    return {
        "year": year,
        "fund": fund,
        "towns": len(frame),
        "paid": int((amount > 0).sum()),
        "min": float(amount.min()) if amount.size else np.nan,
        "median": float(np.median(amount)) if amount.size else np.nan,
        "max": float(amount.max()) if amount.size else np.nan,
        "gini": float(gini) if isinstance(gini, float) else np.nan,
        "at_floor": int(frame["at_floor"].sum()),
        "at_cap": int(frame["at_cap"].sum()),
        "needy_vs_formula": float(amount[needy].sum()) / formula_needy if formula_needy > 0
        else np.nan,
    }
