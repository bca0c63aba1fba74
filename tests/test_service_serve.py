"""`townfiscal serve` for real: a uvicorn process on loopback, stopped and started again."""

from __future__ import annotations

import subprocess

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("litestar")

import httpx

from _served import free_port, start


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask the server to stop and wait for it."""
    proc.terminate()
    proc.communicate(timeout=30)


def test_post_stop_start_fetch_and_download(tmp_path):
    """Post the 2020 allocation, restart the process, fetch it back and download the workbook."""
    port = free_port()
    database = tmp_path / "runs.sqlite3"
    base = f"http://127.0.0.1:{port}"
    proc = start(port, database, TOWNFISCAL_API_TOKEN="s3cret")
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
    proc = start(port, database, TOWNFISCAL_API_TOKEN="s3cret")
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
