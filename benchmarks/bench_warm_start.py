"""Benchmark: does a warm-started HiGHS re-solve pay in a fund sweep of a linear objective?

A linear objective has no parametric path, so a fund sweep re-solves each fund. When the
target does not move with the fund (here ``MinDeviation(target="prior_amount")`` under a 25%
growth cap and the need order, 1,002 towns), only the fund row's bounds change from one fund
to the next, and HiGHS can keep its basis: ``changeRowBounds`` and ``run()`` again. This
times, per fund and in turns on the same funds:

- the whole ``tf.allocate`` call (formula, model, LP, proportional tie-break, rounding);
- the LP alone, built and solved cold (what a sweep's re-solve spends in the solver);
- the LP alone, re-solved warm from the previous fund's basis.

The saving a warm start could bring is at most the cold LP's share of the ``allocate`` call::

    python benchmarks/bench_warm_start.py
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

import townfiscal as tf
from townfiscal.optimize._model import assemble, lower
from townfiscal.optimize._solver import _highs_model, _new_highs, solve

POLICY = "guangdong-2020"
OBJECTIVE = tf.MinDeviation(target="prior_amount")
CONSTRAINTS = [tf.GrowthCap(0.25), tf.NeedOrder()]
FUNDS = [1_900_000_000 + i * 5_000_000 for i in range(21)]


def lp_of(towns: Any, fund: int) -> Any:
    """The linear program allocate solves for ``fund`` (before its tie-break)."""
    alloc = tf.allocate(towns, POLICY, fund=fund, objective=OBJECTIVE, constraints=CONSTRAINTS,
                        tie_break=False)
    ctx = alloc.result.assembly.ctx
    return lower(assemble(ctx, CONSTRAINTS, OBJECTIVE), scale=10_000.0).problem


def main() -> None:
    towns = tf.load_example()
    problems = [lp_of(towns, f) for f in FUNDS]
    same = all(np.array_equal(p.cost, problems[0].cost)
               and np.array_equal(p.col_lower, problems[0].col_lower)
               and np.array_equal(p.col_upper, problems[0].col_upper)
               and np.array_equal(p.row_lower[1:], problems[0].row_lower[1:])
               for p in problems)
    print(f"only the fund row changes between funds: {same}")

    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.passModel(_highs_model(problems[0]))
    h.run()
    full: list[float] = []
    cold: list[float] = []
    warm: list[float] = []
    iters_cold: list[int] = []
    iters_warm: list[int] = []
    for f, p in zip(FUNDS, problems, strict=True):
        t0 = time.perf_counter()
        tf.allocate(towns, POLICY, fund=f, objective=OBJECTIVE, constraints=CONSTRAINTS)
        full.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sol = solve(p)
        cold.append(time.perf_counter() - t0)
        c = _new_highs()
        c.setOptionValue("output_flag", False)
        c.passModel(_highs_model(p))
        c.run()
        iters_cold.append(int(c.getInfo().simplex_iteration_count))
        t0 = time.perf_counter()
        h.changeRowBounds(0, float(p.row_lower[0]), float(p.row_upper[0]))
        h.run()
        x = np.array(h.getSolution().col_value)
        warm.append(time.perf_counter() - t0)
        iters_warm.append(int(h.getInfo().simplex_iteration_count))
        assert sol.objective is not None
        assert abs(h.getInfo().objective_function_value - sol.objective) <= 1e-6 * max(
            1.0, abs(sol.objective)), "the warm re-solve must reach the same optimum"
        del x
    a, b, w = (statistics.median(v) * 1e3 for v in (full, cold, warm))
    print(f"{'per fund (median of 21)':<42} {'ms':>8} {'share of allocate':>18}")
    print(f"{'allocate call':<42} {a:>8.2f} {1:>18.2f}")
    print(f"{'LP built and solved cold':<42} {b:>8.2f} {b / a:>18.2f}")
    print(f"{'LP re-solved warm (changeRowBounds + run)':<42} {w:>8.2f} {w / a:>18.2f}")
    print(f"simplex iterations per fund: cold {statistics.median(iters_cold):.0f}, "
          f"warm {statistics.median(iters_warm):.0f}")
    print(f"at most {(b - w) / a:.1%} of an allocate call saved per fund")


if __name__ == "__main__":
    main()
