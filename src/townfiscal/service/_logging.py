"""Structured logs: one JSON object a line, every value escaped, the request id on each.

The service logs to ``townfiscal.service`` (errors, workers) and ``townfiscal.service.access``
(one line per request). :class:`JsonFormatter` writes each record as one line of JSON with
``ensure_ascii``: text that came from a request (a path, a header) is escaped, so no byte a
client sends can start a new line or a terminal escape in the log.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from typing import Any

__all__ = ["ACCESS", "JsonFormatter", "log_config", "request_id"]

ACCESS = "townfiscal.service.access"
"""The logger of the one line per request."""

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "townfiscal_request_id", default=None
)
"""The id of the request being served (``X-Request-ID``), for every log line it causes."""

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON: time, level, logger, message, the request id and
    the record's extra fields; an exception as its type and message (the traceback as one
    escaped string)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=True, default=str, separators=(",", ":"))


def log_config(level: str = "info") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for uvicorn: JSON lines on stderr for the service
    and uvicorn alike (uvicorn's own access log is replaced by the service's)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "loggers": {
            "townfiscal.service": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
