"""`townfiscal serve` under faults: killed with SIGKILL during POSTs (nothing acknowledged is
lost), stopped with SIGTERM under load (it exits within seconds)."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("litestar")

import httpx

from _served import free_port, kill_group, start

BODY = {
    "policy": "guangdong-2020",
    "fund": 2_000_000_000,
    "constraints": [{"type": "HoldHarmless"}, {"type": "GrowthCap", "rate": 0.15},
                    {"type": "Rounding", "unit": 10_000}],
}  # fmt: skip


def group_alive(pgid: int) -> bool:
    """Whether any process of group *pgid* still runs."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def post_until(base: str, stop: threading.Event, acked: list[dict[str, Any]]) -> None:
    """POST allocations until *stop*; keep every one the server acknowledged (201)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        while not stop.is_set():
            try:
                r = client.post("/allocations", json=BODY)
            except httpx.TransportError:
                return
            if r.status_code == 201:
                acked.append(r.json())


def test_nothing_acknowledged_is_lost_when_the_server_is_killed(tmp_path):
    """SIGKILL to the whole server during POSTs from 4 clients, restart: every run that got
    201 is there with the same amounts."""
    port = free_port()
    database = tmp_path / "runs.sqlite3"
    base = f"http://127.0.0.1:{port}"
    proc = start(port, database)
    acked: list[dict[str, Any]] = []
    stop = threading.Event()
    clients = [threading.Thread(target=post_until, args=(base, stop, acked)) for _ in range(4)]
    try:
        for t in clients:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < 12 and time.monotonic() < deadline:
            time.sleep(0.01)
        kill_group(proc)  # mid-request: more POSTs are in flight
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=60)
        if proc.poll() is None:
            kill_group(proc)
    assert len(acked) >= 12
    proc = start(port, database)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for run in acked:
                r = client.get(f"/allocations/{run['id']}")
                assert r.status_code == 200, run["id"]
                assert r.json()["amounts"] == run["amounts"]
            assert client.get("/allocations").json()["total"] >= len(acked)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_sigterm_under_load_exits_within_five_seconds(tmp_path):
    """SIGTERM while 8 clients post: the server and all its workers are gone within 5 s."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(port, tmp_path / "runs.sqlite3")
    acked: list[dict[str, Any]] = []
    stop = threading.Event()
    clients = [threading.Thread(target=post_until, args=(base, stop, acked)) for _ in range(8)]
    try:
        for t in clients:
            t.start()
        while len(acked) < 8:
            time.sleep(0.01)
        start_time = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        took = time.monotonic() - start_time
        while group_alive(proc.pid) and time.monotonic() - start_time < 10:
            time.sleep(0.05)
        took_all = time.monotonic() - start_time
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=60)
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert took < 5.0
    assert took_all < 5.0, "worker processes outlived the server"
