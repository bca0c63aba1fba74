"""Plots: figures returned, Chinese labels, a CJK font found or bundled, Agg-safe."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.text import Text

import townfiscal as tf
from townfiscal import metrics, plots

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _fresh_font_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TOWNFISCAL_CJK_FONT", raising=False)
    plots._resolve.cache_clear()
    yield
    plots._resolve.cache_clear()


@pytest.fixture(scope="module")
def example() -> tuple[pd.DataFrame, pd.Series]:
    towns = tf.load_example()
    fa = tf.formula_allocation(towns, tf.get_policy("guangdong-2020"), fund=2_000_000_000)
    return towns, fa["amount"]


def _small() -> tuple[pd.DataFrame, pd.Series]:
    towns = pd.DataFrame(
        {
            "name": ["西联镇", "西河镇", "龙归镇", "棉湖镇"],
            "city": ["韶关市", "韶关市", "韶关市", "揭阳市"],
            "zone": ["north", "north", "north", "east_wing"],
            "fiscal_capacity": [1e6, 2e6, 3e6, 4e6],
            "resident_population": [1_000.0, 1_000.0, 1_000.0, 2_000.0],
            "prior_amount": [1_000_000.0, 2_000_000.0, np.nan, 500_000.0],
        },
        index=pd.Index(["440203100", "440203101", "440203102", "445222100"], name="code"),
    )
    amounts = pd.Series([1_100_000, 1_800_000, 700_000, 500_000], index=towns.index, dtype="int64")
    return towns, amounts


def _texts(fig: Figure) -> list[str]:
    fig.canvas.draw()  # make the tick labels
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _png(fig: Figure, path: Path) -> bytes:
    fig.savefig(path, dpi=60)
    return path.read_bytes()


def test_lorenz_labels_and_gini_in_legend(tmp_path: Path) -> None:
    """The Lorenz figure has Chinese axis labels and each curve's Gini in its legend."""
    towns, amounts = _small()
    fig = plots.lorenz(towns, amounts)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "人口累计占比"
    assert ax.get_ylabel() == "人均可用财力累计占比"
    before = metrics.gini(metrics.capacity_per_capita(towns), towns["resident_population"])
    after = metrics.gini(metrics.capacity_per_capita(towns, amounts), towns["resident_population"])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "绝对平均线",
        f"转移支付前（基尼系数 {before:.3f}）",
        f"转移支付后（基尼系数 {after:.3f}）",
    ]
    # the after curve ends at (1, 1) and starts at (0, 0)
    xs, ys = ax.lines[2].get_data()
    assert (xs[0], ys[0], xs[-1], ys[-1]) == pytest.approx((0, 0, 1, 1))
    assert _png(fig, tmp_path / "l.png").startswith(PNG)


def test_amounts_by_area_bars_are_totals_in_wan() -> None:
    """Zone and city bars are the totals in 万元, cities sorted ascending."""
    towns, amounts = _small()
    fig = plots.amounts_by_area(towns, amounts)
    left, right = fig.axes
    zone_heights = [p.get_height() for p in left.patches]
    assert zone_heights == pytest.approx([50.0, 360.0])  # east wing 50万, north 360万
    assert [t.get_text() for t in left.get_xticklabels()] == ["东翼", "北部生态发展区"]
    city_widths = [p.get_width() for p in right.patches]
    assert city_widths == pytest.approx([50.0, 360.0])
    assert [t.get_text() for t in right.get_yticklabels()] == ["揭阳市", "韶关市"]
    assert fig.get_suptitle() == "补助资金分布（合计 410 万元）"


def test_change_from_last_year_counts_and_names() -> None:
    """Gainers, losers and towns without last year's amount are counted; extremes named."""
    towns, amounts = _small()
    fig = plots.change_from_last_year(towns, amounts, label=1)
    ax = fig.axes[0]
    assert ax.get_title() == "增加 1 个，减少 1 个，持平 1 个；1 个无上年补助，未列出"
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([-10.0, 0.0, 10.0])
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["西联镇 +10.0%", "西河镇 -10.0%"]


def test_sweep_draws_one_panel_per_measure() -> None:
    """A sweep table gives one panel per known column, the fund in 亿元."""
    table = pd.DataFrame(
        {
            "fund": [1.8e9, 2.0e9, 2.2e9],
            "gini_after": [0.26, 0.25, 0.24],
            "cv_after": [0.5, 0.48, 0.46],
        }
    )
    fig = plots.sweep(table, y=("gini_after", "cv_after", "not_there"))
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_ylabel() for ax in shown] == ["基尼系数（转移支付后）", "变异系数（转移支付后）"]
    assert shown[0].get_xlabel() == "资金总额（亿元）"
    assert list(shown[0].lines[0].get_xdata()) == pytest.approx([18.0, 20.0, 22.0])
    with pytest.raises(tf.ValidationError, match="none of the columns"):
        plots.sweep(table, y=("objective_value",))


def test_plot_input_errors() -> None:
    """Amounts that are not a Series, or towns missing from the table, are refused."""
    towns, amounts = _small()
    with pytest.raises(tf.ValidationError, match="Series"):
        plots.amounts_by_area(towns, [1, 2, 3])
    with pytest.raises(tf.ValidationError) as err:
        plots.amounts_by_area(towns.iloc[:2], amounts)
    assert [p.row for p in err.value.problems] == ["440203102", "445222100"]


def test_plots_leave_global_state_alone(example: tuple[pd.DataFrame, pd.Series]) -> None:
    """Making figures changes no rcParams and opens no pyplot figure."""
    towns, amounts = example
    before = dict(mpl.rcParams)
    plots.lorenz(towns.loc[amounts.index], amounts)
    assert dict(mpl.rcParams) == before
    assert (
        "matplotlib.pyplot" not in __import__("sys").modules
        or not __import__("matplotlib.pyplot").pyplot.get_fignums()
    )


def test_example_figures_render_every_label_without_missing_glyphs(
    example: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    """All four figures of the example render to PNG; a missing glyph would warn (= error)."""
    towns, amounts = example
    figs = [
        plots.lorenz(towns.loc[amounts.index], amounts),
        plots.amounts_by_area(towns, amounts),
        plots.change_from_last_year(towns, (amounts * 0.9).round().astype("int64")),
        plots.sweep(pd.DataFrame({"fund": [1e9, 2e9], "gini_after": [0.3, 0.2]})),
    ]
    for i, fig in enumerate(figs):
        assert _png(fig, tmp_path / f"{i}.png").startswith(PNG)
    assert "湛江市" in _texts(figs[1])


def test_bundled_font_covers_labels_and_every_town_name(
    example: tuple[pd.DataFrame, pd.Series],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With TOWNFISCAL_CJK_FONT=bundled the plots use the shipped subset, which has every glyph."""
    towns, amounts = example
    monkeypatch.setenv("TOWNFISCAL_CJK_FONT", "bundled")
    family = plots.cjk_font()
    assert family == "Townfiscal Sans CJK SC"
    found = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    assert Path(found) == plots.BUNDLED_FONT
    fig = plots.change_from_last_year(towns, (amounts * 1.1).round().astype("int64"))
    texts = _texts(fig)
    assert all(t.get_fontfamily()[0] == family for t in fig.findobj(Text))
    assert _png(fig, tmp_path / "bundled.png").startswith(PNG)
    charmap = FT2Font(str(plots.BUNDLED_FONT)).get_charmap()
    chinese = {c for c in "".join([*texts, *towns["name"], *towns["county"]]) if ord(c) > 0x2E80}
    assert chinese
    assert sorted(c for c in chinese if ord(c) not in charmap) == []


def test_font_from_a_file_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """TOWNFISCAL_CJK_FONT may name a font file, which is registered and used."""
    monkeypatch.setenv("TOWNFISCAL_CJK_FONT", str(plots.BUNDLED_FONT))
    assert plots.cjk_font() == "Townfiscal Sans CJK SC"


def test_unknown_font_setting_warns_then_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A setting that names no font warns and the search goes on."""
    monkeypatch.setenv("TOWNFISCAL_CJK_FONT", "No Such Font Family")
    with pytest.warns(plots.CJKFontWarning, match="not an installed font"):
        family = plots.cjk_font()
    assert family is not None


def test_no_cjk_font_warns_and_still_plots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With no installed CJK font and no bundled file: a CJKFontWarning, and a figure anyway."""
    monkeypatch.setattr(plots, "CJK_FAMILIES", ())
    monkeypatch.setattr(plots, "BUNDLED_FONT", tmp_path / "missing.otf")
    with pytest.warns(plots.CJKFontWarning, match="no CJK font found"):
        assert plots.cjk_font() is None
    towns, amounts = _small()
    fig = plots.lorenz(towns, amounts)  # the cached answer: no second warning
    assert fig.axes[0].xaxis.label.get_fontfamily() == ["DejaVu Sans"]


def test_use_cjk_font_sets_global_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """use_cjk_font() puts the CJK family first in rcParams for the user's own figures."""
    with mpl.rc_context():
        family = plots.use_cjk_font()
        assert mpl.rcParams["font.family"][0] == family


def test_example_script_writes_pngs_with_chinese_labels(tmp_path: Path) -> None:
    """examples/plots.py writes four PNGs and the workbook; every figure has Chinese text."""
    import runpy

    script = Path(__file__).parents[1] / "examples" / "plots.py"
    example = runpy.run_path(str(script), run_name="example")
    written = example["main"](tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == sorted(
        ["lorenz.png", "amounts_by_area.png", "change_from_last_year.png", "sweep.png",
         "分配表.xlsx"]
    )  # fmt: skip
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes().startswith(PNG)
            assert path.stat().st_size > 10_000
    figs, _, _ = example["figures"]()
    for name, fig in figs.items():
        texts = _texts(fig)
        assert any(re.search(r"[\u4e00-\u9fff]", t) for t in texts), name
    assert "按地级市" in _texts(figs["amounts_by_area.png"])
