"""What analysts do with results: metrics, compare and sweep, the 分配表 workbook, plots.

May import everything below it (the ground, towns, policy, rules, optimize); not
:mod:`townfiscal.responsibility` nor the faces. :mod:`townfiscal.analysis.plots` needs the
``plots`` extra (matplotlib), so it is imported only when asked for.
"""

from townfiscal.analysis import metrics, report
from townfiscal.analysis._scenarios import Comparison, compare, summarise, sweep
from townfiscal.analysis.report import AllocationWorkbook, read_allocation, write_allocation

__all__ = [
    "AllocationWorkbook",
    "Comparison",
    "compare",
    "metrics",
    "read_allocation",
    "report",
    "summarise",
    "sweep",
    "write_allocation",
]
