"""Where the engine runs: worker processes (the default) or threads of the server process.

:class:`ProcessWorkers` keeps one single-process executor ("lane") per worker process. A
request goes to the least busy lane; ``explain`` and the workbook of a run go to the lane
that solved it, whose cache still holds the allocation. Each worker has its own
interpreter, so solves run in parallel on every core and the event loop never waits for
the interpreter lock that pandas and the optimiser's Python code hold most of the time.

Worker processes are forked from a server process (``forkserver``, started with the app)
that has loaded the library, the example towns and the policies once
(:mod:`townfiscal.service._preload`); a lane starts its process on its first request, so a
service that is never asked to compute starts none, and a new one is ready in
milliseconds. A worker that dies (killed, out of memory) is replaced: the request it was
computing gets ``503``, the next ones go to the new worker.

:class:`ThreadWorkers` runs one engine in threads of the server process
(``worker_processes = 0``), the setup of earlier versions.

Both admit at most ``max_concurrent_solves`` requests at a time; the others wait their
turn, in arrival order, without holding anything but their request. :meth:`call` is the one
place every computing request passes: a per-request time or size budget belongs there.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any, Protocol

import anyio
import anyio.to_thread
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from townfiscal.service._config import ServiceConfig
from townfiscal.service._engine import Carried, Created, Engine, Method, in_worker, start_worker

__all__ = ["ProcessWorkers", "ThreadWorkers", "Workers", "workers_for"]

log = logging.getLogger("townfiscal.service")


class Workers(Protocol):
    """Runs the engine's entry points for the request handlers."""

    async def call(self, method: Method, *args: Any, home: str | None = None) -> Any:
        """The result of the engine's *method* on *args*; *home*: the run it concerns."""
        ...

    def start(self) -> None:
        """Get ready to compute (called when the app starts; it need not be)."""
        ...

    def close(self) -> None:
        """Stop the workers (they start again when called)."""
        ...


def workers_for(config: ServiceConfig) -> Workers:
    """Processes, or threads when ``config.processes`` is 0."""
    return ProcessWorkers(config) if config.processes else ThreadWorkers(config)


class ThreadWorkers:
    """One engine in threads of the server process (``worker_processes = 0``).

    Parameters
    ----------
    config:
        The service settings (time limit, cache size, concurrency).
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.engine = Engine(config.solve_time_limit, config.cache_size)
        self._capacity = config.concurrent_solves
        self._limiter: anyio.CapacityLimiter | None = None

    async def call(self, method: Method, *args: Any, home: str | None = None) -> Any:
        """Run the entry point in a worker thread (not cancelled once started)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._capacity)
        func = functools.partial(self.engine.entry(method), *args)
        return await anyio.to_thread.run_sync(func, limiter=self._limiter)

    def start(self) -> None:
        """Nothing to start: the threads are anyio's."""

    def close(self) -> None:
        """Nothing to stop: the threads are anyio's."""


@functools.cache
def _context() -> BaseContext:
    """``forkserver`` where the system has it (a fork of a process that has threads, such
    as the server, may inherit a lock another thread held), else ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["townfiscal.service._preload"])
        return ctx
    return multiprocessing.get_context("spawn")


class ProcessWorkers:
    """One engine in each of ``config.processes`` worker processes.

    Parameters
    ----------
    config:
        The service settings (processes, time limit, cache size, concurrency).
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.size = config.processes
        self._initargs = (config.solve_time_limit, config.cache_size)
        self._capacity = config.concurrent_solves
        self._limiter: anyio.CapacityLimiter | None = None
        self._lanes: list[ProcessPoolExecutor | None] = [None] * self.size
        self._busy = [0] * self.size
        self._homes: OrderedDict[str, int] = OrderedDict()
        self._homes_size = max(1, config.cache_size) * self.size

    def _lane(self, i: int) -> ProcessPoolExecutor:
        lane = self._lanes[i]
        if lane is None:
            lane = ProcessPoolExecutor(
                max_workers=1,
                mp_context=_context(),
                initializer=start_worker,
                initargs=self._initargs,
            )
            self._lanes[i] = lane
        return lane

    def _choose(self, home: str | None) -> int:
        i = self._homes.get(home) if home is not None else None
        if i is None:
            i = min(range(self.size), key=self._busy.__getitem__)
        return i

    def _remember(self, run_id: str, i: int) -> None:
        self._homes[run_id] = i
        self._homes.move_to_end(run_id)
        while len(self._homes) > self._homes_size:
            self._homes.popitem(last=False)

    def _submit(
        self, i: int, method: Method, args: tuple[Any, ...]
    ) -> tuple[ProcessPoolExecutor, Future[Any]]:
        """Submit to lane *i*; a lane whose worker died while idle is replaced first."""
        lane = self._lane(i)
        try:
            return lane, lane.submit(in_worker, method, *args)
        except BrokenProcessPool:
            log.warning("worker process %d had stopped; starting a new one", i)
            self._replace(i, lane)
            lane = self._lane(i)
            return lane, lane.submit(in_worker, method, *args)

    def _replace(self, i: int, broken: ProcessPoolExecutor) -> None:
        """Drop lane *i* if it still is the *broken* executor (not one started since)."""
        if self._lanes[i] is not broken:
            return
        self._lanes[i] = None
        broken.shutdown(wait=False, cancel_futures=True)
        for run_id in [r for r, j in self._homes.items() if j == i]:
            del self._homes[run_id]

    async def call(self, method: Method, *args: Any, home: str | None = None) -> Any:
        """Run the entry point in a worker process and wait for it.

        A call waiting for its turn can be cancelled; once started it is not (the worker
        would go on computing): it runs to its end, as a call in a thread does.

        Raises
        ------
        HTTPException
            503 when the worker process died while computing.
        """
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._capacity)
        async with self._limiter:
            i = self._choose(home)
            self._busy[i] += 1
            lane = None
            try:
                with anyio.CancelScope(shield=True):
                    lane, future = self._submit(i, method, args)
                    result = await asyncio.wrap_future(future)
            except Carried as carried:
                raise carried.rebuild() from None
            except BrokenProcessPool:
                log.error("worker process %d stopped while computing %s; replacing it", i, method)
                if lane is not None:
                    self._replace(i, lane)
                raise HTTPException(
                    status_code=HTTP_503_SERVICE_UNAVAILABLE,
                    detail="the worker process computing this request stopped; try again",
                ) from None
            finally:
                self._busy[i] -= 1
        if isinstance(result, Created):
            self._remember(result.id, i)
        elif home is not None:
            self._remember(home, i)
        return result

    def start(self) -> None:
        """Start the ``forkserver`` (it loads the library in the background); the workers
        themselves start on their first request."""
        if _context().get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def close(self) -> None:
        """Stop the worker processes, after the requests they are computing."""
        for i, lane in enumerate(self._lanes):
            if lane is not None:
                lane.shutdown(wait=True, cancel_futures=True)
            self._lanes[i] = None
        self._homes.clear()
