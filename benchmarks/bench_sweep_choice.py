"""The sweep's default executor against serial and local processes, in the same run.

Sweeps on the bundled example: the README's (every fund read off the parametric path), 31
funds under hold-harmless and the need order (warm re-solves), a parameter sweep, and 301
cold re-solves (``parametric=False``, hold-harmless and city floors): the one that is large
enough for processes to pay. Each row is timed in turns (serial, default, processes) for
``--rounds`` rounds; the table gives the best of the rounds and the ratio to serial in the
same run (below 1: faster). Also tf.fund_range against one allocate call.

    python benchmarks/bench_sweep_choice.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import numpy as np

import townfiscal as tf


def _timed(towns: Any, executor: Any, kw: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf.sweep(towns, "guangdong-2020", executor=executor, progress=False, **kw)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    towns = tf.load_example()
    cases: dict[str, dict[str, Any]] = {
        "README funds (31, path)": {"funds": range(1_900_000_000, 2_200_000_001, 10_000_000)},
        "ordered funds (31)": {
            "funds": np.linspace(2_131_400_000, 2_135_500_000, 31).astype(int).tolist(),
            "constraints": [tf.HoldHarmless(), tf.NeedOrder(), tf.Rounding(100)]},
        "growth cap values (6)": {"param": "growth_control.cap",
                                  "values": [0.15, 0.2, 0.25, 0.3, 0.35, 0.4],
                                  "fund": 2_000_000_000},
        "cold funds (301)": {
            "funds": list(range(1_950_000_000, 2_130_000_001, 600_000)), "parametric": False,
            "constraints": [tf.HoldHarmless(), tf.GroupTotal("city", lo=60_000_000)]},
    }
    print(f"{'sweep':<26}{'serial s':>10}{'default s':>11}{'× serial':>10}"
          f"{'processes s':>13}{'× serial':>10}")
    for name, kw in cases.items():
        best = {"serial": np.inf, None: np.inf, "processes": np.inf}
        for _ in range(args.rounds):
            for ex in best:
                best[ex] = min(best[ex], _timed(towns, ex, kw))
        s = best["serial"]
        print(f"{name:<26}{s:>10.2f}{best[None]:>11.2f}{best[None] / s:>10.2f}"
              f"{best['processes']:>13.2f}{best['processes'] / s:>10.2f}")
    cons = [tf.HoldHarmless(), tf.NeedOrder()]
    rows = [("fund_range, bounds + order", lambda: tf.fund_range(towns, "guangdong-2020", cons)),
            ("fund_range, city floors (LPs)", lambda: tf.fund_range(
                towns, "guangdong-2018", [tf.HoldHarmless(), tf.GroupTotal("city", lo=6e7)])),
            ("allocate at 2.132 bn, bounds + order", lambda: tf.allocate(
                towns, "guangdong-2020", fund=2_132_000_000, constraints=cons))]
    print(f"\n{'call':<40}{'best ms':>10}")
    for label, call in rows:
        call()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        print(f"{label:<40}{min(times) * 1e3:>10.1f}")


if __name__ == "__main__":
    main()
