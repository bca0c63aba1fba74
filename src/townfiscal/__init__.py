"""townfiscal: fiscal transfers to towns.

The rules of a subsidy as versioned data, expenditure-responsibility splits between levels of
government, and allocation of a fixed fund across towns by linear programming.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from townfiscal import metrics
from townfiscal._errors import Conflict, InfeasibleError, Problem, ValidationError

try:
    __version__ = version("townfiscal")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Conflict",
    "InfeasibleError",
    "Problem",
    "ValidationError",
    "__version__",
    "metrics",
]
