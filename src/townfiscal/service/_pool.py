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
turn, in arrival order, without holding anything but their request, and no more than
``max_queue`` of them: one more is turned away at once with ``503`` and ``Retry-After``.
Explain and workbook requests have slots of their own (half as many, at least one), so
that reading stored runs never holds up new allocations.

:meth:`call` is the one place every computing request passes, and where its deadline is
enforced: the time it waits counts, the worker gets what is left as an alarm (which
interrupts any Python code, the library's loops included) and as the solver's time limit,
and a worker still busy :data:`KILL_GRACE` seconds after the deadline (a solver deep in
compiled code, which an alarm cannot interrupt) is killed and replaced. Either way the
request gets ``503`` with ``Retry-After``, and no request keeps a core busy for longer than
the deadline and a second.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import multiprocessing
import time
from collections import OrderedDict, deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any, Protocol

import anyio
import anyio.to_thread
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from townfiscal.service._config import ServiceConfig
from townfiscal.service._engine import (
    DEADLINE,
    Carried,
    Created,
    DeadlineExceeded,
    Engine,
    Method,
    in_worker,
    start_worker,
)

__all__ = [
    "KILL_GRACE",
    "READS",
    "ProcessWorkers",
    "ThreadWorkers",
    "Unavailable",
    "Workers",
    "workers_for",
]

log = logging.getLogger("townfiscal.service")

KILL_GRACE = 0.5
"""Seconds past its deadline after which a worker that has not stopped is killed."""

READS: frozenset[str] = frozenset({"explain", "workbook"})
"""Entry points that read a stored run: they have slots of their own."""


class Unavailable(HTTPException):
    """``503`` with ``Retry-After``: the service is overloaded or the request ran out of
    time."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            detail=detail,
            headers={"Retry-After": str(retry_after)},
        )


class _Admission:
    """Slots, the bounded queue in front of them, and the time requests take.

    Parameters
    ----------
    capacity:
        Requests computed at once.
    queue:
        Requests that may wait for a slot; beyond it, :meth:`enter` sheds load.
    """

    def __init__(self, capacity: int, queue: int) -> None:
        self.capacity = capacity
        self.queue = queue
        self.waiting = 0
        self.shed = 0
        self.seconds = 0.05  # moving average of a request's time in a slot
        self._recent: deque[float] = deque()  # when requests were shed, the last second
        self._limiter: anyio.CapacityLimiter | None = None

    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.capacity)
        return self._limiter

    def retry_after(self) -> int:
        """Seconds after which one more request is likely to find a place (at least 1, at
        most 60): the requests waiting and those turned away in the last second, at the pace
        the slots get through them. Under a crowd the advice grows with it, so that retries
        arrive about as fast as requests are served instead of in a storm."""
        now = time.monotonic()
        while self._recent and self._recent[0] < now - 1.0:
            self._recent.popleft()
        ahead = (self.waiting + len(self._recent) + 1) / max(1, self.capacity)
        return max(1, min(60, math.ceil(ahead * self.seconds)))

    def took(self, seconds: float) -> None:
        self.seconds = 0.8 * self.seconds + 0.2 * seconds

    async def enter(self, deadline: float, what: str) -> object:
        """Wait for a slot until *deadline* (``time.monotonic``); shed at once when the
        queue is full.

        Returns
        -------
        object
            The token of the slot, for :meth:`leave` (from any task of the event loop).

        Raises
        ------
        Unavailable
            When the queue is full, or no slot came free before the deadline.
        """
        limiter = self.limiter()
        token = object()
        self.shed_if_full()
        self.waiting += 1
        try:
            with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                await limiter.acquire_on_behalf_of(token)
        except TimeoutError:
            raise Unavailable(
                f"no worker came free for {_WHAT.get(what, 'the request')} before the "
                "request's deadline; try again later",
                self.retry_after(),
            ) from None
        finally:
            self.waiting -= 1
        return token

    def leave(self, token: object) -> None:
        self.limiter().release_on_behalf_of(token)

    def shed_if_full(self) -> None:
        """Turn one more request away when every slot is taken and the queue is full.

        Raises
        ------
        Unavailable
            ``503`` with ``Retry-After``.
        """
        if self.limiter().available_tokens < 1 and self.waiting >= self.queue:
            self.shed += 1
            self._recent.append(time.monotonic())
            raise Unavailable(
                f"the service is busy: {self.waiting} requests are waiting for a worker "
                f"(max_queue {self.queue}); try again later",
                self.retry_after(),
            )


_WHAT = {
    "create": "the allocation",
    "explain": "the explanation",
    "workbook": "the workbook",
    "eligibility": "the eligibility",
    "formula": "the formula",
    "fund_range": "the fund range",
}


class Workers(Protocol):
    """Runs the engine's entry points for the request handlers."""

    async def call(self, method: Method, *args: Any, home: str | None = None) -> Any:
        """The result of the engine's *method* on *args*; *home*: the run it concerns."""
        ...

    def shed_if_busy(self) -> None:
        """Raise ``503`` at once when a computing request would find the queue full (called
        before its body is even decoded, so that shedding costs next to nothing)."""
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


class _Admitted:
    """What threads and processes share: the request's deadline, the slots of new work and
    those of reads (half as many, at least one), and the ``503`` each answers with.

    Parameters
    ----------
    config:
        The service settings (deadline, concurrency, queue).
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.deadline = config.request_deadline
        self.admission = _Admission(config.concurrent_solves, config.queue_size)
        self.reads = _Admission(max(1, config.concurrent_solves // 2), config.queue_size)

    def _admission_of(self, method: Method) -> _Admission:
        return self.reads if method in READS else self.admission

    def _late(self, method: Method, admission: _Admission) -> Unavailable:
        """``503``: *method* ran out of the request's time."""
        return Unavailable(
            f"{_WHAT.get(method, 'the request')} ran out of time: the request's deadline is "
            f"{self.deadline:g} s (request_deadline); try a smaller request, or again later",
            admission.retry_after(),
        )

    def shed_if_busy(self) -> None:
        """``503`` at once when the queue is full (see :class:`Workers`)."""
        self.admission.shed_if_full()


class ThreadWorkers(_Admitted):
    """One engine in threads of the server process (``worker_processes = 0``).

    Parameters
    ----------
    config:
        The service settings (time limit, cache size, concurrency).
    """

    def __init__(self, config: ServiceConfig) -> None:
        super().__init__(config)
        self.engine = Engine(config.solve_time_limit, config.cache_size)

    async def call(self, method: Method, *args: Any, home: str | None = None) -> Any:
        """Run the entry point in a worker thread.

        The answer is ``503`` at the deadline, but a thread cannot be stopped: it computes
        on (with the solver's time limit cut to the deadline) and holds its slot until it
        ends. Only worker processes bound the work itself.

        Raises
        ------
        Unavailable
            503 when the queue is full or the deadline passed.
        """
        end = time.monotonic() + self.deadline
        admission = self._admission_of(method)
        token = await admission.enter(end, method)
        started = time.monotonic()
        budget = end - started
        func = functools.partial(self.engine.within, budget, self.engine.entry(method), *args)

        async def run() -> Any:
            try:
                return await anyio.to_thread.run_sync(func)
            finally:  # the slot is held until the thread ends, answered or not
                admission.leave(token)
                admission.took(time.monotonic() - started)

        task = asyncio.ensure_future(run())
        with anyio.CancelScope(shield=True):
            done, _ = await asyncio.wait({task}, timeout=budget + KILL_GRACE)
        if not done:
            task.add_done_callback(_retrieve)
            raise self._late(method, admission)
        try:
            result = task.result()
        except DeadlineExceeded:
            raise self._late(method, admission) from None
        except Carried as carried:
            if carried.kind == DEADLINE:
                raise self._late(method, admission) from None
            raise carried.rebuild() from None
        if time.monotonic() > end:  # done, but late: as a worker process's alarm would say
            raise self._late(method, admission)
        return result

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


class ProcessWorkers(_Admitted):
    """One engine in each of ``config.processes`` worker processes.

    Parameters
    ----------
    config:
        The service settings (processes, time limit, cache size, concurrency).
    """

    def __init__(self, config: ServiceConfig) -> None:
        super().__init__(config)
        self.size = config.processes
        self._initargs = (config.solve_time_limit, config.cache_size)
        self.killed = 0
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
        self, i: int, method: Method, budget: float, args: tuple[Any, ...]
    ) -> tuple[ProcessPoolExecutor, Future[Any]]:
        """Submit to lane *i*; a lane whose worker died while idle is replaced first."""
        lane = self._lane(i)
        try:
            return lane, lane.submit(in_worker, method, budget, *args)
        except BrokenProcessPool:
            log.warning("worker process %d had stopped; starting a new one", i)
            self._replace(i, lane)
            lane = self._lane(i)
            return lane, lane.submit(in_worker, method, budget, *args)

    def _kill(self, i: int, lane: ProcessPoolExecutor) -> None:
        """Kill the worker process of lane *i* (it overran its deadline) and drop the lane."""
        processes = dict(getattr(lane, "_processes", None) or {})
        for process in processes.values():
            if process.is_alive():
                process.kill()
        self.killed += 1
        self._replace(i, lane)

    def _replace(self, i: int, broken: ProcessPoolExecutor, *, cancel: bool = True) -> None:
        """Drop lane *i* if it still is the *broken* executor (not one started since); with
        *cancel* false, what is queued on it still runs before its worker exits."""
        if self._lanes[i] is not broken:
            return
        self._lanes[i] = None
        broken.shutdown(wait=False, cancel_futures=cancel)
        for run_id in [r for r, j in self._homes.items() if j == i]:
            del self._homes[run_id]

    async def call(self, method: Method, *args: Any, home: str | None = None) -> Any:
        """Run the entry point in a worker process and wait for it, within the deadline.

        A call waiting for its turn can be cancelled; once started it is not (the worker
        would go on computing): it runs to its end or its deadline, as a call in a thread
        does.

        Raises
        ------
        Unavailable
            503 with ``Retry-After`` when the queue is full, when the deadline passed
            (waiting or computing), or when the worker process died while computing.
        """
        end = time.monotonic() + self.deadline
        admission = self._admission_of(method)
        token = await admission.enter(end, method)
        started = time.monotonic()
        try:
            return await self._run(method, args, home, end, admission)
        finally:
            admission.leave(token)
            admission.took(time.monotonic() - started)

    async def _run(
        self,
        method: Method,
        args: tuple[Any, ...],
        home: str | None,
        end: float,
        admission: _Admission,
    ) -> Any:
        i = self._choose(home)
        self._busy[i] += 1
        lane = None
        budget = end - time.monotonic()
        try:
            if budget <= 0:
                raise self._late(method, admission)
            with anyio.CancelScope(shield=True):
                lane, future = self._submit(i, method, budget, args)
                waited = asyncio.wrap_future(future)
                done, _ = await asyncio.wait({waited}, timeout=budget + KILL_GRACE)
                if not done:
                    log.error(
                        "worker process %d overran the deadline of %g s computing %s; "
                        "killing it",
                        i,
                        self.deadline,
                        method,
                    )
                    waited.add_done_callback(_retrieve)
                    self._kill(i, lane)
                    raise self._late(method, admission)
                if waited.cancelled():  # queued on a worker killed for another request
                    raise BrokenProcessPool("the worker was replaced")
                result = waited.result()
        except Carried as carried:
            if carried.kind == DEADLINE:
                # Interrupted by its alarm: the worker is fine, but it may have been stopped
                # anywhere; it finishes what is queued on it and a fresh one takes its place.
                if lane is not None:
                    self._replace(i, lane, cancel=False)
                raise self._late(method, admission) from None
            raise carried.rebuild() from None
        except BrokenProcessPool:
            log.error("worker process %d stopped while computing %s; replacing it", i, method)
            if lane is not None:
                self._replace(i, lane)
            raise Unavailable(
                "the worker process computing this request stopped; try again",
                admission.retry_after(),
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
        """Stop the worker processes at once: the server is shutting down, and requests
        still computing now (past the shutdown's grace) are abandoned."""
        for i, lane in enumerate(self._lanes):
            if lane is not None:
                processes = dict(getattr(lane, "_processes", None) or {})
                lane.shutdown(wait=False, cancel_futures=True)
                for process in processes.values():
                    if process.is_alive():
                        process.terminate()
                for process in processes.values():
                    process.join(timeout=1.0)
                    if process.is_alive():
                        process.kill()
                        process.join(timeout=1.0)
            self._lanes[i] = None
        self._homes.clear()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Read the error of an abandoned future, so that asyncio does not log it."""
    if not future.cancelled():
        future.exception()
