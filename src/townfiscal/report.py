"""The public path of :mod:`townfiscal.analysis.report`, which it is (one module, two names)."""

import sys

from townfiscal.analysis import report as _module
from townfiscal.analysis.report import *  # noqa: F403  (the names, for readers and type checkers)
from townfiscal.analysis.report import __all__ as __all__

sys.modules[__name__] = _module
