"""Benchmark start-up: ``import townfiscal`` against ``import pandas``, and two CLI commands.

Each case runs in a fresh interpreter (a subprocess), so nothing is cached in the process;
the cases are interleaved (each round runs every case once) so that a shared machine's load
falls on all of them alike, and the best of ``--repeats`` rounds is reported (start-up has
no useful "typical" time: anything above the best is other work on the machine). Wall time
and the child's CPU time (user + system) are both shown: on a busy machine the CPU time is
the steadier of the two.

``import pandas`` is the baseline: townfiscal needs pandas and numpy, so its start-up can
only be judged against theirs. ``× pandas`` is a case's best time over ``import pandas``'s.
With ``--modules`` it also lists which heavy optional modules ``import townfiscal`` loads.

Last, the import work itself, from ``python -X importtime``: each module's own time, the best
over the runs, summed over the modules ``import pandas`` loads and over those only
``import townfiscal`` adds (townfiscal's modules, attrs …). Being a best per module, it is the
figure a busy machine disturbs least.

Bytecode: an installed wheel has its ``.pyc`` files compiled at install time, but a checkout
run with ``PYTHONDONTWRITEBYTECODE=1`` recompiles every townfiscal module on every start
(about 0.1 s, more than everything else townfiscal does at import). The cases therefore run
with a private bytecode cache (``PYTHONPYCACHEPREFIX`` in a temporary directory, filled by a
warm-up run), as an install would; the row ``import townfiscal, no bytecode`` shows the cost
without it.

Run:  python benchmarks/bench_import.py [--repeats 7] [--modules]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

#: Modules ``import townfiscal`` should not load: solvers, workbooks, plotting, the service.
HEAVY = ("scipy", "scipy.sparse", "scipy.optimize", "highspy", "pulp", "clarabel", "openpyxl",
         "matplotlib", "sqlalchemy", "litestar", "uvicorn", "hypothesis", "dask", "tqdm")


Case = tuple[str, list[str], dict[str, str]]


def cases(cache: str) -> list[Case]:
    """(label, argv, environment) of each timed command."""
    py = sys.executable
    cli = shutil.which("townfiscal", path=os.path.dirname(py)) or ""
    run_cli = [cli] if cli else [py, "-m", "townfiscal.cli"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    bare = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    del bare["PYTHONPYCACHEPREFIX"]
    return [
        ("python -c pass", [py, "-c", "pass"], env),
        ("import pandas", [py, "-c", "import pandas"], env),
        ("import townfiscal", [py, "-c", "import townfiscal"], env),
        ("townfiscal --help", [*run_cli, "--help"], env),
        ("townfiscal policies", [*run_cli, "policies"], env),
        ("import townfiscal, no bytecode", [py, "-c", "import townfiscal"], bare),
    ]


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def loaded_heavy() -> list[str]:
    code = ("import sys, townfiscal; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return out.split()


def import_work(repeats: int, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Best own time (s) per module: the sum over pandas' modules, and the others by group."""
    def best(code: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for _ in range(repeats):
            err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], check=True,
                                 capture_output=True, text=True, env=env).stderr
            for line in err.splitlines():
                parts = line.split("|")
                if len(parts) == 3 and parts[0].startswith("import time:") and \
                        parts[0].split(":")[1].strip().isdigit():
                    name = parts[2].strip()
                    own = int(parts[0].split(":")[1]) / 1e6
                    out[name] = min(out.get(name, own), own)
        return out

    pandas, townfiscal = best("import pandas"), best("import townfiscal")
    groups: dict[str, float] = {}
    for name, own in townfiscal.items():
        if name not in pandas:
            parts = name.split(".")
            group = ".".join(parts[:2]) if parts[0] == "townfiscal" else parts[0]
            groups[group] = groups.get(group, 0.0) + own
    return sum(pandas.values()), groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--modules", action="store_true",
                        help="also list the heavy modules import townfiscal loads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="townfiscal-pyc-") as cache:
        todo = cases(cache)
        for _, argv, env in todo:  # fill the bytecode cache and the file cache
            run(argv, env)
        wall = {label: float("inf") for label, _, _ in todo}
        cpu = dict(wall)
        for _ in range(args.repeats):
            for label, argv, env in todo:
                w, c = run(argv, env)
                wall[label], cpu[label] = min(wall[label], w), min(cpu[label], c)
        base_work, extra = import_work(args.repeats, todo[1][2])
    base_wall, base_cpu = wall["import pandas"], cpu["import pandas"]
    print(f"start-up, best of {args.repeats} interleaved runs (fresh interpreter each)")
    print(f"{'case':<32}{'wall s':>8}{'× pandas':>10}{'CPU s':>8}{'× pandas':>10}")
    for label, _, _ in todo:
        print(f"{label:<32}{wall[label]:>8.3f}{wall[label] / base_wall:>10.2f}"
              f"{cpu[label]:>8.3f}{cpu[label] / base_cpu:>10.2f}")
    added = sum(extra.values())
    print(f"\nimport work (-X importtime, best own time per module of {args.repeats} runs): "
          f"pandas's modules {base_work * 1e3:.1f} ms; townfiscal adds {added * 1e3:.1f} ms "
          f"(× {(base_work + added) / base_work:.3f}):")
    for group, own in sorted(extra.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {group:<30}{own * 1e3:>8.1f} ms")
    if args.modules:
        heavy = loaded_heavy()
        print("heavy modules loaded by import townfiscal:", ", ".join(heavy) or "none")


if __name__ == "__main__":
    main()
