"""The service's settings: where results are stored, the token, limits, the worker processes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from townfiscal._errors import Problem, ValidationError

__all__ = ["DEFAULT_DATABASE", "MAX_WORKER_PROCESSES", "ServiceConfig", "available_cores"]

DEFAULT_DATABASE = "townfiscal-service.sqlite3"
"""The SQLite file used when no database is configured (in the working directory)."""

MAX_WORKER_PROCESSES = 256
"""The most worker processes one service may start."""


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
        Seconds the solver may spend on one allocation (default 60).
    max_concurrent_solves:
        Requests computed at the same time (allocations, explanations, workbooks,
        eligibility and formula); further requests wait their turn. Default: one per worker
        process, or 2 when ``worker_processes`` is 0.
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

    def __attrs_post_init__(self) -> None:
        problems = [
            Problem("must be positive", column=name, value=getattr(self, name))
            for name in ("max_body_bytes", "solve_time_limit", "max_concurrent_solves")
            if getattr(self, name) is not None and not getattr(self, name) > 0
        ]
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
    def database_url(self) -> str:
        """The SQLAlchemy URL of :attr:`database` (``sqlite://`` for ``":memory:"``)."""
        if self.database == ":memory:":
            return "sqlite://"
        return _database_url(self.database)

    def to_env(self) -> dict[str, str]:
        """The settings as ``TOWNFISCAL_*`` variables (the inverse of :meth:`from_env`)."""
        return {
            f"TOWNFISCAL_{f.name.upper()}": str(getattr(self, f.name))
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
        ``TOWNFISCAL_WORKER_PROCESSES``. Overrides that are ``None`` are ignored.

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
