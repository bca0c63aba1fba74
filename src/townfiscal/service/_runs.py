"""Allocation runs: solve, store with provenance, fetch, explain, export."""

from __future__ import annotations

from typing import Any

from litestar.openapi import ResponseSpec

from townfiscal.service._codec import Codec
from townfiscal.service._config import ServiceConfig
from townfiscal.service._store import AllocationStore

__all__ = ["Runs", "allocation_handlers"]


class Runs:
    """The service's state: the store of runs and the codec of constraints and objectives."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.store = AllocationStore(config.database_url)
        self.codec: Codec | None = None

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()


def allocation_handlers(runs: Runs, errors: dict[int, ResponseSpec]) -> list[Any]:
    """The ``/allocations`` routes (none until the allocator is available)."""
    return []
