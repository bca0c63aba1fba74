"""Load test of the HTTP service on loopback: POST /allocations on the bundled example.

Starts ``townfiscal serve`` (uvicorn) on a free 127.0.0.1 port with a fresh SQLite file,
waits for ``/health``, then lets several concurrent clients post a bounded number of 2020
allocations (2,000,000,000 yuan over the example's 1,002 eligible towns, hold-harmless, +15%
growth cap, 万元 rounding). Prints latency percentiles, throughput and the error count, and,
measured in the same run, the two baselines a request cannot beat: ``tf.allocate`` of the
same problem in this process, and a ``GET /health`` round trip.

    python benchmarks/load_service.py                  # 4 clients, 80 requests
    python benchmarks/load_service.py --clients 8 --requests 200

Latency includes waiting for a solve slot: the service solves at most
``TOWNFISCAL_MAX_CONCURRENT_SOLVES`` (default 2) allocations at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

import townfiscal as tf

BODY = {
    "policy": "guangdong-2020",
    "fund": 2_000_000_000,
    "constraints": [
        {"type": "HoldHarmless", "ratio": 1.0},
        {"type": "GrowthCap", "rate": 0.15},
        {"type": "Rounding", "unit": 10_000},
    ],
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, database: Path) -> subprocess.Popen[bytes]:
    """``townfiscal serve`` in a child process."""
    env = dict(os.environ)
    env.pop("TOWNFISCAL_API_TOKEN", None)
    cmd = [
        sys.executable, "-m", "townfiscal.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--database", str(database),
    ]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll /health until the service answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise SystemExit(f"the service exited early:\n{err.decode()}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the service did not answer /health in time")


async def load(base: str, clients: int, requests: int) -> tuple[list[float], list[str]]:
    """``requests`` POSTs shared among ``clients`` concurrent clients; latencies (s), errors."""
    latencies: list[float] = []
    errors: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120.0) as http:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    r = await http.post("/allocations", json=BODY)
                    ok = r.status_code == 201 and r.json()["total"] == BODY["fund"]
                    if not ok:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors


def in_process_allocate(repeat: int) -> list[float]:
    """Seconds of ``tf.allocate`` on the same problem in this process."""
    towns = tf.load_example()
    constraints = [tf.HoldHarmless(1.0), tf.GrowthCap(0.15), tf.Rounding(10_000)]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        tf.allocate(towns, "guangdong-2020", fund=2_000_000_000, constraints=constraints)
        times.append(time.perf_counter() - t0)
    return times


def health_round_trips(base: str, repeat: int) -> list[float]:
    """Seconds of sequential GET /health round trips."""
    times = []
    with httpx.Client(base_url=base) as http:
        for _ in range(repeat):
            t0 = time.perf_counter()
            http.get("/health").raise_for_status()
            times.append(time.perf_counter() - t0)
    return times


def pct(values: list[float], q: float) -> float:
    """The q-th percentile, milliseconds."""
    return float(np.percentile(np.asarray(values), q)) * 1000.0


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print the table; exit status 1 when any request failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--requests", type=int, default=80, help="POSTs in all (default 80)")
    parser.add_argument("--warmup", type=int, default=2, help="POSTs before measuring")
    parser.add_argument(
        "--sequential", type=int, default=20, help="POSTs by one client first (default 20)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="townfiscal-load-") as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(port, Path(tmp) / "runs.sqlite3")
        try:
            wait_ready(base, proc)
            asyncio.run(load(base, 1, args.warmup))
            health = health_round_trips(base, 50)
            sequential, seq_errors = asyncio.run(load(base, 1, args.sequential))
            t0 = time.perf_counter()
            latencies, errors = asyncio.run(load(base, args.clients, args.requests))
            wall = time.perf_counter() - t0
            stored = httpx.get(f"{base}/allocations", params={"limit": 500}).json()
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    direct = in_process_allocate(10)

    print(
        f"townfiscal {tf.__version__} service load test — POST /allocations, example 2020 "
        f"(1,002 towns), {args.clients} clients, {args.requests} requests"
    )
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, loopback\n")
    print(f"{'':<34}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'max ms':>10}")
    rows = [
        (f"POST /allocations, {args.clients} clients", latencies),
        ("POST /allocations, 1 client", sequential),
        ("tf.allocate in process (baseline)", direct),
        ("GET /health round trip", health),
    ]
    for label, values in rows:
        print(
            f"{label:<34}{pct(values, 50):>10.1f}{pct(values, 99):>10.1f}"
            f"{statistics.fmean(values) * 1000:>10.1f}{max(values) * 1000:>10.1f}"
        )
    p50_ratio = pct(latencies, 50) / pct(direct, 50)
    print(
        f"\nthroughput {len(latencies) / wall:.2f} allocations/s over {wall:.1f} s; "
        f"p50 = {p50_ratio:.2f} × the in-process allocate; errors {len(errors) + len(seq_errors)}"
        f" of {len(latencies) + len(sequential)}; runs stored {len(stored)}"
    )
    errors += seq_errors
    for e in errors[:5]:
        print("  error:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
