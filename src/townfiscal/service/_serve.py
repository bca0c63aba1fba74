"""Run the service under uvicorn."""

from __future__ import annotations

import logging
import os

import attrs

from townfiscal._errors import MissingExtraError
from townfiscal.service._config import ServiceConfig, available_cores

__all__ = ["serve"]

log = logging.getLogger("townfiscal.service")


def serve(
    config: ServiceConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Serve the HTTP API with uvicorn until interrupted.

    Parameters
    ----------
    config:
        Settings (default: from ``TOWNFISCAL_*`` environment variables).
    host:
        Interface to bind; the default ``127.0.0.1`` keeps the service on this machine.
        Bind ``0.0.0.0`` only behind a firewall or proxy, with ``TOWNFISCAL_API_TOKEN`` set.
    port:
        TCP port (0: any free port).
    workers:
        Server processes (uvicorn's workers), each with its own event loop and its own
        ``config.worker_processes`` worker processes that compute the requests; above 1 the
        settings must come from the environment, and unless ``worker_processes`` is set the
        cores are shared among the server processes. One server process (the default) is
        enough to keep every core busy.
    log_level:
        uvicorn's log level.

    Example::

        serve(ServiceConfig(database="runs.sqlite3"), port=8080)  # blocks
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError.needs("townfiscal.serve", "uvicorn", "service") from exc

    from townfiscal.service._app import create_app

    config = config or ServiceConfig.from_env()
    if host not in {"127.0.0.1", "localhost", "::1"} and not config.api_token:
        log.warning(
            "serving on %s without TOWNFISCAL_API_TOKEN: anyone who can reach it may use it", host
        )
    if workers > 1:
        if config.worker_processes is None:
            # Each server process has its own worker processes: share the cores among them.
            config = attrs.evolve(config, worker_processes=max(1, available_cores() // workers))
        # Each server process builds its app from the environment: pass the settings there.
        os.environ.update(config.to_env())
        uvicorn.run(
            "townfiscal.service:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )
        return
    uvicorn.run(create_app(config), host=host, port=port, log_level=log_level)
