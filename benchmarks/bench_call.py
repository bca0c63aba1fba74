"""Benchmark one ``tf.allocate`` call on the bundled example, stage by stage.

The call: ``tf.allocate(towns, "guangdong-2020" policy, fund=2_000_000_000)`` with default
constraints (1,002 eligible towns of 1,757 units), ``towns`` from ``tf.load_example()``.
Printed per stage, as medians over ``--calls`` calls:

- ``validate``: checking the towns table (``validate_towns``);
- ``eligibility``: which towns the policy covers, and the check of what the policy needs of
  them (both remembered, with the rest of what the policy makes of the table before any
  fund, for a validated table and the same rules);
- ``formula``: the rest of the formula (factors, coefficients, shares, growth control,
  whole yuan, the formula table);
- ``hashing``: the data hash for the provenance;
- ``model build``, ``solve``, ``rounding``: as :class:`~townfiscal.Allocation` reports them
  (``build_seconds``, ``solve_seconds``, the optimiser's rounding time);
- ``duals & binding``: the rest of the optimiser (shadow prices, binding constraints);
- ``result building``: the rest of ``allocate`` (the model's towns frame, provenance, the
  :class:`~townfiscal.Allocation`);
- ``whole call``, and its CPU time (the thread's, which time spent waiting for a busy
  machine's cores does not inflate).

Columns, all measured in this run:

- ``before``: the library at ``--baseline`` (a git revision; default ``f282e38``, before
  the numpy hot path and the validation and hash caches), exported with ``git archive``
  into a temporary directory and run from there;
- ``no caches``: the current library, with every call given a fresh unmarked copy of the
  table and the caches emptied (data hashes, and the formula's preparations), so it
  validates, checks, prepares and hashes in full, as the first call on a new table does;
- ``after``: the current library as a user runs it: the same table, already validated;
- ``× before``: ``after`` ÷ ``before``.

Each column runs in its own process (``--rounds`` times, interleaved, so that a shared
machine's load falls on all alike); a stage's figure is the median of its per-call times
over all calls of all rounds. Stages are timed by wrapping the library's functions; the
wrappers cost about a microsecond each.

Run:  python benchmarks/bench_call.py [--calls 200] [--rounds 3] [--baseline f282e38]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUND = 2_000_000_000
STAGES = ["validate", "eligibility", "formula", "hashing", "model build", "solve", "rounding",
          "duals & binding", "result building", "whole call", "whole call, CPU"]

#: (module, function, stage): the functions timed, under whichever names a version has.
WRAPPED = [
    ("townfiscal.rules._formula", "validate_keyed", "validate"),
    ("townfiscal.rules._formula", "validate_towns", "validate"),
    ("townfiscal.rules._formula", "eligible_arrays", "eligibility"),
    ("townfiscal.rules._formula", "check_policy_needs", "eligibility"),
    ("townfiscal.rules._formula", "eligible_mask", "eligibility"),
    ("townfiscal.optimize._allocation", "compute_formula", "compute_formula"),
    ("townfiscal.optimize._allocation", "data_hash", "hashing"),
    ("townfiscal.optimize._allocation", "optimise", "optimise"),
]


def child(mode: str, calls: int) -> None:
    """Time *calls* calls in this process; print each stage's per-call seconds as JSON."""
    import importlib

    import townfiscal as tf

    spent: dict[str, float] = {}

    def timed(fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - start
        return wrapper

    for module, name, stage in WRAPPED:
        mod = importlib.import_module(module)
        if hasattr(mod, name):
            setattr(mod, name, timed(getattr(mod, name), stage))

    towns = tf.load_example()
    policy = tf.get_policy("guangdong-2020")
    caches = [getattr(importlib.import_module(module), name, {}) for module, name in
              [("townfiscal.optimize._allocation", "_HASHES"),
               ("townfiscal.rules._formula", "_PREPARED")]]
    out: dict[str, list[float]] = {s: [] for s in STAGES}
    for i in range(calls + 5):
        table = towns
        if mode == "cold":
            table = towns.copy()
            table.attrs.clear()
            for cache in caches:
                cache.clear()
        spent.clear()
        cpu = time.thread_time()
        start = time.perf_counter()
        alloc = tf.allocate(table, policy, fund=FUND)
        whole = time.perf_counter() - start
        cpu = time.thread_time() - cpu
        if i < 5:  # warm-up
            continue
        res = alloc.result
        optimiser = spent.get("optimise", 0.0)
        formula = spent.get("compute_formula", 0.0)
        figures = {
            "validate": spent.get("validate", 0.0),
            "eligibility": spent.get("eligibility", 0.0),
            "formula": formula - spent.get("validate", 0.0) - spent.get("eligibility", 0.0),
            "hashing": spent.get("hashing", 0.0),
            "model build": res.build_seconds,
            "solve": res.solve_seconds,
            "rounding": res.round_seconds,
            "duals & binding": optimiser - res.build_seconds - res.solve_seconds
            - res.round_seconds,
            "result building": whole - formula - spent.get("hashing", 0.0) - optimiser,
            "whole call": whole,
            "whole call, CPU": cpu,
        }
        for stage, value in figures.items():
            out[stage].append(value)
    print(json.dumps(out))


def export(revision: str, into: Path) -> Path:
    """The package's sources at *revision*, written under *into*; returns the ``src`` dir."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def run_child(mode: str, calls: int, src: Path | None) -> dict[str, list[float]]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import bench_call; bench_call.child({mode!r}, {calls})")
    run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env=env)
    result: dict[str, list[float]] = json.loads(run.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="f282e38",
                        help="git revision to compare with (default: before the hot path)")
    args = parser.parse_args()
    columns = {"before": "warm", "no caches": "cold", "after": "warm"}
    samples: dict[str, dict[str, list[float]]] = {c: {s: [] for s in STAGES} for c in columns}
    with tempfile.TemporaryDirectory(prefix="townfiscal-baseline-") as tmp:
        base_src = export(args.baseline, Path(tmp))
        for _ in range(args.rounds):
            for column, mode in columns.items():
                got = run_child(mode, args.calls, base_src if column == "before" else None)
                for stage in STAGES:
                    samples[column][stage] += got[stage]
    med = {c: {s: statistics.median(v) * 1e3 for s, v in st.items()} for c, st in samples.items()}
    print(f"tf.allocate on the bundled example (1,002 towns), guangdong-2020, fund 2 bn yuan; "
          f"ms, median of {args.rounds} × {args.calls} calls; before = {args.baseline}")
    print(f"{'stage':<18}{'before':>9}{'no caches':>11}{'after':>9}{'× before':>10}")
    for stage in STAGES:
        b, n, a = med["before"][stage], med["no caches"][stage], med["after"][stage]
        ratio = f"{a / b:>10.2f}" if b > 0.005 else f"{'—':>10}"
        rule = "-" * 57 + "\n" if stage == "whole call" else ""
        stage = f"{stage:<18}"
        print(f"{rule}{stage}{b:>9.2f}{n:>11.2f}{a:>9.2f}{ratio}")
    print("stages are medians of their own, so they need not add up to the whole call")


if __name__ == "__main__":
    main()
