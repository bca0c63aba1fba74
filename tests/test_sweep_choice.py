"""tf.sweep: the default executor chooses from the measured cost, never crashes a script
without a __main__ guard, and tells about infeasible scenarios (warning and plot)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import townfiscal as tf
from townfiscal.analysis import _scenarios as S

README_FUNDS = range(1_900_000_000, 2_200_000_001, 10_000_000)
COLD = {"parametric": False, "constraints": [tf.HoldHarmless()]}
FUNDS = [1_950_000_000, 2_000_000_000, 2_050_000_000, 2_100_000_000]


@pytest.fixture(scope="module")
def towns() -> pd.DataFrame:
    return tf.load_example()


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Local process pools replaced by thread pools on the same payload; records their sizes."""
    started: list[int] = []

    def threads(n: int, payload: Any) -> ThreadPoolExecutor:
        started.append(n)
        S._init_worker(payload)
        return ThreadPoolExecutor(max_workers=n)

    monkeypatch.setattr(S, "_local_processes", threads)
    monkeypatch.setattr(S.os, "cpu_count", lambda: 2)
    return started


def test_small_work_runs_serially(towns: pd.DataFrame, pools: list[int]) -> None:
    """Four cold scenarios estimated well under 2 s stay in this process, same figures."""
    table = tf.sweep(towns, "guangdong-2020", funds=FUNDS, progress=False, **COLD)
    assert pools == []
    serial = tf.sweep(towns, "guangdong-2020", funds=FUNDS, executor="serial", progress=False,
                      **COLD)
    assert table["total"].tolist() == [float(f) for f in FUNDS]
    assert table["gini_after"].tolist() == serial["gini_after"].tolist()


def test_costly_work_goes_to_processes(towns: pd.DataFrame, pools: list[int],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """When the first scenario's time × the rest exceeds the threshold, the rest go to a pool
    of one worker per core (at most the scenarios left)."""
    monkeypatch.setattr(S, "PROCESS_THRESHOLD", 0.0)
    table = tf.sweep(towns, "guangdong-2020", funds=FUNDS, progress=False, **COLD)
    assert pools == [2]
    assert table["status"].tolist() == ["optimal"] * 4
    assert table["total"].tolist() == [float(f) for f in FUNDS]


def test_one_core_never_starts_processes(towns: pd.DataFrame, pools: list[int],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """With one core the default runs serially however costly the estimate."""
    monkeypatch.setattr(S, "PROCESS_THRESHOLD", 0.0)
    monkeypatch.setattr(S.os, "cpu_count", lambda: 1)
    tf.sweep(towns, "guangdong-2020", funds=FUNDS, progress=False, **COLD)
    assert pools == []


class _Broken(ThreadPoolExecutor):
    """A pool whose every task fails as a pool whose workers died does."""

    def submit(self, *args: Any, **kwargs: Any) -> Future[Any]:
        f: Future[Any] = Future()
        f.set_exception(BrokenProcessPool("a worker died"))
        return f


def test_broken_pool_falls_back_to_serial(towns: pd.DataFrame,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes that break leave every scenario to this process, with one warning."""
    monkeypatch.setattr(S, "_local_processes", lambda n, payload: _Broken(max_workers=n))
    monkeypatch.setattr(S, "_processes_unsafe", lambda: None)
    with pytest.warns(RuntimeWarning, match=r"runs serially: the worker processes stopped "
                                             r"\(BrokenProcessPool\)") as record:
        table = tf.sweep(towns, "guangdong-2020", funds=FUNDS, executor="processes",
                         progress=False, **COLD)
    assert len(record) == 1
    assert table["total"].tolist() == [float(f) for f in FUNDS]


def test_guard_is_read_from_the_script(tmp_path: Path) -> None:
    """A line inside `if __name__ == "__main__":` is guarded; one above it is not."""
    script = tmp_path / "s.py"
    script.write_text("import x\nx.run()\nif __name__ == '__main__':\n    x.run()\n    y = 1\n")
    assert not S._guarded(str(script), 2)
    assert S._guarded(str(script), 4)
    assert S._guarded(str(script), 5)


def _script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, check=False)


def test_unguarded_script_runs_serially_with_one_warning(tmp_path: Path) -> None:
    """A script without a __main__ guard asking for processes finishes serially and says why
    in one line (it used to stop with a broken process pool)."""
    done = _script(tmp_path, """
        import townfiscal as tf
        t = tf.sweep(tf.load_example(), "guangdong-2020", executor="processes",
                     funds=[1_950_000_000, 2_000_000_000, 2_050_000_000, 2_100_000_000],
                     parametric=False, progress=False)
        print(t["total"].sum())
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "8100000000.0"
    lines = [ln for ln in done.stderr.splitlines() if "RuntimeWarning" in ln]
    assert len(lines) == 1
    assert ("sweep runs serially: script.py runs the sweep without an "
            "'if __name__ == \"__main__\":' guard") in lines[0]


def test_infeasible_scenarios_warn_once(towns: pd.DataFrame) -> None:
    """The README's sweep warns once: 7 of its 31 funds are above the growth caps' room."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        table = tf.sweep(towns, "guangdong-2020", funds=README_FUNDS, progress=False)
    assert len(record) == 1
    msg = str(record[0].message)
    assert msg.startswith("7 of 31 scenarios infeasible (funds 2.14–2.20 bn): the growth-control "
                          "caps allow at most 2,135,561,746 yuan")
    assert "tf.fund_range" in msg
    assert (table["status"] == "infeasible").sum() == 7


def test_parameter_sweep_names_the_values(towns: pd.DataFrame) -> None:
    """A parameter sweep's warning names the parameter and the values that failed."""
    with pytest.warns(UserWarning, match=r"2 of 3 scenarios infeasible \(growth_control\.cap "
                                         r"0\.01–0\.02\)"):
        tf.sweep(towns, "guangdong-2020", param="growth_control.cap", values=[0.01, 0.02, 0.2],
                 fund=2_000_000_000, executor="serial", progress=False)


def test_feasible_sweep_is_quiet(towns: pd.DataFrame) -> None:
    """A sweep whose scenarios all succeed warns of nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tf.sweep(towns, "guangdong-2020", funds=FUNDS, executor="serial", progress=False)


def test_plot_marks_the_infeasible_funds(towns: pd.DataFrame) -> None:
    """The sweep plot shades the 7 infeasible funds on every panel and labels the gap."""
    pytest.importorskip("matplotlib")
    from townfiscal import plots

    with pytest.warns(UserWarning, match="7 of 31"):
        table = tf.sweep(towns, "guangdong-2020", funds=README_FUNDS, progress=False)
    fig = plots.sweep(table)
    for ax in fig.axes:
        spans = [p for p in ax.patches if p.get_facecolor()[3] < 0.5]
        assert len(spans) == 1
        x0 = spans[0].get_x()
        assert x0 == pytest.approx(21.35)  # half-way between 2.13 and 2.14 bn, in 亿元
        assert spans[0].get_width() == pytest.approx(0.7)
        assert [t.get_text() for t in ax.texts] == ["不可行\n7 个情景"]
    assert np.isnan(table.loc[table["status"] == "infeasible", "gini_after"]).all()
