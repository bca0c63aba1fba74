"""Where allocation runs are kept: an SQL database through SQLAlchemy Core.

An embedded SQLite file by default; any SQLAlchemy URL (PostgreSQL where a bureau has one)
works the same. One row per run holds the request as it was posted (so the run can be
reproduced), the provenance and the result.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import msgspec
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

__all__ = ["AllocationStore", "StoredAllocation", "encode_row"]

_metadata = sa.MetaData()

_allocations = sa.Table(
    "townfiscal_allocations",
    _metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created", sa.String(40), nullable=False, index=True),
    sa.Column("policy", sa.String(200), nullable=False),
    sa.Column("policy_hash", sa.String(64), nullable=False),
    sa.Column("data_hash", sa.String(64), nullable=False),
    sa.Column("fund", sa.BigInteger, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("library_version", sa.String(40), nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("provenance", sa.Text, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
)


_JSON_COLUMNS = ("request", "provenance", "result")

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def _dumps(value: Any) -> str:
    """Compact JSON text, UTF-8 as is (msgspec: a stored run's ~300 kB in well under a ms)."""
    return _encoder.encode(value).decode("utf-8")


@attrs.frozen
class StoredAllocation:
    """One stored allocation run.

    ``request`` is the normalised request (policy, changes, fund, towns rows or ``None`` for
    the bundled example, constraints, objective); ``result`` holds ``amounts`` (yuan by town
    code) and the per-town ``towns`` rows; ``provenance`` what the library reported.
    """

    id: str
    created: str
    policy: str
    policy_hash: str
    data_hash: str
    fund: int
    total: int
    library_version: str
    request: dict[str, Any]
    provenance: dict[str, Any]
    result: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The run without its per-town rows (for listings)."""
        return {
            "id": self.id,
            "created": self.created,
            "policy": self.policy,
            "policy_hash": self.policy_hash,
            "data_hash": self.data_hash,
            "fund": self.fund,
            "total": self.total,
            "library_version": self.library_version,
        }


class AllocationStore:
    """Allocation runs in an SQL database (the table is created when missing).

    Parameters
    ----------
    url:
        A SQLAlchemy URL: ``sqlite:///path/to/file.sqlite3``, ``sqlite://`` (in memory, for
        tests) or e.g. ``postgresql+psycopg://user:password@host/dbname``.

    Examples
    --------
    >>> store = AllocationStore("sqlite://")
    >>> store.get("nope") is None
    True
    """

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False}
            if url in {"sqlite://", "sqlite:///:memory:"}:
                kwargs["poolclass"] = StaticPool
        self.url = url
        self._engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self._engine, "connect", _sqlite_pragmas)
        self._ready = False
        self._ensure()

    def _ensure(self) -> sa.Engine:
        """The engine, with the table created (again, after :meth:`close`) when missing."""
        if not self._ready:
            _metadata.create_all(self._engine)
            self._ready = True
        return self._engine

    def add(self, run: StoredAllocation) -> None:
        """Store *run* (its id must be new)."""
        self.insert(encode_row(run))

    def insert(self, row: dict[str, Any]) -> None:
        """Store a run already encoded by :func:`encode_row` (its id must be new)."""
        with self._ensure().begin() as conn:
            conn.execute(_allocations.insert(), row)

    def get(self, run_id: str) -> StoredAllocation | None:
        """The run with this id, or ``None``."""
        with self._ensure().connect() as conn:
            row = (
                conn.execute(sa.select(_allocations).where(_allocations.c.id == run_id))
                .mappings()
                .first()
            )
        if row is None:
            return None
        data = dict(row)
        for key in _JSON_COLUMNS:
            data[key] = _decoder.decode(data[key])
        return StoredAllocation(**data)

    def list(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Summaries of the newest runs first."""
        cols = [c for c in _allocations.c if c.name not in _JSON_COLUMNS]
        query = (
            sa.select(*cols)
            .order_by(_allocations.c.created.desc(), _allocations.c.id)
            .limit(limit)
            .offset(offset)
        )
        with self._ensure().connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def count(self) -> int:
        """How many runs are stored."""
        with self._ensure().connect() as conn:
            query = sa.select(sa.func.count()).select_from(_allocations)
            return int(conn.execute(query).scalar_one())

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self._ensure().connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        """Release the connections (an in-memory database is emptied)."""
        self._engine.dispose()
        self._ready = False


def encode_row(run: StoredAllocation) -> dict[str, Any]:
    """*run* as a row of the store: its request, provenance and result as JSON text.

    The encoding is the CPU-heavy part of storing a run; the service does it in a worker
    process and hands the row to :meth:`AllocationStore.insert`.
    """
    row = attrs.asdict(run, recurse=False)
    for key in _JSON_COLUMNS:
        row[key] = _dumps(row[key])
    return row


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Wait for a writer instead of failing; write-ahead log (readers never block the
    writer, and a commit is one fsync of the log, still durable: synchronous stays FULL)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 5000")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.close()


def utc_now() -> str:
    """Now, UTC, ISO 8601 with microseconds (sorts as text)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
