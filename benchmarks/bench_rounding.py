"""Benchmark rounding to whole yuan: the one-step hand-out against the pass-by-pass loop it
replaced.

``tf.round_to_total`` floors every amount into its bounds, then hands out the units still
missing by largest remainders. The former hand-out, kept below as :func:`passes`, gave one
unit to every amount with room per loop, so it looped (missing units ÷ amounts) times: fine
when the amounts add up to the total (one pass, the formula's and the allocator's case), but
a total far from the amounts' sum, or an amount of 1e300, made it loop for minutes or for ever.
The hand-out now computes the same result at once, in O(n log n) whatever the magnitudes.

Columns, measured in this run, each figure the best of ``--repeats`` runs:

- ``before``: :func:`passes` (the former loop), skipped where it would take longer than
  ``--patience`` seconds (its time is then extrapolated from the number of passes it needs);
- ``after``: ``tf.round_to_total`` as it is;
- ``after ÷ before``: below 1 is faster; ``same`` says whether both gave the same yuan.

Run:  python benchmarks/bench_rounding.py [--repeats 5] [--patience 30]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

import townfiscal as tf
from townfiscal import _rounding


def passes(base: np.ndarray, key: np.ndarray, tiebreak: np.ndarray, room: np.ndarray,
           count: int, step: float) -> np.ndarray:
    """The former hand-out: one unit per loop to each amount with room, largest key first."""
    base, room = base.copy(), room.copy()
    while count > 0:
        candidates = np.flatnonzero(room > 0)
        order = candidates[np.lexsort((candidates, -tiebreak[candidates], -key[candidates]))]
        chosen = order[:count]
        base[chosen] += step
        room[chosen] -= 1
        key = key.copy()
        key[chosen] -= 1.0
        count -= chosen.size
    return base


def best_of(call: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """The fastest of *repeats* runs (seconds) and the result."""
    best, out = np.inf, np.zeros(0, dtype=np.int64)
    for _ in range(repeats):
        t = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t)
    return best, out


def duration(seconds: float, *, estimated: bool = False) -> str:
    """``1.2 ms``, ``3.4 s`` or ``~5 days``; ``~`` marks an estimate."""
    mark = "~" if estimated else ""
    if seconds >= 86_400:
        return f"{mark}{seconds / 86_400:,.0f} days"
    if seconds >= 1:
        return f"{mark}{seconds:,.1f} s"
    if seconds >= 1e-3:
        return f"{mark}{seconds * 1e3:.1f} ms"
    return f"{mark}{seconds * 1e6:.0f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--patience", type=float, default=30.0,
                        help="longest the former loop may run per case, seconds")
    args = parser.parse_args()
    rng = np.random.default_rng(2020)
    cases = [  # (label, n, units missing beyond the amounts' sum)
        ("the formula's case: Σx = total", 41_352, 0),
        ("41,352 amounts, 500,000 yuan short", 41_352, 500_000),
        ("1,000 amounts, 10^7 yuan short", 1_000, 10_000_000),
        ("3 amounts, 10^15 yuan short", 3, 10**15),
    ]
    new = _rounding._hand_out
    print(f"{'case':<38} {'before':>14} {'after':>10} {'after ÷ before':>15} {'same':>5}")
    for label, n, short in cases:
        x = rng.uniform(1e5, 5e6, n)
        total = round(x.sum()) + short
        after, got = best_of(partial(tf.round_to_total, x, total), args.repeats)
        loops = max(1, short // n)
        # one former pass costs about a sort of the n amounts: time one, extrapolate
        t = time.perf_counter()
        np.lexsort((np.arange(n), -x, -x))
        per_pass = time.perf_counter() - t
        if loops * per_pass <= args.patience:
            _rounding._hand_out = passes
            try:
                before, old = best_of(partial(tf.round_to_total, x, total),
                                      1 if loops > 1 else args.repeats)
            finally:
                _rounding._hand_out = new
            same = "yes" if np.array_equal(got, old) else "NO"
        else:
            before, same = loops * per_pass, "-"
        print(f"{label:<38} {duration(before, estimated=same == '-'):>14} "
              f"{duration(after):>10} {after / before:15.2g} {same:>5}")


if __name__ == "__main__":
    main()
