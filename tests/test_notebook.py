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


def _shown(obj: object) -> tuple[str, str]:
    """The text and HTML a notebook shows for ``obj``, both bounded in size."""
    text, html = repr(obj), obj._repr_html_()  # type: ignore[attr-defined]
    assert len(text) < 2_000
    assert len(html) < 60_000
    return text, html


def test_allocation_and_comparison_reprs_name_the_fund_and_towns(example: pd.DataFrame) -> None:
    """An allocation and a comparison show their fund, town count and scenarios."""
    a = tf.allocate(example, "guangdong-2020", fund=FUND)
    b = tf.allocate(example, "guangdong-2020", fund=2_100_000_000)
    text, html = _shown(a)
    assert "1,002 towns" in text
    assert "fund 2,000,000,000 yuan" in text
    assert "1,002" in html
    assert "2,000,000,000" in html
    text, html = _shown(tf.compare({"now": a, "more": b}))
    assert text.startswith("Comparison of 2 scenarios over 1,002 towns (baseline 'now')")
    assert "2,100,000,000" in text
    assert "2,100,000,000" in html
    assert "more" in html


def test_policy_and_trace_reprs_are_short_and_say_what_they_hold(example: pd.DataFrame) -> None:
    """A policy and a formula trace show their id, counts and the town's amount."""
    text, html = _shown(tf.get_policy("guangdong-2020"))
    assert text.startswith("<Policy guangdong-2020 (factor_share, effective 2020-08-27")
    assert "assumptions" in text
    assert "fund.default" in html
    text, html = _shown(tf.explain_formula(example, "guangdong-2020", "441581101", fund=FUND))
    assert text.startswith("<Trace 441581101 甲子镇, policy guangdong-2020: 3,271,065 yuan, ")
    assert "steps" in text
    assert "甲子镇" in html


def test_formula_results_show_as_tables(example: pd.DataFrame) -> None:
    """The formula's result is a table whose notebook view lists the towns' amounts."""
    fa = tf.formula_allocation(example, "guangdong-2020", fund=FUND)
    # (pandas-stubs read ._repr_html_ as a column)
    html = fa._repr_html_()  # type: ignore[operator]
    assert html is not None
    assert f"{len(fa)} rows × {fa.shape[1]} columns" in html
    assert len(fa) == 1_002
    assert str(fa.index[0]) in html
    assert f"<td>{fa['amount'].iloc[0]}</td>" in html


def test_responsibility_reprs_give_totals_not_tables(example: pd.DataFrame) -> None:
    """Devolutions, splits, matrices and programme sets show their totals and counts."""
    d = tf.devolve(example, pd.DataFrame({"code": ["441521101", "441521102"], "posts": [30, 10]}),
                   cost_per_post=100_000, operating_cost_per_post=20_000)
    text, html = _shown(d)
    assert text.splitlines()[0] == ("Devolution to 2 towns from 1 counties: 40 posts, "
                                    "4,800,000 yuan a year")
    assert "cost_per_post: 100,000 (given by the caller)" in text
    assert "海丰县" in html
    assert "4,800,000" in html
    s = tf.split_expenditure(pd.DataFrame({"item": ["义务教育公用经费保障"],
                                           "amount": [1_000_000], "zone": ["east_wing"]}),
                             "guangdong-2020")
    text, html = _shown(s)
    assert text.splitlines() == [
        "ExpenditureSplit of 1 spending rows, 1,000,000 yuan (matrix guangdong-2020)",
        "  central: 500,000", "  province: 225,000", "  city: 75,000", "  county: 200,000",
        "  town: 0"]
    assert "225,000" in html
    assert "0.225" in html
    m = tf.get_responsibility("guangdong-2020")
    text, html = _shown(m)
    assert text.startswith("ResponsibilityMatrix('guangdong-2020', items=")
    assert f"{len(m.items)} items" in html
    assert "义务教育" in html
    assert m.hash in html
    text, html = _shown(tf.get_programmes("guangdong-2020"))
    assert "peoples_congress (人大工作和建设经费): per_unit, 300,000 yuan, default" in text
    assert "3 programmes" in text
    assert "人大工作和建设经费" in html
    assert "300,000" in html


def test_allocation_workbook_repr_is_a_summary(example: pd.DataFrame,
                                                tmp_path: pytest.TempPathFactory) -> None:
    """A workbook read back shows its towns, fund and policy, not the whole table."""
    path = tmp_path / "分配表.xlsx"  # type: ignore[operator]
    tf.write_allocation(tf.allocate(example, "guangdong-2020", fund=FUND), path)
    text, html = _shown(tf.read_allocation(path))
    assert text.startswith("AllocationWorkbook(towns 1,002, fund 2,000,000,000 yuan, "
                           "policy_id guangdong-2020")
    assert "towns table included" in text
    assert "2,000,000,000" in html
    assert "largest amounts" in html


def test_fund_model_repr_is_a_summary(example: pd.DataFrame) -> None:
    """A sweep's fund model shows its policy, towns, objective and constraints in one line."""
    from townfiscal.optimize import fund_model

    fm = fund_model(example, "guangdong-2020", [1_900_000_000, FUND],
                   constraints=[tf.Floor(1_000_000)])
    text, html = _shown(fm)
    assert text == ("FundModel(policy guangdong-2020, towns 1,002, objective "
                    "Proportional(target=None), constraints Floor(1,000,000), solver highs, "
                    "allocates yes)")
    assert "<th>towns</th><td>1,002</td>" in html
    assert "Floor(1,000,000)" in html
