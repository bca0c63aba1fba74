"""Growth control against the pure formula: who is held, who is capped, what it costs.

Art. 5 of the 2020 measures multiplies each town's share of the fund by a growth-control
adjustment. This script computes the 2020 amounts twice on the example data — with the
policy's growth control (no town below last year, at most +15 %) and with it switched off
(``Policy.with_changes``, the pure share C_i / ΣC_j of the fund) — and shows how many towns
each bound holds, how much money growth control moves, and a chart of the change against last
year under both. The chart is saved to the output folder given as the first argument
(default ``out/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import townfiscal as tf

FUND = 2_000_000_000  # yuan
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out")
out.mkdir(parents=True, exist_ok=True)

towns = tf.load_example()
controlled = tf.get_policy("guangdong-2020")
pure = controlled.with_changes(
    {"growth_control.floor": None, "growth_control.cap": None},
    id="guangdong-2020-no-growth-control",
    reason="what-if: the pure Art. 5 share, no growth control",
)

with_gc = tf.formula_allocation(towns, controlled, fund=FUND)
without = tf.formula_allocation(towns, pure, fund=FUND)
prior = with_gc["prior_amount"]
table = pd.DataFrame(
    {
        "name": with_gc["name"],
        "zone": with_gc["zone"],
        "prior": prior,
        "pure": without["amount"],
        "controlled": with_gc["amount"],
    }
)
table["change_pure_%"] = 100 * (table["pure"] / prior - 1)
table["change_controlled_%"] = 100 * (table["controlled"] / prior - 1)
held = with_gc["unrounded"] <= with_gc["lower"] + 0.5
capped = with_gc["unrounded"] >= with_gc["upper"] - 0.5

floor = controlled["growth_control.floor"]
cap = controlled["growth_control.cap"]
print(f"growth control: floor {floor:+.0%}, cap {cap:+.0%} on last year's amount")
print(f"pure formula:   {int((table['change_pure_%'] < 100 * floor).sum())} towns would fall "
      f"below last year, {int((table['change_pure_%'] > 100 * cap).sum())} would grow more "
      f"than {cap:.0%}")
print(f"controlled:     {int(held.sum())} towns held at last year's amount, "
      f"{int(capped.sum())} capped, {int((~held & ~capped).sum())} scaled together")
moved = int((table["controlled"] - table["pure"]).clip(lower=0).sum())
print(f"growth control moves {moved:,} yuan ({moved / FUND:.1%} of the fund); "
      f"both totals are {int(table['pure'].sum()):,} and {int(table['controlled'].sum()):,} yuan")
print()

with pd.option_context("display.width", 120, "display.float_format", "{:,.1f}".format):
    by_zone = table.groupby("zone")[["prior", "pure", "controlled"]].sum()
    by_zone["pure_%"] = 100 * (by_zone["pure"] / by_zone["prior"] - 1)
    by_zone["controlled_%"] = 100 * (by_zone["controlled"] / by_zone["prior"] - 1)
    print("By zone (yuan, and change on last year in %):")
    print(by_zone.to_string())
    print()
    print("The towns growth control protects most (pure formula far below last year):")
    print(table.nsmallest(5, "change_pure_%").to_string())

fig, ax = plt.subplots(figsize=(7.5, 4.2))
changes = table[["change_pure_%", "change_controlled_%"]]
bins = np.linspace(np.floor(changes.min().min()), np.ceil(changes.max().max()), 61)
ax.hist(table["change_pure_%"], bins=bins, alpha=0.6, label="pure formula")
ax.hist(table["change_controlled_%"], bins=bins, alpha=0.8, label="with growth control")
ax.axvline(100 * floor, color="k", lw=0.8, ls="--")
ax.axvline(100 * cap, color="k", lw=0.8, ls="--")
ax.set_xlabel("change against last year's amount (%)")
ax.set_ylabel("towns")
ax.set_title("2020 formula amounts, 1,002 eligible towns (example data)")
ax.legend()
fig.tight_layout()
path = out / "growth_control_vs_pure_formula.png"
fig.savefig(path, dpi=120)
print()
print(f"chart written to {path}")
