"""A budget per request: the deadline stops Python code by an alarm in the worker and kills a
worker stuck in compiled code; a full queue sheds load; shutting down stops runaway workers."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("litestar")

import anyio
from litestar.exceptions import HTTPException
from litestar.testing import TestClient

from townfiscal.service import ServiceConfig, create_app
from townfiscal.service._pool import KILL_GRACE, ProcessWorkers, ThreadWorkers

#: Runs in compiled code for hours and never looks at signals: a solver stuck deep in C.
STUCK_IN_C = (sum, range(10**14))


def gone(pid: int) -> bool:
    """Whether process *pid* no longer runs (exited, killed, or a zombie awaiting its
    parent)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] in {"Z", "X"}
    except FileNotFoundError:
        return True


def worker_pids(workers: ProcessWorkers) -> list[int]:
    """The process ids of the live worker processes."""
    return [pid for lane in workers._lanes if lane is not None for pid in lane._processes]


async def timed(workers: Any, method: Any, *args: Any) -> tuple[float, Any]:
    """Seconds *method* took in the workers, and its result or the error it raised."""
    start = time.monotonic()
    try:
        result: Any = await workers.call(method, *args)
    except HTTPException as exc:
        result = exc
    return time.monotonic() - start, result


@pytest.fixture
def workers():
    """One worker process with a deadline of 1 s."""
    pool = ProcessWorkers(ServiceConfig(database=":memory:", worker_processes=1,
                                        request_deadline=1.0))  # fmt: skip
    pool.start()
    anyio.run(timed, pool, os.getpid)  # the worker is up before the clock runs
    yield pool
    pool.close()


def test_python_code_is_interrupted_at_the_deadline(workers):
    """A call still running Python at the deadline is stopped there: 503, Retry-After, ~1 s."""
    seconds, result = anyio.run(timed, workers, time.sleep, 30)
    assert isinstance(result, HTTPException)
    assert result.status_code == 503
    assert "deadline" in result.detail
    assert int((result.headers or {})["Retry-After"]) >= 1
    assert 1.0 <= seconds < 1.0 + KILL_GRACE
    assert workers.killed == 0  # the alarm stopped it; no kill was needed


def test_a_worker_stuck_in_compiled_code_is_killed_after_the_deadline(workers):
    """A call the alarm cannot reach is answered 503 and its worker killed within a second."""
    (pid,) = worker_pids(workers)
    seconds, result = anyio.run(timed, workers, *STUCK_IN_C)
    assert isinstance(result, HTTPException)
    assert result.status_code == 503
    assert 1.0 + KILL_GRACE <= seconds < 2.0
    assert workers.killed == 1
    for _ in range(50):
        if gone(pid):
            break
        time.sleep(0.02)
    assert gone(pid), "the stuck worker still runs"
    # A fresh worker takes the next request.
    seconds, result = anyio.run(timed, workers, os.getpid)
    assert isinstance(result, int)
    assert result != pid


def test_a_full_queue_sheds_load_at_once():
    """With one slot and a queue of one, a third request gets 503 and Retry-After at once."""
    config = ServiceConfig(database=":memory:", worker_processes=1, max_queue=1,
                           request_deadline=10.0)  # fmt: skip
    pool = ProcessWorkers(config)
    pool.start()
    anyio.run(timed, pool, os.getpid)

    async def main() -> list[tuple[float, Any]]:
        out: list[tuple[float, Any]] = [(0.0, None)] * 3

        async def one(k: int, delay: float) -> None:
            await anyio.sleep(delay)
            out[k] = await timed(pool, time.sleep, 1.0)

        async with anyio.create_task_group() as tg:
            for k in range(3):
                tg.start_soon(one, k, 0.05 * k)
        return out

    try:
        (_t0, r0), (t1, r1), (t2, r2) = anyio.run(main)
    finally:
        pool.close()
    assert r0 is None
    assert r1 is None
    assert t1 > 1.5  # the second waited for the first
    assert isinstance(r2, HTTPException)
    assert r2.status_code == 503
    assert "busy" in r2.detail
    assert int((r2.headers or {})["Retry-After"]) >= 1
    assert t2 < 0.2
    assert pool.admission.shed == 1


def test_waiting_counts_against_the_deadline():
    """A request that waits for a slot longer than its deadline gets 503 without computing."""
    config = ServiceConfig(database=":memory:", worker_processes=1, request_deadline=1.0)
    pool = ProcessWorkers(config)
    pool.start()
    anyio.run(timed, pool, os.getpid)

    async def main() -> list[tuple[float, Any]]:
        out: list[tuple[float, Any]] = []

        async def one(delay: float) -> None:
            await anyio.sleep(delay)
            out.append(await timed(pool, time.sleep, 0.9))

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, 0.0)
            tg.start_soon(one, 0.3)
        return out

    try:
        (t0, r0), (t1, r1) = anyio.run(main)
    finally:
        pool.close()
    assert r0 is None
    assert t0 < 1.0
    assert isinstance(r1, HTTPException)
    assert r1.status_code == 503
    assert t1 < 1.0 + KILL_GRACE


def test_threads_answer_at_the_deadline_too():
    """Computing in threads, the answer is 503 at the deadline (the thread runs on)."""
    pool = ThreadWorkers(ServiceConfig(database=":memory:", worker_processes=0,
                                       request_deadline=0.5))  # fmt: skip
    pool.engine.entry = lambda method: (lambda *a: time.sleep(1.5))  # type: ignore[method-assign]
    seconds, result = anyio.run(timed, pool, "formula")
    assert isinstance(result, HTTPException)
    assert result.status_code == 503
    assert 0.5 <= seconds < 0.5 + KILL_GRACE + 0.2
    time.sleep(1.2)  # let the thread end before the test does


def test_closing_stops_a_runaway_worker_at_once():
    """Shutting down does not wait for a worker stuck in compiled code: it is stopped."""
    pool = ProcessWorkers(ServiceConfig(database=":memory:", worker_processes=1,
                                        request_deadline=600.0))  # fmt: skip
    pool.start()
    anyio.run(timed, pool, os.getpid)

    async def main() -> float:
        async with anyio.create_task_group() as tg:
            tg.start_soon(timed, pool, *STUCK_IN_C)
            await anyio.sleep(1.0)
            (pid,) = worker_pids(pool)
            start = time.monotonic()
            pool.close()
            took = time.monotonic() - start
        assert gone(pid)
        return took

    assert anyio.run(main) < 2.0


def test_the_runaway_reform_of_the_review_is_answered_within_the_deadline(tmp_path):
    """tiers.base = 1e300 (which once spun the rounding for minutes): an answer in time."""
    config = ServiceConfig(database=str(tmp_path / "r.sqlite3"), worker_processes=1,
                           request_deadline=2.0)  # fmt: skip
    with TestClient(create_app(config)) as client:
        for path in ("/formula", "/allocations"):
            start = time.monotonic()
            r = client.post(
                path, json={"policy": "guangdong-2018", "changes": {"tiers.base": 1e300}}
            )
            assert time.monotonic() - start < 2.0 + 1.0
            assert r.status_code in {422, 503}
            if r.status_code == 503:
                assert "Retry-After" in r.headers


def test_a_request_queued_behind_a_killed_worker_gets_503():
    """Two calls on one worker: the first stuck in C is killed; the second, queued behind it
    on the same worker, is answered 503 too, and the next call gets a fresh worker."""
    pool = ProcessWorkers(ServiceConfig(database=":memory:", worker_processes=1,
                                        max_concurrent_solves=2, request_deadline=1.0))  # fmt: skip
    pool.start()
    anyio.run(timed, pool, os.getpid)

    async def main() -> list[tuple[float, Any]]:
        out: list[tuple[float, Any]] = []

        async def one(delay: float, *call: Any) -> None:
            await anyio.sleep(delay)
            out.append(await timed(pool, *call))

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, 0.0, *STUCK_IN_C)
            tg.start_soon(one, 0.2, time.sleep, 0.1)
        return out

    try:
        answers = anyio.run(main)
        assert [getattr(r, "status_code", None) for _, r in answers] == [503, 503]
        assert all(t < 1.0 + KILL_GRACE + 0.5 for t, _ in answers)
        _, pid = anyio.run(timed, pool, os.getpid)
        assert isinstance(pid, int)
    finally:
        pool.close()
