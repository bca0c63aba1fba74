"""What analysts do with results: metrics, compare and sweep, the 分配表 workbook, plots.

May import everything below it (the ground, towns, policy, rules, optimize); not
:mod:`townfiscal.responsibility` nor the faces. :mod:`townfiscal.analysis.plots` needs the
``plots`` extra (matplotlib), so it is imported only when asked for; the scenario tools
(:func:`sweep`, :func:`compare`), with the process pools they may use, on first use.
"""

from typing import TYPE_CHECKING, Any

from townfiscal.analysis import metrics, report
from townfiscal.analysis.report import AllocationWorkbook, read_allocation, write_allocation

if TYPE_CHECKING:
    from townfiscal.analysis._project import Projection, project
    from townfiscal.analysis._scenarios import Comparison, compare, summarise, sweep

_SCENARIOS = frozenset({"Comparison", "compare", "summarise", "sweep"})
_PROJECT = frozenset({"Projection", "project"})


def __getattr__(name: str) -> Any:
    """The scenario tools, imported on first use (multiprocessing and its pools with them),
    and the multi-year projection."""
    if name in _SCENARIOS or name in _PROJECT:
        import importlib

        module = importlib.import_module(
            "townfiscal.analysis._scenarios" if name in _SCENARIOS
            else "townfiscal.analysis._project")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AllocationWorkbook",
    "Comparison",
    "Projection",
    "compare",
    "metrics",
    "project",
    "read_allocation",
    "report",
    "summarise",
    "sweep",
    "write_allocation",
]
