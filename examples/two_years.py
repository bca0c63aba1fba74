"""Two successive years: last year's 分配表 rolled forward into this year's allocation.

Growth control and hold-harmless compare each town with what it received last year. This
script walks through two years the way a finance bureau does:

1. **2020**: allocate the fund over the bundled example and write the 分配表 workbook.
2. **2021**: the county sends this year's towns table as a workbook (a title line, a
   ``单位：万元`` line, no 上年补助 column: last year's amounts are in last year's 分配表).
   Two of its towns have merged and one has been split off another (made-up changes, to show
   what the roll-forward reports); populations and budgets have grown.
3. Read 2021's table with ``prior=`` the 2020 workbook: last year's amounts are matched by
   code, the new town and the vanished one are reported, and the merged town's base is
   repaired by hand (its partner's 2020 amount added to its own).
4. Allocate 2021's larger fund with the policy's growth control and hold-harmless, write the
   2021 分配表, and show what changed on 2020.

The workbooks go to the output folder given as the first argument (default ``out/``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

import townfiscal as tf

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out")
out.mkdir(parents=True, exist_ok=True)
policy = tf.get_policy("guangdong-2020")

# --- 2020: allocate and write the 分配表 --------------------------------------------------
towns_2020 = tf.load_example()
alloc_2020 = tf.allocate(towns_2020, policy, fund=2_000_000_000,
                         constraints=[tf.HoldHarmless(1.0)])
book_2020 = alloc_2020.to_excel(out / "2020分配表.xlsx")
print(f"2020: {alloc_2020.fund:,} yuan over {len(alloc_2020.amounts):,} towns "
      f"-> {book_2020.name}")

# --- 2021: this year's towns table, as the county sends it ---------------------------------
rng = np.random.default_rng(2021)
towns_2021 = towns_2020.drop(columns="prior_amount")  # last year's amounts are not in it
for col in ("fiscal_capacity", "expenditure"):  # budgets grow by about 6 %
    towns_2021[col] = (towns_2021[col] * rng.normal(1.06, 0.04, len(towns_2021))).round()
MERGED, INTO = "441521106", "441521107"  # 联安镇 merges into 陶河镇 (海丰县)
SPLIT, NEW = "441521115", "441521121"  # 海城镇 cedes 40 % to a new town
summed = ["registered_population", "resident_population", "supported_population", "area_km2",
          "fiscal_capacity", "expenditure"]
towns_2021.loc[INTO, summed] += towns_2021.loc[MERGED, summed]
towns_2021 = towns_2021.drop(index=MERGED)
new = towns_2021.loc[[SPLIT]].rename(index={SPLIT: NEW}).assign(name="海城新区镇")
new[summed] = (new[summed] * 0.4).round()
towns_2021.loc[SPLIT, summed] = (towns_2021.loc[SPLIT, summed] * 0.6).round()
towns_2021 = pd.concat([towns_2021, new]).sort_index()

# written as a bureau writes it: title, unit line, Chinese headers, money in 万元
headers = {c.name: c.zh for c in tf.COLUMNS}
sheet = towns_2021.reset_index().rename(columns=headers)
for col in ("可用财力", "一般公共预算支出"):
    sheet[col] = sheet[col] / 10_000
wb = openpyxl.Workbook()
ws = wb.active
assert ws is not None
ws.title = "乡镇基础数据"
ws.append(["2021年财力薄弱镇补助测算基础数据表"])
ws.append(["单位：万元、人、平方公里"])
ws.append(list(sheet.columns))
for row in sheet.itertuples(index=False):
    ws.append(list(row))
wb.save(out / "2021乡镇基础数据.xlsx")

# --- read 2021 with last year's amounts rolled forward ------------------------------------
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", tf.RollForwardWarning)
    year2 = tf.read_towns(out / "2021乡镇基础数据.xlsx", prior=book_2020, policy=policy)
for w in caught:
    print(f"warning: {w.message}")
info = year2.attrs["townfiscal.prior"]
print(f"2021 towns read: {len(year2):,} units; last year's amounts from {info['file']} "
      f"({info['kind']}, column {info['amount_header']!r}): {info['matched']:,} matched, "
      f"new {info['appeared']}, vanished {info['vanished']}")

# the merged town's base is last year's amounts of both towns (the roll-forward cannot know)
prior = tf.read_prior(book_2020)
prior[INTO] += prior.pop(MERGED)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", tf.RollForwardWarning)  # reported above
    year2 = tf.roll_forward(year2, prior, policy=policy)
print(f"merged base of {INTO}: {year2['prior_amount'].loc[INTO]:,.0f} yuan")

# --- 2021: allocate 5 % more, growth control and hold-harmless ------------------------------
alloc_2021 = tf.allocate(year2, policy, fund=2_100_000_000, constraints=[tf.HoldHarmless(1.0)])
book_2021 = alloc_2021.to_excel(out / "2021分配表.xlsx")
table = alloc_2021.to_frame()
change = table["change"]
print(f"2021: {alloc_2021.fund:,} yuan over {len(table):,} towns -> {book_2021.name}")
print(f"  change on 2020: {int((change > 0).sum())} towns up, {int((change == 0).sum())} held "
      f"at 2020's amount, {int((change < 0).sum())} down; the new town gets "
      f"{table['amount'].loc[NEW]:,} yuan (no base: growth control exempts it)")
held = table["binding"].str.contains("HoldHarmless")
capped = table["amount"] >= np.floor(1.15 * table["prior_amount"])
print(f"  held by hold-harmless {int(held.sum())}, at the +15 % growth cap {int(capped.sum())}")
with pd.option_context("display.width", 120):
    cols = ["name", "county", "prior_amount", "amount", "change"]
    print("\nThe towns whose amount changed most:")
    show = table.loc[change.abs().nlargest(6).index, cols].copy()
    show["prior_amount"] = show["prior_amount"].round().astype("Int64")
    show["change"] = show["change"].round().astype("Int64")
    print(show.to_string())
    by_city = table.groupby("city")[["prior_amount", "amount"]].sum().round().astype("int64")
    by_city["change %"] = (100 * (by_city["amount"] / by_city["prior_amount"] - 1)).round(2)
    print("\nBy city (yuan):")
    print(by_city.sort_values("change %").to_string())
