"""The one door to the solvers.

This is the only module of townfiscal that imports PuLP, highspy or Clarabel. It takes a
:class:`~townfiscal.optimize.LinearProblem` (arrays) and returns a
:class:`~townfiscal.optimize.Solution`:

- ``solver="highs"`` (the default): the sparse matrix goes straight to HiGHS through
  highspy (``Highs.passModel``), with no per-row Python work; fastest.
- any other name: the problem is built as a PuLP model and solved by that PuLP solver
  (``"cbc"`` is PuLP's bundled CBC, ``"pulp-highs"`` HiGHS through PuLP, or any name
  :func:`pulp.getSolver` knows, e.g. ``"GUROBI"``, ``"CPLEX_CMD"``, ``"GLPK_CMD"``).
- a problem with a quadratic objective goes to Clarabel's interior-point method
  (``"highs"`` or ``"clarabel"``), whose answer :func:`~townfiscal.optimize._polish.polish`
  finishes exactly; ``"highs-qp"`` uses HiGHS's active-set QP solver instead (exact, but
  slow past a few thousand towns). PuLP's solvers take linear programs only.
- :func:`write_model` exports the problem as an LP or MPS file through PuLP.

A time limit always applies. A run stopped by it with a feasible point comes back with
status ``"time_limit"``; one stopped with no feasible point raises :class:`SolverError`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from townfiscal.optimize._problem import (
    ERROR,
    INFEASIBLE,
    OPTIMAL,
    TIME_LIMIT,
    UNBOUNDED,
    LinearProblem,
    Solution,
    SolverError,
)

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "WarmHighs",
    "available_solvers",
    "solve",
    "solver_output",
    "solver_version",
    "to_pulp",
    "write_model",
]

#: Seconds a solve may take when the caller does not say.
DEFAULT_TIME_LIMIT = 120.0

#: Whether the solvers may print their logs (and HiGHS its banner); off unless asked.
_VERBOSE: contextvars.ContextVar[bool] = contextvars.ContextVar("townfiscal_solver_verbose",
                                                                default=False)


@contextlib.contextmanager
def solver_output(verbose: bool) -> Iterator[None]:
    """Within the block, let the solvers print their logs (``verbose=True``) or keep them
    quiet (``False``, the default outside any block); per thread and per task."""
    token = _VERBOSE.set(bool(verbose))
    try:
        yield
    finally:
        _VERBOSE.reset(token)


#: Friendly names for PuLP solvers.
_PULP_ALIASES = {
    "cbc": "PULP_CBC_CMD",
    "coin": "COIN_CMD",
    "pulp-highs": "HiGHS",
    "pulp_highs": "HiGHS",
    "highs-cmd": "HiGHS_CMD",
    "glpk": "GLPK_CMD",
    "gurobi": "GUROBI",
    "cplex": "CPLEX_PY",
    "scip": "SCIP_PY",
}


@contextlib.contextmanager
def _quiet_pulp() -> Iterator[Any]:
    """Import PuLP with its PuLP-4 migration notices silenced (they name our call sites)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        import pulp

        yield pulp


def _pulp_name(solver: str) -> str:
    return _PULP_ALIASES.get(solver.lower(), solver)


def available_solvers() -> list[str]:
    """Names of the solvers usable on this machine (``"highs"`` first, then PuLP's).

    Example::

        >>> "highs" in available_solvers()
        True
    """
    names = []
    try:
        import highspy  # noqa: F401

        names.append("highs")
    except ImportError:  # pragma: no cover - highspy is a dependency
        pass
    with _quiet_pulp() as pulp:
        names += list(pulp.listSolvers(onlyAvailable=True))
    return names


def solver_version(solver: str = "highs") -> str:
    """A version string for ``solver`` (``"highspy 1.x.y"``, ``"pulp 3.3.2 / PULP_CBC_CMD"``)."""
    if solver.lower() == "highs":
        h = _new_highs()
        return f"HiGHS {h.version()} (highspy)"
    with _quiet_pulp() as pulp:
        return f"PuLP {pulp.__version__} / {_pulp_name(solver)}"


def solve(
    problem: LinearProblem,
    solver: str = "highs",
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
    options: Mapping[str, Any] | None = None,
) -> Solution:
    """Solve ``problem`` with ``solver`` within ``time_limit`` seconds.

    Parameters
    ----------
    problem
        The arrays of the program.
    solver
        ``"highs"`` (direct, default), ``"cbc"``, ``"pulp-highs"`` or any PuLP solver name.
    time_limit
        Seconds; must be positive and finite.
    options
        Extra solver options: HiGHS option names for ``"highs"`` (e.g.
        ``{"solver": "ipm"}``), keyword arguments of the PuLP solver class otherwise.

    Returns
    -------
    Solution
        Status ``"optimal"``, ``"time_limit"`` (feasible, unproven), ``"infeasible"`` or
        ``"unbounded"``.

    Raises
    ------
    SolverError
        The solver is unknown or not installed, failed, or stopped at the time limit with
        no feasible point.

    Example::

        >>> import numpy as np, scipy.sparse as sp
        >>> p = LinearProblem(cost=[1.0, 2.0], matrix=sp.csr_array([[1.0, 1.0]]),
        ...                   row_lower=[1.0], row_upper=[1.0],
        ...                   col_lower=[0.0, 0.0], col_upper=[np.inf, np.inf])
        >>> solve(p).x.tolist()
        [1.0, 0.0]
    """
    if not (time_limit > 0 and math.isfinite(time_limit)):
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    if problem.is_qp:
        sol = _solve_qp(problem, solver.lower(), time_limit, dict(options or {}))
    elif solver.lower() in ("highs", "highs-qp", "clarabel"):
        sol = _solve_highs(problem, time_limit, dict(options or {}))
    else:
        sol = _solve_pulp(problem, _pulp_name(solver), time_limit, dict(options or {}))
    if sol.status == TIME_LIMIT and not sol.has_solution:
        raise SolverError(
            f"{sol.solver} reached the time limit of {time_limit:g} s without a feasible "
            "solution; raise time_limit or simplify the constraints",
            status=TIME_LIMIT,
            solver=sol.solver,
        )
    if sol.status == ERROR:
        raise SolverError(f"{sol.solver} failed: {sol.message}", status=ERROR, solver=sol.solver)
    return sol


# --------------------------------------------------------------------------- HiGHS direct

_banner_shown = False


def _new_highs() -> Any:
    """A quiet ``highspy.Highs``: HiGHS prints a banner to C stdout on its first creation
    in a process, which would corrupt a command's JSON or CSV output and clutters a notebook;
    send it to devnull unless the solvers may speak (:func:`solver_output`)."""
    global _banner_shown
    import highspy

    if _banner_shown or _VERBOSE.get():
        return highspy.Highs()  # type: ignore[no-untyped-call]
    _banner_shown = True
    fd = 1  # HiGHS prints to C's stdout, whatever sys.stdout is (a notebook's, pytest's)
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stdout.flush()
    try:
        saved = os.dup(fd)
    except OSError:  # pragma: no cover - no file descriptor 1
        return highspy.Highs()  # type: ignore[no-untyped-call]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            return highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _highs_model(problem: LinearProblem) -> Any:
    """The problem as a highspy model (an ``HighsLp``, or an ``HighsModel`` with a Hessian)."""
    import highspy

    lp = highspy.HighsLp()
    m, n = problem.shape
    a = problem.matrix.tocsc()
    a.sort_indices()
    lp.num_col_ = n
    lp.num_row_ = m
    lp.col_cost_ = problem.cost
    lp.col_lower_ = problem.col_lower
    lp.col_upper_ = problem.col_upper
    lp.row_lower_ = problem.row_lower
    lp.row_upper_ = problem.row_upper
    lp.offset_ = float(problem.offset)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = m
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data
    if problem.is_mip:
        assert problem.integer is not None
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in problem.integer.tolist()
        ]
    if problem.col_names is not None and problem.row_names is not None:
        lp.col_names_ = list(problem.col_names)
        lp.row_names_ = list(problem.row_names)
    model: Any = lp
    if problem.is_qp:
        assert problem.hessian is not None
        hess = highspy.HighsHessian()
        hess.dim_ = n
        hess.format_ = highspy.HessianFormat.kTriangular
        hess.start_ = np.arange(n + 1, dtype=np.int32)
        hess.index_ = np.arange(n, dtype=np.int32)
        hess.value_ = problem.hessian
        model = highspy.HighsModel()
        model.lp_ = lp
        model.hessian_ = hess
    return model


def _configured_highs(time_limit: float, options: Mapping[str, Any]) -> Any:
    """A new HiGHS with the library's settings (quiet unless asked, the time limit, a fixed
    seed) and *options*.

    Raises
    ------
    SolverError
        HiGHS rejects an option.
    """
    import highspy

    h = _new_highs()
    h.setOptionValue("output_flag", _VERBOSE.get())
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("random_seed", 0)
    for key, value in options.items():
        status = h.setOptionValue(key, value)
        if status != highspy.HighsStatus.kOk:
            raise SolverError(f"HiGHS rejected option {key}={value!r}", solver="highs")
    return h


def _solve_highs(problem: LinearProblem, time_limit: float, options: dict[str, Any]) -> Solution:
    import highspy

    h = _configured_highs(time_limit, options)
    version = f"HiGHS {h.version()} (highspy)"
    model = _highs_model(problem)
    if h.passModel(model) == highspy.HighsStatus.kError:
        return Solution(ERROR, None, None, None, "highs", version, 0.0, "passModel failed")
    return _run_highs(h, problem.is_mip, version)


def _run_highs(h: Any, mip: bool, version: str) -> Solution:
    """Run ``h`` (a model passed) and read its solution."""
    import highspy

    start = time.perf_counter()
    run_status = h.run()
    seconds = time.perf_counter() - start
    model_status = h.getModelStatus()
    info = h.getInfo()
    feasible = info.primal_solution_status == 2  # kSolutionStatusFeasible
    ms = highspy.HighsModelStatus
    if model_status == ms.kOptimal:
        status = OPTIMAL
    elif model_status in (ms.kTimeLimit, ms.kIterationLimit, ms.kInterrupt, ms.kSolutionLimit):
        status = TIME_LIMIT
    elif model_status in (ms.kInfeasible, ms.kUnboundedOrInfeasible):
        status = INFEASIBLE
    elif model_status == ms.kUnbounded:
        status = UNBOUNDED
    else:
        status = ERROR
    message = h.modelStatusToString(model_status)
    if run_status == highspy.HighsStatus.kError and status == OPTIMAL:
        status = ERROR
    x = dual = objective = None
    if status in (OPTIMAL, TIME_LIMIT) and feasible:
        sol = h.getSolution()
        x = np.array(sol.col_value, dtype=np.float64)
        if not mip and status == OPTIMAL and sol.dual_valid:
            dual = np.array(sol.row_dual, dtype=np.float64)
        objective = float(info.objective_function_value)
    return Solution(status, x, dual, objective, "highs", version, seconds, message)


class WarmHighs:
    """HiGHS kept between solves of linear programs that differ only in the first row's
    bounds (a fund sweep's budget row): it re-solves from the last basis.

    :meth:`solve` passes a problem whose matrix, costs, column bounds or other rows differ
    from the last one's afresh (a cold solve), and otherwise changes the first row's bounds
    and runs again (``changeRowBounds`` + ``run``). ``warm`` counts the warm re-solves.
    """

    def __init__(self, time_limit: float = DEFAULT_TIME_LIMIT,
                 options: Mapping[str, Any] | None = None) -> None:
        self.time_limit = float(time_limit)
        self.options = dict(options or {})
        self._h: Any = None
        self._last: LinearProblem | None = None
        self.warm = 0

    def _same_but_first_row(self, p: LinearProblem) -> bool:
        q = self._last
        if q is None or q.shape != p.shape or q.is_mip or p.is_mip or p.is_qp:
            return False
        a, b = q.matrix.tocsr(), p.matrix.tocsr()
        return bool(np.array_equal(q.cost, p.cost) and np.array_equal(q.col_lower, p.col_lower)
                    and np.array_equal(q.col_upper, p.col_upper)
                    and np.array_equal(q.row_lower[1:], p.row_lower[1:])
                    and np.array_equal(q.row_upper[1:], p.row_upper[1:])
                    and q.offset == p.offset and np.array_equal(a.indptr, b.indptr)
                    and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data))

    def solve(self, problem: LinearProblem) -> Solution:
        """Solve ``problem`` (a linear program), warm where only its first row's bounds
        changed since the last one."""
        if problem.is_qp or problem.is_mip:
            return solve(problem, "highs", time_limit=self.time_limit, options=self.options)
        if self._h is not None and self._same_but_first_row(problem):
            self._h.changeRowBounds(0, float(problem.row_lower[0]),
                                    float(problem.row_upper[0]))
            self.warm += 1
            sol = _run_highs(self._h, False, f"HiGHS {self._h.version()} (highspy)")
        else:
            self._h = _configured_highs(self.time_limit, self.options)
            self._h.passModel(_highs_model(problem))
            sol = _run_highs(self._h, False, f"HiGHS {self._h.version()} (highspy)")
        self._last = problem
        if sol.status == ERROR:
            self._h = self._last = None
            raise SolverError(f"highs failed: {sol.message}", status=ERROR, solver="highs")
        return sol


# --------------------------------------------------------------------------- quadratic


def _solve_qp(problem: LinearProblem, solver: str, time_limit: float,
              options: dict[str, Any]) -> Solution:
    if solver == "highs-qp":
        sol = _solve_highs(problem, time_limit, options)
        return attrs.evolve(sol, solver="highs-qp")
    if solver not in ("highs", "clarabel"):
        raise SolverError(
            f"the objective is quadratic and {solver!r} solves linear programs only: use "
            "solver='highs' (Clarabel's interior point, polished exactly) or 'highs-qp', or "
            "a linear objective such as MinDeviation()", solver=solver)
    return _solve_clarabel(problem, time_limit, options)


def _solve_clarabel(problem: LinearProblem, time_limit: float,
                    options: dict[str, Any]) -> Solution:
    """Clarabel's interior point, then the exact active-set finish."""
    import clarabel
    import scipy.sparse as sp

    from townfiscal.optimize._polish import polish

    m, n = problem.shape
    a = sp.csr_array(problem.matrix)
    rl, ru = problem.row_lower, problem.row_upper
    cl, cu = problem.col_lower, problem.col_upper
    eq = np.flatnonzero(np.isfinite(rl) & (rl == ru))
    ge = np.flatnonzero(np.isfinite(rl) & (rl != ru))
    le = np.flatnonzero(np.isfinite(ru) & (rl != ru))
    col_ge = np.flatnonzero(np.isfinite(cl))
    col_le = np.flatnonzero(np.isfinite(cu))
    eye = sp.eye_array(n, format="csr")
    # Clarabel's form: A z + s = b with s in the cones (zero cone first, then s >= 0)
    big_a = sp.vstack([a[eq], -a[ge], a[le], -eye[col_ge], eye[col_le]], format="csc")
    big_b = np.concatenate([rl[eq], -rl[ge], ru[le], -cl[col_ge], cu[col_le]])
    cones = [clarabel.ZeroConeT(eq.size), clarabel.NonnegativeConeT(big_b.size - eq.size)]
    hess = sp.diags_array(problem.hessian if problem.hessian is not None else np.zeros(n),
                          format="csc")
    settings = clarabel.DefaultSettings()
    settings.verbose = _VERBOSE.get()
    settings.time_limit = float(time_limit)
    for key, value in options.items():  # HiGHS's options are for the linear programs
        if hasattr(settings, key):
            setattr(settings, key, value)
    version = f"Clarabel {getattr(clarabel, '__version__', '')} + exact active-set finish"
    start = time.perf_counter()
    result = clarabel.DefaultSolver(hess, problem.cost, big_a, big_b, cones, settings).solve()
    status_name = str(result.status)
    if status_name in ("Solved", "AlmostSolved"):
        status = OPTIMAL
    elif "PrimalInfeasible" in status_name:
        status = INFEASIBLE
    elif "DualInfeasible" in status_name:
        status = UNBOUNDED
    elif status_name in ("MaxTime", "MaxIterations"):
        status = TIME_LIMIT
    else:
        status = ERROR
    x = dual = objective = None
    if status in (OPTIMAL, TIME_LIMIT):
        z0 = np.minimum(np.maximum(np.asarray(result.x, dtype=np.float64), cl), cu)
        # an interior point's guess of what holds: a dual larger than its slack
        dual, slack = np.asarray(result.z), np.asarray(result.s)
        held = dual > slack
        cut = np.cumsum([eq.size, ge.size, le.size, col_ge.size, col_le.size])
        row_lo = np.zeros(m, dtype=bool)
        row_hi = np.zeros(m, dtype=bool)
        col_lo = np.zeros(n, dtype=bool)
        col_hi = np.zeros(n, dtype=bool)
        row_lo[ge] = held[cut[0]:cut[1]]
        row_hi[le] = held[cut[1]:cut[2]]
        col_lo[col_ge] = held[cut[2]:cut[3]]
        col_hi[col_le] = held[cut[3]:cut[4]]
        done = polish(problem, z0, row_active=(row_lo, row_hi), col_active=(col_lo, col_hi))
        x = done.z if done.converged else z0
        dual = done.row_dual if done.converged else None
        h = problem.hessian if problem.hessian is not None else np.zeros(n)
        objective = float(0.5 * np.sum(h * x * x) + problem.cost @ x + problem.offset)
    seconds = time.perf_counter() - start
    return Solution(status, x, dual, objective, "clarabel", version, seconds, status_name)


# --------------------------------------------------------------------------- PuLP


def to_pulp(problem: LinearProblem, name: str = "townfiscal") -> Any:
    """The problem as a :class:`pulp.LpProblem` (for other solvers and for export).

    Column ``j`` becomes variable ``problem.column_name(j)``; a row with two finite,
    different bounds becomes two constraints. The returned problem carries the attribute
    ``_townfiscal_rows``: per constraint, the index of the row it came from.
    """
    with _quiet_pulp() as pulp:
        m, n = problem.shape
        integer = problem.integer if problem.integer is not None else np.zeros(n, dtype=bool)
        lo = problem.col_lower
        hi = problem.col_upper
        variables = [
            pulp.LpVariable(
                problem.column_name(j),
                lowBound=float(lo[j]) if math.isfinite(lo[j]) else None,
                upBound=float(hi[j]) if math.isfinite(hi[j]) else None,
                cat=pulp.LpInteger if integer[j] else pulp.LpContinuous,
            )
            for j in range(n)
        ]
        prob = pulp.LpProblem(name, pulp.LpMinimize)
        nz = np.flatnonzero(problem.cost)
        objective = pulp.LpAffineExpression(
            [(variables[j], float(problem.cost[j])) for j in nz.tolist()],
            constant=float(problem.offset),
        )
        prob.setObjective(objective)
        a = problem.matrix.tocsr()
        indptr, indices, data = a.indptr, a.indices, a.data
        rows: list[int] = []
        row_lower, row_upper = problem.row_lower, problem.row_upper
        for i in range(m):
            s, e = int(indptr[i]), int(indptr[i + 1])
            terms = [(variables[j], v) for j, v in zip(indices[s:e].tolist(), data[s:e].tolist(),
                                                       strict=True)]
            low, high = float(row_lower[i]), float(row_upper[i])
            base = problem.row_name(i)
            if low == high:
                prob.addConstraint(
                    pulp.LpConstraint(terms, pulp.LpConstraintEQ, rhs=low), base)
                rows.append(i)
                continue
            if math.isfinite(low):
                prob.addConstraint(pulp.LpConstraint(terms, pulp.LpConstraintGE, rhs=low),
                                   base if not math.isfinite(high) else base + "_lo")
                rows.append(i)
            if math.isfinite(high):
                prob.addConstraint(pulp.LpConstraint(terms, pulp.LpConstraintLE, rhs=high),
                                   base if not math.isfinite(low) else base + "_hi")
                rows.append(i)
        prob._townfiscal_rows = rows
        prob._townfiscal_vars = variables
        return prob


def write_model(problem: LinearProblem, path: str | Path) -> Path:
    """Write ``problem`` to ``path`` as an LP file (``.lp``) or MPS file (``.mps``).

    A linear program is written by PuLP; one with a quadratic objective by HiGHS, whose LP
    files hold the Hessian in a ``[ … ] / 2`` term and MPS files in a ``QUADOBJ`` section.

    Raises
    ------
    ValueError
        The suffix is neither ``.lp`` nor ``.mps``.
    """
    path = Path(path)
    if path.suffix.lower() not in (".lp", ".mps"):
        raise ValueError(f"unknown model file type {path.suffix!r}: use .lp or .mps")
    if problem.is_qp:  # PuLP writes linear objectives only; HiGHS writes the Hessian too
        h = _new_highs()
        h.setOptionValue("output_flag", _VERBOSE.get())
        h.passModel(_highs_model(problem))
        h.writeModel(str(path))
        return path
    prob = to_pulp(problem)
    with _quiet_pulp():
        if path.suffix.lower() == ".lp":
            prob.writeLP(str(path))
        elif path.suffix.lower() == ".mps":
            prob.writeMPS(str(path))
        else:
            raise ValueError(f"unknown model file type {path.suffix!r}: use .lp or .mps")
    return path


def _solve_pulp(problem: LinearProblem, name: str, time_limit: float,
                options: dict[str, Any]) -> Solution:
    with _quiet_pulp() as pulp:
        version = f"PuLP {pulp.__version__} / {name}"
        try:
            solver = pulp.getSolver(name, msg=_VERBOSE.get(), timeLimit=time_limit, **options)
        except pulp.PulpSolverError as exc:
            raise SolverError(f"unknown solver {name!r}: {exc}", solver=name) from exc
        if not solver.available():
            raise SolverError(f"solver {name!r} is not installed on this machine "
                              f"(available: {', '.join(available_solvers())})", solver=name)
        prob = to_pulp(problem)
        if name == "HiGHS":  # PuLP's highspy prints HiGHS's banner on a first creation
            _new_highs()
        start = time.perf_counter()
        try:
            prob.solve(solver)
        except pulp.PulpSolverError as exc:
            return Solution(ERROR, None, None, None, name, version,
                            time.perf_counter() - start, str(exc))
        seconds = time.perf_counter() - start
        st, sol_st = prob.status, prob.sol_status
        if st == pulp.LpStatusOptimal and sol_st == pulp.LpSolutionOptimal:
            status = OPTIMAL
        elif sol_st == pulp.LpSolutionIntegerFeasible or st == pulp.LpStatusNotSolved:
            status = TIME_LIMIT
        elif st == pulp.LpStatusInfeasible:
            status = INFEASIBLE
        elif st == pulp.LpStatusUnbounded:
            status = UNBOUNDED
        else:
            status = ERROR
        x = dual = objective = None
        feasible = sol_st in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        if status in (OPTIMAL, TIME_LIMIT) and feasible:
            variables = prob._townfiscal_vars
            x = np.array([v.varValue if v.varValue is not None else 0.0 for v in variables],
                         dtype=np.float64)
            objective = float(pulp.value(prob.objective) or 0.0)
            if status == OPTIMAL and not problem.is_mip:
                pis = [c.pi for c in prob.constraints.values()]
                if all(p is not None for p in pis):
                    dual = np.zeros(problem.shape[0])
                    np.add.at(dual, np.asarray(prob._townfiscal_rows, dtype=np.int64),
                              np.asarray(pis, dtype=np.float64))
        return Solution(status, x, dual, objective, name, version, seconds,
                        pulp.LpStatus.get(st, str(st)))
