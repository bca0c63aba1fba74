"""What every request passes before the routes: its id and its log line, the Host and
Origin checks, the body's media type, where the service may be served from, and the
bearer token (constant-time comparison). Plain ASGI middleware, cheap per request."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from townfiscal.service._config import ServiceConfig, is_loopback
from townfiscal.service._logging import ACCESS, request_id

__all__ = ["OPEN_PATHS", "bearer_auth", "front_door", "host_allowed"]

OPEN_PATHS = frozenset({"/health", "/ready"})
"""Paths served without a token."""

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose body must be JSON."""

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

access_log = logging.getLogger(ACCESS)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _reply(status: int, error: str, message: str, headers: list[tuple[bytes, bytes]]) -> Any:
    body = json.dumps({"error": error, "message": message}, ensure_ascii=True).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def _short(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _host_name(host: str) -> str:
    """The name in a ``Host`` header (no port; IPv6 without brackets), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def host_allowed(host: str, allowed: tuple[str, ...], server: str | None = None) -> bool:
    """Whether a request for *host* (the ``Host`` header) is served: it names one of
    *allowed* (``*.example.org`` for any subdomain, ``*`` for any host) or the address the
    connection arrived at (*server*)."""
    name = _host_name(host)
    if not name:
        return False
    if server is not None and name == _host_name(server):
        return True
    for pattern in allowed:
        pattern = _host_name(pattern) if pattern != "*" else pattern
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def front_door(
    config: ServiceConfig,
    shed: Callable[[], None] | None = None,
    computing: frozenset[str] = frozenset(),
) -> Any:
    """Middleware factory: the checks every request passes before the routes.

    - ``X-Request-ID``: taken from the request when it is 1–128 characters of letters,
      digits and ``._:-``, else made up; echoed in the response and in every log line the
      request causes.
    - One JSON log line per request (``townfiscal.service.access``): method, path, status,
      milliseconds, bytes sent, client address and request id, every value escaped.
    - Without a token, requests that reached the service on a non-loopback address get
      ``403`` (whatever server runs the app, it is never open to the network unguarded).
    - ``Host`` must be one of ``allowed_hosts`` or the address the connection arrived at
      (``400`` otherwise: a DNS-rebinding page cannot reach the service).
    - A request with an ``Origin`` other than the service's own or one of
      ``allowed_origins`` gets ``403`` (a web page elsewhere cannot use the service through
      its visitor's browser).
    - ``POST``, ``PUT`` and ``PATCH`` bodies must be ``application/json`` (``415``).
    - A ``POST`` to one of the *computing* paths while the workers' queue is full is turned
      away at once (*shed* raises ``503`` with ``Retry-After``), before routing or reading
      its body: shedding load must cost next to nothing.
    """
    allowed_hosts = config.allowed_hosts
    allowed_origins = frozenset(o.rstrip("/") for o in config.allowed_origins)
    open_to_network = bool(config.api_token)

    def refusal(scope: Scope) -> tuple[int, str, str] | None:
        server = scope.get("server")
        server_host = str(server[0]) if server else None
        if (
            not open_to_network
            and server_host is not None
            and _is_ip(server_host)
            and not is_loopback(server_host)
        ):
            return (
                403,
                "forbidden",
                "this service has no token (TOWNFISCAL_API_TOKEN) and serves this machine "
                "only; it was reached on a network address",
            )
        host = (_header(scope, b"host") or b"").decode("latin-1")
        if not host_allowed(host, allowed_hosts, server_host):
            return (
                400,
                "bad_request",
                f"Host {_short(host)!r} is not served here (allowed_hosts: "
                f"{', '.join(allowed_hosts) or 'none'})",
            )
        origin = _header(scope, b"origin")
        if origin is not None:
            text = origin.decode("latin-1").rstrip("/")
            own = {f"http://{host}", f"https://{host}"}
            if text not in own and text not in allowed_origins:
                return (
                    403,
                    "forbidden",
                    f"requests from web pages at {_short(text)!r} are not allowed "
                    "(allowed_origins)",
                )
        if scope.get("method") in BODY_METHODS:
            ctype = (_header(scope, b"content-type") or b"").decode("latin-1")
            media = ctype.split(";", 1)[0].strip().lower()
            if media != "application/json":
                return (
                    415,
                    "unsupported_media_type",
                    f"the body must be application/json, not {_short(media or 'unspecified')!r}",
                )
        return None

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            given = (_header(scope, b"x-request-id") or b"").decode("latin-1")
            rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
            token = request_id.set(rid)
            sent = {"status": 500, "bytes": 0}

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    sent["status"] = message["status"]
                    headers = list(message.get("headers", ()))
                    headers.append((b"x-request-id", rid.encode()))
                    message = {**message, "headers": headers}
                elif message["type"] == "http.response.body":
                    sent["bytes"] += len(message.get("body", b""))
                await send(message)

            try:
                refused = refusal(scope)
                headers: list[tuple[bytes, bytes]] = []
                if (
                    refused is None
                    and shed is not None
                    and scope.get("method") == "POST"
                    and scope.get("path") in computing
                ):
                    try:
                        shed()
                    except HTTPException as exc:
                        refused = (exc.status_code, "unavailable", str(exc.detail))
                        headers = [
                            (k.lower().encode(), str(v).encode())
                            for k, v in (exc.headers or {}).items()
                        ]
                if refused is not None:
                    start, body = _reply(*refused, headers)
                    await send_with_id(start)
                    await send_with_id(body)
                else:
                    await app(scope, receive, send_with_id)
            finally:
                client = scope.get("client")
                access_log.info(
                    "%s %s %s",
                    scope.get("method"),
                    json.dumps(scope.get("path"), ensure_ascii=True),  # escaped on any handler
                    sent["status"],
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": sent["status"],
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "bytes": sent["bytes"],
                        "client": client[0] if client else None,
                        "request_id": rid,
                    },
                )
                request_id.reset(token)

        return guarded

    return middleware

_UNAUTHORIZED = json.dumps(
    {
        "error": "unauthorized",
        "message": "this service needs 'Authorization: Bearer <token>' (TOWNFISCAL_API_TOKEN)",
    }
).encode("utf-8")


def _presented(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, credentials = bytes(value).partition(b" ")
            if scheme.lower() == b"bearer":
                return credentials.strip()
            return None
    return None


def bearer_auth(token: str) -> Any:
    """Middleware factory: every HTTP request but :data:`OPEN_PATHS` needs the token.

    The presented token is compared with :func:`hmac.compare_digest` on SHA-256 digests
    (constant time, and the token's length does not show);
    a missing or wrong token gets ``401`` with a JSON body and ``WWW-Authenticate: Bearer``.
    """
    expected = hashlib.sha256(token.encode("utf-8")).digest()

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or scope["path"] in OPEN_PATHS:
                await app(scope, receive, send)
                return
            given = _presented(scope)
            if given is not None and hmac.compare_digest(hashlib.sha256(given).digest(), expected):
                await app(scope, receive, send)
                return
            start: Any = {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_UNAUTHORIZED)).encode()),
                    (b"www-authenticate", b'Bearer realm="townfiscal"'),
                ],
            }
            await send(start)
            body: Any = {"type": "http.response.body", "body": _UNAUTHORIZED}
            await send(body)

        return guarded

    return middleware
