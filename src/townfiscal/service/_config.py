"""The service's settings: where results are stored, the token, limits, the worker processes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from townfiscal._errors import Problem, ValidationError

__all__ = [
    "DEFAULT_DATABASE",
    "LOOPBACK_HOSTS",
    "MAX_WORKER_PROCESSES",
    "ServiceConfig",
    "available_cores",
    "is_loopback",
]

DEFAULT_DATABASE = "townfiscal-service.sqlite3"
"""The SQLite file used when no database is configured (in the working directory)."""

MAX_WORKER_PROCESSES = 256
"""The most worker processes one service may start."""


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Host names and addresses of this machine only (the default ``allowed_hosts``)."""


def is_loopback(host: str) -> bool:
    """Whether *host* (a name or an address, IPv6 with or without brackets) is this machine
    only: ``localhost``, ``*.localhost``, ``127.0.0.0/8`` or ``::1``."""
    import ipaddress

    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hosts(value: object) -> tuple[str, ...]:
    """A list of host names from a tuple, a list or comma-separated text."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected host names, got {value!r}")
    return tuple(str(v).strip().lower() for v in value if str(v).strip())


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system reports one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not every system reports affinity
        return max(1, os.cpu_count() or 1)


def _database_url(value: str) -> str:
    """A SQLAlchemy URL; a bare path means an SQLite file."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


@attrs.frozen
class ServiceConfig:
    """Settings of the HTTP service.

    Parameters
    ----------
    database:
        Where allocation runs are stored: a file path (an embedded SQLite database, created
        when missing) or a SQLAlchemy URL such as ``postgresql+psycopg://user@host/db``.
    api_token:
        When set, every endpoint but ``/health`` requires ``Authorization: Bearer <token>``.
    max_body_bytes:
        Request bodies larger than this get ``413`` (bytes; default 16 MiB, enough for the
        towns of a whole province as JSON rows).
    solve_time_limit:
        Seconds the solver may spend on one allocation (default 60), within the request's
        deadline.
    request_deadline:
        Seconds one request may take from its arrival to its answer (default 60): waiting
        for a worker, reading the towns, the formula, building the model, every solve,
        rounding, explain and the workbook alike. A worker process that overruns it is
        interrupted, and killed and replaced when it does not stop within a second (a
        solver deep in compiled code); the request gets ``503`` with ``Retry-After``.
    max_concurrent_solves:
        Requests computed at the same time (allocations, explanations, workbooks,
        eligibility and formula); further requests wait their turn. Default: one per worker
        process, or 2 when ``worker_processes`` is 0.
    max_queue:
        Requests that may wait for a worker; one more is turned away at once with ``503``
        and ``Retry-After`` (load shedding) instead of waiting without end. Default: four
        per concurrent solve.
    max_towns:
        Rows of a posted towns table (default 100,000; China has about 40,000 townships).
    max_constraints:
        Constraints of one request (default 100).
    max_string_length:
        Characters of any text value or key in a request body (default 1,000).
    max_depth:
        Nesting of arrays and objects in a request body (default 16).
    allowed_hosts:
        ``Host`` header values served (default: ``localhost``, ``127.0.0.1``, ``::1``; the
        address a connection arrived at is always served). A leading ``*.`` matches any
        subdomain; ``*`` alone matches every host. Guards against DNS rebinding.
    allowed_origins:
        Web origins (``https://budget.example.gov``) whose pages may call the service from a
        browser; requests with any other ``Origin`` than the service's own get ``403``.
        Default none.
    retention_days:
        Stored runs older than this many days are deleted (default: kept).
    retention_count:
        Only the newest this many stored runs are kept (default: all).
    shutdown_grace:
        Seconds ``townfiscal serve`` lets requests under way finish after ``SIGTERM``
        before it cancels them and stops the workers (default 3).
    cache_size:
        Allocations kept in memory for ``explain`` and the workbook (default 16, per worker
        process); older ones are recomputed from the stored request when asked for.
    worker_processes:
        Processes that parse, solve and serialise requests, so that the event loop only
        moves bytes and throughput grows with the cores. Default: the number of cores this
        process may use (:func:`available_cores`). ``0`` computes in threads of the server
        process instead (the setup of earlier versions: one core's worth of Python at a
        time, as the threads share the interpreter lock).

    Raises
    ------
    ValidationError
        When a limit is not positive, or ``worker_processes`` is not a whole number from 0
        to :data:`MAX_WORKER_PROCESSES`.

    Examples
    --------
    >>> ServiceConfig(database=":memory:").database_url
    'sqlite://'
    """

    database: str = attrs.field(default=DEFAULT_DATABASE)
    api_token: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    solve_time_limit: float = 60.0
    max_concurrent_solves: int | None = None
    cache_size: int = 16
    worker_processes: int | None = None
    request_deadline: float = 60.0
    max_queue: int | None = None
    max_towns: int = 100_000
    max_constraints: int = 100
    max_string_length: int = 1_000
    max_depth: int = 16
    allowed_hosts: tuple[str, ...] = attrs.field(default=LOOPBACK_HOSTS, converter=_hosts)
    allowed_origins: tuple[str, ...] = attrs.field(default=(), converter=_hosts)
    retention_days: float | None = None
    retention_count: int | None = None
    shutdown_grace: float = 3.0

    def __attrs_post_init__(self) -> None:
        positive = (
            "max_body_bytes",
            "solve_time_limit",
            "max_concurrent_solves",
            "request_deadline",
            "max_towns",
            "max_constraints",
            "max_string_length",
            "max_depth",
            "retention_days",
            "retention_count",
        )
        problems = [
            Problem("must be positive", column=name, value=getattr(self, name))
            for name in positive
            if getattr(self, name) is not None
            and not (isinstance(getattr(self, name), int | float) and getattr(self, name) > 0)
        ]
        for name in ("max_queue", "shutdown_grace"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value >= 0):
                problems.append(Problem("must not be negative", column=name, value=value))
        if self.cache_size < 0:
            problems.append(Problem("must not be negative", column="cache_size"))
        n = self.worker_processes
        if n is not None and (
            isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_WORKER_PROCESSES
        ):
            problems.append(
                Problem(
                    "must be a whole number of processes from 0 (compute in threads of the "
                    f"server process) to {MAX_WORKER_PROCESSES}",
                    column="worker_processes",
                    value=n,
                )
            )
        if problems:
            raise ValidationError(problems, what="service settings")

    @property
    def processes(self) -> int:
        """Worker processes the service starts: :attr:`worker_processes`, by default the
        number of cores; ``0`` means the requests are computed in threads."""
        return available_cores() if self.worker_processes is None else self.worker_processes

    @property
    def concurrent_solves(self) -> int:
        """Requests computed at once: :attr:`max_concurrent_solves`, by default one per
        worker process (2 when computing in threads)."""
        if self.max_concurrent_solves is not None:
            return self.max_concurrent_solves
        return self.processes or 2

    @property
    def queue_size(self) -> int:
        """Requests that may wait for a worker: :attr:`max_queue`, by default four per
        concurrent solve."""
        return 4 * self.concurrent_solves if self.max_queue is None else self.max_queue

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of :attr:`database` (``sqlite://`` for ``":memory:"``)."""
        if self.database == ":memory:":
            return "sqlite://"
        return _database_url(self.database)

    def to_env(self) -> dict[str, str]:
        """The settings as ``TOWNFISCAL_*`` variables (the inverse of :meth:`from_env`)."""
        def text(value: object) -> str:
            return ",".join(value) if isinstance(value, tuple) else str(value)

        return {
            f"TOWNFISCAL_{f.name.upper()}": text(getattr(self, f.name))
            for f in attrs.fields(type(self))
            if getattr(self, f.name) is not None
        }

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ServiceConfig:
        """Settings from ``TOWNFISCAL_*`` environment variables, then *overrides*.

        ``TOWNFISCAL_DATABASE`` (path or URL), ``TOWNFISCAL_API_TOKEN``,
        ``TOWNFISCAL_MAX_BODY_BYTES``, ``TOWNFISCAL_SOLVE_TIME_LIMIT`` (seconds),
        ``TOWNFISCAL_MAX_CONCURRENT_SOLVES``, ``TOWNFISCAL_CACHE_SIZE``,
        ``TOWNFISCAL_WORKER_PROCESSES`` and one ``TOWNFISCAL_<NAME>`` for every other
        setting (host and origin lists comma-separated). Overrides that are ``None`` are
        ignored.

        Raises
        ------
        ValidationError
            When a variable is not a number where one is needed.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        problems: list[Problem] = []
        casts: dict[str, type] = {
            "database": str,
            "api_token": str,
            "max_body_bytes": int,
            "solve_time_limit": float,
            "max_concurrent_solves": int,
            "cache_size": int,
            "worker_processes": int,
            "request_deadline": float,
            "max_queue": int,
            "max_towns": int,
            "max_constraints": int,
            "max_string_length": int,
            "max_depth": int,
            "allowed_hosts": str,
            "allowed_origins": str,
            "retention_days": float,
            "retention_count": int,
            "shutdown_grace": float,
        }
        for name, cast in casts.items():
            key = f"TOWNFISCAL_{name.upper()}"
            raw = env.get(key)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = cast(raw.strip())
            except ValueError:
                problems.append(Problem(f"not a valid {cast.__name__}", column=key, value=raw))
        if problems:
            raise ValidationError(problems, what="service settings")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
