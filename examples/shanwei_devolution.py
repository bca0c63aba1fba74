"""Shanwei moves 2,230 posts down to its towns and subdistricts (财随事转): what follows.

The seed article (南方新闻网, Southern Daily's news site, 2020-09-10) reports that Shanwei put
469 agencies that the departments of the city and its counties (市縣兩級部門) had stationed in the
towns and subdistricts (派駐機構) under local management and, with them, moved 2,230 posts
(+57% town-level staffing). This script:

1. spreads the 2,230 posts over Shanwei's towns and subdistricts (an assumption, see
   ``shanwei-2020.toml``) and moves them with :func:`townfiscal.devolve`, costing each post with
   the Guangdong matrix's documented assumptions (100,000 yuan of personnel and 20,000 yuan of
   running costs a year);
2. checks that what leaves each county equals what its towns receive, to the yuan;
3. feeds the updated towns table to the 2020 weak-town formula (2 billion yuan) and prints how
   the subsidy of Shanwei's 44 eligible towns changes — with the money earmarked for the duties
   (the default) and, for comparison, counted as the towns' disposable capacity.

The towns' fiscal figures are the bundled synthetic example's (only names and codes are real).

Run: ``python examples/shanwei_devolution.py [OUT_DIR]`` (OUT_DIR: where to write CSV tables).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import townfiscal as tf

HERE = Path(__file__).parent
FUND = 2_000_000_000  # the 2020 budget of the weak-town subsidy (source notes §1)


def load_scenario() -> dict[str, Any]:
    """The scenario's figures (value only) from shanwei-2020.toml."""
    with (HERE / "shanwei-2020.toml").open("rb") as fh:
        doc = tomllib.load(fh)
    return {k: v["value"] for k, v in doc.items()}


def shanwei_moves(towns: pd.DataFrame, scenario: dict[str, Any]) -> pd.DataFrame:
    """One move per receiving unit: whole posts in proportion to supported population."""
    prefix = str(scenario["city_code"])
    kinds = list(scenario["receivers"])
    units = towns[towns.index.str.startswith(prefix) & towns["kind"].isin(kinds)]
    weight = units["supported_population"].to_numpy(dtype=np.float64)
    total = int(scenario["posts"])
    posts = tf.round_to_total(total * weight / weight.sum(), total)
    return pd.DataFrame({"code": units.index, "county": units["county"].to_numpy(),
                         "posts": posts})


def main(out_dir: Path | None = None) -> None:
    """Run the example and print its figures."""
    towns = tf.load_example()
    scenario = load_scenario()
    moves = shanwei_moves(towns, scenario)
    matrix = tf.get_responsibility("guangdong-2020")
    d = tf.devolve(towns, moves, matrix=matrix)

    before_staff = d.before.loc[moves["code"], "supported_population"].sum()
    moved = int(d.transfers["posts"].sum())
    seed_pct = 100 * float(scenario["staffing_increase"])
    print("Shanwei 汕尾市 — 2,230 posts move from the counties to towns and subdistricts")
    print(f"  receiving units            {len(d.transfers):>14,}")
    print(f"  posts moved                {moved:>14,}")
    print(f"  staffing of those units    {before_staff:>14,.0f} → {before_staff + moved:,.0f} "
          f"(+{100 * moved / before_staff:.0f}% of the synthetic supported population; the "
          f"seed reports +{seed_pct:.0f}% of real town staffing)")
    for key, (value, source) in sorted(d.parameters.items()):
        print(f"  {key:<26} {value:>14,.0f}  [{source[:70]}…]")
    print(f"  money following the duties {int(d.counties['amount'].sum()):>14,} yuan a year")
    print("\nper county (yuan a year leaving the county = received by its towns):")
    rise = (d.towns["expenditure"] - d.before["expenditure"]).groupby(d.before["county"]).sum()
    for (_, county), row in d.counties.iterrows():
        received = int(rise[county])
        assert received == int(row["amount"]), "conservation between county and towns"
        print(f"  {county:<6} {int(row['towns']):>3} units {int(row['posts']):>6,} posts "
              f"{int(row['amount']):>14,} out  {received:>14,} in")

    print(f"\nweak-town subsidy, policy guangdong-2020, fund {FUND:,} yuan")
    results = {}
    for label, follows in (("earmarked", False), ("counted as capacity", True)):
        dd = d if not follows else tf.devolve(towns, moves, matrix=matrix,
                                              capacity_follows=True)
        ch = dd.subsidy_change("guangdong-2020", fund=FUND)
        results[label] = ch
        sw = ch[ch.index.str.startswith(str(scenario["city_code"]))]
        at_cap = int((sw["amount_after"] >= np.floor(
            tf.formula_allocation(dd.towns, "guangdong-2020", FUND)
            .loc[sw.index, "upper"])).sum())
        print(f"  money {label}:")
        b, a, c = (int(sw[k].sum()) for k in ("amount_before", "amount_after", "change"))
        others = int(ch["change"].sum()) - c
        print(f"    Shanwei's {len(sw)} eligible towns {b:>14,} → {a:>14,} yuan  "
              f"({c:+,}; {100 * c / b:+.2f}%)")
        print(f"    other towns of the province      {others:+,} yuan (the fund is fixed)")
        print(f"    Shanwei towns up / unchanged / down: {int((sw['change'] > 0).sum())} / "
              f"{int((sw['change'] == 0).sum())} / {int((sw['change'] < 0).sum())}; "
              f"{at_cap} at the +15% growth cap")

    ch = results["earmarked"]
    sw = ch[ch.index.str.startswith(str(scenario["city_code"]))]
    print("\nShanwei towns with the largest changes (money earmarked):")
    cols = ["name", "county", "posts", "transfer", "amount_before", "amount_after", "change"]
    print(sw.sort_values("change", ascending=False)[cols].head(8).to_string())

    print("\nthe seed's other devolutions, costed with the same assumptions:")
    with (HERE / "seed-devolutions-2020.toml").open("rb") as fh:
        others = tomllib.load(fh)
    per_post = d.parameters["cost_per_post"][0] + d.parameters["operating_cost_per_post"][0]
    for key, row in others.items():
        posts = int(row["posts"]["value"])
        extra = "".join(f", {int(row[k]['value']):,} {k}" for k in ("powers", "stations")
                        if k in row)
        print(f"  {row['name_zh']:<5} {posts:>6,} posts{extra:<18} "
              f"{posts * per_post:>14,.0f} yuan a year  ({key})")

    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        d.transfers.to_csv(out_dir / "shanwei_transfers.csv", encoding="utf-8-sig")
        sw.to_csv(out_dir / "shanwei_subsidy_change.csv", encoding="utf-8-sig")
        print(f"\nwrote shanwei_transfers.csv and shanwei_subsidy_change.csv to {out_dir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
