"""Hostile and mistaken input, and the conventions of a trusted service: a regression test for
each finding of the attack-and-load review (limits, strict bodies, cross-site requests, 500s
that are 4xx or 503, idempotency, request ids, logs, retention, readiness)."""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("litestar")

import anyio
import sqlalchemy as sa
from litestar.testing import TestClient

import townfiscal as tf
from townfiscal.service import ServiceConfig, create_app
from townfiscal.service._app import OpenServerRefused, refuse_open_server
from townfiscal.service._logging import JsonFormatter
from townfiscal.service._security import front_door, host_allowed
from townfiscal.service._store import StoreUnavailable

POST_2020 = {
    "policy": "guangdong-2020",
    "fund": 2_000_000_000,
    "constraints": [{"type": "HoldHarmless"}, {"type": "Rounding", "unit": 10_000}],
}


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A towns table as JSON rows (NaN as null)."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]


def make(tmp_path: Path, **settings: Any) -> TestClient[Any]:
    """A client of a service computing in threads on an SQLite file in *tmp_path*."""
    config = ServiceConfig(
        database=str(tmp_path / "runs.sqlite3"), worker_processes=0, **settings
    )
    return TestClient(create_app(config))


@pytest.fixture
def client(tmp_path):
    """A client of a fresh service."""
    with make(tmp_path) as c:
        yield c


def stored(client: TestClient[Any]) -> int:
    """How many runs the service has stored."""
    return int(client.get("/allocations").json()["total"])


# --- safe by default ---------------------------------------------------------------------


def test_a_text_plain_post_is_415_and_stores_nothing(client):
    """The review's cross-site POST (text/plain, no preflight) is refused before any work."""
    r = client.post("/allocations", content=json.dumps(POST_2020),
                    headers={"Content-Type": "text/plain"})  # fmt: skip
    assert r.status_code == 415
    assert r.json()["error"] == "unsupported_media_type"
    assert stored(client) == 0
    r = client.post("/formula", content=b'{"policy": "guangdong-2020"}')
    assert r.status_code == 415  # no content type at all


def test_json_with_a_charset_is_accepted(client):
    """application/json; charset=utf-8 is JSON."""
    r = client.post("/eligibility", content=b'{"policy": "guangdong-2020"}',
                    headers={"Content-Type": "application/json; charset=utf-8"})  # fmt: skip
    assert r.status_code == 200


def test_a_foreign_origin_is_403_unless_allowed(tmp_path):
    """A page elsewhere cannot use the service through its visitor's browser."""
    with make(tmp_path) as c:
        r = c.post("/allocations", json=POST_2020, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        assert "evil.example" in r.json()["message"]
        assert stored(c) == 0
        # The service's own origin is fine.
        r = c.get("/policies", headers={"Origin": "http://testserver.local"})
        assert r.status_code == 200
    with make(tmp_path, allowed_origins="https://budget.example.gov") as c:
        r = c.get("/policies", headers={"Origin": "https://budget.example.gov"})
        assert r.status_code == 200
        r = c.get("/policies", headers={"Origin": "https://other.example.gov"})
        assert r.status_code == 403


def test_the_host_header_is_checked(client):
    """A DNS-rebinding request (Host: evil.example) is 400 naming the allowed hosts."""
    r = client.get("/policies", headers={"Host": "evil.example"})
    assert r.status_code == 400
    assert r.json()["error"] == "bad_request"
    assert "allowed_hosts" in r.json()["message"]
    assert client.get("/policies", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/policies", headers={"Host": "[::1]:8000"}).status_code == 200


def test_host_patterns():
    """Exact names, *.domain, * and the connection's own address are served."""
    allowed = ("budget.example.gov", "*.internal")
    assert host_allowed("budget.example.gov:443", allowed)
    assert host_allowed("a.b.internal", allowed)
    assert not host_allowed("internal.evil", allowed)
    assert not host_allowed("", allowed)
    assert host_allowed("10.0.0.5:8000", allowed, server="10.0.0.5")
    assert host_allowed("anything", ("*",))


def _asgi_status(config: ServiceConfig, server: tuple[str, int]) -> int:
    """The status the front door answers a GET arriving on *server* with."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/policies", "server": server,
             "client": ("10.0.0.9", 5000), "headers": [(b"host", server[0].encode())]}
    anyio.run(front_door(config)(app), scope, receive, send)
    return int(sent[0]["status"])


def test_without_a_token_a_network_address_is_refused_under_any_server():
    """Without a token, a request that reached the app on a network address is 403."""
    open_config = ServiceConfig(database=":memory:")
    assert _asgi_status(open_config, ("10.0.0.5", 8000)) == 403
    assert _asgi_status(open_config, ("127.0.0.1", 8000)) == 200
    token_config = ServiceConfig(database=":memory:", api_token="t", allowed_hosts="*")
    assert _asgi_status(token_config, ("10.0.0.5", 8000)) == 200


def test_serving_on_a_network_address_without_a_token_is_refused():
    """townfiscal serve and uvicorn --factory --host 0.0.0.0 do not start without a token."""
    config = ServiceConfig(database=":memory:")
    with pytest.raises(OpenServerRefused, match=r"refusing to serve on 0\.0\.0\.0"):
        refuse_open_server(config, host="0.0.0.0")
    refuse_open_server(config, host="127.0.0.1")
    refuse_open_server(ServiceConfig(database=":memory:", api_token="t"), host="0.0.0.0")
    argv = ["/venv/bin/uvicorn", "--factory", "townfiscal.service:create_app", "--host",
            "0.0.0.0"]  # fmt: skip
    with pytest.raises(OpenServerRefused):
        refuse_open_server(config, argv=argv)
    with pytest.raises(OpenServerRefused):
        refuse_open_server(config, argv=[*argv[:3], "--host=::"])
    refuse_open_server(config, argv=argv[:3])  # uvicorn's default host is 127.0.0.1
    refuse_open_server(config, argv=["/usr/bin/python", "--host", "0.0.0.0"])


@pytest.mark.parametrize("command", ["townfiscal", "uvicorn"])
def test_the_refusal_is_one_line_and_nothing_serves(tmp_path, command):
    """Both entry points exit with an error that says what to do; no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNFISCAL_")}
    env["TOWNFISCAL_DATABASE"] = str(tmp_path / "r.sqlite3")
    if command == "townfiscal":
        args = [sys.executable, "-m", "townfiscal.cli", "serve", "--host", "0.0.0.0",
                "--port", "0"]  # fmt: skip
    else:
        uvicorn = Path(sys.executable).with_name("uvicorn")
        args = [str(uvicorn), "--factory", "townfiscal.service:create_app", "--host",
                "0.0.0.0", "--port", "0"]  # fmt: skip
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "refusing to serve on 0.0.0.0 without a token" in proc.stderr
    if command == "townfiscal":
        assert proc.stderr.strip().count("\n") == 0, proc.stderr
        assert "Traceback" not in proc.stderr


def test_the_database_file_is_private(client, tmp_path):
    """The SQLite file and its write-ahead log are readable by their owner only (0600)."""
    assert client.post("/allocations", json=POST_2020).status_code == 201
    for name in ("runs.sqlite3", "runs.sqlite3-wal"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_no_page_loads_scripts_from_a_cdn(client):
    """The API docs are the document itself: no HTML page pulls scripts from elsewhere."""
    for path in ("/schema", "/schema/swagger", "/schema/redoc", "/schema/elements"):
        r = client.get(path)
        assert "cdn" not in r.text.lower(), path
        assert "<script" not in r.text.lower(), path


# --- mistakes accepted silently ----------------------------------------------------------


def test_an_unknown_field_is_422_naming_it(client):
    """'constraint' for 'constraints' no longer drops the caller's floor: 422 says so."""
    body = {"policy": "guangdong-2020", "constraint": [{"type": "Floor", "amount": 600_000}]}
    r = client.post("/allocations", json=body)
    assert r.status_code == 422
    (problem,) = r.json()["problems"]
    assert problem["column"] == "constraint"
    assert problem["message"].startswith("unknown field")
    assert "constraints" in problem["message"]
    assert stored(client) == 0


def test_text_where_a_number_belongs_is_422(client):
    """fund: "2000000000" is refused; 2e9 (a whole number written as a float) is not."""
    r = client.post("/formula", json={"policy": "guangdong-2020", "fund": "2000000000"})
    assert r.status_code == 422
    (problem,) = r.json()["problems"]
    assert problem["column"] == "fund"
    assert "whole number" in problem["message"]
    r = client.post("/formula", content=b'{"policy": "guangdong-2020", "fund": 2e9}',
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 200
    assert r.json()["total"] == 2_000_000_000


# --- bounded work per request --------------------------------------------------------------


def test_too_many_constraints_is_413(client):
    """The review's 250,000 duplicate constraints are turned away before any work."""
    body = {**POST_2020, "constraints": [{"type": "Floor", "amount": 1}] * 250_000}
    r = client.post("/allocations", json=body)
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
    assert "250,000 constraints" in r.json()["message"]
    assert "max_constraints" in r.json()["message"]


def test_too_many_towns_is_413(tmp_path):
    """A towns table over max_towns is 413 naming the limit."""
    towns = rows(tf.load_example().head(7).reset_index())
    with make(tmp_path, max_towns=6) as c:
        r = c.post("/eligibility", json={"policy": "guangdong-2020", "towns": towns})
        assert r.status_code == 413
        assert "7 towns rows" in r.json()["message"]
        r = c.post("/eligibility", json={"policy": "guangdong-2020", "towns": towns[:6]})
        assert r.status_code == 200


def test_long_text_is_422_and_the_answer_does_not_echo_it(client):
    """A megabyte of text in a field is refused, and the error repeats 200 characters of it."""
    r = client.post("/formula", json={"policy": "g" * 1_000_000})
    assert r.status_code == 422
    assert len(r.content) < 2_000
    (problem,) = r.json()["problems"]
    assert problem["column"] == "policy"
    assert "1,000,000 characters" in problem["message"]
    town = rows(tf.load_example().head(1).reset_index())[0]
    town["name"] = "镇" * 5_000
    r = client.post("/eligibility", json={"policy": "guangdong-2020", "towns": [town]})
    assert r.status_code == 422
    assert len(r.content) < 2_000
    assert r.json()["problems"][0]["column"] == "towns[0].name"


@pytest.mark.parametrize("depth", [17, 1_000, 100_000])
def test_deep_nesting_is_422(client, depth):
    """JSON nested 1,000 (or 100,000) levels deep is 422, not 500."""
    for where in ('"changes": {"a": %s}', '"towns": [{"name": %s}]'):
        nested = "[" * depth + "]" * depth
        body = '{"policy": "guangdong-2020", ' + where % nested + "}"
        r = client.post("/formula", content=body.encode(),
                        headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 422, (where, r.text[:200])
        assert len(r.content) < 2_000


def test_many_problems_are_listed_up_to_a_bound(client):
    """10,000 bad towns rows give one 422 listing the first 200 problems, not megabytes."""
    bad = [{"code": "1"} for _ in range(10_000)]
    r = client.post("/eligibility", json={"policy": "guangdong-2020", "towns": bad})
    assert r.status_code == 422
    assert len(r.json()["problems"]) == 200
    assert "the first 200 are listed" in r.json()["message"]
    assert len(r.content) < 100_000


# --- 500s that belong to 4xx or 503 ------------------------------------------------------


def test_an_offset_beyond_2_63_is_422(client):
    """offset=2^64 is a bad parameter, not an overflow in the database driver."""
    r = client.get(f"/allocations?offset={2**64}")
    assert r.status_code == 422


@pytest.mark.parametrize(
    "objective_or_constraint",
    [
        {"constraints": [{"type": "Floor", "amount": "name"}]},
        {"constraints": [{"type": "Cap", "amount": "county"}]},
        {"objective": {"type": "MinDeviation", "target": "county"}},
    ],
)
def test_a_per_town_amount_naming_a_text_column_is_422(client, objective_or_constraint):
    """Floor(amount='name') and friends name the text column and the field."""
    r = client.post("/allocations", json={"policy": "guangdong-2020", **objective_or_constraint})
    assert r.status_code == 422
    (problem,) = r.json()["problems"]
    assert "holds text" in problem["message"]
    assert problem["column"].startswith(("constraints[0].amount", "objective.target"))


@pytest.mark.parametrize("value", ["1e308", "null", "-1e308", "1e999"])
def test_reform_values_out_of_range_or_null_are_422(client, value):
    """changes of 1e308, null or an overflowing number are 4xx, never 500."""
    body = '{"policy": "guangdong-2020", "changes": {"factors.registered_population.weight": %s}}'
    r = client.post("/formula", content=(body % value).encode(),
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert 400 <= r.status_code < 500, r.text[:300]


def test_ids_that_cannot_be_run_ids_are_404_without_a_query(client):
    """A NUL byte (which PostgreSQL refuses in text) or a long id is 404 like any other."""
    for run_id in ("ab%00cd", "0" * 31 + "%00", "x" * 5_000):
        r = client.get(f"/allocations/{run_id}")
        assert r.status_code == 404
        assert len(r.content) < 1_000
        assert client.delete(f"/allocations/{run_id}").status_code == 404
        assert client.get(f"/allocations/{run_id}/explain/441521100").status_code == 404


def _break_database(client: TestClient[Any]) -> None:
    """Point the store at a database that cannot be opened (as if the server went away)."""
    store = client.app.state["runs"].store
    store._engine.dispose()
    store._engine = sa.create_engine("sqlite:////nonexistent-dir/runs.sqlite3")


def test_a_database_that_is_down_is_503(client):
    """Reads and writes against a database that does not answer are 503 with Retry-After."""
    assert client.post("/allocations", json=POST_2020).status_code == 201
    _break_database(client)
    for r in (client.get("/allocations"), client.get("/allocations/" + "0" * 32),
              client.post("/allocations", json=POST_2020)):  # fmt: skip
        assert r.status_code == 503, r.text[:200]
        assert r.json()["error"] == "unavailable"
        assert "Retry-After" in r.headers
        assert r.json()["message"].startswith("cannot ")
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["database"] == "unavailable"
    assert client.get("/health").status_code == 200  # liveness: the process is up


def test_a_full_disk_is_503_and_not_ready(client):
    """A write that fails on a full disk is 503; /ready says not_ready; /health stays 200."""
    store = client.app.state["runs"].store
    assert client.post("/allocations", json=POST_2020).status_code == 201
    store._engine.dispose()

    def tiny(dbapi_conn: Any, _record: Any) -> None:
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    sa.event.listen(store._engine, "connect", tiny)
    r = client.post("/allocations", json=POST_2020)
    assert r.status_code == 503
    assert "full" in r.json()["message"]
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert client.get("/health").status_code == 200
    assert client.get("/health").json()["database"] == "unavailable"


def test_too_little_free_space_is_not_ready(client, monkeypatch):
    """/ready is 503 when the database's disk has less than 64 MB free."""
    store = client.app.state["runs"].store
    assert client.get("/ready").json() == {"status": "ready", "database": "ok", "disk": "ok",
                                           "message": None}  # fmt: skip
    monkeypatch.setattr(store, "disk_free", lambda: 1_000)
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["disk"] == "full"


def test_an_unwritable_database_directory_is_one_line_at_start():
    """A database in a directory that cannot be written: one line naming the path."""
    path = "/proc/townfiscal-test/runs.sqlite3"
    with pytest.raises(StoreUnavailable) as info:
        create_app(ServiceConfig(database=path))
    assert str(info.value).startswith(f"cannot open the database {path}: ")
    assert "\n" not in str(info.value)
    proc = subprocess.run([sys.executable, "-m", "townfiscal.cli", "serve", "--database", path],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {info.value}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_directory_is_one_line_at_start(tmp_path):
    """chmod 0500 on the directory: one line naming the file."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreUnavailable, match=str(folder / "runs.sqlite3")):
            create_app(ServiceConfig(database=str(folder / "runs.sqlite3")))
    finally:
        folder.chmod(0o700)


def test_a_postgresql_url_that_does_not_answer_is_one_line_without_the_password():
    """An unreachable server: one line with the URL, its password hidden."""
    pytest.importorskip("psycopg")
    url = "postgresql+psycopg://tf:s3cret@127.0.0.1:9/townfiscal"
    with pytest.raises(StoreUnavailable) as info:
        create_app(ServiceConfig(database=url))
    assert "s3cret" not in str(info.value)
    assert "127.0.0.1:9" in str(info.value)
    assert "\n" not in str(info.value)


# --- operable ---------------------------------------------------------------------------


def test_an_idempotency_key_returns_the_same_run(client):
    """The same key and body: the same run, stored once; another body: 409."""
    key = {"Idempotency-Key": "budget-2026-run-7"}
    first = client.post("/allocations", json=POST_2020, headers=key)
    assert first.status_code == 201
    again = client.post("/allocations", json=POST_2020, headers=key)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["amounts"] == first.json()["amounts"]
    assert again.headers["Location"] == first.headers["Location"]
    assert stored(client) == 1
    other = client.post("/allocations", json={**POST_2020, "fund": 2_100_000_000}, headers=key)
    assert other.status_code == 409
    assert first.json()["id"] in other.json()["message"]
    assert stored(client) == 1
    # Without a key, or with another, a new run each time.
    assert client.post("/allocations", json=POST_2020).json()["id"] != first.json()["id"]
    assert stored(client) == 2
    bad = client.post("/allocations", json=POST_2020, headers={"Idempotency-Key": "a b"})
    assert bad.status_code == 422


def test_concurrent_requests_with_one_key_store_one_run(tmp_path):
    """Eight requests with the same key at once: one run stored, all eight see its id."""
    with make(tmp_path, max_concurrent_solves=4) as c:
        import concurrent.futures

        key = {"Idempotency-Key": "once"}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: c.post("/allocations", json=POST_2020,
                                                     headers=key), range(8)))  # fmt: skip
        assert {r.status_code for r in answers} == {201}
        assert len({r.json()["id"] for r in answers}) == 1
        assert stored(c) == 1


def test_request_ids_are_echoed_or_made(client):
    """X-Request-ID comes back as sent; a missing or unreadable one is replaced by a new id."""
    r = client.get("/health", headers={"X-Request-ID": "trace-42.a:b"})
    assert r.headers["X-Request-ID"] == "trace-42.a:b"
    made = client.get("/health").headers["X-Request-ID"]
    assert len(made) == 32
    r = client.get("/health", headers={"X-Request-ID": "x" * 500})
    assert r.headers["X-Request-ID"] != "x" * 500
    r = client.post("/formula", content=b"[", headers={"X-Request-ID": "err-1",
                                                      "Content-Type": "application/json"})
    assert r.headers["X-Request-ID"] == "err-1"


def test_one_json_log_line_per_request_with_user_bytes_escaped(client, caplog):
    """Each request logs one JSON line (request id, status, ms); a newline or escape in the
    path cannot forge a second line."""
    caplog.set_level(logging.INFO, logger="townfiscal.service.access")
    client.get("/policies/x%0A%1B[31mfake%20line", headers={"X-Request-ID": "r-1"})
    records = [r for r in caplog.records if r.name == "townfiscal.service.access"]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    assert "\n" not in line
    assert "\x1b" not in line
    entry = json.loads(line)
    assert entry["status"] == 404
    assert entry["method"] == "GET"
    assert entry["path"] == "/policies/x\n\x1b[31mfake line"
    assert entry["request_id"] == "r-1"
    assert entry["ms"] >= 0
    assert "\n" not in records[0].getMessage()


def test_lists_have_a_total_and_a_next_link(client):
    """GET /allocations pages with total and next (null on the last page)."""
    ids = [client.post("/allocations", json=POST_2020).json()["id"] for _ in range(3)]
    page = client.get("/allocations?limit=2").json()
    assert page["total"] == 3
    assert [x["id"] for x in page["items"]] == ids[::-1][:2]
    assert page["next"] == "/allocations?limit=2&offset=2"
    last = client.get(page["next"]).json()
    assert [x["id"] for x in last["items"]] == [ids[0]]
    assert last["next"] is None


def test_delete_removes_a_run_and_its_key(client):
    """DELETE /allocations/{id}: 204, then 404; its idempotency key may be used again."""
    key = {"Idempotency-Key": "k1"}
    run_id = client.post("/allocations", json=POST_2020, headers=key).json()["id"]
    assert client.get(f"/allocations/{run_id}.xlsx").status_code == 200
    r = client.delete(f"/allocations/{run_id}")
    assert r.status_code == 204
    assert client.get(f"/allocations/{run_id}").status_code == 404
    assert client.get(f"/allocations/{run_id}.xlsx").status_code == 404  # not from a cache
    assert client.delete(f"/allocations/{run_id}").status_code == 404
    assert stored(client) == 0
    again = client.post("/allocations", json=POST_2020, headers=key)
    assert again.status_code == 201
    assert again.json()["id"] != run_id


def test_retention_keeps_the_newest_runs(tmp_path):
    """retention_count=2: the third run deletes the first."""
    with make(tmp_path, retention_count=2) as c:
        ids = [c.post("/allocations", json=POST_2020).json()["id"] for _ in range(3)]
        page = c.get("/allocations").json()
        assert page["total"] == 2
        assert {x["id"] for x in page["items"]} == set(ids[1:])


def test_retention_by_age_applies_at_start(tmp_path):
    """retention_days: runs older than that are gone when the service starts again."""
    with make(tmp_path) as c:
        run_id = c.post("/allocations", json=POST_2020).json()["id"]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE townfiscal_allocations SET created = :c"),
                     {"c": "2020-01-01T00:00:00.000000+00:00"})  # fmt: skip
    engine.dispose()
    with make(tmp_path, retention_days=365) as c:
        assert c.get(f"/allocations/{run_id}").status_code == 404
        assert stored(c) == 0


def test_explain_and_workbook_reads_do_not_take_a_solve_slot_twice(client, monkeypatch):
    """A second workbook or explanation of a run is served from memory, not the workers."""
    created = client.post("/allocations", json=POST_2020).json()
    workers = client.app.state["runs"].workers
    calls: list[str] = []
    real = workers.call

    async def spy(method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(method)
        return await real(method, *args, **kwargs)

    monkeypatch.setattr(workers, "call", spy)
    code = next(iter(created["amounts"]))
    for _ in range(3):
        assert client.get(f"/allocations/{created['id']}.xlsx").status_code == 200
        assert client.get(f"/allocations/{created['id']}/explain/{code}").status_code == 200
    assert calls == ["workbook", "explain"]


def test_settings_come_from_the_environment():
    """Every new setting has its TOWNFISCAL_ variable; lists are comma-separated."""
    env = {
        "TOWNFISCAL_REQUEST_DEADLINE": "12.5",
        "TOWNFISCAL_MAX_QUEUE": "3",
        "TOWNFISCAL_MAX_CONSTRAINTS": "7",
        "TOWNFISCAL_ALLOWED_HOSTS": "budget.example.gov, *.internal",
        "TOWNFISCAL_ALLOWED_ORIGINS": "https://budget.example.gov",
        "TOWNFISCAL_RETENTION_DAYS": "30",
        "TOWNFISCAL_RETENTION_COUNT": "1000",
    }
    config = ServiceConfig.from_env(env)
    assert config.request_deadline == 12.5
    assert config.queue_size == 3
    assert config.max_constraints == 7
    assert config.allowed_hosts == ("budget.example.gov", "*.internal")
    assert config.allowed_origins == ("https://budget.example.gov",)
    assert (config.retention_days, config.retention_count) == (30.0, 1000)
    assert ServiceConfig.from_env(config.to_env()) == config
    with pytest.raises(tf.ValidationError, match="request_deadline"):
        ServiceConfig(request_deadline=0)


POSTGRES = os.environ.get("TOWNFISCAL_TEST_POSTGRES_URL")


@pytest.mark.skipif(not POSTGRES, reason="set TOWNFISCAL_TEST_POSTGRES_URL to test PostgreSQL")
def test_on_postgresql_nul_bytes_are_4xx_and_a_lost_server_is_503():
    """PostgreSQL refuses NUL in text: ids and keys with one never reach it; a body holding
    one is stored escaped; a server that goes away is 503 and not ready."""
    assert POSTGRES is not None
    with TestClient(create_app(ServiceConfig(database=POSTGRES, worker_processes=0))) as c:
        assert c.get("/allocations/ab%00cd").status_code == 404
        assert c.delete("/allocations/ab%00cd").status_code == 404
        r = c.post("/allocations", json=POST_2020, headers={"Idempotency-Key": "a\x00b"})
        assert r.status_code in {400, 422}
        body = {**POST_2020, "constraints": [
            {"type": "GroupTotal", "by": "city", "hi": {"韶关\x00市": 1}}]}  # fmt: skip
        r = c.post("/allocations", json=body)
        assert r.status_code in {201, 422}
        if r.status_code == 201:
            assert c.get(f"/allocations/{r.json()['id']}").status_code == 200
        store = c.app.state["runs"].store
        store._engine.dispose()
        store._engine = sa.create_engine("postgresql+psycopg://tf@127.0.0.1:9/none")
        r = c.get("/allocations")
        assert r.status_code == 503
        assert "Retry-After" in r.headers
        assert c.get("/ready").status_code == 503
        assert c.get("/health").status_code == 200


def test_a_stuck_log_stream_never_stops_the_service():
    """Log lines are written by a thread: with stderr a pipe nobody reads, logging returns
    at once and drops what does not fit, instead of blocking the event loop."""
    import threading
    import time

    from townfiscal.service._logging import BackgroundHandler

    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    handler = BackgroundHandler(stream, capacity=100)
    log = logging.getLogger("townfiscal.test.stuck")
    log.propagate = False
    log.addHandler(handler)
    try:
        start = time.monotonic()
        for k in range(20_000):  # about 3 MB of lines: far more than a pipe holds
            log.warning("line %d %s", k, "x" * 100)
        assert time.monotonic() - start < 5.0
        assert handler.dropped > 0
    finally:
        log.removeHandler(handler)
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.extend(iter(
            lambda: os.read(read_end, 65536), b"")))  # fmt: skip
        reader.start()  # the stream is read again: what was queued gets written
        handler.close()
        stream.close()
        reader.join(timeout=10)
        os.close(read_end)
    lines = b"".join(received).decode().splitlines()
    assert len(lines) + handler.dropped == 20_000
    assert json.loads(lines[0])["message"].startswith("line 0 ")


def test_a_full_queue_sheds_before_the_body_is_read(tmp_path, monkeypatch):
    """One slot, no queue, one request computing: the next POST is 503 with Retry-After at
    once, even with a body that would be invalid (it is not decoded), and nothing is queued."""
    import concurrent.futures
    import time

    with make(tmp_path, max_concurrent_solves=1, max_queue=0) as c:
        workers = c.app.state["runs"].workers
        monkeypatch.setattr(workers.engine, "entry", lambda method: lambda *a: time.sleep(1.0))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            first = pool.submit(c.post, "/formula", json={"policy": "guangdong-2020"})
            time.sleep(0.3)
            start = time.monotonic()
            r = c.post("/formula", json={"policy": "guangdong-2020", "bogus": 1})
            took = time.monotonic() - start
            assert first.result().status_code == 200
        assert r.status_code == 503
        assert r.json()["error"] == "unavailable"
        assert "busy" in r.json()["message"]
        assert int(r.headers["Retry-After"]) >= 1
        assert took < 0.5
        assert workers.admission.shed == 1
