"""townfiscal: fiscal transfers to towns.

The rules of a subsidy as versioned data, expenditure-responsibility splits between levels of
government, and allocation of a fixed fund across towns by linear programming.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from townfiscal import metrics, report
from townfiscal._allocation import Allocation, allocate
from townfiscal._devolution import Devolution, devolve, subsidy_change
from townfiscal._errors import Conflict, InfeasibleError, Problem, ValidationError
from townfiscal._policy import Parameter, Policy, get_policy, list_policies, load_policy
from townfiscal._programmes import (
    Programme,
    Programmes,
    get_programmes,
    list_programmes,
    transfers,
)
from townfiscal._responsibility import (
    LEVELS,
    ResponsibilityMatrix,
    get_responsibility,
    list_responsibilities,
)
from townfiscal._rounding import round_to_total
from townfiscal._scenarios import Comparison, compare, sweep
from townfiscal._split import ExpenditureSplit, split_expenditure
from townfiscal._towns import COLUMNS, KINDS, ZONES, kind_from_code, read_towns, validate_towns
from townfiscal._trace import Step, Trace
from townfiscal.datasets import load_example, make_towns
from townfiscal.optimize import (
    Cap,
    CapacityFloor,
    Floor,
    GroupTotal,
    GrowthCap,
    HoldHarmless,
    MaxMin,
    MinDeviation,
    MinShortfall,
    NeedOrder,
    Rounding,
    SolverError,
    SolverTimeLimitWarning,
    TierOrder,
)
from townfiscal.report import AllocationWorkbook, read_allocation, write_allocation
from townfiscal.rules import eligibility, explain_formula, formula_allocation


def __getattr__(name: str) -> Any:
    """Import the optional plotting module on first use (it needs the ``plots`` extra)."""
    if name == "plots":
        import importlib

        return importlib.import_module("townfiscal.plots")
    raise AttributeError(f"module 'townfiscal' has no attribute {name!r}")


try:
    __version__ = version("townfiscal")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "COLUMNS",
    "KINDS",
    "LEVELS",
    "ZONES",
    "Allocation",
    "AllocationWorkbook",
    "Cap",
    "CapacityFloor",
    "Comparison",
    "Conflict",
    "Devolution",
    "ExpenditureSplit",
    "Floor",
    "GroupTotal",
    "GrowthCap",
    "HoldHarmless",
    "InfeasibleError",
    "MaxMin",
    "MinDeviation",
    "MinShortfall",
    "NeedOrder",
    "Parameter",
    "Policy",
    "Problem",
    "Programme",
    "Programmes",
    "ResponsibilityMatrix",
    "Rounding",
    "SolverError",
    "SolverTimeLimitWarning",
    "Step",
    "TierOrder",
    "Trace",
    "ValidationError",
    "__version__",
    "allocate",
    "compare",
    "devolve",
    "eligibility",
    "explain_formula",
    "formula_allocation",
    "get_policy",
    "get_programmes",
    "get_responsibility",
    "kind_from_code",
    "list_policies",
    "list_programmes",
    "list_responsibilities",
    "load_example",
    "load_policy",
    "make_towns",
    "metrics",
    "read_allocation",
    "read_towns",
    "report",
    "round_to_total",
    "split_expenditure",
    "subsidy_change",
    "sweep",
    "transfers",
    "validate_towns",
    "write_allocation",
]
