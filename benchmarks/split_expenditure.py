"""Benchmark: splitting spending among five levels, vectorised vs a per-row Python loop.

Every town of China (``tf.make_towns("china")``, ~41,000 units) × the 18 items of
国办发〔2018〕6号 = ~744,000 spending rows, split by the Guangdong matrix. Baseline measured in
the same run: the same largest-remainder rounding written as a plain Python loop over rows
(on a sample, scaled to the full size). Also ``tf.devolve`` moving posts to a third of the
units. Prints a table; no assertion on time.

Run: ``python benchmarks/split_expenditure.py [SAMPLE_ROWS]``.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import pandas as pd

import townfiscal as tf
from townfiscal.responsibility import split_rows


def loop_split(amount: np.ndarray, shares: np.ndarray) -> list[list[int]]:
    """Largest remainders one row at a time (the baseline)."""
    out = []
    for a, s in zip(amount.tolist(), shares.tolist(), strict=True):
        total = sum(s)
        raw = [a * x / total for x in s]
        base = [math.floor(r) for r in raw]
        frac = [round(r - b, 6) if x > 0 else -1.0 for r, b, x in zip(raw, base, s, strict=True)]
        order = sorted(range(len(s)), key=lambda j: (-frac[j], j))
        for j in order[: a - sum(base)]:
            base[j] += 1
        out.append(base)
    return out


def main(sample: int = 50_000) -> None:
    """Time both and print the table."""
    towns = tf.make_towns("china", seed=1)
    m = tf.get_responsibility("guangdong-2020")
    n = len(towns)
    rng = np.random.default_rng(0)
    spending = pd.DataFrame({
        "code": np.repeat(towns.index.to_numpy(), len(m.items)),
        "item": np.tile(m.items.index.to_numpy(), n),
        "amount": rng.integers(0, 100_000_000, n * len(m.items)),
        "zone": np.repeat(towns["zone"].to_numpy(), len(m.items)),
    })
    rows = len(spending)

    t0 = time.perf_counter()
    split = tf.split_expenditure(spending, m)
    t_api = time.perf_counter() - t0
    assert (split.table[list(tf.LEVELS)].sum(axis=1) == split.table["amount"]).all()

    pos = m.items.index.get_indexer(pd.Index(spending["item"]))
    zpos = pd.Index(m.zones).get_indexer(pd.Index(spending["zone"]))
    shares = m.shares[pos, zpos, :]
    amount = spending["amount"].to_numpy(dtype=np.int64)
    t0 = time.perf_counter()
    split_rows(amount, shares)
    t_core = time.perf_counter() - t0
    k = min(sample, rows)
    t0 = time.perf_counter()
    loop = loop_split(amount[:k], shares[:k])
    t_loop = (time.perf_counter() - t0) * rows / k
    assert np.array_equal(np.array(loop), split_rows(amount[:k], shares[:k]))

    moves = pd.DataFrame({"code": towns.index[::3],
                          "posts": rng.integers(0, 50, len(towns.index[::3]))})
    t0 = time.perf_counter()
    d = tf.devolve(towns, moves)
    t_dev = time.perf_counter() - t0
    assert int(d.counties["amount"].sum()) == int(d.transfers["amount"].sum())

    print(f"{rows:,} spending rows ({n:,} units × {len(m.items)} items); "
          f"{len(moves):,} devolution moves")
    print(f"{'step':<44}{'seconds':>10}{'rows/s':>14}{'vs loop':>10}")
    for label, t in (("python loop, largest remainder (scaled)", t_loop),
                     ("split_rows (vectorised rounding only)", t_core),
                     ("tf.split_expenditure (validation + split)", t_api)):
        print(f"{label:<44}{t:>10.3f}{rows / t:>14,.0f}{t_loop / t:>9.1f}×")
    print(f"{'tf.devolve':<44}{t_dev:>10.3f}{len(moves) / t_dev:>14,.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
