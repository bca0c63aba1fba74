"""The allocator: constraint and objective catalogue, model building, the solver adapter.

Public names are re-exported from :mod:`townfiscal`. Only :mod:`townfiscal.optimize._solver`
imports PuLP or highspy.
"""

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
    WeightedObjective,
)
from townfiscal.optimize._problem import (
    LinearProblem,
    Solution,
    SolverError,
    SolverTimeLimitWarning,
)
from townfiscal.optimize._run import OptimizationResult, optimise
from townfiscal.optimize._solver import available_solvers, solve, solver_version, write_model

__all__ = [
    "Assembly",
    "Cap",
    "CapacityFloor",
    "Constraint",
    "Floor",
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
    "Rounding",
    "Solution",
    "SolverError",
    "SolverTimeLimitWarning",
    "TierOrder",
    "WeightedObjective",
    "assemble",
    "available_solvers",
    "lower",
    "optimise",
    "prechecks",
    "solve",
    "solver_version",
    "violations",
    "write_model",
]
