"""Money follows duties (财随事转): moving duties and posts from a county down to its towns.

When a county moves duties (enforcement powers, stations) and the posts that carry them to its
towns — posts follow duties (编随事走), people follow posts (人随编走) — the yearly cost of those
posts and of their operation must move too. The county's spending falls by exactly what its
towns receive; each receiving town's expenditure and fiscally-supported population rise, and
with them its need under the weak-town formula (source notes §6).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pandas as pd

from townfiscal._errors import Problem, ValidationError
from townfiscal.policy import Policy, get_policy
from townfiscal.responsibility._matrix import ResponsibilityMatrix, get_responsibility
from townfiscal.responsibility._split import RowLabels, canonical_headers, row_labels
from townfiscal.rules import formula_allocation
from townfiscal.towns import validate_towns

__all__ = ["Devolution", "devolve", "subsidy_change"]

#: Header aliases of a moves table.
MOVES_ALIASES: dict[str, str] = {
    "town": "code", "town_code": "code", "行政区划代码": "code", "乡镇代码": "code",
    "代码": "code",
    "县(市、区)": "county", "县（市、区）": "county", "县": "county",
    "编制": "posts", "下沉编制": "posts", "编制数": "posts", "人员编制": "posts",
    "每编制年人员经费": "cost_per_post", "人均经费": "cost_per_post",
    "公用经费": "operating_cost", "年公用经费": "operating_cost",
    "事权": "powers", "下放事权": "powers", "职权事项": "powers",
    "事项": "duty", "职责": "duty",
}

_PARAMS = ("cost_per_post", "operating_cost_per_post", "supported_per_post")
_MONEY_OUT = ("personnel", "operating", "amount")


@attrs.frozen(eq=False, repr=False)
class Devolution:
    """The result of :func:`devolve`.

    Unpacks as ``towns, transfers = tf.devolve(...)``. Made by :func:`devolve`, not by hand.

    Attributes
    ----------
    towns:
        The updated towns table (same rows and columns as given): ``expenditure`` (yuan)
        raised by the yearly money that follows the duties, ``supported_population``
        (people) by the posts (× ``supported_per_post``), and ``fiscal_capacity`` (yuan) by
        the same money only when ``capacity_follows``.
    transfers:
        One row per receiving town (index ``code``): ``city``, ``county``, ``name``,
        ``posts``, ``powers``, ``personnel``, ``operating`` and ``amount`` (int64 yuan per
        year; ``amount = personnel + operating``).
    counties:
        One row per giving (city, county): ``towns`` (how many receive), ``posts``,
        ``powers`` and ``amount`` (int64 yuan per year leaving the county's budget; equal to
        the sum its towns receive).
    before:
        The towns table as it was (validated).
    parameters:
        The figures used for moves that gave none (``cost_per_post`` and
        ``operating_cost_per_post`` in yuan a year, ``supported_per_post`` in people), each
        as ``(value, source)``.

    Examples
    --------
    >>> import pandas as pd, townfiscal as tf
    >>> d = tf.devolve(tf.load_example(), pd.DataFrame({"code": ["441521101"], "posts": [30]}),
    ...                cost_per_post=100_000, operating_cost_per_post=20_000)
    >>> towns, transfers = d
    >>> gain = towns.loc["441521101", "expenditure"] - d.before.loc["441521101", "expenditure"]
    >>> float(gain), int(d.counties["amount"].sum())
    (3600000.0, 3600000)
    """

    towns: pd.DataFrame
    transfers: pd.DataFrame
    counties: pd.DataFrame
    before: pd.DataFrame
    parameters: dict[str, tuple[float, str]]

    def __iter__(self) -> Iterator[pd.DataFrame]:
        yield self.towns
        yield self.transfers

    def __repr__(self) -> str:
        from townfiscal._html import devolution_text

        return devolution_text(self)

    def _repr_html_(self) -> str:
        """A compact summary for Jupyter: towns, posts, yuan a year, parameters, counties."""
        from townfiscal._html import devolution_html

        return devolution_html(self)

    def subsidy_change(self, policy: Policy | str, fund: float | None = None) -> pd.DataFrame:
        """How the devolution changes each town's weak-town subsidy (see :func:`subsidy_change`),
        with the posts and yearly money each town received joined on."""
        out = subsidy_change(self.before, self.towns, policy, fund=fund)
        meta = dict(out.attrs)
        got = self.transfers[["posts", "amount"]].rename(columns={"amount": "transfer"})
        out = out.join(got, how="left")
        out.attrs.update(meta)
        out["posts"] = out["posts"].fillna(0).astype(np.int64)
        out["transfer"] = out["transfer"].fillna(0).astype(np.int64)
        return out


def _defaults(matrix: ResponsibilityMatrix | str | None,
              given: dict[str, float | None]) -> dict[str, tuple[float, str]]:
    out: dict[str, tuple[float, str]] = {}
    m = get_responsibility(matrix) if isinstance(matrix, str) else matrix
    for key in _PARAMS:
        value = given.get(key)
        if value is not None:
            out[key] = (float(value), "given by the caller")
        elif m is not None:
            with contextlib.suppress(KeyError):
                out[key] = m.parameter(f"devolution.{key}")
    return out


def devolve(towns: pd.DataFrame, moves: pd.DataFrame, *,
            matrix: ResponsibilityMatrix | str | None = "guangdong-2020",
            cost_per_post: float | None = None,
            operating_cost_per_post: float | None = None,
            supported_per_post: float | None = None,
            capacity_follows: bool = False) -> Devolution:
    """Move duties and posts from counties to their towns, and the money with them.

    For each move: ``personnel = posts × cost_per_post`` and ``operating`` (the move's own
    yearly operating cost, or ``posts × operating_cost_per_post``), each rounded to whole yuan;
    ``amount = personnel + operating`` leaves the county and reaches the town every year. What
    leaves each county equals what its towns receive, to the yuan.

    Parameters:
        towns: a towns table (validated here).
        moves: one row per move: ``code`` (the receiving town, 9 digits), ``posts`` (whole,
            ≥ 0); optionally ``county`` (the giving county, by name or 6-digit code; it must be
            the town's own county), ``cost_per_post`` (yuan a year), ``operating_cost``
            (yuan a year for the whole move), ``powers`` (duties moved, a count), ``duty``
            (text). Several moves may reach the same town. Chinese headers (编制, 事权, 公用经费,
            县(市、区)) are accepted.
        matrix: a responsibility matrix (or id) whose ``[devolution]`` section gives the
            default ``cost_per_post``, ``operating_cost_per_post`` and ``supported_per_post``
            (documented assumptions); ``None`` for none.
        cost_per_post: yuan a year per post, for moves without their own figure (overrides
            the matrix's default).
        operating_cost_per_post: yuan a year per post, for moves without ``operating_cost``.
        supported_per_post: people added to the town's fiscally-supported population per post.
        capacity_follows: also add the money to the town's ``fiscal_capacity``. Default
            ``False``: the money that follows the duties is earmarked for them (经费随事划转), so
            it does not count as disposable capacity. With ``True`` the transfer counts as
            the town's disposable revenue — which, under Art. 6's per-capita capacity and
            per-capita expenditure factors, can make a town look *less* needy after taking on
            duties; compare both.

    Returns:
        :class:`Devolution` (unpacks as ``towns, transfers``).

    Raises:
        ValidationError: missing columns, unknown town codes, a county that is not the
            town's, negative or fractional posts or powers, negative or non-finite costs, a
            move with no cost figure and no default — every problem at once.

    Example:
        >>> import pandas as pd, townfiscal as tf
        >>> towns = tf.load_example()
        >>> d = tf.devolve(towns, pd.DataFrame({"code": ["441521101"], "posts": [30]}),
        ...                cost_per_post=100_000, operating_cost_per_post=20_000)
        >>> int(d.transfers.loc["441521101", "amount"])
        3600000
    """
    before = validate_towns(towns)
    params = _defaults(matrix, {"cost_per_post": cost_per_post,
                                "operating_cost_per_post": operating_cost_per_post,
                                "supported_per_post": supported_per_post})
    df, _ = canonical_headers(moves.reset_index() if moves.index.name == "code"
                              else moves.reset_index(drop=True), MOVES_ALIASES)
    problems: list[Problem] = []
    for col in ("code", "posts"):
        if col not in df.columns:
            problems.append(Problem("missing column", column=col))
    if problems:
        raise ValidationError(problems, what="moves table")
    code = df["code"].map(_code_text).astype(str)
    code_list: list[str] = code.tolist()
    df["code"] = code
    labels = row_labels(df)

    known = code.isin(before.index).to_numpy(dtype=bool)
    for k in np.flatnonzero(~known).tolist():
        problems.append(Problem("unknown town: not in the towns table", row=str(labels[k]),
                                column="code", value=code.iat[k]))
    county_of = before["county"].reindex(code).to_numpy(dtype=object)
    city_of = before["city"].reindex(code).to_numpy(dtype=object)
    if "county" in df.columns:
        given = df["county"].map(_code_text).to_numpy(dtype=object)
        blank = np.array([g in ("", "nan", "None") for g in given], dtype=bool)
        same = (given == county_of) | (given == code.str[:6].to_numpy(dtype=object))
        for k in np.flatnonzero(known & ~blank & ~same).tolist():
            problems.append(Problem(
                f"the town belongs to {county_of[k]} ({code_list[k][:6]}), not this county: "
                "duties move from a county to its own towns", row=str(labels[k]),
                column="county", value=given[k]))

    posts = _whole_count(df["posts"], "posts", labels, problems)
    powers = (_whole_count(df["powers"], "powers", labels, problems, blank_is_zero=True)
              if "powers" in df.columns else np.zeros(len(df), dtype=np.int64))
    cpp = _per_move(df, "cost_per_post", params, labels, problems)
    if "operating_cost" in df.columns:
        op_given = pd.to_numeric(df["operating_cost"], errors="coerce").to_numpy(dtype=float)
        blank_op = df["operating_cost"].isna().to_numpy(dtype=bool)
    else:
        op_given = np.full(len(df), np.nan)
        blank_op = np.ones(len(df), dtype=bool)
    opp = _per_move(df.assign(operating_cost_per_post=np.nan), "operating_cost_per_post",
                    params, labels, problems, needed=blank_op)
    for k in np.flatnonzero(~blank_op & (~np.isfinite(op_given) | (op_given < 0))).tolist():
        problems.append(Problem("must be a finite, non-negative number (yuan a year)",
                                row=str(labels[k]), column="operating_cost",
                                value=df["operating_cost"].iat[k]))
    spp = params.get("supported_per_post", (1.0, "assumption: one person per post"))
    if spp[0] < 0 or not np.isfinite(spp[0]):
        problems.append(Problem("must be a finite, non-negative number",
                                column="supported_per_post", value=spp[0]))
    if problems:
        raise ValidationError(problems, what="moves table")

    personnel = np.rint(posts * cpp).astype(np.int64)
    operating_raw = np.where(blank_op, posts * opp, op_given)
    operating = np.rint(operating_raw).astype(np.int64)
    amount = personnel + operating

    per_move = pd.DataFrame({
        "code": code.to_numpy(), "city": city_of, "county": county_of,
        "posts": posts, "powers": powers, "personnel": personnel, "operating": operating,
        "amount": amount,
    })
    transfers = per_move.groupby("code", sort=True).agg(
        city=("city", "first"), county=("county", "first"), posts=("posts", "sum"),
        powers=("powers", "sum"), personnel=("personnel", "sum"),
        operating=("operating", "sum"), amount=("amount", "sum"))
    transfers.insert(2, "name", before["name"].reindex(transfers.index).to_numpy())
    counties = transfers.groupby(["city", "county"], sort=True).agg(
        towns=("posts", "size"), posts=("posts", "sum"), powers=("powers", "sum"),
        amount=("amount", "sum"))
    for frame in (transfers, counties):
        for col in ("posts", "powers", *[c for c in _MONEY_OUT if c in frame.columns]):
            frame[col] = frame[col].astype(np.int64)

    after = before.copy()
    money = transfers["amount"].reindex(after.index, fill_value=0).to_numpy(dtype=np.float64)
    people = transfers["posts"].reindex(after.index, fill_value=0).to_numpy(dtype=np.float64)
    after["expenditure"] = after["expenditure"].to_numpy(dtype=np.float64) + money
    after["supported_population"] = (after["supported_population"].to_numpy(dtype=np.float64)
                                     + people * spp[0])
    if capacity_follows:
        after["fiscal_capacity"] = after["fiscal_capacity"].to_numpy(dtype=np.float64) + money
    params.setdefault("supported_per_post", spp)
    return Devolution(towns=after, transfers=transfers, counties=counties, before=before,
                      parameters=params)


def _code_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _whole_count(values: pd.Series, column: str, labels: RowLabels,
                 problems: list[Problem], *, blank_is_zero: bool = False
                 ) -> npt.NDArray[np.int64]:
    raw = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if blank_is_zero:
        raw = np.where(values.isna().to_numpy(dtype=bool), 0.0, raw)
    bad = ~np.isfinite(raw)
    for k in np.flatnonzero(bad).tolist():
        problems.append(Problem("must be a whole number", row=str(labels[k]), column=column,
                                value=values.iat[k]))
    for k in np.flatnonzero(~bad & (raw < 0)).tolist():
        problems.append(Problem("must not be negative", row=str(labels[k]), column=column,
                                value=float(raw[k])))
    frac = ~bad & (raw >= 0) & (raw != np.round(raw))
    for k in np.flatnonzero(frac).tolist():
        problems.append(Problem("must be a whole number", row=str(labels[k]), column=column,
                                value=float(raw[k])))
    return np.where(bad, 0, np.round(raw)).astype(np.int64)


def _per_move(df: pd.DataFrame, column: str, params: dict[str, tuple[float, str]],
              labels: RowLabels, problems: list[Problem],
              needed: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.float64]:
    """A per-post yuan figure per move: the move's own, else the default."""
    n = len(df)
    own = (pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
           if column in df.columns else np.full(n, np.nan))
    blank = (df[column].isna().to_numpy(dtype=bool) if column in df.columns
             else np.ones(n, dtype=bool))
    for k in np.flatnonzero(~blank & (~np.isfinite(own) | (own < 0))).tolist():
        problems.append(Problem("must be a finite, non-negative number (yuan a year)",
                                row=str(labels[k]), column=column, value=df[column].iat[k]))
    need = blank if needed is None else blank & needed
    default = params.get(column)
    if default is None:
        for k in np.flatnonzero(need).tolist():
            problems.append(Problem(f"no {column} for this move and no default: give the "
                                    f"column, pass {column}=, or use a matrix with "
                                    f"[devolution] {column}", row=str(labels[k]),
                                    column=column))
        return np.where(blank, 0.0, own)
    if default[0] < 0 or not np.isfinite(default[0]):
        problems.append(Problem("default must be a finite, non-negative number",
                                column=column, value=default[0]))
    return np.where(blank, default[0], own)


def subsidy_change(before: pd.DataFrame, after: pd.DataFrame, policy: Policy | str,
                   fund: float | None = None) -> pd.DataFrame:
    """Each town's weak-town subsidy by the policy's formula before and after a change.

    Runs :func:`~townfiscal.formula_allocation` on both tables with the same fund. With a
    fixed fund, money one town gains others lose: ``change`` sums to 0.

    Parameters:
        before, after: towns tables (e.g. ``devolution.before`` and ``devolution.towns``).
        policy: a policy or its id.
        fund: the fund, yuan (default: the policy's).

    Returns:
        DataFrame indexed by code over the towns eligible in either table: ``name``,
        ``county``, ``city``, ``zone``, ``coefficient_before``, ``coefficient_after``,
        ``amount_before``, ``amount_after`` (int64 yuan; 0 where not eligible), ``change``
        (int64 yuan) and ``change_pct`` (percent of the amount before; NaN where it was 0).

    Example:
        >>> import pandas as pd, townfiscal as tf
        >>> towns = tf.load_example()
        >>> d = tf.devolve(towns, pd.DataFrame({"code": ["441521101"], "posts": [30]}))
        >>> ch = tf.subsidy_change(d.before, d.towns, "guangdong-2020")
        >>> int(ch["change"].sum()), bool(ch.loc["441521101", "change"] > 0)
        (0, True)
    """
    pol = get_policy(policy) if isinstance(policy, str) else policy
    fa0 = formula_allocation(before, pol, fund)
    fa1 = formula_allocation(after, pol, fund)
    idx = fa0.index.union(fa1.index)
    info = pd.concat([fa1, fa0.loc[fa0.index.difference(fa1.index)]])
    out = info.loc[idx, ["name", "county", "city", "zone"]].copy()
    out["coefficient_before"] = fa0["coefficient"].reindex(idx)
    out["coefficient_after"] = fa1["coefficient"].reindex(idx)
    out["amount_before"] = fa0["amount"].reindex(idx, fill_value=0).astype(np.int64)
    out["amount_after"] = fa1["amount"].reindex(idx, fill_value=0).astype(np.int64)
    out["change"] = out["amount_after"] - out["amount_before"]
    base = out["amount_before"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["change_pct"] = np.where(base > 0, 100.0 * out["change"].to_numpy() / base, np.nan)
    out.index.name = "code"
    out.attrs.update({"policy": pol.id, "policy_hash": pol.hash,
                      "fund": fa1.attrs.get("fund")})
    return out
