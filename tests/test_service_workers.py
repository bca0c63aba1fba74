"""The service's workers: how many, validated; processes and threads answer alike; a worker
that dies is replaced; errors cross from a worker with their messages."""

from __future__ import annotations

import os
import pickle
import signal
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import anyio
import pytest

pytest.importorskip("litestar")

from litestar.exceptions import HTTPException
from litestar.testing import TestClient

import townfiscal as tf
from townfiscal._errors import Conflict, InfeasibleError, Problem, ValidationError
from townfiscal.service import ServiceConfig, available_cores, create_app
from townfiscal.service._config import MAX_WORKER_PROCESSES
from townfiscal.service._engine import Carried, Created
from townfiscal.service._models import AllocationRequest
from townfiscal.service._pool import ProcessWorkers, ThreadWorkers, workers_for

FUND = 2_000_000_000
BODY = {
    "policy": "guangdong-2020",
    "fund": FUND,
    "constraints": [
        {"type": "HoldHarmless", "ratio": 1.0},
        {"type": "GrowthCap", "rate": 0.15},
        {"type": "Rounding", "unit": 10_000},
    ],
}


# --- settings --------------------------------------------------------------------------


def test_worker_processes_default_to_the_cores():
    """By default one worker process per core, and as many requests computed at once."""
    config = ServiceConfig(database=":memory:")
    assert config.worker_processes is None
    assert config.processes == available_cores() >= 1
    assert config.concurrent_solves == config.processes
    assert isinstance(workers_for(config), ProcessWorkers)


def test_available_cores_are_those_this_process_may_use():
    """available_cores() counts the CPUs in this process's affinity where there is one."""
    if hasattr(os, "sched_getaffinity"):
        assert available_cores() == len(os.sched_getaffinity(0))
    else:
        assert available_cores() == (os.cpu_count() or 1)


def test_zero_worker_processes_means_threads_two_at_a_time():
    """worker_processes=0 computes in threads, at most 2 at once unless told otherwise."""
    config = ServiceConfig(database=":memory:", worker_processes=0)
    assert config.processes == 0
    assert config.concurrent_solves == 2
    assert isinstance(workers_for(config), ThreadWorkers)
    assert ServiceConfig(worker_processes=0, max_concurrent_solves=5).concurrent_solves == 5


def test_max_concurrent_solves_given_wins_over_the_default():
    """An explicit max_concurrent_solves is kept whatever the number of processes."""
    config = ServiceConfig(worker_processes=3, max_concurrent_solves=1)
    assert (config.processes, config.concurrent_solves) == (3, 1)


@pytest.mark.parametrize("bad", [-1, MAX_WORKER_PROCESSES + 1, 2.5, True, "4"])
def test_worker_processes_must_be_a_whole_number_in_range(bad):
    """A negative, fractional, boolean, textual or too large count is refused by name."""
    with pytest.raises(ValidationError) as err:
        ServiceConfig(worker_processes=bad)
    assert [p.column for p in err.value.problems] == ["worker_processes"]
    assert "from 0" in err.value.problems[0].message


def test_max_concurrent_solves_must_be_positive_when_given():
    """max_concurrent_solves=0 is refused; None means the default."""
    with pytest.raises(ValidationError, match="must be positive"):
        ServiceConfig(max_concurrent_solves=0)


def test_worker_processes_come_from_the_environment():
    """TOWNFISCAL_WORKER_PROCESSES is read, round-trips through to_env, and must be a number."""
    config = ServiceConfig.from_env({"TOWNFISCAL_WORKER_PROCESSES": " 3 "})
    assert config.worker_processes == 3
    assert config.to_env()["TOWNFISCAL_WORKER_PROCESSES"] == "3"
    assert ServiceConfig.from_env(config.to_env()) == config
    assert "TOWNFISCAL_WORKER_PROCESSES" not in ServiceConfig().to_env()
    with pytest.raises(ValidationError) as err:
        ServiceConfig.from_env({"TOWNFISCAL_WORKER_PROCESSES": "many"})
    assert err.value.problems[0].column == "TOWNFISCAL_WORKER_PROCESSES"
    with pytest.raises(ValidationError):
        ServiceConfig.from_env({"TOWNFISCAL_WORKER_PROCESSES": "-2"})


def test_serve_shares_the_cores_among_server_processes(monkeypatch):
    """serve(workers=2) gives each server process half the cores unless they are set."""
    import uvicorn

    from townfiscal.service import serve

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TOWNFISCAL_")}
    monkeypatch.setattr(os, "environ", environ)
    serve(ServiceConfig(database=":memory:"), workers=2)
    assert calls[0]["workers"] == 2
    assert environ["TOWNFISCAL_WORKER_PROCESSES"] == str(max(1, available_cores() // 2))
    serve(ServiceConfig(database=":memory:", worker_processes=3), workers=2)
    assert environ["TOWNFISCAL_WORKER_PROCESSES"] == "3"


# --- processes and threads answer alike ------------------------------------------------


def _answers(config: ServiceConfig) -> dict[str, Any]:
    """The answers of a service to one request of each computing kind."""
    with TestClient(create_app(config)) as c:
        created = c.post("/allocations", json=BODY)
        run_id = created.json()["id"]
        town = next(iter(created.json()["amounts"]))
        infeasible = {**BODY, "constraints": [{"type": "Floor", "amount": FUND}]}
        return {
            "created": created,
            "explain": c.get(f"/allocations/{run_id}/explain/{town}"),
            "no town": c.get(f"/allocations/{run_id}/explain/999999999"),
            "workbook": c.get(f"/allocations/{run_id}.xlsx"),
            "invalid": c.post("/allocations", json={**BODY, "fund": -1, "policy": "nope"}),
            "infeasible": c.post("/allocations", json=infeasible),
            "eligibility": c.post("/eligibility", json={"policy": "guangdong-2020"}),
            "formula": c.post("/formula", json={"policy": "guangdong-2020", "fund": FUND}),
        }


@pytest.fixture(scope="module")
def both() -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers of a service computing in threads and of one with 2 worker processes."""
    threads = _answers(ServiceConfig(database=":memory:", worker_processes=0))
    processes = _answers(ServiceConfig(database=":memory:", worker_processes=2))
    return threads, processes


def _steady(body: dict[str, Any]) -> dict[str, Any]:
    """A created run's body without what differs between runs (id, time, links)."""
    out = {k: v for k, v in body.items() if k not in {"id", "created", "links"}}
    out["provenance"] = {k: v for k, v in body["provenance"].items() if k != "created"}
    return out


def test_processes_create_the_same_run_as_threads(both):
    """POST /allocations gives the same status, headers and amounts in both setups."""
    threads, processes = both
    a, b = threads["created"], processes["created"]
    assert a.status_code == b.status_code == 201
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
    assert b.headers["location"] == f"/allocations/{b.json()['id']}"
    assert _steady(a.json()) == _steady(b.json())
    assert sum(b.json()["amounts"].values()) == FUND
    assert list(b.json()) == list(a.json())  # the same fields in the same order


def test_processes_answer_errors_and_views_as_threads_do(both):
    """Explain, 404, workbook, 422 (invalid, infeasible), eligibility, formula: alike."""
    threads, processes = both
    for key in ("explain", "no town", "invalid", "infeasible", "eligibility", "formula"):
        a, b = threads[key], processes[key]
        assert (key, a.status_code) == (key, b.status_code)
        run_a, run_b = threads["created"].json()["id"], processes["created"].json()["id"]
        assert a.text.replace(run_a, "<id>") == b.text.replace(run_b, "<id>"), key
    assert processes["no town"].status_code == 404
    assert processes["invalid"].json()["error"] == "validation"
    assert {p["column"] for p in processes["invalid"].json()["problems"]} == {"fund", "policy"}
    assert processes["infeasible"].json()["error"] == "infeasible"
    assert processes["workbook"].status_code == 200
    assert processes["workbook"].content[:2] == b"PK"


# --- errors cross from a worker --------------------------------------------------------


def test_a_validation_error_crosses_with_its_message_and_problems():
    """Carried rebuilds a ValidationError after pickling: same text, problems and what."""
    exc = ValidationError(
        [Problem("must be positive", column="fund", value=-1), Problem("unknown", row="#2")],
        what="allocation request",
    )
    rebuilt = pickle.loads(pickle.dumps(Carried.of(exc))).rebuild()
    assert type(rebuilt) is ValidationError
    assert str(rebuilt) == str(exc)
    assert rebuilt.problems == exc.problems
    assert rebuilt.what == "allocation request"
    assert rebuilt.to_dict() == exc.to_dict()


def test_an_infeasible_error_crosses_with_its_headline_and_conflicts():
    """Carried rebuilds an InfeasibleError after pickling: same text and conflicts."""
    conflict = Conflict(
        "floors need more than the fund",
        constraints=("Floor",),
        required=3.0,
        available=2.0,
    )
    exc = InfeasibleError([conflict], headline="the floors cannot be met")
    rebuilt = pickle.loads(pickle.dumps(Carried.of(exc))).rebuild()
    assert type(rebuilt) is InfeasibleError
    assert str(rebuilt) == str(exc)
    assert str(rebuilt).splitlines()[0] == "the floors cannot be met"
    assert rebuilt.to_dict() == exc.to_dict()


# --- lanes -----------------------------------------------------------------------------


def test_explain_goes_to_the_worker_that_solved_the_run():
    """Two runs at once go to both lanes; each run's explain goes to the lane that solved it."""
    from townfiscal.service._engine import RunRef

    workers = ProcessWorkers(ServiceConfig(database=":memory:", worker_processes=2))
    req = AllocationRequest(**BODY)  # type: ignore[arg-type]
    chosen: list[int] = []
    choose = workers._choose

    def spy(home: str | None) -> int:
        chosen.append(choose(home))
        return chosen[-1]

    workers._choose = spy  # type: ignore[method-assign]

    async def main() -> list[Created]:
        made: list[Created] = []

        async def one() -> None:
            made.append(await workers.call("create", req))

        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            tg.start_soon(one)
        for run in reversed(made):
            ref = RunRef(run.id, {}, {}, tf.__version__)  # cached: never re-solved
            out = await workers.call("explain", ref, "440203100", home=run.id)
            assert out["code"] == "440203100"
        return made

    try:
        made = anyio.run(main)
        lanes = [workers._homes[c.id] for c in made]
        assert sorted(lanes) == [0, 1]  # two at once: one in each lane
        assert chosen[2:] == lanes[::-1]  # explain: where each was solved
    finally:
        workers.close()
    assert workers._lanes == [None, None]
    assert not workers._homes


def test_a_worker_that_died_while_idle_is_replaced():
    """After its worker process is killed, a lane starts a new one and the request succeeds."""
    workers = ProcessWorkers(ServiceConfig(database=":memory:", worker_processes=1))
    req = AllocationRequest(**BODY)  # type: ignore[arg-type]
    try:
        first: Created = anyio.run(workers.call, "create", req)
        lane = workers._lanes[0]
        assert lane is not None
        (pid,) = list(lane._processes)  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not lane._broken and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        second: Created = anyio.run(workers.call, "create", req)
        assert workers._lanes[0] is not lane
        assert second.id != first.id
        assert first.id not in workers._homes  # the dead worker's cache is gone
    finally:
        workers.close()


def test_a_worker_dying_mid_request_is_503(monkeypatch):
    """When the worker stops while computing, the request gets 503 and the lane is renewed."""
    workers = ProcessWorkers(ServiceConfig(database=":memory:", worker_processes=1))

    class Dead:
        def submit(self, *args: Any) -> Future[Any]:
            future: Future[Any] = Future()
            future.set_exception(BrokenProcessPool("the worker was killed"))
            return future

        def shutdown(self, **kwargs: Any) -> None:
            pass

    dead = Dead()
    workers._lanes[0] = dead  # type: ignore[assignment]
    with pytest.raises(HTTPException) as err:
        anyio.run(workers.call, "eligibility", None)
    assert err.value.status_code == 503
    assert "try again" in err.value.detail
    assert workers._lanes[0] is None
    assert workers._busy == [0]
    # Another request that was on the dead lane does not drop the lane started since.
    fresh = Dead()
    workers._lanes[0] = fresh  # type: ignore[assignment]
    workers._replace(0, dead)  # type: ignore[arg-type]
    assert workers._lanes[0] is fresh


def test_the_service_library_version_is_in_every_run(both):
    """Both setups stamp the library version they ran (the workers import the same one)."""
    for answers in both:
        assert answers["created"].json()["provenance"]["townfiscal"] == tf.__version__
