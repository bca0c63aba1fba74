"""The HTTP JSON service: ``townfiscal serve``, or :func:`create_app` under any ASGI server.

Needs the ``service`` extra (``pip install "townfiscal[service]"``): Litestar, uvicorn and
SQLAlchemy. See ``docs/service.md`` for the HTTP reference.
"""

from __future__ import annotations

from townfiscal._errors import MissingExtraError

try:
    from townfiscal.service._app import create_app
    from townfiscal.service._codec import Codec
    from townfiscal.service._config import DEFAULT_DATABASE, ServiceConfig, available_cores
    from townfiscal.service._logging import log_config
    from townfiscal.service._serve import serve
    from townfiscal.service._store import AllocationStore, StoredAllocation
except ImportError as _exc:  # the service extra is optional
    _missing = (_exc.name or "").split(".")[0]
    if _missing not in {"litestar", "uvicorn", "sqlalchemy", "msgspec"}:
        raise
    raise MissingExtraError.needs("townfiscal.service", _missing, "service") from _exc

__all__ = [
    "DEFAULT_DATABASE",
    "AllocationStore",
    "Codec",
    "ServiceConfig",
    "StoredAllocation",
    "available_cores",
    "create_app",
    "log_config",
    "serve",
]
