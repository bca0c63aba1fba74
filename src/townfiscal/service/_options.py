"""``OPTIONS`` for paths served by more than one handler.

Litestar answers ``OPTIONS`` itself, but on a path whose methods come from several handlers
(``GET`` and ``POST /allocations``; ``GET`` and ``DELETE /allocations/{id}``) its ``Allow``
lists the methods of the first handler registered only. These handlers list them all, as
the OpenAPI document does. The workbook, ``/allocations/{id}.xlsx``, is served by the run's
route but answers ``GET`` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import MediaType, Request, Response, route
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import HTTP_204_NO_CONTENT

__all__ = ["options_handlers", "with_options"]


def _options(path: str, allow: str) -> HTTPRouteHandler:
    @route(path, http_method=["OPTIONS"], include_in_schema=False, sync_to_thread=False,
           name=f"options:{path}")
    def options(request: Request[Any, Any, Any]) -> Response[None]:
        methods = "GET, OPTIONS" if request.url.path.endswith(".xlsx") else allow
        return Response(
            content=None,
            status_code=HTTP_204_NO_CONTENT,
            headers={"Allow": methods},
            media_type=MediaType.TEXT,
        )

    return options


def options_handlers(handlers: Iterable[Any]) -> list[HTTPRouteHandler]:
    """An ``OPTIONS`` handler for each path that two or more of *handlers* share (register
    them before *handlers*)."""
    methods: dict[str, set[str]] = {}
    count: dict[str, int] = {}
    for handler in handlers:
        if not isinstance(handler, HTTPRouteHandler):
            continue
        for path in handler.paths:
            methods.setdefault(path, set()).update(handler.http_methods)
            count[path] = count.get(path, 0) + 1
    return [
        _options(path, ", ".join(sorted(methods[path] | {"OPTIONS"})))
        for path in methods
        if count[path] > 1 and "OPTIONS" not in methods[path]
    ]


def with_options(handlers: list[Any]) -> list[Any]:
    """*handlers*, preceded by the ``OPTIONS`` handlers their shared paths need."""
    return [*options_handlers(handlers), *handlers]
