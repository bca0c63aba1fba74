"""The public path of :mod:`townfiscal.analysis.plots`, which it is (one module, two names).

It needs the ``plots`` extra (matplotlib).
"""

import sys

from townfiscal.analysis import plots as _module
from townfiscal.analysis.plots import *  # noqa: F403  (the names, for readers and type checkers)
from townfiscal.analysis.plots import __all__ as __all__

sys.modules[__name__] = _module
