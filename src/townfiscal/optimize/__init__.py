"""The allocator: constraints, objectives, the model, the solver adapter, ``allocate``.

:func:`allocate` returns an :class:`Allocation`; rounding keeps the total, bounds and orders.
Only :mod:`townfiscal.optimize._solver` imports PuLP or highspy. May import the ground,
:mod:`townfiscal.towns`, :mod:`townfiscal.policy` and :mod:`townfiscal.rules`; nothing above.
"""

from townfiscal.optimize._allocation import Allocation, allocate, data_hash, register_writer
from townfiscal.optimize._constraints import (
    Cap,
    CapacityFloor,
    Constraint,
    Floor,
    GroupTotal,
    GrowthCap,
    HoldHarmless,
    NeedOrder,
    Rounding,
    TierOrder,
)
from townfiscal.optimize._context import ModelContext
from townfiscal.optimize._model import Assembly, assemble, lower, prechecks, violations
from townfiscal.optimize._objectives import (
    MaxMin,
    MinDeviation,
    MinShortfall,
    Objective,
    Proportional,
    WeightedObjective,
)
from townfiscal.optimize._parametric import FormulaPath, FundModel, FundSolution, fund_model
from townfiscal.optimize._problem import (
    LinearProblem,
    Solution,
    SolverError,
    SolverTimeLimitWarning,
)
from townfiscal.optimize._range import FundRange, fund_range
from townfiscal.optimize._run import OptimizationResult, optimise
from townfiscal.optimize._solver import available_solvers, solve, solver_version, write_model

__all__ = [
    "Allocation",
    "Assembly",
    "Cap",
    "CapacityFloor",
    "Constraint",
    "Floor",
    "FormulaPath",
    "FundModel",
    "FundRange",
    "FundSolution",
    "GroupTotal",
    "GrowthCap",
    "HoldHarmless",
    "LinearProblem",
    "MaxMin",
    "MinDeviation",
    "MinShortfall",
    "ModelContext",
    "NeedOrder",
    "Objective",
    "OptimizationResult",
    "Proportional",
    "Rounding",
    "Solution",
    "SolverError",
    "SolverTimeLimitWarning",
    "TierOrder",
    "WeightedObjective",
    "allocate",
    "assemble",
    "available_solvers",
    "data_hash",
    "fund_model",
    "fund_range",
    "lower",
    "optimise",
    "prechecks",
    "register_writer",
    "solve",
    "solver_version",
    "violations",
    "write_model",
]
