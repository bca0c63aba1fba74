"""Where allocation runs are kept: an SQL database through SQLAlchemy Core.

An embedded SQLite file by default; any SQLAlchemy URL (PostgreSQL where a bureau has one)
works the same. One row per run holds the request as it was posted (so the run can be
reproduced), the provenance and the result; a second table maps idempotency keys to the run
their first request created.

An SQLite file is created readable and writable by its owner only (0600), as are its
write-ahead log and shared-memory files. A database that cannot be opened or reached is
:class:`StoreUnavailable` with one line naming the file or the URL (its password hidden).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import attrs
import msgspec
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

__all__ = [
    "AllocationStore",
    "IdempotencyClash",
    "StoreUnavailable",
    "StoredAllocation",
    "encode_row",
    "safe_url",
]

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


_keys = sa.Table(
    "townfiscal_idempotency",
    _metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(32), nullable=False, index=True),
    sa.Column("created", sa.String(40), nullable=False),
)

_JSON_COLUMNS = ("request", "provenance", "result")


class StoreUnavailable(OSError):
    """The database cannot be opened, reached or written (down, full disk, read-only): the
    message is one line naming the file or the URL, without its password."""


class IdempotencyClash(Exception):
    """An idempotency key already names a run created from another request body."""


def safe_url(url: str) -> str:
    """*url* as it may be shown: an SQLite file's path, or the URL with its password
    hidden."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return url
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def _reason(exc: BaseException) -> str:
    """The first line of a driver's error, without SQLAlchemy's background link."""
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__

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
    >>> store.close()  # the connections are released (an unclosed one warns on Python 3.13)
    """

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {}
        self.url = url
        self.path: Path | None = None
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False}
            if url in {"sqlite://", "sqlite:///:memory:"}:
                kwargs["poolclass"] = StaticPool
            else:
                database = sa.engine.make_url(url).database
                self.path = Path(database) if database else None
        else:
            # A database that does not answer fails a request in seconds, not minutes.
            kwargs["pool_pre_ping"] = True
            if url.startswith("postgresql"):
                kwargs["connect_args"] = {"connect_timeout": 5}
        self._engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self._engine, "connect", _sqlite_pragmas)
        self._ready = False
        #: Whether the last write succeeded (a full disk makes the service not ready).
        self.writable = True
        self._ensure()

    def _where(self) -> str:
        return str(self.path) if self.path is not None else safe_url(self.url)

    def _unavailable(self, exc: BaseException, doing: str) -> StoreUnavailable:
        return StoreUnavailable(f"cannot {doing} the database {self._where()}: {_reason(exc)}")

    def _ensure(self) -> sa.Engine:
        """The engine, with the tables created (again, after :meth:`close`) when missing.

        Raises
        ------
        StoreUnavailable
            When the database cannot be opened or reached.
        """
        if not self._ready:
            if self.path is not None:
                _private_file(self.path)
            try:
                _metadata.create_all(self._engine)
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                raise self._unavailable(exc, "open") from None
            if self.path is not None:
                for suffix in ("", "-wal", "-shm"):
                    _private_file(Path(f"{self.path}{suffix}"), create=False)
            self._ready = True
        return self._engine

    def _read(self, query: Any) -> list[dict[str, Any]]:
        try:
            with self._ensure().connect() as conn:
                return [dict(r) for r in conn.execute(query).mappings()]
        except sa.exc.SQLAlchemyError as exc:
            raise self._unavailable(exc, "read") from None

    def add(self, run: StoredAllocation) -> None:
        """Store *run* (its id must be new)."""
        self.insert(encode_row(run))

    def insert(
        self,
        row: dict[str, Any],
        *,
        key: str | None = None,
        request_hash: str | None = None,
        retention: tuple[float | None, int | None] = (None, None),
    ) -> str:
        """Store a run already encoded by :func:`encode_row` (its id must be new), with its
        idempotency *key* when given, and apply the *retention* (max age in days, max
        count), all in one transaction.

        Returns
        -------
        str
            The id of the stored run: the new one, or, when *key* was used before for the
            same *request_hash*, the run that request created (the new row is not stored).

        Raises
        ------
        IdempotencyClash
            When *key* was used before for another request.
        StoreUnavailable
            When the database cannot be written (down, full disk, read-only).
        """
        try:
            with self._ensure().begin() as conn:
                if key is not None:
                    earlier = self._keyed(conn, key, request_hash)
                    if earlier is not None:
                        return earlier
                conn.execute(_allocations.insert(), row)
                if key is not None:
                    conn.execute(
                        _keys.insert(),
                        {
                            "key": key,
                            "request_hash": request_hash or "",
                            "run_id": row["id"],
                            "created": row["created"],
                        },
                    )
                self._retain(conn, *retention)
        except sa.exc.IntegrityError:
            if key is None:
                raise
            # Another request with the same key committed first: answer with its run.
            with self._ensure().connect() as conn:
                earlier = self._keyed(conn, key, request_hash)
            if earlier is None:
                raise
            return earlier
        except sa.exc.SQLAlchemyError as exc:
            self.writable = False
            raise self._unavailable(exc, "write to") from None
        self.writable = True
        return str(row["id"])

    def _keyed(self, conn: sa.Connection, key: str, request_hash: str | None) -> str | None:
        """The run an idempotency key created, or ``None``; a clash for another request."""
        found = conn.execute(
            sa.select(_keys.c.request_hash, _keys.c.run_id).where(_keys.c.key == key)
        ).first()
        if found is None:
            return None
        if found.request_hash != (request_hash or ""):
            raise IdempotencyClash(
                f"the Idempotency-Key {key!r} was used for another request body "
                f"(it created allocation {found.run_id})"
            )
        return str(found.run_id)

    def lookup(self, key: str, request_hash: str) -> str | None:
        """The run an idempotency key created for this request, or ``None``.

        Raises
        ------
        IdempotencyClash
            When *key* was used before for another request.
        """
        try:
            with self._ensure().connect() as conn:
                return self._keyed(conn, key, request_hash)
        except sa.exc.SQLAlchemyError as exc:
            raise self._unavailable(exc, "read") from None

    def _retain(self, conn: sa.Connection, days: float | None, count: int | None) -> None:
        """Delete runs older than *days* and beyond the newest *count*."""
        doomed: list[str] = []
        if days is not None:
            cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat(
                timespec="microseconds"
            )
            doomed += conn.execute(
                sa.select(_allocations.c.id).where(_allocations.c.created < cutoff)
            ).scalars()
        if count is not None:
            doomed += conn.execute(
                sa.select(_allocations.c.id)
                .order_by(_allocations.c.created.desc(), _allocations.c.id)
                .offset(count)
            ).scalars()
        if doomed:
            self._delete(conn, sorted(set(doomed)))

    @staticmethod
    def _delete(conn: sa.Connection, ids: list[str]) -> int:
        deleted = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conn.execute(_keys.delete().where(_keys.c.run_id.in_(chunk)))
            result = conn.execute(_allocations.delete().where(_allocations.c.id.in_(chunk)))
            deleted += int(result.rowcount or 0)
        return deleted

    def delete(self, run_id: str) -> bool:
        """Delete the run with this id (and the idempotency keys that name it); whether it
        was there."""
        try:
            with self._ensure().begin() as conn:
                return self._delete(conn, [run_id]) > 0
        except sa.exc.SQLAlchemyError as exc:
            self.writable = False
            raise self._unavailable(exc, "write to") from None

    def retain(self, *, days: float | None = None, count: int | None = None) -> None:
        """Delete runs older than *days* days and beyond the newest *count* runs."""
        try:
            with self._ensure().begin() as conn:
                self._retain(conn, days, count)
        except sa.exc.SQLAlchemyError as exc:
            raise self._unavailable(exc, "write to") from None

    def get(self, run_id: str) -> StoredAllocation | None:
        """The run with this id, or ``None``."""
        rows = self._read(sa.select(_allocations).where(_allocations.c.id == run_id))
        if not rows:
            return None
        data = rows[0]
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
        return self._read(query)

    def count(self) -> int:
        """How many runs are stored."""
        rows = self._read(sa.select(sa.func.count().label("n")).select_from(_allocations))
        return int(rows[0]["n"])

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self._ensure().connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except (sa.exc.SQLAlchemyError, StoreUnavailable):
            return False
        return True

    def disk_free(self) -> int | None:
        """Bytes free where an SQLite file is kept (``None`` for other databases)."""
        if self.path is None:
            return None
        import shutil

        try:
            return shutil.disk_usage(self.path.parent).free
        except OSError:
            return 0

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


def _private_file(path: Path, *, create: bool = True) -> None:
    """Make *path* readable and writable by its owner only (0600), creating it empty when
    missing and *create*; its directory must exist."""
    if not create and not path.exists():
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if create else None
        if fd is not None:
            os.close(fd)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot open the database {path}: {exc.strerror or exc}"
        ) from None


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
