"""The Litestar application: routes, error mapping, authentication, limits, OpenAPI."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Literal

import anyio.to_thread
import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from townfiscal._errors import InfeasibleError, ValidationError
from townfiscal._version import __version__
from townfiscal.policy import get_policy, list_policies
from townfiscal.service._config import ServiceConfig, is_loopback
from townfiscal.service._intake import intake, short_value
from townfiscal.service._models import (
    ERROR_CODES,
    AllocationRequest,
    EligibilityRequest,
    EligibilityResult,
    ErrorBody,
    ErrorCode,
    FormulaRequest,
    FormulaResult,
    FundRangeRequest,
    FundRangeResult,
    Health,
    PolicyDetail,
    PolicySummary,
)
from townfiscal.service._openapi import patch_openapi
from townfiscal.service._options import with_options
from townfiscal.service._runs import Runs, allocation_handlers
from townfiscal.service._security import bearer_auth, front_door
from townfiscal.service._store import AllocationStore, StoreUnavailable

__all__ = ["create_app"]

log = logging.getLogger("townfiscal.service")

REQUEST_MODELS: dict[str, type] = {
    "/eligibility": EligibilityRequest,
    "/formula": FormulaRequest,
    "/fund-range": FundRangeRequest,
    "/allocations": AllocationRequest,
}
"""The body each ``POST`` route takes, checked at the door (:mod:`._intake`)."""

MIN_FREE_BYTES = 64 * 1024 * 1024
"""Free space an SQLite database's disk needs for the service to be ready (a stored run
takes about 300 kB)."""


class Ready(msgspec.Struct, kw_only=True):
    """Whether the service can take work: ``database`` answers, ``disk`` (an SQLite file's)
    has room and the last write succeeded."""

    status: Literal["ready", "not_ready"]
    database: Literal["ok", "unavailable"]
    disk: Literal["ok", "full", "not_writable"]
    message: str | None = None


def readiness(store: AllocationStore) -> Ready:
    """Ask the database and look at its disk (blocking: run it in a thread)."""
    database_ok = store.ping()
    free = store.disk_free()
    disk: Literal["ok", "full", "not_writable"] = "ok"
    message = None
    if free is not None and free < MIN_FREE_BYTES:
        disk = "full"
        message = f"{free:,} bytes free beside the database {store.path}"
    elif not store.writable:
        disk = "not_writable"
        message = "the last write to the database failed"
    if not database_ok:
        message = "the database does not answer"
    ok = database_ok and disk == "ok"
    return Ready(
        status="ready" if ok else "not_ready",
        database="ok" if database_ok else "unavailable",
        disk=disk,
        message=message,
    )


def _uvicorn_host(argv: list[str], environ: os._Environ[str] | dict[str, str]) -> str | None:
    """The ``--host`` of a ``uvicorn`` command line (or ``UVICORN_HOST``), when this process
    is one; ``None`` otherwise."""
    if not argv or "uvicorn" not in os.path.basename(argv[0]):
        return None
    host = environ.get("UVICORN_HOST")
    for k, arg in enumerate(argv[1:], start=1):
        if arg == "--host" and k + 1 < len(argv):
            host = argv[k + 1]
        elif arg.startswith("--host="):
            host = arg.split("=", 1)[1]
        elif arg in {"--uds", "--fd"} or arg.startswith(("--uds=", "--fd=")):
            return None  # a socket file or one handed over: not a network address
    return host or "127.0.0.1"


class OpenServerRefused(ValueError):
    """Serving on a network address without a token (a setting to change: one line)."""


def refuse_open_server(
    config: ServiceConfig, host: str | None = None, argv: list[str] | None = None
) -> None:
    """Refuse to serve on a non-loopback address without ``TOWNFISCAL_API_TOKEN``.

    *host* is the address to bind when known (``townfiscal serve``); otherwise a
    ``uvicorn`` command line's ``--host`` is read. Servers whose address the app cannot see
    are covered at the door: without a token, a request that arrives on a network address
    gets ``403`` (:func:`~townfiscal.service._security.front_door`).

    Raises
    ------
    OpenServerRefused
        One line saying what to do.
    """
    if host is None:
        host = _uvicorn_host(sys.argv if argv is None else argv, os.environ)
    if host is not None and not config.api_token and not is_loopback(host):
        raise OpenServerRefused(
            f"refusing to serve on {host} without a token: set TOWNFISCAL_API_TOKEN (and "
            "allowed_hosts), or bind 127.0.0.1"
        )

#: The code an HTTP exception's status is answered with: each documented code's own status,
#: but for 422's second code (infeasible constraints are answered where they are found) and
#: internal (500), the handler's answer to any 5xx without a code of its own.
_ERRORS = {
    status: code.value for code, (status, _) in ERROR_CODES.items()
    if code not in (ErrorCode.INFEASIBLE, ErrorCode.INTERNAL)
}

#: Error responses documented on the endpoints that read a request body.
BODY_ERRORS = {
    422: ResponseSpec(
        data_container=ErrorBody,
        description="Invalid input (every problem listed) or infeasible constraints",
    ),
    413: ResponseSpec(data_container=ErrorBody, description="Request body over the size limit"),
}


def _json(
    body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(content=body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _encoded(body: bytes) -> Response[Any]:
    """A ``200`` response whose JSON body a worker has encoded already."""
    return Response(content=body, status_code=HTTP_200_OK, media_type=MediaType.JSON)


MAX_PROBLEMS = 200
"""Problems an error body lists (its message says how many there are in all)."""


def _validation_error(_: Request[Any, Any, Any], exc: ValidationError) -> Response[Any]:
    body = exc.to_dict()
    body["message"] = str(exc).splitlines()[0]
    # Never echo megabytes of input: the first problems, each value cut short.
    problems = body.get("problems") or []
    body["problems"] = [
        {**p, "value": short_value(p.get("value"))} for p in problems[:MAX_PROBLEMS]
    ]
    if len(problems) > MAX_PROBLEMS:
        body["message"] += f" (the first {MAX_PROBLEMS} are listed)"
    return _json(body, 422)


def _store_unavailable(request: Request[Any, Any, Any], exc: StoreUnavailable) -> Response[Any]:
    log.error("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return _json({"error": "unavailable", "message": str(exc)}, 503, {"Retry-After": "5"})


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    log.warning("too deeply nested input on %s %s", request.method, request.url.path)
    body = {
        "error": "validation",
        "what": "request",
        "message": "the request is nested too deeply to read",
        "problems": [{"row": None, "column": None, "value": None, "message": str(exc)[:200]}],
    }
    return _json(body, 422)


def _infeasible_error(_: Request[Any, Any, Any], exc: InfeasibleError) -> Response[Any]:
    body = exc.to_dict()
    body["message"] = str(exc).splitlines()[0]
    return _json(body, 422)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 400:
        # Malformed JSON or a body that does not match the schema: say what, as problems.
        extra = exc.extra if isinstance(exc.extra, list) else []
        problems = [
            {
                "row": None,
                "column": str(item.get("key")) if item.get("key") is not None else None,
                "value": None,
                "message": str(item.get("message", exc.detail)),
            }
            for item in extra
            if isinstance(item, dict)
        ] or [{"row": None, "column": None, "value": None, "message": str(exc.detail)}]
        sources = {
            str(getattr(item.get("source"), "value", item.get("source")))
            for item in extra
            if isinstance(item, dict)
        }
        if sources and sources <= {"query", "path", "header", "cookie"}:
            where = "request parameters"
            message = "invalid " + " and ".join(f"{s} parameter" for s in sorted(sources))
        else:
            where = "request body"
            message = "the request body is not valid JSON of the expected shape"
        body = {"error": "validation", "what": where, "message": message, "problems": problems}
        return _json(body, 422, headers)
    if status >= 500:
        if status != HTTP_503_SERVICE_UNAVAILABLE:
            log.error("server error on %s %s: %s", request.method, request.url.path, exc.detail)
        message = "internal error" if status != HTTP_503_SERVICE_UNAVAILABLE else exc.detail
        return _json(
            {"error": _ERRORS.get(status, "internal"), "message": message}, status, headers
        )
    code = _ERRORS.get(status, "bad_request")  # always one of the documented ErrorCode values
    return _json({"error": code, "message": exc.detail}, status, headers)


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(
        {"error": "internal", "message": "internal error; the service log has the details"}, 500
    )


def _policy_summary(policy_id: str) -> PolicySummary:
    pol = get_policy(policy_id)
    return PolicySummary(
        id=pol.id,
        title=pol.title,
        title_zh=pol.title_zh,
        effective=pol.effective.isoformat(),
        method=pol.method,
        document=pol.document,
        hash=pol.hash,
        assumptions=len(pol.assumptions),
        parameters=len(pol.parameters),
    )


def create_app(config: ServiceConfig | None = None) -> Litestar:
    """The townfiscal HTTP service as an ASGI application (Litestar).

    Parameters
    ----------
    config:
        Settings; default :meth:`ServiceConfig.from_env` (``TOWNFISCAL_*`` variables).

    Returns
    -------
    litestar.Litestar
        Serve it with any ASGI server (``townfiscal serve`` uses uvicorn).

    Examples
    --------
    >>> from litestar.testing import TestClient
    >>> app = create_app(ServiceConfig(database=":memory:"))
    >>> with TestClient(app) as client:
    ...     client.get("/health").json()["status"]
    'ok'
    """
    config = config or ServiceConfig.from_env()
    refuse_open_server(config)
    runs = Runs(config)

    @get("/health", tags=["service"], security=[{}], summary="Is the service up? (liveness)")
    async def health() -> Health:
        # Liveness: no database round trip; ``database`` is what the last write found.
        return Health(
            status="ok",
            version=__version__,
            database="ok" if runs.store.writable else "unavailable",
        )

    @get(
        "/ready",
        tags=["service"],
        security=[{}],
        summary="Can the service take work? (the database answers, its disk is writable)",
        responses={503: ResponseSpec(data_container=Ready, description="Not ready")},
    )
    async def ready() -> Response[Ready]:
        body = await anyio.to_thread.run_sync(readiness, runs.store)
        ok = body.status == "ready"
        return Response(body, status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE)

    @get("/policies", tags=["policies"], summary="The bundled policies")
    async def policies() -> list[PolicySummary]:
        return [_policy_summary(pid) for pid in list_policies()]

    @get(
        "/policies/{policy_id:str}",
        tags=["policies"],
        summary="One policy with every parameter and its source",
        responses={404: ResponseSpec(data_container=ErrorBody, description="No such policy")},
    )
    async def policy(policy_id: FromPath[str]) -> PolicyDetail:
        if policy_id not in list_policies():
            raise NotFoundException(
                f"no policy {policy_id!r}; bundled policies: {', '.join(list_policies())}"
            )
        detail: PolicyDetail = msgspec.convert(get_policy(policy_id).to_dict(), PolicyDetail)
        return detail

    @post(
        "/eligibility",
        tags=["rules"],
        summary="Which towns a policy covers, and why",
        status_code=HTTP_200_OK,
        responses=BODY_ERRORS,
    )
    async def eligibility(data: JSONBody[EligibilityRequest]) -> Response[EligibilityResult]:
        return _encoded(await runs.workers.call("eligibility", data))

    @post(
        "/formula",
        tags=["rules"],
        summary="The policy's formula amounts (Art. 5–6) with every intermediate value",
        status_code=HTTP_200_OK,
        responses=BODY_ERRORS,
    )
    async def formula(data: JSONBody[FormulaRequest]) -> Response[FormulaResult]:
        return _encoded(await runs.workers.call("formula", data))

    @post(
        "/fund-range",
        tags=["rules"],
        summary="The least and the most fund the growth control and constraints allow",
        status_code=HTTP_200_OK,
        responses=BODY_ERRORS,
    )
    async def fund_range(data: JSONBody[FundRangeRequest]) -> Response[FundRangeResult]:
        return _encoded(await runs.workers.call("fund_range", data))

    @get("/openapi.json", include_in_schema=False, media_type="application/vnd.oai.openapi+json")
    async def openapi(request: Request[Any, Any, Any]) -> dict[str, Any]:
        return _document(request.app)

    def _document(app: Litestar) -> dict[str, Any]:
        doc = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
        patch_openapi(doc, runs.codec, secured=bool(config.api_token))
        return doc

    security: list[dict[str, list[str]]] | None = None
    components = Components()
    if config.api_token:
        security = [{"bearer": []}]
        components = Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http", scheme="bearer", description="TOWNFISCAL_API_TOKEN"
                )
            }
        )
    openapi_config = OpenAPIConfig(
        title="townfiscal",
        version=__version__,
        description=(
            "Fiscal transfers to towns over HTTP: the bundled policies with their sources, "
            "eligibility, formula amounts and allocations by linear program, stored with "
            "their provenance. Money is in yuan; amounts are whole yuan keyed by 9-digit "
            "town code."
        ),
        path="/schema",
        # The document only: a browsable page would load its scripts from a CDN.
        render_plugins=[JsonRenderPlugin()],
        security=security,
        components=components,
        tags=[
            Tag(name="service"),
            Tag(name="policies"),
            Tag(name="rules"),
            Tag(name="allocations"),
        ],
    )

    def on_startup(app: Litestar) -> None:
        _document(app)
        runs.workers.start()
        if config.retention_days is not None or config.retention_count is not None:
            runs.store.retain(days=config.retention_days, count=config.retention_count)

    return Litestar(
        route_handlers=with_options(
            [
                health,
                ready,
                policies,
                policy,
                eligibility,
                formula,
                fund_range,
                openapi,
                *allocation_handlers(runs, BODY_ERRORS),
            ]
        ),
        exception_handlers={
            ValidationError: _validation_error,
            InfeasibleError: _infeasible_error,
            StoreUnavailable: _store_unavailable,
            RecursionError: _too_deep,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        middleware=[
            front_door(config, runs.workers.shed_if_busy, frozenset(REQUEST_MODELS)),
            *([bearer_auth(config.api_token)] if config.api_token else []),
        ],
        before_request=intake(config, REQUEST_MODELS),
        request_max_body_size=config.max_body_bytes,
        openapi_config=openapi_config,
        on_startup=[on_startup],
        on_shutdown=[lambda: runs.close()],
        state=State({"runs": runs}),  # the store and the workers, for operators and tests
        debug=False,
    )
