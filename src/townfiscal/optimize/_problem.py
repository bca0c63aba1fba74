"""The array-level problem handed to a solver, and what comes back.

Everything above the solver module speaks these two objects: a :class:`LinearProblem`
(``min ½ zᵀ diag(h) z + c·z + offset`` subject to ``row_lower <= A z <= row_upper`` and
``col_lower <= z <= col_upper``, some columns optionally integer; ``h`` is absent for a
linear program) and a :class:`Solution`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # imported where a sparse matrix is built, not with the module
    import scipy.sparse as sp

__all__ = [
    "LinearProblem",
    "Solution",
    "SolverError",
    "SolverTimeLimitWarning",
    "Status",
]

FloatArray = NDArray[np.float64]

#: The statuses a :class:`Solution` may carry.
Status = str
OPTIMAL = "optimal"
TIME_LIMIT = "time_limit"
INFEASIBLE = "infeasible"
UNBOUNDED = "unbounded"
ERROR = "error"


class SolverError(RuntimeError):
    """The solver stopped without an answer the library can use.

    Raised for a time-out with no feasible solution, an unbounded model, a solver that is
    not installed, or a solver failure. ``status`` is the solver's status in the library's
    words (``"time_limit"``, ``"unbounded"``, ``"error"``), ``solver`` the solver's name.
    """

    def __init__(self, message: str, *, status: str = ERROR, solver: str = "") -> None:
        self.status = status
        self.solver = solver
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-friendly dict."""
        return {"error": "solver", "status": self.status, "solver": self.solver,
                "message": str(self)}


class SolverTimeLimitWarning(UserWarning):
    """The time limit stopped the solver; the answer is feasible but not proven optimal."""


def _as_float(a: Any) -> FloatArray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


def _as_csr(m: Any) -> sp.csr_array:
    import scipy.sparse as sp

    return sp.csr_array(m, dtype=np.float64)


@attrs.frozen(eq=False)
class LinearProblem:
    """A linear (or mixed-integer, or separable quadratic) program in arrays.

    ``min ½ Σ_j hessian_j z_j² + cost @ z + offset`` subject to
    ``row_lower <= matrix @ z <= row_upper`` and ``col_lower <= z <= col_upper``; ``±inf``
    marks a missing bound. ``hessian`` is the diagonal of the objective's Hessian (``>= 0``;
    ``None`` for a linear program). ``integer`` flags integer columns (``None``: all
    continuous). ``row_family`` gives, per row, an index
    into ``families`` (the constraint family the row belongs to) so duals and elastic
    slacks can be reported per family. ``col_names``/``row_names`` are optional and only
    used for LP/MPS export.

    Example::

        >>> import numpy as np, scipy.sparse as sp
        >>> p = LinearProblem(cost=np.array([1.0, 2.0]), matrix=sp.csr_array([[1.0, 1.0]]),
        ...                   row_lower=np.array([1.0]), row_upper=np.array([1.0]),
        ...                   col_lower=np.zeros(2), col_upper=np.full(2, np.inf))
        >>> p.shape
        (1, 2)
    """

    cost: FloatArray = attrs.field(converter=_as_float)
    matrix: sp.csr_array = attrs.field(converter=_as_csr)
    row_lower: FloatArray = attrs.field(converter=_as_float)
    row_upper: FloatArray = attrs.field(converter=_as_float)
    col_lower: FloatArray = attrs.field(converter=_as_float)
    col_upper: FloatArray = attrs.field(converter=_as_float)
    offset: float = 0.0
    integer: NDArray[np.bool_] | None = None
    row_family: NDArray[np.int64] | None = None
    families: tuple[str, ...] = ()
    col_names: tuple[str, ...] | None = None
    row_names: tuple[str, ...] | None = None
    hessian: FloatArray | None = attrs.field(default=None,
                                             converter=attrs.converters.optional(_as_float))

    def __attrs_post_init__(self) -> None:
        m, n = self.matrix.shape
        problems = []
        if self.cost.shape != (n,):
            problems.append(f"cost has shape {self.cost.shape}, expected ({n},)")
        for name in ("col_lower", "col_upper"):
            if getattr(self, name).shape != (n,):
                problems.append(f"{name} has shape {getattr(self, name).shape}, expected ({n},)")
        for name in ("row_lower", "row_upper"):
            if getattr(self, name).shape != (m,):
                problems.append(f"{name} has shape {getattr(self, name).shape}, expected ({m},)")
        if self.integer is not None and self.integer.shape != (n,):
            problems.append(f"integer has shape {self.integer.shape}, expected ({n},)")
        if self.hessian is not None and self.hessian.shape != (n,):
            problems.append(f"hessian has shape {self.hessian.shape}, expected ({n},)")
        if self.row_family is not None and self.row_family.shape != (m,):
            problems.append(f"row_family has shape {self.row_family.shape}, expected ({m},)")
        if problems:
            raise ValueError("malformed LinearProblem: " + "; ".join(problems))

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        m, n = self.matrix.shape
        return int(m), int(n)

    @property
    def is_qp(self) -> bool:
        """Whether the objective has a quadratic part."""
        return self.hessian is not None and bool(np.any(self.hessian > 0))

    @property
    def is_mip(self) -> bool:
        """Whether any column is integer."""
        return self.integer is not None and bool(self.integer.any())

    def column_name(self, j: int) -> str:
        """The name of column ``j`` (``z{j}`` when none was given)."""
        return self.col_names[j] if self.col_names is not None else f"z{j}"

    def row_name(self, i: int) -> str:
        """The name of row ``i`` (``r{i}`` when none was given)."""
        return self.row_names[i] if self.row_names is not None else f"r{i}"


@attrs.frozen(eq=False)
class Solution:
    """What a solver returned for a :class:`LinearProblem`.

    ``status`` is one of ``"optimal"``, ``"time_limit"`` (a feasible but unproven answer),
    ``"infeasible"``, ``"unbounded"``, ``"error"``. ``x`` (column values) and ``row_dual``
    (∂objective/∂row bound, ``None`` for MIPs or solvers that give none) are ``None``
    when there is no solution. ``seconds`` is the solver's own wall time.
    """

    status: str
    x: FloatArray | None
    row_dual: FloatArray | None
    objective: float | None
    solver: str
    solver_version: str
    seconds: float
    message: str = ""

    @property
    def has_solution(self) -> bool:
        """Whether ``x`` holds a feasible point (optimal or stopped by the time limit)."""
        return self.x is not None and self.status in (OPTIMAL, TIME_LIMIT)
