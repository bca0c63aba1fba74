"""Figures for a director: the 2020 allocation over the bundled example, with Chinese labels.

Writes four PNG files — Lorenz curves before/after, amounts by zone and city, each town's
change against last year, and the curves of a budget sweep — and the allocation table
(分配表.xlsx) into the folder given on the command line (default: ``out/``)::

    python examples/plots.py out/figures
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

import townfiscal as tf
from townfiscal import plots

FUND = 2_000_000_000


def figures() -> tuple[dict[str, Figure], tf.Allocation, pd.DataFrame]:
    """The four figures (by file name), the allocation and the towns."""
    towns = tf.load_example()
    policy = tf.get_policy("guangdong-2020")
    alloc = tf.allocate(
        towns,
        policy,
        fund=FUND,
        constraints=[tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Rounding(10_000)],
    )
    paid = towns.loc[alloc.amounts.index]
    funds = [1_900_000_000 + i * 20_000_000 for i in range(11)]
    table = tf.sweep(towns, policy, funds=funds, executor="serial", progress=False)
    figs = {
        "lorenz.png": plots.lorenz(paid, alloc),
        "amounts_by_area.png": plots.amounts_by_area(towns, alloc),
        "change_from_last_year.png": plots.change_from_last_year(towns, alloc),
        "sweep.png": plots.sweep(table),
    }
    return figs, alloc, towns


def main(folder: Path) -> list[Path]:
    """Write the figures and the workbook into ``folder``; return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    figs, alloc, _ = figures()
    written = []
    for name, fig in figs.items():
        path = folder / name
        fig.savefig(path, dpi=120)
        written.append(path)
    written.append(alloc.to_excel(folder / "分配表.xlsx"))
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out")
    for path in main(out):
        print(path)
