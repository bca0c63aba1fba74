"""townfiscal: fiscal transfers to towns.

The rules of a subsidy as versioned data, expenditure-responsibility splits between levels of
government, and allocation of a fixed fund across towns by linear programming.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from townfiscal._domains import PARAMETER_DOMAINS, Domain
from townfiscal._errors import (
    Conflict,
    InfeasibleError,
    MissingExtraError,
    Problem,
    UnreadableFileError,
    ValidationError,
)
from townfiscal._rounding import round_to_total
from townfiscal._trace import Step, Trace
from townfiscal.analysis import (
    AllocationWorkbook,
    metrics,
    read_allocation,
    report,
    write_allocation,
)
from townfiscal.optimize import (
    Allocation,
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
    Proportional,
    Rounding,
    SolverError,
    SolverTimeLimitWarning,
    TierOrder,
    allocate,
    fund_range,
)
from townfiscal.policy import Parameter, Policy, get_policy, list_policies, load_policy
from townfiscal.rules import (
    eligibility,
    explain_formula,
    formula_allocation,
    make_towns,
    read_towns,
    roll_forward,
    validate_towns,
)
from townfiscal.towns import (
    COLUMNS,
    KINDS,
    ZONES,
    PlausibilityWarning,
    RollForwardWarning,
    kind_from_code,
    load_example,
    read_prior,
)

if TYPE_CHECKING:
    from townfiscal._version import __version__
    from townfiscal.analysis import Comparison, Projection, compare, project, sweep
    from townfiscal.responsibility import (
        LEVELS,
        Devolution,
        ExpenditureSplit,
        Programme,
        Programmes,
        ResponsibilityMatrix,
        devolve,
        get_programmes,
        get_responsibility,
        list_programmes,
        list_responsibilities,
        split_expenditure,
        subsidy_change,
        transfers,
    )

#: Names re-exported on first use, by the module that has them: the responsibility wing
#: (matrices and programmes read from TOML) and the scenario tools (process pools), which
#: ``import townfiscal`` need not load. ``tests/test_startup.py`` checks they all resolve.
_LAZY = {
    **dict.fromkeys(("Comparison", "Projection", "compare", "project", "sweep"),
                    "townfiscal.analysis"),
    **dict.fromkeys(
        ("LEVELS", "Devolution", "ExpenditureSplit", "Programme", "Programmes",
         "ResponsibilityMatrix", "devolve", "get_programmes", "get_responsibility",
         "list_programmes", "list_responsibilities", "split_expenditure", "subsidy_change",
         "transfers"),
        "townfiscal.responsibility"),
}


def __getattr__(name: str) -> Any:
    """Re-export the responsibility wing and the scenario tools on first use; import the
    optional plotting module on first use (it needs the ``plots`` extra); read the version
    from the installed metadata when it is first asked for."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from townfiscal._version import version

        return version()
    if name == "plots":
        import importlib

        return importlib.import_module("townfiscal.plots")
    raise AttributeError(f"module 'townfiscal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

__all__ = [
    "COLUMNS",
    "KINDS",
    "LEVELS",
    "PARAMETER_DOMAINS",
    "ZONES",
    "Allocation",
    "AllocationWorkbook",
    "Cap",
    "CapacityFloor",
    "Comparison",
    "Conflict",
    "Devolution",
    "Domain",
    "ExpenditureSplit",
    "Floor",
    "GroupTotal",
    "GrowthCap",
    "HoldHarmless",
    "InfeasibleError",
    "MaxMin",
    "MinDeviation",
    "MinShortfall",
    "MissingExtraError",
    "NeedOrder",
    "Parameter",
    "PlausibilityWarning",
    "Policy",
    "Problem",
    "Programme",
    "Programmes",
    "Projection",
    "Proportional",
    "ResponsibilityMatrix",
    "RollForwardWarning",
    "Rounding",
    "SolverError",
    "SolverTimeLimitWarning",
    "Step",
    "TierOrder",
    "Trace",
    "UnreadableFileError",
    "ValidationError",
    "__version__",
    "allocate",
    "compare",
    "devolve",
    "eligibility",
    "explain_formula",
    "formula_allocation",
    "fund_range",
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
    "project",
    "read_allocation",
    "read_prior",
    "read_towns",
    "report",
    "roll_forward",
    "round_to_total",
    "split_expenditure",
    "subsidy_change",
    "sweep",
    "transfers",
    "validate_towns",
    "write_allocation",
]
