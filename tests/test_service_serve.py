"""`townfiscal serve` for real: a uvicorn process on loopback, stopped and started again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("litestar")

import httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(port: int, database: Path, token: str | None = None) -> subprocess.Popen[bytes]:
    """`townfiscal serve` on *port*, answering /health (or the test fails)."""
    env = {"TOWNFISCAL_API_TOKEN": token} if token else {}
    proc = subprocess.Popen(
        [sys.executable, "-m", "townfiscal.cli", "serve", "--port", str(port),
         "--database", str(database)],
        env={**{k: v for k, v in os.environ.items() if k != "TOWNFISCAL_API_TOKEN"}, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    for _ in range(600):
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(err.decode())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    proc.communicate()
    pytest.fail("the service did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask the server to stop and wait for it."""
    proc.terminate()
    proc.communicate(timeout=30)


def test_post_stop_start_fetch_and_download(tmp_path):
    """Post the 2020 allocation, restart the process, fetch it back and download the workbook."""
    port = free_port()
    database = tmp_path / "runs.sqlite3"
    base = f"http://127.0.0.1:{port}"
    proc = start(port, database, token="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    try:
        assert httpx.get(f"{base}/policies").status_code == 401
        body = {
            "policy": "guangdong-2020",
            "fund": 2_000_000_000,
            "constraints": [{"type": "HoldHarmless"}, {"type": "Rounding", "unit": 10_000}],
        }
        r = httpx.post(f"{base}/allocations", json=body, headers=auth, timeout=120)
        assert r.status_code == 201
        created = r.json()
    finally:
        stop(proc)
    proc = start(port, database, token="s3cret")
    try:
        r = httpx.get(f"{base}/allocations/{created['id']}", headers=auth)
        assert r.status_code == 200
        assert r.json()["amounts"] == created["amounts"]
        assert sum(r.json()["amounts"].values()) == 2_000_000_000
        r = httpx.get(f"{base}/allocations/{created['id']}.xlsx", headers=auth, timeout=120)
        assert r.status_code == 200
        assert r.content[:2] == b"PK"  # a zip container, as .xlsx files are
    finally:
        stop(proc)
