"""Benchmark: the memory of sweep workers over thousands of scenarios.

Runs parameter sweeps (each scenario its own solve: the formula's growth cap) of 1,000
scenarios at a time on a two-worker Dask ``LocalCluster`` (one thread each), and prints each
worker's resident memory (RSS, MB) after every 1,000 scenarios, 6,000 in all by default. The
first row is after a warm-up sweep; what matters is whether the rows after it stay level.

Twice: with Dask's defaults, and with the workers' statistical profiler off
(``distributed.worker.profile.enabled: false``). The profiler samples each busy worker's
call stack every 10 ms and keeps a call tree per second of work, for the last 1,000 seconds
(``distributed.admin.low-level-log-length``): a worker busy with pandas-heavy scenarios grows
by tens of MB until it has 1,000 busy seconds behind it::

    python benchmarks/bench_memory.py              # 6 × 1,000 scenarios
    python benchmarks/bench_memory.py 3 500        # 3 × 500

Dask is optional (``pip install townfiscal[dask]``): without it the script says so and
stops. (Local worker processes live for one sweep; a Dask cluster's workers outlive many.)
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

import townfiscal as tf

CONSTRAINTS = [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Rounding(10_000)]


def rss_mb() -> float:
    """This process's resident memory, MB (from /proc, or psutil elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def main(rounds: int = 6, per_round: int = 1_000) -> None:
    towns = tf.load_example()
    policy = tf.get_policy("guangdong-2020")
    caps = [float(c) for c in np.round(np.linspace(0.10, 0.30, per_round), 6)]

    def sweep(executor: Any) -> Any:
        return tf.sweep(towns, policy, param="growth_control.cap", values=caps,
                        fund=2_000_000_000, executor=executor, progress=False,
                        constraints=CONSTRAINTS)

    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        print("dask[distributed] is not installed: nothing to measure")
        return
    print(f"{'scenarios':>10}  {'RSS per worker, MB':>20}  {'profiler off, MB':>20}")
    columns: list[list[list[float]]] = []
    for profile in (True, False):
        column: list[list[float]] = []
        with (dask.config.set({"distributed.worker.profile.enabled": profile}),
              LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0") as cluster,
              Client(cluster) as client):
            for _ in range(rounds + 1):
                table = sweep(client)
                assert (table["status"] == "optimal").all()
                del table
                column.append([v for _, v in sorted(client.run(rss_mb).items())])
        columns.append(column)
    for r in range(rounds + 1):
        label = "warm-up" if r == 0 else f"{r * per_round:,}"
        cells = [" / ".join(f"{v:6.1f}" for v in col[r]) for col in columns]
        print(f"{label:>10}  {cells[0]:>20}  {cells[1]:>20}")
    for name, col in zip(("profiler on", "profiler off"), columns, strict=True):
        growth = [b - a for a, b in zip(col[1], col[-1], strict=True)]
        print(f"{name}: from {per_round:,} to {rounds * per_round:,} scenarios "
              + " / ".join(f"{g:+.1f} MB" for g in growth))

if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
