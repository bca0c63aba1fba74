"""Benchmark: fund sweeps off the parametric path, and re-solve sweeps on the machine's cores.

Baseline: one ``tf.allocate`` call over the bundled example (1,002 eligible towns, hold-harmless,
15% growth cap, 万元 rounding), measured in the same run. Then:

- fund sweeps of 21 and 100 funds (the parametric path: one model, every fund read off it),
  and the 21 funds re-solved cold (``parametric=False``) for comparison;
- 21 funds of a linear objective (``MinDeviation`` to last year's amounts under a growth cap
  and the need order: no path), re-solved cold and warm-started (HiGHS from the last basis);
- 200 scenarios that each need their own solve (a sweep of the formula's growth cap, each
  value a different policy) serially, on local processes (the default executor; the pool's
  start-up counted) and on a two-worker Dask ``LocalCluster`` (started before the clock, as a
  user's cluster would be), with the throughput of each against serial.

Prints one table of wall times and ratios::

    python benchmarks/bench_sweep.py              # 200 re-solve scenarios
    python benchmarks/bench_sweep.py 60           # fewer

Dask is optional (``pip install townfiscal[dask]``): without it its row says so. Timings are
medians of a few runs on a shared machine; the ratios, each against a baseline of the same run,
are what to read. Each round of the parallel rows also measures a control, pure-Python work
in two processes against one, which says how much of two cores the machine gave at the time.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import townfiscal as tf

CONSTRAINTS = [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Rounding(10_000)]
POLICY = "guangdong-2020"


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def funds_of(n: int) -> list[int]:
    """``n`` funds from 1.90 bn up in whole 万元, within the growth caps' room."""
    return [1_900_000_000 + i * (200_000_000 // n) // 10_000 * 10_000 for i in range(n)]


def note(table: Any) -> str:
    bad = table[~table["status"].isin(["optimal", "formula"])]
    how = ", ".join(sorted(set(table["solved_by"])))
    return f"{how}; " + (f"{len(bad)} not solved" if len(bad) else "all solved")


def burn(n: int) -> int:
    """Pure-Python work: the control for what two processes can get from the machine."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def control() -> float:
    """Throughput of 8 pieces of pure-Python work in two processes against one, now: what
    the machine's cores give two processes at this moment (2.0 on two free cores)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    n = 2_000_000
    start = time.perf_counter()
    for _ in range(8):
        burn(n)
    serial = time.perf_counter() - start
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(burn, 1).result()
        start = time.perf_counter()
        list(pool.map(burn, [n] * 8))
        parallel = time.perf_counter() - start
    return serial / parallel


def dask_client(stack: contextlib.ExitStack[Any]) -> Any:
    """A client of a two-worker Dask LocalCluster (one thread each), or None without Dask."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return None
    cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1,
                                               processes=True, dashboard_address=":0"))
    return stack.enter_context(Client(cluster))


def main(n_own: int = 200) -> None:
    towns = tf.load_example()
    policy = tf.get_policy(POLICY)
    tf.allocate(towns, policy, fund=2_000_000_000, constraints=CONSTRAINTS)  # warm up
    base, _ = timed(
        lambda: tf.allocate(towns, policy, fund=2_000_000_000, constraints=CONSTRAINTS), 7)
    rows: list[tuple[str, float, float, str]] = [("one allocate call (baseline)", base, 1, "")]

    def fund_sweep(n: int, parametric: bool = True) -> Any:
        return tf.sweep(towns, policy, funds=funds_of(n), executor="serial", progress=False,
                        parametric=parametric, constraints=CONSTRAINTS)

    # the 21-fund sweep against the one call, in turns (the machine's load drifts)
    pairs = [(timed(lambda: tf.allocate(towns, policy, fund=2_000_000_000,
                                        constraints=CONSTRAINTS))[0],
              timed(lambda: fund_sweep(21))[0]) for _ in range(9)]
    ratio = statistics.median(b / a for a, b in pairs)
    seconds, table = timed(lambda: fund_sweep(21), 3)
    rows.append(("sweep 21 funds", seconds, 21,
                 note(table) + f"; ×{ratio:.2f} one call (median of 9 pairs in turn)"))
    for label, n, parametric, repeat in [
        ("sweep 21 funds, cold re-solve", 21, False, 3),
        ("sweep 100 funds", 100, True, 5),
    ]:
        seconds, table = timed(lambda n=n, p=parametric: fund_sweep(n, p), repeat)
        rows.append((label, seconds, n, note(table)))

    # a linear objective has no path: warm-started HiGHS re-solves against cold ones
    def linear(parametric: bool) -> Any:
        funds = [1_900_000_000 + i * 2_500_000 for i in range(21)]  # within the caps' room
        return tf.sweep(towns, policy, funds=funds, executor="serial", progress=False,
                        parametric=parametric, objective=tf.MinDeviation(target="prior_amount"),
                        constraints=[tf.GrowthCap(0.25), tf.NeedOrder()])

    cold_s, table = timed(lambda: linear(False), 3)
    rows.append(("21 funds, MinDeviation + order, cold", cold_s, 21, note(table)))
    warm_s, table = timed(lambda: linear(True), 3)
    rows.append(("21 funds, MinDeviation + order, warm", warm_s, 21,
                 note(table) + f"; ×{cold_s / warm_s:.2f} the cold sweep's speed"))

    # 200 scenarios of their own: the formula's growth cap from 10% to 30%
    caps = [float(c) for c in np.round(np.linspace(0.10, 0.30, n_own), 6)]

    def own(executor: Any) -> Any:
        return tf.sweep(towns, policy, param="growth_control.cap", values=caps,
                        fund=2_000_000_000, executor=executor, progress=False,
                        constraints=CONSTRAINTS)

    # rounds of serial, local processes and Dask in turns; medians, and ratios per round
    with contextlib.ExitStack() as stack:
        client = dask_client(stack)
        if client is not None:
            own(client)  # the workers import townfiscal once, as a running cluster has
        times: dict[str, list[float]] = {"serial": [], "processes": [], "dask": []}
        notes: dict[str, str] = {}
        controls: list[float] = []
        for _ in range(3):
            controls.append(control())
            for key, executor in (("serial", "serial"), ("processes", "processes"),
                                  ("dask", client)):
                if executor is None:
                    continue
                seconds, table = timed(lambda e=executor: own(e))
                times[key].append(seconds)
                notes[key] = note(table)
    serial = statistics.median(times["serial"])
    rows.append((f"{n_own} own solves, serial", serial, n_own, notes["serial"]))
    for key, label in (("processes", "local processes"), ("dask", "Dask, 2 workers")):
        if not times[key]:
            rows.append((f"{n_own} own solves, {label}", float("nan"), n_own,
                         "skipped: dask[distributed] is not installed"))
            continue
        ratio = statistics.median(s / p for s, p in zip(times["serial"], times[key],
                                                         strict=True))
        rows.append((f"{n_own} own solves, {label}", statistics.median(times[key]), n_own,
                     notes[key] + f"; ×{ratio:.2f} serial's throughput"))

    print("control, pure-Python work in 2 processes against 1 (2.0 = two free cores): "
          + ", ".join(f"×{c:.2f}" for c in controls) + " in the three rounds")
    print(f"{'case':<40} {'seconds':>9} {'× one call':>11} {'ms/scenario':>12}  note")
    for label, seconds, n, text in rows:
        print(f"{label:<40} {seconds:>9.3f} {seconds / base:>11.2f} "
              f"{1000 * seconds / n:>12.2f}  {text}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
