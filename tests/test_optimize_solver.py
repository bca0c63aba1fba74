"""The solver adapter: highspy direct, PuLP solvers, export, statuses and time limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from townfiscal.optimize import LinearProblem, SolverError, available_solvers, solve, write_model


def small_lp() -> LinearProblem:
    """min x0 + 2 x1 s.t. x0 + x1 = 1, x0 − x1 ≤ 0.2, x ≥ 0: optimum (0.6, 0.4), value 1.4."""
    return LinearProblem(
        cost=[1.0, 2.0],
        matrix=sp.csr_array([[1.0, 1.0], [1.0, -1.0]]),
        row_lower=[1.0, -np.inf],
        row_upper=[1.0, 0.2],
        col_lower=[0.0, 0.0],
        col_upper=[np.inf, np.inf],
    )


@pytest.mark.parametrize("solver", ["highs", "cbc", "pulp-highs"])
def test_solvers_agree_on_the_hand_lp(solver: str) -> None:
    """Every solver path finds (0.6, 0.4), objective 1.4, and the duals (1.5, −0.5)."""
    sol = solve(small_lp(), solver)
    assert sol.status == "optimal"
    assert sol.x is not None
    assert sol.row_dual is not None
    np.testing.assert_allclose(sol.x, [0.6, 0.4], atol=1e-9)
    assert sol.objective == pytest.approx(1.4)
    np.testing.assert_allclose(sol.row_dual, [1.5, -0.5], atol=1e-9)


def test_duals_match_scipy_marginals() -> None:
    """HiGHS row duals equal scipy's marginals (∂objective/∂right-hand side)."""
    rng = np.random.default_rng(7)
    a = rng.uniform(0.1, 1.0, size=(4, 6))
    b = a.sum(axis=1) * 2.0
    c = rng.uniform(1.0, 3.0, size=6)
    ref = linprog(c, A_ub=-a, b_ub=-b, bounds=(0, 5), method="highs")
    p = LinearProblem(cost=c, matrix=a, row_lower=b, row_upper=np.full(4, np.inf),
                      col_lower=np.zeros(6), col_upper=np.full(6, 5.0))
    sol = solve(p)
    assert sol.objective == pytest.approx(ref.fun)
    assert sol.row_dual is not None
    np.testing.assert_allclose(sol.row_dual, -ref.ineqlin.marginals, atol=1e-7)


def test_infeasible_status() -> None:
    """x0 + x1 = 1 with both x ≤ 0.2 is reported infeasible, without raising."""
    p = small_lp()
    q = LinearProblem(cost=p.cost, matrix=p.matrix, row_lower=p.row_lower,
                      row_upper=p.row_upper, col_lower=p.col_lower, col_upper=[0.2, 0.2])
    for solver in ("highs", "cbc"):
        sol = solve(q, solver)
        assert sol.status == "infeasible"
        assert not sol.has_solution


def test_integer_columns() -> None:
    """With integrality, x0 + x1 = 1 and x0 − x1 ≤ 0.2 force x = (0, 1), objective 2."""
    p = small_lp()
    q = attrs_evolve_integer(p)
    for solver in ("highs", "cbc"):
        sol = solve(q, solver)
        assert sol.status == "optimal"
        assert sol.x is not None
        np.testing.assert_allclose(sol.x, [0.0, 1.0], atol=1e-9)
        assert sol.row_dual is None


def attrs_evolve_integer(p: LinearProblem) -> LinearProblem:
    """The same problem with both columns integer."""
    return LinearProblem(cost=p.cost, matrix=p.matrix, row_lower=p.row_lower,
                         row_upper=p.row_upper, col_lower=p.col_lower, col_upper=p.col_upper,
                         integer=np.array([True, True]))


def test_stopped_without_a_solution_raises() -> None:
    """A run stopped before any feasible point raises SolverError, never returns a guess."""
    n = 50
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 1.5, size=(n, n))
    p = LinearProblem(cost=rng.uniform(1, 2, n), matrix=a, row_lower=a.sum(1),
                      row_upper=np.full(n, np.inf), col_lower=np.zeros(n),
                      col_upper=np.full(n, np.inf))
    with pytest.raises(SolverError) as info:
        solve(p, options={"presolve": "off", "simplex_iteration_limit": 0})
    assert info.value.status == "time_limit"


def test_time_limit_must_be_positive() -> None:
    """A missing or non-positive time limit is refused: a limit always applies."""
    with pytest.raises(ValueError, match="time_limit"):
        solve(small_lp(), time_limit=0)
    with pytest.raises(ValueError, match="time_limit"):
        solve(small_lp(), time_limit=float("inf"))


def test_unknown_solver() -> None:
    """An unknown solver name raises SolverError naming it."""
    with pytest.raises(SolverError, match="NO_SUCH"):
        solve(small_lp(), "NO_SUCH")


def test_available_solvers_lists_highs_first() -> None:
    """highs (direct) comes first, then PuLP's installed solvers (CBC is bundled)."""
    names = available_solvers()
    assert names[0] == "highs"
    assert "PULP_CBC_CMD" in names


def test_write_lp_and_mps(tmp_path: Path) -> None:
    """LP and MPS export name the rows and columns and keep the coefficients."""
    lp = write_model(small_lp(), tmp_path / "m.lp").read_text()
    assert "r0: z0 + z1 = 1" in lp
    assert "r1: z0 - z1 <= 0.2" in lp
    mps = write_model(small_lp(), tmp_path / "m.mps").read_text()
    assert "ROWS" in mps
    assert "z1" in mps
    with pytest.raises(ValueError, match="unknown model file type"):
        write_model(small_lp(), tmp_path / "m.txt")


def test_malformed_problem_is_refused() -> None:
    """Arrays of the wrong length are refused with every mismatch named."""
    with pytest.raises(ValueError, match="cost has shape"):
        LinearProblem(cost=[1.0], matrix=np.ones((1, 2)), row_lower=[0.0], row_upper=[1.0],
                      col_lower=[0.0, 0.0], col_upper=[1.0, 1.0])


def test_time_limit_with_a_feasible_answer_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A solver stopped by the time limit with a feasible point: the allocation carries status
    'time_limit' and a SolverTimeLimitWarning is issued — never a silent answer."""
    import pandas as pd

    import townfiscal as tf
    from townfiscal.optimize import ModelContext, Solution, _run, optimise

    real = _run.solve

    def stopped(problem: LinearProblem, *args: object, **kwargs: object) -> Solution:
        sol = real(problem, *args, **kwargs)  # type: ignore[arg-type]
        return Solution("time_limit", sol.x, None, sol.objective, sol.solver,
                        sol.solver_version, sol.seconds, "time limit reached")

    monkeypatch.setattr(_run, "solve", stopped)
    frame = pd.DataFrame({"target": [60.0, 40.0]}, index=["440000001", "440000002"])
    with pytest.warns(tf.SolverTimeLimitWarning, match="not proven optimal"):
        res = optimise(ModelContext(frame, 100), [tf.Floor(45)], tf.MinDeviation())
    assert res.status == "time_limit"
    assert res.amounts.tolist() == [55, 45]
    assert res.shadow_prices["shadow_price"].isna().all()
