"""Allocation runs: parse, solve under a time limit, store with provenance, fetch, explain,
export.

A run is stored with the request as posted (policy, reform, fund, towns rows or the bundled
example, constraints, objective in their JSON form), the library's provenance and the result.
``explain`` and the workbook need the solved :class:`~townfiscal.Allocation`: recent ones are
kept in memory, older ones (and every one after a restart) are re-solved from the stored
request and checked against the stored amounts.
"""

from __future__ import annotations

import math
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
import attrs
import numpy as np
from litestar import Response, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_409_CONFLICT, HTTP_503_SERVICE_UNAVAILABLE

from townfiscal._errors import Problem, ValidationError
from townfiscal._version import __version__
from townfiscal.optimize import (
    Cap,
    CapacityFloor,
    Floor,
    GroupTotal,
    GrowthCap,
    HoldHarmless,
    MaxMin,
    MinDeviation,
    MinShortfall,
    NeedOrder,
    Proportional,
    Rounding,
    SolverError,
    TierOrder,
    WeightedObjective,
)
from townfiscal.optimize._allocation import Allocation, allocate
from townfiscal.service._codec import Codec
from townfiscal.service._compute import (
    Inputs,
    amounts_by_code,
    check_fund,
    data_hash,
    records,
    resolve,
)
from townfiscal.service._config import ServiceConfig
from townfiscal.service._models import (
    AllocationCreated,
    AllocationRequest,
    AllocationRun,
    ErrorBody,
    FormulaRequest,
)
from townfiscal.service._openapi import XLSX
from townfiscal.service._store import AllocationStore, StoredAllocation, utc_now

__all__ = ["Runs", "allocation_handlers", "default_codec"]

T = TypeVar("T")


def default_codec() -> Codec:
    """The codec of the library's constraint and objective catalogue."""
    constraints: dict[str, type] = {
        cls.__name__: cls
        for cls in (
            HoldHarmless,
            GrowthCap,
            Floor,
            Cap,
            NeedOrder,
            TierOrder,
            GroupTotal,
            CapacityFloor,
            Rounding,
        )
    }
    objectives: dict[str, type] = {
        cls.__name__: cls for cls in (Proportional, MinDeviation, MaxMin, MinShortfall)
    }
    return Codec(constraints, objectives, WeightedObjective)


def jsonable(value: Any) -> Any:
    """*value* with numpy scalars as Python numbers and NaN/±inf as ``None``, recursively."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@attrs.frozen(eq=False)
class Parsed:
    """A request resolved: inputs, constraint and objective objects, and its stored form."""

    inputs: Inputs
    constraints: list[Any]
    objective: Any
    request: dict[str, Any]


class Runs:
    """The service's state: the store of runs, the codec, the solve limiter and a cache.

    Parameters
    ----------
    config:
        The service settings (database, time limit, concurrency, cache size).
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.store = AllocationStore(config.database_url)
        self.codec = default_codec()
        self._cache: OrderedDict[str, Allocation] = OrderedDict()
        self._lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()

    async def in_thread(self, func: Callable[[], T]) -> T:
        """Run *func* in a worker thread, at most ``max_concurrent_solves`` at a time."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.config.max_concurrent_solves)
        return await anyio.to_thread.run_sync(func, limiter=self._limiter)

    # --- parse and solve ---------------------------------------------------------------

    def parse(self, req: AllocationRequest) -> Parsed:
        """Resolve policy, towns, constraints and objective, every problem reported at once.

        Raises
        ------
        ValidationError
            Listing the problems of every part of the request.
        """
        problems: list[Problem] = []
        constraints: list[Any] = []
        objective: Any = None
        try:
            constraints = self.codec.constraints(req.constraints)
        except ValidationError as exc:
            problems.extend(exc.problems)
        if req.objective is not None:
            try:
                objective = self.codec.objective(req.objective)
            except ValidationError as exc:
                problems.extend(exc.problems)
        check_fund(req.fund, problems)
        formula_req = FormulaRequest(
            policy=req.policy, changes=req.changes, towns=req.towns, unit=req.unit, fund=None
        )
        inputs = resolve(formula_req, what="allocation request", extra=problems)
        stored = {
            "policy": req.policy,
            "changes": req.changes,
            "fund": req.fund,
            "unit": req.unit,
            "towns": req.towns,
            "constraints": [self.codec.to_json(c) for c in constraints],
            "objective": None if objective is None else self.codec.to_json(objective),
        }
        return Parsed(inputs, constraints, objective, jsonable(stored))

    def solve(self, parsed: Parsed, fund: int | None) -> Allocation:
        """Allocate under the service's time limit.

        Raises
        ------
        ValidationError, InfeasibleError
            From the allocator (bad constraint arguments; constraints that cannot hold).
        SolverError
            When the solver fails or runs out of time without an answer.
        """
        return allocate(
            parsed.inputs.towns,
            parsed.inputs.policy,
            fund=fund,
            constraints=parsed.constraints,
            objective=parsed.objective,
            time_limit=self.config.solve_time_limit,
        )

    def _remember(self, run_id: str, alloc: Allocation) -> None:
        if self.config.cache_size == 0:
            return
        with self._lock:
            self._cache[run_id] = alloc
            self._cache.move_to_end(run_id)
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)

    def create(self, req: AllocationRequest) -> StoredAllocation:
        """Parse, solve, store and remember one allocation run."""
        parsed = self.parse(req)
        alloc = self.solve(parsed, req.fund)
        provenance = jsonable(dict(alloc.provenance))
        provenance["status"] = alloc.status
        result = {  # records() and amounts_by_code() give plain JSON values already
            "status": alloc.status,
            "objective_value": jsonable(alloc.objective_value),
            "objective_unit": alloc.objective_unit,
            "amounts": amounts_by_code(alloc.amounts),
            "towns": records(alloc.to_frame()),
            "shadow_prices": records(alloc.shadow_prices),
        }
        run = StoredAllocation(
            id=uuid.uuid4().hex,
            created=utc_now(),
            policy=parsed.inputs.policy.id,
            policy_hash=parsed.inputs.policy.hash,
            data_hash=str(provenance.get("data_hash") or data_hash(parsed.inputs.towns)),
            fund=int(alloc.fund),
            total=int(alloc.amounts.sum()),
            library_version=__version__,
            request=parsed.request,
            provenance=provenance,
            result=result,
        )
        self.store.add(run)
        self._remember(run.id, alloc)
        return run

    # --- fetch -------------------------------------------------------------------------

    def get(self, run_id: str) -> StoredAllocation:
        """The stored run, or a 404."""
        run = self.store.get(run_id)
        if run is None:
            raise NotFoundException(f"no allocation {run_id!r}")
        return run

    def allocation(self, run_id: str) -> Allocation:
        """The solved allocation of a stored run: from memory, or re-solved and checked.

        Raises
        ------
        NotFoundException
            No such run.
        HTTPException
            409 when this version of the library no longer reproduces the stored amounts.
        """
        with self._lock:
            cached = self._cache.get(run_id)
        if cached is not None:
            return cached
        run = self.get(run_id)
        req = AllocationRequest(
            policy=run.request["policy"],
            changes=run.request.get("changes"),
            towns=run.request.get("towns"),
            unit=run.request.get("unit", "yuan"),
            fund=run.request.get("fund"),
            constraints=run.request.get("constraints", []),
            objective=run.request.get("objective"),
        )
        alloc = self.solve(self.parse(req), req.fund)
        if amounts_by_code(alloc.amounts) != run.result["amounts"]:
            raise HTTPException(
                status_code=HTTP_409_CONFLICT,
                detail=(
                    f"allocation {run_id} was made with townfiscal {run.library_version}; "
                    "re-solving its stored request here gives different amounts, so it cannot "
                    "be explained or exported by this version (its stored amounts and "
                    "provenance are still at GET /allocations/{id})"
                ),
            )
        self._remember(run_id, alloc)
        return alloc

    def workbook(self, run_id: str) -> bytes:
        """The run's Excel workbook, as bytes."""
        alloc = self.allocation(run_id)
        with tempfile.TemporaryDirectory(prefix="townfiscal-") as tmp:
            path = Path(tmp) / f"allocation-{run_id}.xlsx"
            alloc.to_excel(path)
            return path.read_bytes()


def _links(run_id: str) -> dict[str, str]:
    return {
        "self": f"/allocations/{run_id}",
        "explain": f"/allocations/{run_id}/explain/{{code}}",
        "workbook": f"/allocations/{run_id}.xlsx",
    }


def _common(run: StoredAllocation) -> dict[str, Any]:
    """The fields every view of a stored run shares."""
    return {
        "id": run.id,
        "created": run.created,
        "policy": run.policy,
        "policy_hash": run.policy_hash,
        "data_hash": run.data_hash,
        "fund": run.fund,
        "total": run.total,
        "status": str(run.result.get("status", "optimal")),
    }


def _created(run: StoredAllocation) -> AllocationCreated:
    return AllocationCreated(
        **_common(run),
        amounts=run.result["amounts"],
        provenance=run.provenance,
        links=_links(run.id),
    )


def _full(run: StoredAllocation) -> AllocationRun:
    request = dict(run.request)
    rows = request.pop("towns", None)
    request["towns"] = "example" if rows is None else f"posted: {len(rows)} rows"
    return AllocationRun(
        **_common(run),
        objective_value=run.result.get("objective_value"),
        objective_unit=str(run.result.get("objective_unit", "")),
        amounts=run.result["amounts"],
        provenance=run.provenance,
        request=request,
        towns=run.result["towns"],
        shadow_prices=run.result.get("shadow_prices", []),
        links=_links(run.id),
    )


def allocation_handlers(runs: Runs, errors: dict[int, ResponseSpec]) -> list[Any]:
    """The ``/allocations`` routes over *runs*."""
    not_found = {404: ResponseSpec(data_container=ErrorBody, description="No such allocation")}
    unavailable = {
        503: ResponseSpec(
            data_container=ErrorBody, description="The solver failed or ran out of time"
        )
    }

    @post(
        "/allocations",
        tags=["allocations"],
        summary="Allocate a fund by linear program and store the run",
        status_code=HTTP_201_CREATED,
        responses={**errors, **unavailable},
    )
    async def create_allocation(data: JSONBody[AllocationRequest]) -> Response[AllocationCreated]:
        try:
            run = await runs.in_thread(lambda: runs.create(data))
        except SolverError as exc:
            raise HTTPException(status_code=HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
        return Response(
            _created(run),
            status_code=HTTP_201_CREATED,
            headers={"Location": f"/allocations/{run.id}"},
        )

    @get("/allocations", tags=["allocations"], summary="The stored runs, newest first")
    async def list_allocations(
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> list[dict[str, Any]]:
        return await anyio.to_thread.run_sync(lambda: runs.store.list(limit=limit, offset=offset))

    @get(
        "/allocations/{allocation_id:str}",
        tags=["allocations"],
        summary="A stored run: request, provenance, amounts and per-town rows "
        "(append .xlsx for the workbook)",
        responses=not_found,
    )
    async def get_allocation(allocation_id: FromPath[str]) -> Response[AllocationRun]:
        if allocation_id.endswith(".xlsx"):
            run_id = allocation_id.removesuffix(".xlsx")
            await anyio.to_thread.run_sync(lambda: runs.get(run_id))
            try:
                content = await runs.in_thread(lambda: runs.workbook(run_id))
            except SolverError as exc:
                raise HTTPException(status_code=503, detail=str(exc)) from None
            workbook: Response[Any] = Response(
                content,
                media_type=XLSX,
                headers={"Content-Disposition": f'attachment; filename="allocation-{run_id}.xlsx"'},
            )
            return workbook  # the same route serves the workbook (see _openapi.py)
        run = await anyio.to_thread.run_sync(lambda: runs.get(allocation_id))
        return Response(_full(run))

    @get(
        "/allocations/{allocation_id:str}/explain/{code:str}",
        tags=["allocations"],
        summary="How one town's amount came about: the formula, then what the optimiser did",
        responses={**not_found, **unavailable},
    )
    async def explain_allocation(
        allocation_id: FromPath[str], code: FromPath[str]
    ) -> dict[str, Any]:
        await anyio.to_thread.run_sync(lambda: runs.get(allocation_id))
        try:
            alloc = await runs.in_thread(lambda: runs.allocation(allocation_id))
        except SolverError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        try:
            trace = alloc.explain(code)
        except KeyError:
            raise NotFoundException(
                f"town {code!r} is not among the {len(alloc.amounts):,} towns of allocation "
                f"{allocation_id}"
            ) from None
        out: dict[str, Any] = jsonable(trace.to_dict())
        out["text"] = str(trace)
        return out

    return [create_allocation, list_allocations, get_allocation, explain_allocation]
