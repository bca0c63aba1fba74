"""Reproduce the 2020 allocation on the example data.

Guangdong's 2020 budget shared 2,000,000,000 yuan among the fiscally weak towns and
townships (财力薄弱镇(乡)补助), about 2,030,000 yuan per town, +7.7% on 2019 — about 985
towns, where the example's division list (cut-off 2022-10-31) has 1,002 in the same scope, so
its average is lower for the same fund (docs/getting-started explains the counts). This script
runs the 2020 measures (Art. 4 eligibility, Art. 6 coefficient, Art. 5 shares with growth
control) over the bundled example — the real township list with synthetic fiscal figures — and
prints the headline figures, the totals by city, and the trace of one town's amount.
"""

from __future__ import annotations

import pandas as pd

import townfiscal as tf

FUND = 2_000_000_000  # yuan, the 2020 budget (seed: 南方新闻网, 2020-09-10)

towns = tf.load_example()
policy = tf.get_policy("guangdong-2020")
table = tf.formula_allocation(towns, policy, fund=FUND)

prior = table["prior_amount"]
print(f"policy            {policy.id} (hash {policy.hash[:12]})")
print(f"eligible towns    {len(table):,} of {len(towns):,} township-level units")
print(f"fund              {FUND:,} yuan; paid {int(table['amount'].sum()):,} yuan")
print(f"average per town  {table['amount'].mean():,.0f} yuan (2020 budget: about 2,030,000, "
      f"so about {FUND / 2_030_000:,.0f} towns in 2020;")
print(f"                  the example's 2022 division list has {len(table):,}: boundaries "
      "change yearly)")
print(f"last year         {prior.sum():,.0f} yuan to {int(prior.notna().sum()):,} towns "
      f"(fund growth {FUND / prior.sum() - 1:+.1%})")
at_floor = int((table["unrounded"] <= table["lower"] + 0.5).sum())
at_cap = int((table["unrounded"] >= table["upper"] - 0.5).sum())
print(f"growth control    {at_floor} towns held at last year's amount, {at_cap} capped at "
      f"+{policy['growth_control.cap']:.0%}")
print()

with pd.option_context("display.width", 120, "display.float_format", "{:,.0f}".format):
    by_city = (
        table.groupby(["zone", "city"])["amount"]
        .agg(towns="size", total="sum", mean="mean")
        .sort_values("total", ascending=False)
    )
    print("Totals by city (yuan):")
    print(by_city.to_string())
print()

code = table["amount"].idxmax()
print("The largest amount, explained:")
print(tf.explain_formula(towns, policy, code, fund=FUND))
