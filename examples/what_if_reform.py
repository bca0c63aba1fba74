"""What if the registered population weighed more? A reform, and who gains.

Art. 6 of the 2020 measures weights the four factors 0.35 / 0.35 / 0.15 / 0.15. This script
moves 0.05 of weight from the fiscally-supported population (a) to the registered population
(b) with ``Policy.with_changes`` — the policy files are untouched, the reformed policy gets its
own hash — recomputes the formula for the same 2,000,000,000 yuan, and lists who gains and
who loses, by town and by city.
"""

from __future__ import annotations

import pandas as pd

import townfiscal as tf

FUND = 2_000_000_000  # yuan

towns = tf.load_example()
base = tf.get_policy("guangdong-2020")
reform = base.with_changes(
    {
        "factors.supported_population.weight": 0.30,
        "factors.registered_population.weight": 0.40,
    },
    id="guangdong-2020-reform",
    reason="what-if: registered population weighs more",
)
print(f"base    {base.id}: a = {base['factors.supported_population.weight']}, "
      f"b = {base['factors.registered_population.weight']} (hash {base.hash[:12]})")
print(f"reform  {reform.id}: a = {reform['factors.supported_population.weight']}, "
      f"b = {reform['factors.registered_population.weight']} (hash {reform.hash[:12]})")
print()

before = tf.formula_allocation(towns, base, fund=FUND)
after = tf.formula_allocation(towns, reform, fund=FUND)
change = pd.DataFrame(
    {
        "name": before["name"],
        "city": before["city"],
        "registered": before["value_registered_population"],
        "supported": before["value_supported_population"],
        "before": before["amount"],
        "after": after["amount"],
    }
)
change["gain"] = change["after"] - change["before"]
change["gain_%"] = 100 * change["gain"] / change["before"]

moved = int(change["gain"].clip(lower=0).sum())
print(f"{int((change['gain'] > 0).sum())} towns gain, {int((change['gain'] < 0).sum())} lose, "
      f"{int((change['gain'] == 0).sum())} unchanged; {moved:,} yuan change hands "
      f"(the fund stays {int(after['amount'].sum()):,} yuan)")
print()
with pd.option_context("display.width", 140, "display.float_format", "{:,.1f}".format):
    print("Largest gains:")
    print(change.nlargest(8, "gain").to_string())
    print()
    print("Largest losses:")
    print(change.nsmallest(8, "gain").to_string())
    print()
    by_city = change.groupby("city")[["before", "after", "gain"]].sum()
    by_city["gain_%"] = 100 * by_city["gain"] / by_city["before"]
    print("By city (yuan):")
    print(by_city.sort_values("gain", ascending=False).to_string())
