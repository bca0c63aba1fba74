"""Structured logs: one JSON object a line, every value escaped, the request id on each.

The service logs to ``townfiscal.service`` (errors, workers) and ``townfiscal.service.access``
(one line per request). :class:`JsonFormatter` writes each record as one line of JSON with
``ensure_ascii``: text that came from a request (a path, a header) is escaped, so no byte a
client sends can start a new line or a terminal escape in the log.

:class:`BackgroundHandler` writes the lines from a thread of its own: the event loop only
puts a record on a bounded queue, so a slow or stuck stderr (a full pipe nobody reads, a
blocked journal) never stops the service; records beyond the queue are dropped and counted.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import datetime as dt
import json
import logging
import logging.handlers
import queue
import sys
from typing import Any, TextIO

__all__ = ["ACCESS", "BackgroundHandler", "JsonFormatter", "log_config", "request_id"]

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


class BackgroundHandler(logging.handlers.QueueHandler):
    """JSON lines written to *stream* (default stderr) by a thread of their own.

    Parameters
    ----------
    stream:
        Where the lines go.
    capacity:
        Records that may wait to be written; more are dropped (:attr:`dropped` counts them)
        rather than make the service wait for its log.
    """

    def __init__(self, stream: TextIO | None = None, capacity: int = 10_000) -> None:
        super().__init__(queue.Queue(capacity))
        target = logging.StreamHandler(stream if stream is not None else sys.stderr)
        target.setFormatter(JsonFormatter())
        self.dropped = 0
        self.listener = logging.handlers.QueueListener(self.queue, target)
        self.listener.start()
        atexit.register(self.close)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record as it is (the writer thread formats it), with its message and its
        request id fixed now."""
        record.msg = record.getMessage()
        record.args = None
        rid = request_id.get()
        if rid is not None and "request_id" not in record.__dict__:
            record.request_id = rid
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Write what is queued (for at most 2 s: the stream may be stuck), then stop the
        thread."""
        listener = getattr(self, "listener", None)
        thread = None if listener is None else listener._thread
        if listener is not None and thread is not None:
            # When the writer is stuck the queue may be full: its thread is a daemon and ends
            # with the process.
            with contextlib.suppress(queue.Full):
                self.queue.put_nowait(listener._sentinel)
            thread.join(timeout=2.0)
            listener._thread = None
        super().close()


def log_config(level: str = "info") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for uvicorn: JSON lines on stderr for the service
    and uvicorn alike, written by a :class:`BackgroundHandler` (uvicorn's own access log is
    replaced by the service's)."""
    handler = {"()": BackgroundHandler}
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"json": handler},
        "loggers": {
            "townfiscal.service": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
