"""Benchmark: a budget sweep of 100 funds over the bundled example (1,002 eligible towns).

Baseline: one ``tf.allocate`` call, measured in the same run. Then the same 100-fund sweep
serially in this process and in local processes (the default executor), and the formula
alone for comparison. Prints a table of wall times and ratios to the baseline::

    python benchmarks/bench_sweep.py            # 100 funds
    python benchmarks/bench_sweep.py 20         # fewer
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import townfiscal as tf

CONSTRAINTS = [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Rounding(10_000)]


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(n: int = 100) -> None:
    towns = tf.load_example()
    policy = tf.get_policy("guangdong-2020")
    # 1.90 … 2.098 bn in steps of 2 million: whole 万元, within the growth caps' room
    funds = [1_900_000_000 + i * (200_000_000 // n) // 10_000 * 10_000 for i in range(n)]
    tf.allocate(towns, policy, fund=funds[0], constraints=CONSTRAINTS)  # warm up

    base, _ = timed(
        lambda: tf.allocate(towns, policy, fund=2_000_000_000, constraints=CONSTRAINTS), 5
    )
    rows: list[tuple[str, float, str]] = [("one allocate call (baseline)", base, "")]

    def sweep(executor: str, method: str = "allocate") -> Any:
        if method == "formula":
            return tf.sweep(
                towns, policy, funds=funds, executor=executor, method=method, progress=False
            )
        return tf.sweep(
            towns, policy, funds=funds, executor=executor, progress=False, constraints=CONSTRAINTS
        )

    for label, executor, method in [
        (f"sweep {n} funds, serial", "serial", "allocate"),
        (f"sweep {n} funds, local processes", "processes", "allocate"),
        (f"sweep {n} funds, formula only, serial", "serial", "formula"),
    ]:
        seconds, table = timed(lambda e=executor, m=method: sweep(e, m))
        bad = table[~table["status"].isin(["optimal", "formula"])]
        note = f"{len(bad)} not solved" if len(bad) else "all solved"
        rows.append((label, seconds, note))

    print(f"{'case':<40} {'seconds':>9} {'× one call':>11} {'ms/scenario':>12}  note")
    for label, seconds, note in rows:
        per = "" if note == "" else f"{1000 * seconds / n:>12.1f}"
        print(f"{label:<40} {seconds:>9.3f} {seconds / base:>11.1f} {per:>12}  {note}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
