"""The Litestar application: routes, error mapping, authentication, limits, OpenAPI."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from townfiscal._errors import InfeasibleError, ValidationError
from townfiscal._version import __version__
from townfiscal.policy import get_policy, list_policies
from townfiscal.service._config import ServiceConfig
from townfiscal.service._models import (
    EligibilityRequest,
    EligibilityResult,
    ErrorBody,
    FormulaRequest,
    FormulaResult,
    FundRangeRequest,
    FundRangeResult,
    Health,
    PolicySummary,
)
from townfiscal.service._openapi import patch_openapi
from townfiscal.service._runs import Runs, allocation_handlers
from townfiscal.service._security import bearer_auth

__all__ = ["create_app"]

log = logging.getLogger("townfiscal.service")

_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation",
    429: "too_many_requests",
    503: "unavailable",
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


def _validation_error(_: Request[Any, Any, Any], exc: ValidationError) -> Response[Any]:
    body = exc.to_dict()
    body["message"] = str(exc).splitlines()[0]
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
        body = {
            "error": "validation",
            "what": "request body",
            "message": "the request body is not valid JSON of the expected shape",
            "problems": problems,
        }
        return _json(body, 422, headers)
    if status >= 500:
        if status != HTTP_503_SERVICE_UNAVAILABLE:
            log.error("server error on %s %s: %s", request.method, request.url.path, exc.detail)
        message = "internal error" if status != HTTP_503_SERVICE_UNAVAILABLE else exc.detail
        return _json(
            {"error": _ERRORS.get(status, "internal"), "message": message}, status, headers
        )
    return _json({"error": _ERRORS.get(status, "error"), "message": exc.detail}, status, headers)


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
    runs = Runs(config)

    @get("/health", tags=["service"], security=[{}], summary="Is the service up?")
    async def health() -> Response[Health]:
        ok = runs.store.ping()
        body = Health(
            status="ok" if ok else "degraded",
            version=__version__,
            database="ok" if ok else "unavailable",
        )
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
    async def policy(policy_id: FromPath[str]) -> dict[str, Any]:
        if policy_id not in list_policies():
            raise NotFoundException(
                f"no policy {policy_id!r}; bundled policies: {', '.join(list_policies())}"
            )
        return get_policy(policy_id).to_dict()

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
        render_plugins=[SwaggerRenderPlugin()],
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

    return Litestar(
        route_handlers=[
            health,
            policies,
            policy,
            eligibility,
            formula,
            fund_range,
            openapi,
            *allocation_handlers(runs, BODY_ERRORS),
        ],
        exception_handlers={
            ValidationError: _validation_error,
            InfeasibleError: _infeasible_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        middleware=[bearer_auth(config.api_token)] if config.api_token else [],
        request_max_body_size=config.max_body_bytes,
        openapi_config=openapi_config,
        on_startup=[on_startup],
        on_shutdown=[lambda: runs.close()],
        debug=False,
    )
