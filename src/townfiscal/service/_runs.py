"""Allocation runs: computed by the workers, stored with provenance, fetched, explained,
exported.

A run is stored with the request as posted (policy, reform, fund, towns rows or the bundled
example, constraints, objective in their JSON form), the library's provenance and the result.
The work is done by the engine (:mod:`townfiscal.service._engine`) in a worker process or
thread (:mod:`townfiscal.service._pool`); the server process only inserts the row it gets
back and sends the body, already encoded. ``explain`` and the workbook need the solved
:class:`~townfiscal.Allocation`: the worker that solved a run keeps recent ones in memory,
older ones (and every one after a restart) are re-solved from the stored request and
checked against the stored amounts.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import anyio.to_thread
from litestar import MediaType, Response, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_409_CONFLICT, HTTP_503_SERVICE_UNAVAILABLE

from townfiscal.optimize import SolverError
from townfiscal.service._config import ServiceConfig
from townfiscal.service._engine import (
    Created,
    Method,
    NotReproducible,
    RunRef,
    UnknownTown,
    common,
    default_codec,
    links,
)
from townfiscal.service._models import (
    AllocationCreated,
    AllocationRequest,
    AllocationRun,
    ErrorBody,
)
from townfiscal.service._openapi import XLSX
from townfiscal.service._pool import workers_for
from townfiscal.service._store import AllocationStore, StoredAllocation

__all__ = ["Runs", "allocation_handlers", "default_codec"]


class Runs:
    """The service's state: the store of runs, the codec and the workers.

    Parameters
    ----------
    config:
        The service settings (database, workers, time limit, concurrency, cache size).
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.store = AllocationStore(config.database_url)
        self.codec = default_codec()
        self.workers = workers_for(config)

    def close(self) -> None:
        """Stop the workers and release the database connections."""
        self.workers.close()
        self.store.close()

    async def create(self, req: AllocationRequest) -> Created:
        """Compute one allocation run in a worker and store it.

        A request that has not started yet is dropped when its client goes away; once
        started, it is computed and stored all the same.

        Raises
        ------
        ValidationError, InfeasibleError
            A bad request; constraints that cannot hold.
        HTTPException
            503 when the solver fails, runs out of time or its worker stops.
        """
        try:
            created: Created = await self.workers.call("create", req)
        except SolverError as exc:
            raise HTTPException(status_code=HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.store.insert, created.row)
        return created

    def get(self, run_id: str) -> StoredAllocation:
        """The stored run, or a 404."""
        run = self.store.get(run_id)
        if run is None:
            raise NotFoundException(f"no allocation {run_id!r}")
        return run

    async def on_run(self, method: Method, run_id: str, *args: Any) -> Any:
        """*method* (``explain`` or ``workbook``) on a stored run, in the worker that solved
        it when it is still known.

        Raises
        ------
        NotFoundException
            No such run, or (explain) no such town in it.
        HTTPException
            409 when this version of the library no longer reproduces the stored amounts;
            503 when the solver fails on re-solving.
        """
        run = await anyio.to_thread.run_sync(self.get, run_id)
        try:
            return await self.workers.call(method, RunRef.of(run), *args, home=run_id)
        except UnknownTown as exc:
            raise NotFoundException(str(exc)) from None
        except NotReproducible as exc:
            raise HTTPException(status_code=HTTP_409_CONFLICT, detail=str(exc)) from None
        except SolverError as exc:
            raise HTTPException(status_code=HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None


def _full(run: StoredAllocation) -> AllocationRun:
    request = dict(run.request)
    rows = request.pop("towns", None)
    request["towns"] = "example" if rows is None else f"posted: {len(rows)} rows"
    return AllocationRun(
        **common(run),
        objective_value=run.result.get("objective_value"),
        objective_unit=str(run.result.get("objective_unit", "")),
        amounts=run.result["amounts"],
        provenance=run.provenance,
        request=request,
        towns=run.result["towns"],
        shadow_prices=run.result.get("shadow_prices", []),
        links=links(run.id),
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
        created = await runs.create(data)
        response: Response[Any] = Response(
            created.body,  # AllocationCreated, encoded by the worker
            status_code=HTTP_201_CREATED,
            media_type=MediaType.JSON,
            headers={"Location": f"/allocations/{created.id}"},
        )
        return response

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
            content: bytes = await runs.on_run("workbook", run_id)
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
        out: dict[str, Any] = await runs.on_run("explain", allocation_id, code)
        return out

    return [create_allocation, list_allocations, get_allocation, explain_allocation]
