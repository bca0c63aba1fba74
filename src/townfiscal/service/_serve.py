"""Run the service under uvicorn."""

from __future__ import annotations

import logging
import os
from typing import Any

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
        Any other address needs ``TOWNFISCAL_API_TOKEN`` (and ``allowed_hosts`` for the
        names clients use): the service refuses to start without it.
    port:
        TCP port (0: any free port).
    workers:
        Server processes (uvicorn's workers), each with its own event loop and its own
        ``config.worker_processes`` worker processes that compute the requests; above 1 the
        settings must come from the environment, and unless ``worker_processes`` is set the
        cores are shared among the server processes. One server process (the default) is
        enough to keep every core busy.
    log_level:
        The log level. The service and uvicorn log one JSON object a line to stderr, one
        line per request.

    After ``SIGTERM`` (or Ctrl-C) the requests under way get ``config.shutdown_grace``
    seconds to finish; then they are cancelled and the worker processes stopped, whatever
    they compute, so the server exits within a few seconds.

    Raises
    ------
    ValueError
        When *host* is not a loopback address and no token is set (one line).
    OSError
        When the database cannot be opened (one line naming the file or the URL).

    Example::

        serve(ServiceConfig(database="runs.sqlite3"), port=8080)  # blocks
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError.needs("townfiscal.serve", "uvicorn", "service") from exc

    from townfiscal.service._app import create_app, refuse_open_server
    from townfiscal.service._logging import log_config

    config = config or ServiceConfig.from_env()
    refuse_open_server(config, host=host)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "log_config": log_config(log_level),
        "access_log": False,  # the service logs one JSON line per request itself
        "timeout_graceful_shutdown": config.shutdown_grace,
    }
    if workers > 1:
        if config.worker_processes is None:
            # Each server process has its own worker processes: share the cores among them.
            config = attrs.evolve(config, worker_processes=max(1, available_cores() // workers))
        # Each server process builds its app from the environment: pass the settings there.
        os.environ.update(config.to_env())
        uvicorn.run("townfiscal.service:create_app", factory=True, workers=workers, **options)
        return
    uvicorn.run(create_app(config), **options)
