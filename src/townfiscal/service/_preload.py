"""Imported once by the process that forks the service's worker processes (the
``forkserver``): it loads the library, the bundled example and the policies there, so every
worker starts with them in memory instead of loading them on its first request."""

from __future__ import annotations

from townfiscal.service._engine import warm

__all__: list[str] = []

warm()
