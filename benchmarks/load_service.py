"""Load test of the HTTP service on loopback: POST /allocations on the bundled example.

Starts ``townfiscal serve`` (uvicorn) once per setup of the service, each on a free
127.0.0.1 port with a fresh SQLite file, waits for ``/health`` and warms them up. Then, at
1, 4 and 16 concurrent clients, the clients post a bounded number of 2020 allocations
(2,000,000,000 yuan over the example's 1,002 eligible towns, hold-harmless, +15% growth cap,
万元 rounding) to each setup in turn, in ``--rounds`` interleaved rounds, so that a change
in the machine's load (other work on it) touches every setup alike; each client posts at
least 6 times a round. While they post, one more client, in a process of its own, sends
``GET /health`` every 20 ms: its latency shows whether the event loop is kept waiting by CPU
work. The setups:

- ``threads``: ``TOWNFISCAL_WORKER_PROCESSES=0``, the earlier setup: requests computed in
  threads of the server process (at most 2 at once);
- ``1 process``: one worker process;
- ``N processes``: the default, one worker process per core;
- ``unbounded queue``: the default, with a queue no load fills
  (``TOWNFISCAL_MAX_QUEUE=1000000``), as the service was before it shed load;
- with ``--before DIR``, also the service of another source tree (e.g. an earlier commit,
  ``git archive <commit> src | tar -x -C DIR``), served from ``DIR/src``.

A request the service turns away (``503`` with ``Retry-After``: its queue is full) is counted
as shed, not as an error, and its client waits ``Retry-After`` seconds before its next one,
as a well-behaved client does.

Prints, per setup and number of clients, requests/s served, p50, p95 and p99 latency of the
served requests as the clients saw them, the p99 of the time the service itself took for
them (``srv p99``: from the request's arrival at the app to its answer, read from the
service's access log; the rest is the clients and the connections, which share the
machine), the health check's p95 under that load, the CPU time the service's
processes spent per request served (on Linux; it does not grow when other work slows the
machine, so it is the steadier figure), the requests shed and the errors, with ratios to the
first setup; then each setup's p99 at every load against its own 1-client p50 of the same
run (what shedding bounds), and the two baselines a request cannot beat: ``tf.allocate`` of
the same problem in this process, and an idle ``GET /health`` round trip. The clients run in
this process, on the same cores as the service.

    python benchmarks/load_service.py                      # 1, 4, 16 clients, 60 requests
    python benchmarks/load_service.py --clients 4 --requests 200 --setups processes
    python benchmarks/load_service.py --setups processes unbounded --clients 1 16 200
    python benchmarks/load_service.py --before /tmp/townfiscal-before
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import httpx
import numpy as np

import townfiscal as tf
from townfiscal.service import available_cores

BODY = {
    "policy": "guangdong-2020",
    "fund": 2_000_000_000,
    "constraints": [
        {"type": "HoldHarmless", "ratio": 1.0},
        {"type": "GrowthCap", "rate": 0.15},
        {"type": "Rounding", "unit": 10_000},
    ],
}


@attrs.frozen
class Setup:
    """One way of running the service: a label, environment variables and a source tree."""

    label: str
    env: dict[str, str]
    src: Path | None = None


@attrs.frozen
class Result:
    """One load level on one setup."""

    setup: str
    clients: int
    requests: int
    wall: float
    latencies: list[float]  # of the requests served (201)
    health: list[float]
    errors: list[str]
    cpu: float | None  # seconds of CPU of the service's processes
    shed: int = 0  # requests turned away with 503 and Retry-After
    inside: list[float] = attrs.field(factory=list)  # the service's own time, its log says

    @property
    def rate(self) -> float:
        """Requests served per second."""
        return len(self.latencies) / self.wall

    @property
    def cpu_per_request(self) -> float:
        """CPU seconds of the service per request served (NaN where not measured)."""
        if self.cpu is None or not self.latencies:
            return float("nan")
        return self.cpu / len(self.latencies)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, database: Path, setup: Setup) -> subprocess.Popen[bytes]:
    """``townfiscal serve`` in a child process, configured as *setup* says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNFISCAL_")}
    env.update(setup.env)
    if setup.src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(setup.src), env.get("PYTHONPATH", "")])
    cmd = [
        sys.executable, "-m", "townfiscal.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--database", str(database),
    ]  # fmt: skip
    # The service logs a line per request to stderr: into a file, not a pipe left unread.
    log = open(database.with_suffix(".log"), "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    log.close()  # the child holds its own descriptor
    return proc


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll /health until the service answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            proc.communicate()
            raise SystemExit(f"the service exited early (exit status {proc.returncode})")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the service did not answer /health in time")


def probe(base: str, stop: Any, out: Any) -> None:
    """GET /health every 20 ms until *stop* is set; the latencies (s) go to *out*.

    Runs in a process of its own, so that it times the service's event loop, not the
    clients' one.
    """
    times = []
    with httpx.Client(base_url=base, timeout=120.0) as http:
        while not stop.is_set():
            t0 = time.perf_counter()
            if http.get("/health").status_code == 200:
                times.append(time.perf_counter() - t0)
            time.sleep(0.02)
    out.put(times)


async def post_all(
    base: str, clients: int, requests: int
) -> tuple[list[float], list[str], int]:
    """``requests`` POSTs shared among ``clients`` concurrent clients: the latencies (s) of
    those served, the errors, and how many were shed (503 with Retry-After; the client then
    waits that long)."""
    latencies: list[float] = []
    errors: list[str] = []
    shed = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def client() -> None:
        nonlocal shed
        async with httpx.AsyncClient(base_url=base, timeout=120.0) as http:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    r = await http.post("/allocations", json=BODY)
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                took = time.perf_counter() - t0
                if r.status_code == 503 and "retry-after" in r.headers:
                    shed += 1
                    await asyncio.sleep(float(r.headers["retry-after"]))
                elif r.status_code == 201 and r.json()["total"] == BODY["fund"]:
                    latencies.append(took)
                else:
                    errors.append(f"{r.status_code}: {r.text[:200]}")

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors, shed


def load(
    base: str, clients: int, requests: int
) -> tuple[float, list[float], list[float], list[str], int]:
    """``requests`` POSTs by ``clients`` concurrent clients while a prober checks /health.

    Returns the wall time, the served POSTs' latencies, the health checks' latencies (s),
    the errors and the number of POSTs shed.
    """
    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    prober = ctx.Process(target=probe, args=(base, stop, out))
    prober.start()
    t0 = time.perf_counter()
    latencies, errors, shed = asyncio.run(post_all(base, clients, requests))
    wall = time.perf_counter() - t0
    stop.set()
    health: list[float] = out.get(timeout=60)
    prober.join(timeout=60)
    return wall, latencies, health, errors, shed


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) of process *pid* and its descendants so far; ``None``
    where ``/proc`` does not tell."""
    proc = Path("/proc")
    if not (proc / str(pid) / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    family, grew = {pid}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return sum(times.get(p, 0.0) for p in family)


@attrs.define
class Server:
    """A running service of one setup."""

    setup: Setup
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def served_ms(self, skip: int) -> tuple[list[float], int]:
        """Milliseconds the service itself took for each POST /allocations it answered 201
        after the first *skip* lines of its log (from the request's arrival at the app to
        its answer, as its access log says), and the lines the log has now."""
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        out = []
        for line in lines[skip:]:
            if '"/allocations"' in line and '"status":201' in line:
                out.append(float(json.loads(line)["ms"]) / 1000.0)
        return out, len(lines)

    def stop(self) -> None:
        """Stop it and wait."""
        self.proc.terminate()
        self.proc.communicate(timeout=60)


def measure(
    chosen: list[Setup], levels: list[int], requests: int, rounds: int, warmup: int, tmp: Path
) -> list[Result]:
    """Serve every setup, warm them up, then load them in turn at each number of clients."""
    servers: list[Server] = []
    try:
        for i, setup in enumerate(chosen):
            port = free_port()
            database = tmp / f"runs-{i}.sqlite3"
            proc = start_server(port, database, setup)
            base = f"http://127.0.0.1:{port}"
            servers.append(Server(setup, base, proc, database.with_suffix(".log")))
        for server in servers:
            wait_ready(server.base, server.proc)
            asyncio.run(post_all(server.base, warmup, 2 * warmup))
        results = []
        for clients in levels:
            chunk = max(6 * clients, -(-requests // rounds))  # ramps short beside the run
            parts: dict[str, list[Any]] = {server.setup.label: [] for server in servers}
            for _ in range(rounds):
                for server in servers:
                    _, seen = server.served_ms(0)
                    cpu0 = cpu_seconds(server.proc.pid)
                    wall, latencies, health, errors, shed = load(server.base, clients, chunk)
                    cpu1 = cpu_seconds(server.proc.pid)
                    cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
                    time.sleep(0.2)  # the service's log is written by a thread of its own
                    inside, _ = server.served_ms(seen)
                    parts[server.setup.label].append(
                        (wall, latencies, health, errors, cpu, shed, inside)
                    )
            for label, got in parts.items():
                cpus = [g[4] for g in got]
                results.append(
                    Result(
                        setup=label,
                        clients=clients,
                        requests=chunk * rounds,
                        wall=sum(g[0] for g in got),
                        latencies=[x for g in got for x in g[1]],
                        health=[x for g in got for x in g[2]],
                        errors=[x for g in got for x in g[3]],
                        cpu=None if None in cpus else sum(c for c in cpus if c is not None),
                        shed=sum(g[5] for g in got),
                        inside=[x for g in got for x in g[6]],
                    )
                )
    finally:
        for server in servers:
            server.stop()
    return results


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


def health_round_trips(setup: Setup, repeat: int) -> list[float]:
    """Seconds of sequential GET /health round trips to an idle service."""
    with tempfile.TemporaryDirectory(prefix="townfiscal-load-") as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(port, Path(tmp) / "runs.sqlite3", setup)
        try:
            wait_ready(base, proc)
            times = []
            with httpx.Client(base_url=base) as http:
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    http.get("/health").raise_for_status()
                    times.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.communicate(timeout=60)
    return times


def ms(values: list[float], q: float) -> float:
    """The q-th percentile, milliseconds (NaN when there are none)."""
    return float(np.percentile(np.asarray(values), q)) * 1000.0 if values else float("nan")


def setups(names: list[str], before: Path | None) -> list[Setup]:
    """The setups asked for, in order; the first is the baseline of the ratios."""
    cores = available_cores()
    known = {
        "threads": Setup("threads (earlier setup)", {"TOWNFISCAL_WORKER_PROCESSES": "0"}),
        "process": Setup("1 process", {"TOWNFISCAL_WORKER_PROCESSES": "1"}),
        "processes": Setup(f"{cores} processes (default)", {}),
        "unbounded": Setup("unbounded queue", {"TOWNFISCAL_MAX_QUEUE": "1000000"}),
    }
    out = [known[n] for n in names]
    if before is not None:
        src = before / "src" if (before / "src").is_dir() else before
        out.insert(0, Setup(f"before ({before.name})", {}, src))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print the table; exit status 1 when any request failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[1, 4, 16], help="client counts (1 4 16)"
    )
    parser.add_argument(
        "--requests", type=int, default=60, help="POSTs per level, at least 6 per client (60)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (2)")
    parser.add_argument("--warmup", type=int, default=4, help="concurrent warm-up POSTs ×2 (4)")
    parser.add_argument(
        "--setups",
        nargs="+",
        choices=["threads", "process", "processes", "unbounded"],
        default=["threads", "process", "processes"],
        help="setups to measure; the first is the baseline of the ratios",
    )
    parser.add_argument(
        "--before", type=Path, default=None, help="also serve this source tree, as baseline"
    )
    args = parser.parse_args(argv)

    chosen = setups(args.setups, args.before)
    with tempfile.TemporaryDirectory(prefix="townfiscal-load-") as tmp:
        results = measure(chosen, args.clients, args.requests, args.rounds, args.warmup, Path(tmp))
    direct = in_process_allocate(20)
    idle = health_round_trips(chosen[-1], 50)

    print(
        f"townfiscal {tf.__version__} service load test — POST /allocations, example 2020 "
        f"(1,002 towns); {platform.python_version()}, {os.cpu_count()} CPUs, loopback"
    )
    print(f"ratios against '{chosen[0].label}' at the same number of clients\n")
    head = (
        f"{'setup':<26}{'clients':>8}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'srv p99':>9}{'health p95':>11}{'CPU ms/req':>11}{'shed':>7}{'errors':>9}"
        f"{'× req/s':>9}{'× p50':>8}"
    )
    print(head)
    print("-" * len(head))
    base = {r.clients: r for r in results if r.setup == chosen[0].label}
    errors: list[str] = []
    for r in results:
        b = base[r.clients]
        print(
            f"{r.setup:<26}{r.clients:>8}{r.rate:>8.1f}{ms(r.latencies, 50):>9.1f}"
            f"{ms(r.latencies, 95):>9.1f}{ms(r.latencies, 99):>9.1f}{ms(r.inside, 99):>9.1f}"
            f"{ms(r.health, 95):>11.1f}"
            f"{r.cpu_per_request * 1000:>11.1f}{r.shed:>7}"
            f"{len(r.errors):>5}/{r.requests:<4}{r.rate / b.rate:>8.2f}"
            f"{ms(r.latencies, 50) / ms(b.latencies, 50):>8.2f}"
        )
        errors += r.errors
    print("\np99 of the served requests against the same setup's 1-client p50 in this run:")
    for setup in chosen:
        mine = {r.clients: r for r in results if r.setup == setup.label}
        if 1 not in mine:
            continue
        p50 = ms(mine[1].latencies, 50)
        cells = ", ".join(
            f"{n} clients {ms(r.latencies, 99):.0f} ms = {ms(r.latencies, 99) / p50:.1f}×"
            f" (in the service {ms(r.inside, 99):.0f} ms = {ms(r.inside, 99) / p50:.1f}×;"
            f" {r.shed} of {r.requests} shed)"
            for n, r in sorted(mine.items())
            if n != 1
        )
        print(f"  {setup.label}: 1-client p50 {p50:.1f} ms; {cells}")
    print(
        f"\ntf.allocate in process: p50 {ms(direct, 50):.1f} ms, p95 {ms(direct, 95):.1f} ms; "
        f"idle GET /health round trip: p50 {ms(idle, 50):.1f} ms, p95 {ms(idle, 95):.1f} ms"
    )
    for e in errors[:5]:
        print("  error:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
