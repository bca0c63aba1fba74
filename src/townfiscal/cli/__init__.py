"""The ``townfiscal`` command: allocate, explain, validate, policies, split, devolve, serve ….

A face of the library: may import every wing and the service (``townfiscal serve`` starts it);
nothing imports it. Errors are one line and an exit status, never a traceback.
"""

from townfiscal.cli._common import CLIError, write_table
from townfiscal.cli._main import build_parser, main

__all__ = ["CLIError", "build_parser", "main", "write_table"]
