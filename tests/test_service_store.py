"""The store of allocation runs: SQLite always; PostgreSQL when TOWNFISCAL_TEST_POSTGRES_URL
names a database the tests may write to (e.g. postgresql+psycopg://user:pw@127.0.0.1/db)."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa

from townfiscal.service import AllocationStore, StoredAllocation

POSTGRES = os.environ.get("TOWNFISCAL_TEST_POSTGRES_URL")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not POSTGRES, reason="set TOWNFISCAL_TEST_POSTGRES_URL to test PostgreSQL"
            ),
        ),
    ]
)
def url(request, tmp_path):
    """A database URL with no runs table yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    assert POSTGRES is not None
    engine = sa.create_engine(POSTGRES)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS townfiscal_allocations"))
    engine.dispose()
    return POSTGRES


def run(run_id: str, created: str) -> StoredAllocation:
    """A small run with Chinese text, a big fund and nested JSON."""
    return StoredAllocation(
        id=run_id,
        created=created,
        policy="guangdong-2020",
        policy_hash="a" * 64,
        data_hash="b" * 64,
        fund=2_000_000_000_000,
        total=2_000_000_000_000,
        library_version="0.1.0",
        request={"policy": "guangdong-2020", "constraints": [{"type": "HoldHarmless"}]},
        provenance={"solver": "highs", "model": {"rows": 3}},
        result={"amounts": {"441521100": 1_032_500}, "towns": [{"name": "甲镇"}]},
    )


def test_runs_survive_a_new_store_on_the_same_database(url):
    """A run added through one store is read back whole through another."""
    first = AllocationStore(url)
    first.add(run("r1", "2026-01-01T00:00:00+00:00"))
    first.close()
    second = AllocationStore(url)
    got = second.get("r1")
    assert got == run("r1", "2026-01-01T00:00:00+00:00")
    assert second.get("r2") is None
    assert second.ping()
    second.close()


def test_listing_is_newest_first_and_paged(url):
    """list() gives summaries newest first, with limit and offset; count() counts them all."""
    store = AllocationStore(url)
    for i in range(3):
        store.add(run(f"r{i}", f"2026-01-0{i + 1}T00:00:00+00:00"))
    assert [r["id"] for r in store.list()] == ["r2", "r1", "r0"]
    assert [r["id"] for r in store.list(limit=1, offset=1)] == ["r1"]
    assert store.list()[0]["fund"] == 2_000_000_000_000
    assert "result" not in store.list()[0]
    assert store.count() == 3
    store.close()


def test_an_id_is_stored_once(url):
    """Adding a second run under the same id fails and leaves the first as it was."""
    store = AllocationStore(url)
    store.add(run("r1", "2026-01-01T00:00:00+00:00"))
    with pytest.raises(sa.exc.IntegrityError):
        store.add(run("r1", "2026-02-01T00:00:00+00:00"))
    assert store.get("r1").created == "2026-01-01T00:00:00+00:00"
    store.close()
