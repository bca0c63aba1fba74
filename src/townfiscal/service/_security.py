"""Bearer-token authentication as ASGI middleware (constant-time comparison)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ["OPEN_PATHS", "bearer_auth"]

OPEN_PATHS = frozenset({"/health"})
"""Paths served without a token."""

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
