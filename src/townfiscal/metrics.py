"""The public path of :mod:`townfiscal.analysis.metrics`, which it is (one module, two names)."""

import sys

from townfiscal.analysis import metrics as _module
from townfiscal.analysis.metrics import *  # noqa: F403  (the names, for readers and type checkers)
from townfiscal.analysis.metrics import __all__ as __all__

sys.modules[__name__] = _module
