"""Benchmark ``tf.allocate`` against the same LP built other ways.

For each size (the bundled example, ~1,002 eligible towns; 10,000 and all ~41,352 national
units from ``tf.make_towns``) and each scenario, this prints model build and solve times:

- ``tf.allocate``: end to end (the formula, the model build, the solve, exact rounding) with
  its default objective, ``Proportional`` (Σ (x − t)² / t; a breakpoint search or a QP);
- ``tf.allocate, Clarabel QP``: the default objective with ``solver="clarabel"``, which always
  solves the quadratic program (Clarabel's interior point and the exact finish) instead of the
  structured solves: what they save, in the same run;
- ``tf.allocate, MinDeviation``: the same with ``objective=tf.MinDeviation()``, the LP of
  least absolute deviation, whose ties are then broken towards ``Proportional``;
- ``tf.allocate, MinDeviation vertex``: ``MinDeviation`` with ``tie_break=False``, the LP's
  optimal vertex as HiGHS returns it: the default before ``Proportional``, the baseline;
- ``PuLP loops``: the textbook LP (amount, deviation above, deviation below per town; one
  named row per town and per order pair) built with plain PuLP loops, solved by PuLP's
  in-process HiGHS;
- ``highspy direct``: the same textbook LP assembled as a scipy.sparse matrix with numpy and
  handed straight to highspy;
- ``highspy direct, IPM``: the same, with HiGHS's interior-point solver (which tf.allocate
  picks by itself for models of 5,000 rows or more);
- ``scipy linprog``: the same sparse matrix solved by ``scipy.optimize.linprog(method="highs")``;
- ``highspy QP direct``: the proportional default written plainly (min Σ (x − t)² / t over the
  amounts, the fund row, the order chain, the city rows) and handed to HiGHS's QP solver.

Scenarios: ``bureau`` (hold-harmless, growth cap, floor, city caps), ``chain`` (need order,
floor, cap: the structured solve's case) and ``ordered`` (the same with city caps).

All methods see money in 10,000-yuan units and the same effective bounds. The column
``Σ|x−t|`` is the least-absolute-deviation objective (万元) of each method's optimum before
rounding: the LP methods and both ``MinDeviation`` variants agree on it, ``Proportional``
gives a little of it up; ``Σ(x−t)²/t`` (万元) is ``Proportional``'s objective, shown for the
``tf.allocate`` rows. Times are medians of ``--repeats`` runs in one process,
interleaved (each repeat runs every method once) so that a shared machine's load falls on all
methods alike.
``× direct`` is a method's total over ``highspy direct``'s total, ``× old`` a ``tf.allocate``
variant's total over the ``MinDeviation vertex`` total (the old default), and ``× plain`` a
``tf.allocate`` variant's total over HiGHS on the same model written plainly, its best
method: the textbook LP (simplex or IPM, the faster) for the ``MinDeviation`` rows, the plain
QP for the default.

Run:  python benchmarks/bench_allocate.py [--sizes example,10000,china] [--repeats 3]
          [--scenarios bureau,chain,ordered] [--skip-textbook china:ordered]

``--skip-textbook SIZE:SCENARIO`` (comma-separated) leaves out the three slowest textbook
methods (PuLP loops, highspy direct with the default algorithm, scipy linprog) for those
cases; ``highspy direct, IPM`` then stands in as the ``× direct`` base.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

import townfiscal as tf

warnings.filterwarnings("ignore", category=DeprecationWarning)
import pulp  # noqa: E402

SCALE = 10_000.0
UNIT = 10_000
TIME_LIMIT = 900.0


def national_policy(towns: pd.DataFrame) -> tf.Policy:
    """guangdong-2020's formula over every unit of the table (all kinds, all provinces)."""
    provinces = sorted({c[:2] for c in towns.index})
    return tf.get_policy("guangdong-2020").with_changes(
        {"eligibility.areas": {p: p for p in provinces},
         "eligibility.kinds": ["town", "township", "subdistrict", "other"]},
        id="national-benchmark", reason="benchmark")


def setup(size: str) -> tuple[pd.DataFrame, tf.Policy | str, int]:
    """(towns, policy, fund) for a size label."""
    if size == "example":
        return tf.load_example(), "guangdong-2020", 2_000_000_000
    towns = tf.make_towns("china" if size == "china" else int(size))
    return towns, national_policy(towns), 2_000_000 * len(towns)


def scenarios(formula: pd.DataFrame) -> dict[str, list[Any]]:
    """The bureau's constraint sets; city totals capped 2% above the formula's."""
    city_hi = formula.groupby("city")["amount"].sum() * 1.02
    return {
        "bureau": [tf.HoldHarmless(), tf.GrowthCap(0.15), tf.Floor(300_000),
                   tf.GroupTotal("city", hi=city_hi), tf.Rounding(UNIT)],
        "chain": [tf.NeedOrder(), tf.Floor(300_000), tf.Cap(6_000_000), tf.Rounding(UNIT)],
        "ordered": [tf.NeedOrder(), tf.Floor(300_000), tf.Cap(6_000_000),
                    tf.GroupTotal("city", hi=city_hi), tf.Rounding(UNIT)],
    }


# --------------------------------------------------------------------- the textbook LP inputs


def lp_data(formula: pd.DataFrame, cons: list[Any], fund: int) -> dict[str, Any]:
    """Targets, effective bounds (万元), the order chain and city groups, as plain arrays."""
    n = len(formula)
    lo = np.zeros(n)
    hi = np.full(n, float(fund))
    prior = formula["prior_amount"].to_numpy(float)
    chain = None
    groups = None
    for c in cons:
        if isinstance(c, tf.Floor):
            lo = np.maximum(lo, c.amount)
        elif isinstance(c, tf.Cap):
            hi = np.minimum(hi, c.amount)
        elif isinstance(c, tf.HoldHarmless):
            lo = np.where(np.isnan(prior), lo, np.maximum(lo, c.ratio * prior))
        elif isinstance(c, tf.GrowthCap):
            hi = np.where(np.isnan(prior), hi, np.minimum(hi, (1 + c.rate) * prior))
        elif isinstance(c, tf.NeedOrder):
            coef = formula["coefficient"].to_numpy(float)
            assert len(np.unique(coef)) == n, "the textbook chain assumes distinct coefficients"
            chain = np.argsort(-coef, kind="stable")
        elif isinstance(c, tf.GroupTotal):
            labels = formula[c.by].astype(str)
            names = sorted(labels.unique())
            groups = (labels.map({g: k for k, g in enumerate(names)}).to_numpy(),
                      pd.Series(c.hi).reindex(names).to_numpy(float))
    lo = np.ceil(lo / UNIT - 1e-9) * UNIT / SCALE
    hi = np.floor(hi / UNIT + 1e-9) * UNIT / SCALE
    gh = None if groups is None else np.floor(groups[1] / UNIT + 1e-9) * UNIT / SCALE
    return {"n": n, "t": formula["amount"].to_numpy(float) / SCALE, "lo": lo, "hi": hi,
            "fund": fund / SCALE, "chain": chain,
            "groups": None if groups is None else (groups[0], gh)}


def build_pulp(d: dict[str, Any]) -> pulp.LpProblem:
    """The textbook LP with plain PuLP loops."""
    n = d["n"]
    prob = pulp.LpProblem("plain", pulp.LpMinimize)
    x = [pulp.LpVariable(f"x_{i}", d["lo"][i], d["hi"][i]) for i in range(n)]
    p = [pulp.LpVariable(f"p_{i}", 0) for i in range(n)]
    m = [pulp.LpVariable(f"m_{i}", 0) for i in range(n)]
    prob += pulp.lpSum(p) + pulp.lpSum(m)
    for i in range(n):
        prob += x[i] - p[i] + m[i] == d["t"][i], f"dev_{i}"
    prob += pulp.lpSum(x) == d["fund"], "fund"
    if d["chain"] is not None:
        ch = d["chain"]
        for k in range(n - 1):
            prob += x[ch[k]] >= x[ch[k + 1]], f"order_{k}"
    if d["groups"] is not None:
        g, gh = d["groups"]
        members: dict[int, list[int]] = {}
        for i, gi in enumerate(g.tolist()):
            members.setdefault(gi, []).append(i)
        for gi, idx in members.items():
            prob += pulp.lpSum(x[i] for i in idx) <= gh[gi], f"group_{gi}"
    return prob


def _order_and_group_rows(d: dict[str, Any]) -> list[tuple[sp.csr_array, Any, Any]]:
    """The order chain's rows (x_k ≥ x_k+1) and the city rows (Σ ≤ cap) over the amounts,
    each with its lower and upper bounds."""
    n = d["n"]
    out: list[tuple[sp.csr_array, Any, Any]] = []
    if d["chain"] is not None:
        ch = d["chain"]
        k = n - 1
        a = sp.csr_array((np.tile([1.0, -1.0], k), (np.repeat(np.arange(k), 2),
                                                       np.stack([ch[:-1], ch[1:]], 1).ravel())),
                         shape=(k, n))
        out.append((a, np.zeros(k), np.full(k, np.inf)))
    if d["groups"] is not None:
        g, gh = d["groups"]
        a = sp.csr_array((np.ones(n), (g, np.arange(n))), shape=(gh.size, n))
        out.append((a, np.full(gh.size, -np.inf), gh))
    return out


def build_sparse(d: dict[str, Any]) -> dict[str, Any]:
    """The same LP as arrays: columns [x | p | m], rows [deviation | fund | order | group]."""
    n = d["n"]
    eye = sp.eye_array(n, format="csr")
    zero = sp.csr_array((1, n))
    blocks = [[eye, -eye, eye], [sp.csr_array(np.ones((1, n))), zero, zero]]
    lo_rows = [d["t"], [d["fund"]]]
    hi_rows = [d["t"], [d["fund"]]]
    for a, lo, hi in _order_and_group_rows(d):
        k = a.shape[0]
        blocks.append([a, sp.csr_array((k, n)), sp.csr_array((k, n))])
        lo_rows.append(lo)
        hi_rows.append(hi)
    matrix = sp.bmat(blocks, format="csc")
    return {
        "A": matrix,
        "c": np.concatenate([np.zeros(n), np.ones(2 * n)]),
        "row_lo": np.concatenate(lo_rows).astype(float),
        "row_hi": np.concatenate(hi_rows).astype(float),
        "col_lo": np.concatenate([d["lo"], np.zeros(2 * n)]),
        "col_hi": np.concatenate([d["hi"], np.full(2 * n, np.inf)]),
    }


def solve_highspy(s: dict[str, Any], algorithm: str = "choose") -> float:
    """Hand the arrays to highspy; the optimum (万元)."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", algorithm)
    h.setOptionValue("time_limit", TIME_LIMIT)
    lp = highspy.HighsLp()
    a = s["A"]
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = s["c"], s["col_lo"], s["col_hi"]
    lp.row_lower_, lp.row_upper_ = s["row_lo"], s["row_hi"]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    h.passModel(lp)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(h.getInfo().objective_function_value)


def build_qp(d: dict[str, Any]) -> dict[str, Any]:
    """The proportional default written plainly: min Σ (x − t)² / t over the amounts alone,
    rows [fund | order | group] (万元)."""
    n = d["n"]
    blocks = [sp.csr_array(np.ones((1, n)))]
    lo_rows, hi_rows = [[d["fund"]]], [[d["fund"]]]
    for a, lo, hi in _order_and_group_rows(d):
        blocks.append(a)
        lo_rows.append(lo)
        hi_rows.append(hi)
    t = np.maximum(d["t"], 1e-4)
    return {"A": sp.vstack(blocks, format="csc"), "c": np.full(n, -2.0), "hessian": 2.0 / t,
            "offset": float(t.sum()),
            "row_lo": np.concatenate(lo_rows).astype(float),
            "row_hi": np.concatenate(hi_rows).astype(float),
            "col_lo": d["lo"], "col_hi": d["hi"]}


def solve_highspy_qp(s: dict[str, Any]) -> float:
    """HiGHS's QP solver on the plain QP; the optimum Σ (x − t)² / t (万元), NaN if it fails."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", TIME_LIMIT)
    lp = highspy.HighsLp()
    a = s["A"]
    n = a.shape[1]
    lp.num_col_, lp.num_row_ = n, a.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = s["c"], s["col_lo"], s["col_hi"]
    lp.row_lower_, lp.row_upper_ = s["row_lo"], s["row_hi"]
    lp.offset_ = s["offset"]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    hess = highspy.HighsHessian()
    hess.dim_ = n
    hess.format_ = highspy.HessianFormat.kTriangular
    hess.start_ = np.arange(n + 1, dtype=np.int32)
    hess.index_ = np.arange(n, dtype=np.int32)
    hess.value_ = s["hessian"]
    model = highspy.HighsModel()
    model.lp_ = lp
    model.hessian_ = hess
    h.passModel(model)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return float("nan")
    return float(h.getInfo().objective_function_value)


def solve_linprog(s: dict[str, Any]) -> float:
    """scipy.optimize.linprog(method="highs") on the arrays; the optimum (万元)."""
    a = s["A"].tocsr()
    eq = s["row_lo"] == s["row_hi"]
    ub_hi = np.isfinite(s["row_hi"]) & ~eq
    ub_lo = np.isfinite(s["row_lo"]) & ~eq
    a_ub = sp.vstack([a[ub_hi], -a[ub_lo]], format="csr")
    b_ub = np.concatenate([s["row_hi"][ub_hi], -s["row_lo"][ub_lo]])
    res = linprog(s["c"], A_ub=a_ub if a_ub.shape[0] else None,
                  b_ub=b_ub if a_ub.shape[0] else None, A_eq=a[eq], b_eq=s["row_lo"][eq],
                  bounds=np.stack([s["col_lo"], s["col_hi"]], 1), method="highs",
                  options={"time_limit": TIME_LIMIT})
    assert res.status == 0, res.message
    return float(res.fun)


# --------------------------------------------------------------------- timing


def deviations(a: tf.Allocation) -> tuple[float, float]:
    """Σ|x − t| and Σ (x − t)² / t of the optimum before rounding, in 万元."""
    f = a.to_frame()
    d = (f["optimum"] - f["target"]).to_numpy(float)
    t = np.maximum(f["target"].to_numpy(float), 1.0)
    return float(np.abs(d).sum()) / SCALE, float((d * d / t).sum()) / SCALE


def bench(size: str, repeats: int, only: list[str],
          skip_textbook: set[str] | None = None) -> list[dict[str, Any]]:
    towns, policy, fund = setup(size)
    t0 = time.perf_counter()
    formula = tf.formula_allocation(towns, policy, fund=fund)
    formula_s = time.perf_counter() - t0
    rows = []
    for name, cons in scenarios(formula).items():
        if only and name not in only:
            continue
        d = lp_data(formula, cons, fund)
        out: dict[str, dict[str, float]] = {}

        def allocate_with(cons: list[Any] = cons, **kw: Any) -> Callable[[], dict[str, float]]:
            def run() -> dict[str, float]:
                t = time.perf_counter()
                a = tf.allocate(towns, policy, fund=fund, constraints=cons,
                                time_limit=TIME_LIMIT, **kw)
                total = time.perf_counter() - t
                absdev, chi2 = deviations(a)  # outside the timing
                return {"build": a.build_seconds, "solve": a.solve_seconds, "total": total,
                        "objective": absdev, "chi2": chi2}
            return run

        def run_pulp(d: dict[str, Any] = d) -> dict[str, float]:
            t = time.perf_counter()
            prob = build_pulp(d)
            b = time.perf_counter() - t
            t = time.perf_counter()
            prob.solve(pulp.HiGHS(msg=False, timeLimit=TIME_LIMIT))
            s = time.perf_counter() - t
            assert pulp.LpStatus[prob.status] == "Optimal"
            return {"build": b, "solve": s, "total": b + s,
                    "objective": float(pulp.value(prob.objective))}

        def built_then_solved(build: Callable[[dict[str, Any]], dict[str, Any]],
                              solve: Callable[[dict[str, Any]], float], quadratic: bool = False,
                              d: dict[str, Any] = d) -> Callable[[], dict[str, float]]:
            """The textbook model built from arrays, then solved: each stage timed."""
            def run() -> dict[str, float]:
                t = time.perf_counter()
                arrays = build(d)
                b = time.perf_counter() - t
                t = time.perf_counter()
                obj = solve(arrays)
                s = time.perf_counter() - t
                if quadratic:  # its objective is the χ² column's
                    return {"build": b, "solve": s, "total": b + s, "objective": float("nan"),
                            "chi2": obj}
                return {"build": b, "solve": s, "total": b + s, "objective": obj}
            return run

        run_direct = built_then_solved(build_sparse, solve_highspy)
        run_direct_ipm = built_then_solved(build_sparse, lambda a: solve_highspy(a, "ipm"))
        run_linprog = built_then_solved(build_sparse, solve_linprog)
        run_qp = built_then_solved(build_qp, solve_highspy_qp, quadratic=True)

        methods: list[tuple[str, Callable[[], dict[str, float]]]] = [
            ("tf.allocate", allocate_with()),
            ("tf.allocate, Clarabel QP", allocate_with(solver="clarabel")),
            ("tf.allocate, MinDeviation", allocate_with(objective=tf.MinDeviation())),
            ("tf.allocate, MinDeviation vertex",
             allocate_with(objective=tf.MinDeviation(), tie_break=False)),
            ("PuLP loops", run_pulp),
            ("highspy direct", run_direct), ("highspy direct, IPM", run_direct_ipm),
            ("scipy linprog", run_linprog), ("highspy QP direct", run_qp)]
        if skip_textbook and f"{size}:{name}" in skip_textbook:
            methods = [m for m in methods if m[0] not in (
                "PuLP loops", "highspy direct", "scipy linprog", "highspy QP direct")]
        # interleaved: each repeat runs every method once, so that the load of a shared
        # machine falls on all of them alike
        runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in methods}
        for r in range(repeats):
            for label, fn in methods:
                runs[label].append(fn())
                print(f"  {size:>7} {name:<8} run {r + 1} {label:<34} "
                      f"{runs[label][-1]['total']:8.3f} s", flush=True)
        for label, _ in methods:
            out[label] = {k: statistics.median(x[k] for x in runs[label])
                          for k in runs[label][0]}
        base = out.get("highspy direct", out["highspy direct, IPM"])["total"]
        old = out["tf.allocate, MinDeviation vertex"]["total"]
        # HiGHS on the same model written plainly, its best method: the textbook LP for the
        # least absolute deviation, the plain QP for the proportional default
        lp_best = min(out[k]["total"] for k in ("highspy direct", "highspy direct, IPM")
                      if k in out)
        qp = out.get("highspy QP direct")
        qp_ok = qp is not None and np.isfinite(qp["chi2"])
        for label, r in out.items():
            tf_row = label.startswith("tf.allocate")
            plain = float("nan")
            if label.startswith("tf.allocate, MinDeviation"):
                plain = r["total"] / lp_best
            elif label in ("tf.allocate", "tf.allocate, Clarabel QP") and qp is not None:
                plain = r["total"] / qp["total"]
            rows.append({"size": size, "towns": len(formula), "scenario": name,
                         "method": label if label != "highspy QP direct" or qp_ok
                         else "highspy QP direct (failed: no optimum)",
                         "build_s": r["build"], "solve_s": r["solve"],
                         "total_s": r["total"], "ratio": r["total"] / base,
                         "vs_old": r["total"] / old if tf_row else float("nan"),
                         "vs_plain": plain,
                         "objective_wan": r["objective"],
                         "chi2_wan": r.get("chi2", float("nan")),
                         "formula_s": formula_s})
    return rows


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown."""
    head = ("| towns | scenario | method | build (s) | solve (s) | total (s) | × direct "
            "| × old | × plain | Σ\\|x−t\\| (万元) | Σ(x−t)²/t (万元) |\n"
            "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]

    def opt(v: float, spec: str) -> str:
        return "" if np.isnan(v) else format(v, spec)

    for r in table.itertuples():
        lines.append(f"| {r.towns:,} | {r.scenario} | {r.method} | {r.build_s:.3f} | "
                     f"{r.solve_s:.3f} | {r.total_s:.3f} | {r.ratio:.2f} | "
                     f"{opt(r.vs_old, '.2f')} | {opt(r.vs_plain, '.3f')} | "
                     f"{opt(r.objective_wan, ',.2f')} | "
                     f"{opt(r.chi2_wan, ',.3f')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="example,10000,china")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", default="", help="comma-separated; default all")
    parser.add_argument("--skip-textbook", default="", metavar="SIZE:SCENARIO,...",
                        help="leave out PuLP loops, highspy direct and scipy linprog there")
    args = parser.parse_args()
    import os
    import platform

    print(f"python {platform.python_version()}, HiGHS {highspy.Highs().version()}, "
          f"PuLP {pulp.__version__}, scipy {__import__('scipy').__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    rows = []
    for size in args.sizes.split(","):
        rows += bench(size, args.repeats, [s for s in args.scenarios.split(",") if s],
                      {s for s in args.skip_textbook.split(",") if s})
    table = pd.DataFrame(rows)
    print()
    print(markdown(table))
    print()
    builds = table.pivot_table(index=["towns", "scenario"], columns="method", values="build_s")
    if "PuLP loops" in builds:
        speed = (builds["PuLP loops"] / builds["tf.allocate, MinDeviation vertex"]).dropna()
        print("| towns | scenario | PuLP-loops build ÷ tf.allocate (MinDeviation) build |\n"
              "|---:|---|---:|")
        for (towns, scenario), v in speed.items():
            print(f"| {towns:,} | {scenario} | {v:.0f}× |")


if __name__ == "__main__":
    main()
