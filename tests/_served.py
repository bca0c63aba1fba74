"""`townfiscal serve` as a real process on loopback, for the tests that start, stop and kill it.

:func:`start` runs the server in a process group of its own (the server, its forkserver and its
workers) with a clean ``TOWNFISCAL_*`` environment, and returns once it answers ``/ready``;
:func:`kill_group` ends the whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(port: int, database: Path, **env: str) -> subprocess.Popen[bytes]:
    """`townfiscal serve` on *port* with the ``TOWNFISCAL_*`` variables *env* only, in a process
    group of its own, answering /ready (or the test fails with the server's log)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOWNFISCAL_")}
    log_path = database.with_suffix(f".{port}.log")  # a line per request: a file, not a pipe
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "townfiscal.cli", "serve", "--port", str(port),
             "--database", str(database)],
            env={**clean, **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )  # fmt: skip
    for _ in range(600):
        if proc.poll() is not None:
            proc.communicate()
            pytest.fail(log_path.read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    kill_group(proc)
    pytest.fail("the service did not start")


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server's process group (the server and every process it started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
