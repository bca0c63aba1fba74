"""Notebook manners: quiet solvers, inline figures, progress bars, reprs and install hints."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import townfiscal as tf

FUND = 2_000_000_000


@pytest.mark.parametrize(
    ("solver", "objective"),
    [
        ("highs", None),
        ("highs", tf.MinDeviation()),
        ("highs-qp", None),
        ("clarabel", None),
        ("cbc", tf.MinDeviation()),
        ("pulp-highs", tf.MinDeviation()),
    ],
)
def test_allocate_prints_nothing(
    example: pd.DataFrame, capfd: pytest.CaptureFixture[str], solver: str,
    objective: tf.Objective | None,
) -> None:
    """An allocation through each solver path writes nothing to stdout or stderr."""
    capfd.readouterr()
    alloc = tf.allocate(example, "guangdong-2020", fund=FUND, solver=solver,
                        objective=objective, constraints=[tf.Floor(1_000_000), tf.NeedOrder()])
    assert int(alloc.amounts.sum()) == FUND
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


_FIRST_SOLVE = """
import townfiscal as tf
t = tf.load_example()
tf.allocate(t, "guangdong-2020", fund=2_000_000_000, solver="{solver}",
            objective=tf.MinDeviation(), verbose={verbose})
"""


@pytest.mark.parametrize("solver", ["highs", "pulp-highs"])
def test_first_solve_in_a_process_shows_no_banner(solver: str) -> None:
    """HiGHS's banner, printed on its first creation in a process, is hidden by default."""
    run = subprocess.run([sys.executable, "-c", _FIRST_SOLVE.format(solver=solver,
                                                                    verbose=False)],
                         capture_output=True, text=True, check=True)
    assert (run.stdout, run.stderr) == ("", "")


def test_verbose_lets_the_solver_log_through() -> None:
    """``verbose=True`` lets HiGHS print its banner and log."""
    run = subprocess.run([sys.executable, "-c", _FIRST_SOLVE.format(solver="highs",
                                                                    verbose=True)],
                         capture_output=True, text=True, check=True)
    assert "HiGHS" in run.stdout
    assert "Objective value" in run.stdout or "Model status" in run.stdout


def test_progress_in_a_kernel_without_ipywidgets_is_text_without_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a Jupyter kernel lacking ipywidgets the sweep's bar is tqdm's text bar, silently."""
    import warnings

    from tqdm.std import tqdm as text_bar

    from townfiscal.analysis._scenarios import _progress

    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules[__name__])
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar = _progress(30, None, "sweep")
    assert type(bar) is text_bar
    assert bar.total == 30
    bar.close()
    assert _progress(5, None, "sweep") is None



def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_figure_has_a_png_repr_for_the_notebook(example: pd.DataFrame) -> None:
    """Each plot returns a Figure whose ``_repr_png_`` gives the image IPython shows inline."""
    from matplotlib.figure import Figure

    from townfiscal import plots

    alloc = tf.allocate(example, "guangdong-2020", fund=FUND)
    towns = example.loc[alloc.amounts.index]
    table = pd.DataFrame({"fund": [1.8e9, 2.0e9, 2.2e9], "gini_after": [0.26, 0.25, 0.24]})
    figures = [
        plots.lorenz(towns, alloc.amounts),
        plots.amounts_by_area(towns, alloc),
        plots.change_from_last_year(towns, alloc),
        plots.sweep(table, y=("gini_after",)),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        width, height = _png_size(fig._repr_png_())  # type: ignore[attr-defined]
        w_in, h_in = fig.get_size_inches()
        # bbox_inches="tight" moves the edges to the drawn content: the figure's size, give or
        # take its margins, never a thumbnail
        assert 0.6 * w_in * fig.dpi < width < 1.2 * w_in * fig.dpi
        assert 0.6 * h_in * fig.dpi < height < 1.2 * h_in * fig.dpi
    assert fig.axes[0].get_xlabel() == "资金总额（亿元）"


def _forget(monkeypatch: pytest.MonkeyPatch, *prefixes: str) -> None:
    """Drop the named modules (and their submodules) from ``sys.modules`` for this test."""
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            monkeypatch.delitem(sys.modules, name)


def test_plots_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the plots without matplotlib says which ``pip install`` brings it."""
    _forget(monkeypatch, "matplotlib", "townfiscal.plots", "townfiscal.analysis.plots")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delattr(tf.analysis, "plots", raising=False)
    monkeypatch.delattr(tf, "plots", raising=False)
    with pytest.raises(ModuleNotFoundError,
                       match=r'townfiscal.plots needs matplotlib, which is not installed: '
                             r'pip install "townfiscal\[plots\]"') as info:
        from townfiscal import plots  # noqa: F401
    assert info.value.name == "matplotlib"
    with pytest.raises(ModuleNotFoundError, match=r'townfiscal\[plots\]'):
        tf.plots


@pytest.mark.parametrize("missing", ["litestar", "sqlalchemy", "msgspec"])
def test_service_without_its_extra_names_it(monkeypatch: pytest.MonkeyPatch,
                                             missing: str) -> None:
    """Importing the service without one of its packages names the service extra."""
    _forget(monkeypatch, missing, "townfiscal.service")
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(ModuleNotFoundError,
                       match=rf'townfiscal.service needs {missing}, which is not installed: '
                             r'pip install "townfiscal\[service\]"'):
        import townfiscal.service  # noqa: F401


def test_parquet_without_pyarrow_names_the_extra(
    example: pd.DataFrame, tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading a .parquet towns file without pyarrow names the parquet extra."""
    path = tmp_path / "towns.parquet"  # type: ignore[operator]
    example.to_parquet(path)
    assert len(tf.read_towns(path)) == len(example)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "fastparquet", None)
    with pytest.raises(ModuleNotFoundError,
                       match=r'reading a .parquet file needs pyarrow, which is not installed: '
                             r'pip install "townfiscal\[parquet\]"'):
        tf.read_towns(path)


def test_serve_without_uvicorn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serving without uvicorn (imported only to serve) names the service extra."""
    from townfiscal.service import serve

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ModuleNotFoundError,
                       match=r'townfiscal.serve needs uvicorn, which is not installed: '
                             r'pip install "townfiscal\[service\]"'):
        serve()
