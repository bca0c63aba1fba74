"""Notebook manners: compact text and HTML summaries of policies, allocations and comparisons.

Jupyter calls ``_repr_html_`` on the last value of a cell; these helpers build that HTML (every
string escaped) and the matching plain text, without any dependency beyond pandas.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = [
    "allocation_html",
    "allocation_text",
    "comparison_html",
    "comparison_text",
    "devolution_html",
    "devolution_text",
    "facts_card",
    "matrix_html",
    "policy_html",
    "policy_text",
    "programmes_html",
    "programmes_text",
    "split_html",
    "split_text",
    "workbook_html",
    "workbook_text",
]

_STYLE = (
    "<style>.tf-card{font-family:sans-serif;font-size:13px;line-height:1.35}"
    ".tf-card table{border-collapse:collapse;margin:4px 0}"
    ".tf-card th,.tf-card td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}"
    ".tf-card td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".tf-card .tf-muted{color:#777}.tf-card .tf-assume{color:#a15c00}</style>"
)


def _e(x: Any) -> str:
    import html  # with the first summary shown, not with the package

    return html.escape(str(x), quote=True)


def _yuan(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "—"
    return f"{v:,.0f}"


def _num(x: Any, digits: int = 4) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "—"
    if v.is_integer() and abs(v) >= 1:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:,.0f}"


def _facts(rows: Iterable[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _frame(df: pd.DataFrame, *, numeric: Mapping[str, str] | None = None) -> str:
    numeric = numeric or {}
    head = "".join(f"<th>{_e(c)}</th>" for c in [df.index.name or "", *df.columns])
    body = []
    for idx, row in df.iterrows():
        cells = [f"<th>{_e(idx)}</th>"]
        for c, v in row.items():
            kind = numeric.get(str(c))
            if kind == "yuan":
                cells.append(f'<td class="num">{_e(_yuan(v))}</td>')
            elif kind == "num":
                cells.append(f'<td class="num">{_e(_num(v))}</td>')
            else:
                cells.append(f"<td>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _card(title: str, *parts: str) -> str:
    return f'{_STYLE}<div class="tf-card"><b>{_e(title)}</b>{"".join(parts)}</div>'


def facts_card(title: str, facts: Iterable[tuple[str, Any]]) -> str:
    """A titled card of (name, value) rows, escaped."""
    return _card(title, _facts(facts))


# --------------------------------------------------------------------------------------------
# Policy


def _policy_facts(policy: Any) -> list[tuple[str, Any]]:
    n = len(policy.parameters)
    facts = [
        ("title", policy.title_zh or policy.title),
        ("effective", policy.effective.isoformat()),
        ("method", policy.method),
        ("document", policy.document),
        ("parameters", f"{n} ({len(policy.assumptions)} documented assumptions)"),
        ("hash", policy.hash[:16] + "…"),
    ]
    if getattr(policy, "effective_source", None):  # a publication date, or an assumption
        facts.insert(2, ("date from", policy.effective_source))
    if getattr(policy, "derived_from", None):
        facts.insert(0, ("derived from", policy.derived_from))
    return facts


def policy_text(policy: Any) -> str:
    """A few lines: id, title, dates, method, parameter count and the assumptions' paths."""
    lines = [f"Policy {policy.id}"]
    lines += [f"  {k}: {v}" for k, v in _policy_facts(policy)]
    assumed = [p.path for p in policy.assumptions]
    if assumed:
        lines.append("  assumptions: " + ", ".join(assumed))
    return "\n".join(lines)


def policy_html(policy: Any) -> str:
    """The policy's facts, then every parameter with its value, unit and source (assumptions
    marked), folded under a <details>."""
    rows = []
    for p in policy.parameters.values():
        cls = ' class="tf-assume"' if p.is_assumption else ""
        value = p.value if not isinstance(p.value, tuple) else list(p.value)
        rows.append(
            f"<tr{cls}><td>{_e(p.path)}</td><td>{_e(value)}</td><td>{_e(p.unit or '')}</td>"
            f"<td>{_e(p.source)}</td></tr>"
        )
    params = (
        f"<details><summary>{len(rows)} parameters (assumptions in amber)</summary><table>"
        "<thead><tr><th>path</th><th>value</th><th>unit</th><th>source</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></details>"
    )
    return _card(f"Policy {policy.id}", _facts(_policy_facts(policy)), params)


# --------------------------------------------------------------------------------------------
# Allocation


def _allocation_facts(alloc: Any) -> list[tuple[str, Any]]:
    amounts = alloc.amounts
    prov = getattr(alloc, "provenance", {}) or {}
    facts: list[tuple[str, Any]] = [
        ("fund", f"{_yuan(getattr(alloc, 'fund', amounts.sum()))} yuan"),
        ("towns", f"{len(amounts):,}"),
        (
            "per town",
            f"min {_yuan(amounts.min())} · mean {_yuan(amounts.mean())} · "
            f"max {_yuan(amounts.max())} yuan",
        ),
    ]
    status = getattr(alloc, "status", None)
    if status is not None:
        obj = getattr(alloc, "objective_value", math.nan)
        unit = getattr(alloc, "objective_unit", "")
        facts.append(("status", f"{status} (objective {_num(obj, 6)} {unit})".strip()))
    solver = getattr(alloc, "solver", None)
    if solver:
        secs = getattr(alloc, "solve_seconds", None)
        facts.append(("solver", f"{solver}" + (f", {secs:.3f} s" if secs is not None else "")))
    policy = prov.get("policy") or prov.get("policy_id")
    if policy:
        facts.append(("policy", policy))
    if "data_hash" in prov:
        facts.append(("data hash", str(prov["data_hash"])[:16] + "…"))
    constraints = prov.get("constraints")
    if constraints:
        facts.append(("constraints", ", ".join(map(str, constraints))))
    return facts


def _binding_counts(alloc: Any) -> pd.Series[Any] | None:
    prices = getattr(alloc, "shadow_prices", None)
    if isinstance(prices, pd.DataFrame) and "binding" in prices.columns:
        return prices["binding"]
    return None


def allocation_text(alloc: Any) -> str:
    """A few lines: fund, towns, amounts' range, status, solver, policy, constraints."""
    lines = [type(alloc).__name__]
    lines += [f"  {k}: {v}" for k, v in _allocation_facts(alloc)]
    binding = _binding_counts(alloc)
    if binding is not None and len(binding):
        held = ", ".join(f"{k} {int(v)}" for k, v in binding.items() if v)
        if held:
            lines.append(f"  towns held by: {held}")
    return "\n".join(lines)


def allocation_html(alloc: Any) -> str:
    """The allocation's facts, the shadow prices per constraint family, and amounts by city."""
    parts = [_facts(_allocation_facts(alloc))]
    prices = getattr(alloc, "shadow_prices", None)
    if isinstance(prices, pd.DataFrame) and len(prices):
        cols = [c for c in ("shadow_price", "binding", "unit", "meaning") if c in prices.columns]
        parts.append("<div class='tf-muted'>shadow prices</div>")
        parts.append(_frame(prices[cols], numeric={"shadow_price": "num", "binding": "num"}))
    towns = getattr(getattr(alloc, "formula", None), "table", None)
    if isinstance(towns, pd.DataFrame) and "city" in towns.columns:
        by_city = (
            alloc.amounts.groupby(towns["city"].reindex(alloc.amounts.index))
            .agg(["size", "sum"])
            .rename(columns={"size": "towns", "sum": "yuan"})
            .sort_values("yuan", ascending=False)
        )
        by_city.index.name = "city"
        parts.append(
            f"<details><summary>by city ({len(by_city)})</summary>"
            f"{_frame(by_city, numeric={'towns': 'num', 'yuan': 'yuan'})}</details>"
        )
    return _card(type(alloc).__name__, *parts)


# --------------------------------------------------------------------------------------------
# Comparison

_CMP_COLUMNS = {
    "total": "yuan",
    "towns": "num",
    "mean": "yuan",
    "winners": "num",
    "losers": "num",
    "up_vs_baseline": "num",
    "down_vs_baseline": "num",
    "gini_before": "num",
    "gini_after": "num",
    "cv_after": "num",
    "max_min_after": "num",
    "min_per_capita": "yuan",
}


def comparison_text(cmp: Any) -> str:
    """The summary table as text, one row per scenario."""
    cols = [c for c in _CMP_COLUMNS if c in cmp.summary.columns]
    df = cmp.summary[cols].copy()
    for c in cols:
        if _CMP_COLUMNS[c] == "yuan":
            df[c] = df[c].map(_yuan)
        else:
            df[c] = df[c].map(lambda v: _num(v))
    head = (
        f"Comparison of {len(cmp.summary)} scenarios over {len(cmp.table):,} towns "
        f"(baseline {cmp.baseline!r})"
    )
    return head + "\n" + str(df.to_string())


def comparison_html(cmp: Any) -> str:
    """The summary table as HTML."""
    cols = [c for c in _CMP_COLUMNS if c in cmp.summary.columns]
    title = (
        f"Comparison of {len(cmp.summary)} scenarios over {len(cmp.table):,} towns "
        f"(baseline {cmp.baseline})"
    )
    return _card(title, _frame(cmp.summary[cols], numeric=_CMP_COLUMNS))


# --------------------------------------------------------------------------------------------
# Allocation workbooks read back


def _workbook_facts(wb: Any) -> list[tuple[str, Any]]:
    prov = wb.provenance
    facts = [("towns", f"{len(wb.table):,}"), ("fund", f"{_yuan(wb.fund)} yuan")]
    facts += [(k, prov[k]) for k in ("policy_id", "townfiscal_version", "created")
              if prov.get(k) is not None]
    facts.append(("towns table", "included" if wb.towns is not None else "not included"))
    return facts


def workbook_text(wb: Any) -> str:
    """One line: towns, fund, policy and version as written."""
    return "AllocationWorkbook(" + ", ".join(f"{k} {v}" for k, v in _workbook_facts(wb)) + ")"


def workbook_html(wb: Any) -> str:
    """The workbook's facts and its five largest amounts."""
    cols = [c for c in ("name", "county", "amount") if c in wb.table.columns]
    top = wb.table.nlargest(5, "amount")[cols]
    return _card("Allocation workbook", _facts(_workbook_facts(wb)),
                 "<div class='tf-muted'>largest amounts</div>",
                 _frame(top, numeric={"amount": "yuan"}))


# --------------------------------------------------------------------------------------------
# Responsibility: expenditure splits, devolutions, matrices, programmes


def _split_head(split: Any) -> str:
    return (f"ExpenditureSplit of {len(split.table):,} spending rows, "
            f"{_yuan(split.totals['amount'])} yuan (matrix {split.matrix.id})")


def split_text(split: Any) -> str:
    """A head line (rows, total, matrix), then the yuan carried by each level."""
    levels = [k for k in split.totals.index if k != "amount"]
    return _split_head(split) + "\n" + "\n".join(
        f"  {k}: {_yuan(split.totals[k])}" for k in levels)


def split_html(split: Any) -> str:
    """The head line and a table of the yuan and share each level carries."""
    total = float(split.totals["amount"])
    levels = [k for k in split.totals.index if k != "amount"]
    df = pd.DataFrame({
        "yuan": [split.totals[k] for k in levels],
        "share": [float(split.totals[k]) / total if total else math.nan for k in levels],
    }, index=pd.Index(levels, name="level"))
    return _card(_split_head(split), _frame(df, numeric={"yuan": "yuan", "share": "num"}))


def _devolution_head(dev: Any) -> str:
    t = dev.transfers
    return (f"Devolution to {len(t):,} towns from {len(dev.counties):,} counties: "
            f"{_yuan(t['posts'].sum())} posts, {_yuan(t['amount'].sum())} yuan a year")


def devolution_text(dev: Any) -> str:
    """A head line (towns, counties, posts, yuan a year), then the parameters used."""
    lines = [_devolution_head(dev)]
    lines += [f"  {k}: {_num(v)} ({src})" for k, (v, src) in dev.parameters.items()]
    return "\n".join(lines)


def devolution_html(dev: Any) -> str:
    """The head line, the parameters with their sources and the counties' totals."""
    facts = _facts((k, f"{_num(v)} ({src})") for k, (v, src) in dev.parameters.items())
    counties = dev.counties.reset_index()
    key = [c for c in ("city", "county") if c in counties.columns]
    shown = counties.set_index(key[-1]) if key else counties
    cols = [c for c in ("city", "towns", "posts", "amount") if c in shown.columns]
    table = (f"<details><summary>{len(shown)} giving counties</summary>"
             f"{_frame(shown[cols], numeric={'towns': 'num', 'posts': 'num', 'amount': 'yuan'})}"
             "</details>")
    return _card(_devolution_head(dev), facts, table)


def matrix_html(matrix: Any) -> str:
    """The matrix's facts and its items (category, Chinese name, rule), folded."""
    facts = _facts([
        ("title", matrix.title),
        ("items", len(matrix.items)),
        ("zones", ", ".join(matrix.zones)),
        ("levels", ", ".join(matrix.levels)),
        ("hash", matrix.hash),
    ])
    cols = [c for c in ("category_zh", "name_zh", "rule") if c in matrix.items.columns]
    items = (f"<details><summary>{len(matrix.items)} items</summary>"
             f"{_frame(matrix.items[cols])}</details>")
    return _card(f"ResponsibilityMatrix {matrix.id}", facts, items)


def programmes_text(ps: Any) -> str:
    """One line for the set, then one per programme: id, kind, rate, default or not."""
    lines = [f"Programmes {ps.id}: {ps.title} ({len(ps.programmes)} programmes)"]
    for p in ps.programmes:
        rate = "" if p.rate is None else f", {_yuan(p.rate)} yuan"
        lines.append(f"  {p.id} ({p.name_zh}): {p.kind}{rate}"
                     f"{', default' if p.default else ''}")
    return "\n".join(lines)


def programmes_html(ps: Any) -> str:
    """The set's title and a table of its programmes."""
    df = ps.to_frame()
    cols = [c for c in ("name_zh", "kind", "rate", "scope", "default") if c in df.columns]
    return _card(f"Programmes {ps.id}: {ps.title}", _frame(df[cols], numeric={"rate": "yuan"}))
