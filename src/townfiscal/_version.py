"""The installed version of townfiscal, for provenance records and ``--version``.

Read from the installed package's metadata on first use (``importlib.metadata`` and the
e-mail parser it reads metadata with cost a few milliseconds of start-up otherwise):
:func:`version`, or the module attribute ``__version__``.
"""

from __future__ import annotations

import functools

__all__ = ["__version__", "version"]

__version__: str  # resolved by the module's __getattr__ on first use


@functools.cache
def version() -> str:
    """The installed version of townfiscal (``"0+unknown"`` in a source tree not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("townfiscal")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
