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

import hashlib
import re
from collections import OrderedDict
from typing import Annotated, Any, cast

import anyio
import anyio.to_thread
import msgspec
from litestar import MediaType, Request, Response, delete, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_204_NO_CONTENT,
    HTTP_409_CONFLICT,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from townfiscal.optimize import SolverError
from townfiscal.service._config import ServiceConfig
from townfiscal.service._engine import (
    Created,
    Method,
    NotReproducible,
    RunRef,
    UnknownTown,
    common,
    created_body,
    default_codec,
    links,
)
from townfiscal.service._models import (
    AllocationCreated,
    AllocationList,
    AllocationRequest,
    AllocationRun,
    AllocationSummary,
    ErrorBody,
    Explanation,
)
from townfiscal.service._openapi import MAX_OFFSET, XLSX
from townfiscal.service._pool import workers_for
from townfiscal.service._store import (
    AllocationStore,
    IdempotencyClash,
    StoredAllocation,
)

__all__ = ["READ_CACHE_BYTES", "Runs", "allocation_handlers", "default_codec", "is_run_id"]

READ_CACHE_BYTES = 64 * 1024 * 1024
"""Bytes of explanations and workbooks the server process keeps, newest first."""

_RUN_ID = re.compile(r"[0-9a-f]{32}")
_KEY = re.compile(r"[\x21-\x7e]{1,200}")


def is_run_id(text: str) -> bool:
    """Whether *text* is the form of a run id (32 hexadecimal digits): anything else is
    not looked up at all (no byte of it reaches the database)."""
    return _RUN_ID.fullmatch(text) is not None


class _ReadCache:
    """Explanations and workbooks already computed, by run, up to a number of bytes: read
    again, they cost no worker and no solve."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, ...], tuple[Any, int]] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[str, ...]) -> Any:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: tuple[str, ...], value: Any) -> None:
        size = len(value) if isinstance(value, bytes) else 8192
        if size > self.max_bytes // 8:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._items[key] = (value, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped

    def forget(self, run_id: str) -> None:
        for key in [k for k in self._items if k[1] == run_id]:
            self._bytes -= self._items.pop(key)[1]


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
        self.reads = _ReadCache(READ_CACHE_BYTES)

    def close(self) -> None:
        """Stop the workers and release the database connections."""
        self.workers.close()
        self.store.close()

    async def _db(self, func: Any, *args: Any) -> Any:
        """*func* of the store in a thread; an idempotency key used before for another
        request is ``409`` (an unavailable database is the app's ``503`` handler's)."""
        try:
            return await anyio.to_thread.run_sync(func, *args)
        except IdempotencyClash as exc:
            raise HTTPException(status_code=HTTP_409_CONFLICT, detail=str(exc)) from None

    @staticmethod
    def request_hash(req: AllocationRequest) -> str:
        """A digest of the request as decoded (the same for the same fields, however the
        JSON was spaced or ordered)."""
        data = msgspec.to_builtins(req)
        return hashlib.sha256(msgspec.json.encode(data, order="sorted")).hexdigest()

    async def replay(self, key: str, digest: str) -> Created | None:
        """The run an ``Idempotency-Key`` created for the same request (its
        :meth:`request_hash` is *digest*), or ``None``.

        Raises
        ------
        HTTPException
            422 for a malformed key; 409 when the key was used for another request.
        """
        if _KEY.fullmatch(key) is None:
            raise HTTPException(
                status_code=422,
                detail="Idempotency-Key must be 1 to 200 visible ASCII characters",
            )
        run_id = await self._db(self.store.lookup, key, digest)
        if run_id is None:
            return None
        return await self._created(run_id)

    async def _created(self, run_id: str) -> Created:
        run = await self._db(self.get, run_id)
        return Created(run.id, {}, created_body(run))

    async def create(self, req: AllocationRequest, key: str | None = None) -> Created:
        """Compute one allocation run in a worker and store it (with its idempotency *key*,
        when given, and the retention applied).

        A request that has not started yet is dropped when its client goes away; once
        started, it is computed and stored all the same. A request with a *key* that was
        used before for the same request gets the run it created.

        Raises
        ------
        ValidationError, InfeasibleError
            A bad request; constraints that cannot hold.
        HTTPException
            503 when the solver fails, runs out of time or its worker stops, or the
            database cannot be written; 409 when *key* was used for another request.
        """
        digest = None
        if key is not None:
            digest = self.request_hash(req)  # once: the body may hold thousands of towns
            earlier = await self.replay(key, digest)
            if earlier is not None:
                return earlier
        try:
            created: Created = await self.workers.call("create", req)
        except SolverError as exc:
            raise HTTPException(status_code=HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
        config = self.config
        with anyio.CancelScope(shield=True):
            stored = await self._db(
                lambda: self.store.insert(
                    created.row,
                    key=key,
                    request_hash=digest,
                    retention=(config.retention_days, config.retention_count),
                )
            )
        if stored != created.id:  # the same key's first request was stored meanwhile
            return await self._created(stored)
        return created

    async def delete(self, run_id: str) -> None:
        """Delete a stored run, or a 404."""
        if not is_run_id(run_id) or not await self._db(self.store.delete, run_id):
            raise NotFoundException(f"no allocation {run_id[:100]!r}")
        self.reads.forget(run_id)

    def get(self, run_id: str) -> StoredAllocation:
        """The stored run, or a 404 (also for what cannot be a run id)."""
        run = self.store.get(run_id) if is_run_id(run_id) else None
        if run is None:
            raise NotFoundException(f"no allocation {run_id[:100]!r}")
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
        key = (method, run_id, *map(str, args))
        cached = self.reads.get(key)
        if cached is not None:
            return cached
        run = await self._db(self.get, run_id)
        try:
            out = await self.workers.call(method, RunRef.of(run), *args, home=run_id)
            self.reads.put(key, out)
            return out
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
        # Plain values of the schema's shape, encoded as they are.
        provenance=cast(Any, run.provenance),
        request=cast(Any, request),
        towns=run.result["towns"],
        shadow_prices=run.result.get("shadow_prices", []),
        links=cast(Any, links(run.id)),
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
    async def create_allocation(
        data: JSONBody[AllocationRequest],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                required=False,
                max_length=200,
                description="Any text of 1 to 200 visible ASCII characters: a request "
                "repeated with the same key and body gets the run the first one created "
                "(not a second run); the same key with another body is 409",
            ),
        ] = None,
    ) -> Response[AllocationCreated]:
        created = await runs.create(data, idempotency_key)
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
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> AllocationList:
        def page() -> tuple[list[dict[str, Any]], int]:
            return runs.store.list(limit=limit, offset=offset), runs.store.count()

        rows, total = await runs._db(page)
        plain = [{str(k): v for k, v in row.items()} for row in rows]
        items: list[AllocationSummary] = msgspec.convert(plain, list[AllocationSummary])
        more = offset + len(items) < total
        return AllocationList(
            items=items,
            total=total,
            next=f"/allocations?limit={limit}&offset={offset + limit}" if more else None,
        )

    @get(
        "/allocations/{allocation_id:str}",
        tags=["allocations"],
        summary="A stored run: request, provenance, amounts and per-town rows "
        "(append .xlsx for the workbook)",
        responses=not_found,
    )
    async def get_allocation(
        allocation_id: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[AllocationRun]:
        if allocation_id.endswith(".xlsx"):
            run_id = allocation_id.removesuffix(".xlsx")
            content: bytes = await runs.on_run("workbook", run_id)
            # Clients that only take generic binary content ask for it and get the same bytes.
            media = request.accept.best_match([XLSX, "application/octet-stream"], default=XLSX)
            workbook: Response[Any] = Response(
                content,
                media_type=media or XLSX,
                headers={"Content-Disposition": f'attachment; filename="allocation-{run_id}.xlsx"'},
            )
            return workbook  # the same route serves the workbook (see _openapi.py)
        run = await runs._db(runs.get, allocation_id)
        return Response(_full(run))

    @delete(
        "/allocations/{allocation_id:str}",
        tags=["allocations"],
        summary="Delete a stored run (its idempotency keys go with it)",
        status_code=HTTP_204_NO_CONTENT,
        responses={**not_found, **unavailable},
    )
    async def delete_allocation(allocation_id: FromPath[str]) -> None:
        await runs.delete(allocation_id)

    @get(
        "/allocations/{allocation_id:str}/explain/{code:str}",
        tags=["allocations"],
        summary="How one town's amount came about: the formula, then what the optimiser did",
        responses={**not_found, **unavailable},
    )
    async def explain_allocation(
        allocation_id: FromPath[str], code: FromPath[str]
    ) -> Explanation:
        out: Explanation = await runs.on_run("explain", allocation_id, code)
        return out  # a dict of the same shape, encoded as it is

    return [
        create_allocation,
        list_allocations,
        get_allocation,
        delete_allocation,
        explain_allocation,
    ]
