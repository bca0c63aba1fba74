"""Plots for an analyst's notebook or a director's slide, with Chinese labels.

Every function builds a :class:`matplotlib.figure.Figure` without touching pyplot's global
state (safe under the Agg backend, in threads and on servers) and returns it: a Jupyter
notebook shows it inline as the value of a cell, with no ``%matplotlib`` magic (the figure
has a PNG rich representation, ``_repr_png_``), and ``fig.savefig("lorenz.png", dpi=150)``
writes it.

Chinese text needs a CJK font. :func:`cjk_font` looks for one in this order: the font named by
the environment variable ``TOWNFISCAL_CJK_FONT`` (a family name, a font file, or ``bundled``);
an installed CJK font (Noto Sans CJK SC, Source Han Sans, WenQuanYi, Microsoft YaHei, SimHei,
PingFang …); the subset of Noto Sans CJK SC shipped with townfiscal (every GB 2312 Hanzi and
every character of China's township names; SIL Open Font License). When none is usable it warns
with :class:`CJKFontWarning` and the labels fall back to matplotlib's default font.

Needs the ``plots`` extra: ``pip install "townfiscal[plots]"``; without matplotlib, importing
this module raises a ``ModuleNotFoundError`` that says so.

>>> import townfiscal as tf
>>> from townfiscal import plots
>>> towns = tf.load_example()
>>> fa = tf.formula_allocation(towns, tf.get_policy("guangdong-2020"), fund=2_000_000_000)
>>> fig = plots.lorenz(towns.loc[fa.index], fa["amount"])
>>> fig.axes[0].get_xlabel()
'人口累计占比'
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from townfiscal._errors import MissingExtraError, Problem, ValidationError

try:
    from matplotlib import font_manager
    from matplotlib import rc_context as _rc_context
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.text import Text
except ImportError as _exc:  # the plots extra is optional
    if (_exc.name or "matplotlib").split(".")[0] != "matplotlib":
        raise
    raise MissingExtraError.needs("townfiscal.plots", "matplotlib", "plots") from _exc
from townfiscal.analysis import metrics
from townfiscal.towns import ZONES

__all__ = [
    "BUNDLED_FONT",
    "CJKFontWarning",
    "amounts_by_area",
    "change_from_last_year",
    "cjk_font",
    "lorenz",
    "sweep",
    "use_cjk_font",
]

#: The CJK font file shipped with the package (a subset of Noto Sans CJK SC, OFL 1.1).
BUNDLED_FONT = Path(__file__).parent / "_fonts" / "TownfiscalSansCJKsc-Regular.otf"
_BUNDLED_FAMILY = "Townfiscal Sans CJK SC"

#: Installed CJK fonts preferred over the bundled subset (full coverage), best first.
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Sarasa Gothic SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
)

#: Chinese names of the zones (一核一带一区) used on the plots.
ZONE_LABELS: Mapping[str, str] = {zone: aliases[0] for zone, aliases in ZONES.items()}
_ZONE_COLOURS = {
    "core": "#4C72B0",
    "east_wing": "#DD8452",
    "west_wing": "#55A868",
    "north": "#8172B3",
}
_OTHER_COLOUR = "#999999"

#: Chinese labels of the measures and sweep columns that :func:`sweep` knows.
MEASURE_LABELS: Mapping[str, str] = {
    "gini": "基尼系数",
    "theil": "泰尔指数",
    "cv": "变异系数",
    "max_min": "最大最小比",
    "total": "分配总额",
    "objective_value": "目标函数值",
    "winners": "增加的乡镇数",
    "losers": "减少的乡镇数",
    "towns": "乡镇数",
    "min_per_capita": "最低人均可用财力(元)",
    "mean": "平均补助(元)",
}
_WHEN = {"before": "（转移支付前）", "after": "（转移支付后）", "change": "变化"}


class CJKFontWarning(UserWarning):
    """No CJK font was found: Chinese labels will not render."""


# --------------------------------------------------------------------------------------------
# fonts


def _family_of(path: Path) -> str:
    font_manager.fontManager.addfont(str(path))
    return str(font_manager.FontProperties(fname=str(path)).get_name())


def _installed_families() -> set[str]:
    return {f.name for f in font_manager.fontManager.ttflist}


@functools.cache
def _resolve(setting: str | None, bundled: str) -> str | None:
    if setting:
        if setting.lower() == "bundled":
            if Path(bundled).is_file():
                return _family_of(Path(bundled))
        elif Path(setting).is_file():
            return _family_of(Path(setting))
        elif setting in _installed_families():
            return setting
        warnings.warn(
            f"TOWNFISCAL_CJK_FONT={setting!r} is not an installed font family or a font file; "
            "looking for another CJK font",
            CJKFontWarning,
            stacklevel=4,
        )
    installed = _installed_families()
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    if Path(bundled).is_file():
        return _family_of(Path(bundled))
    warnings.warn(
        "no CJK font found: Chinese labels will show as empty boxes. Install one "
        "(e.g. Debian's fonts-noto-cjk) or set TOWNFISCAL_CJK_FONT to a font file",
        CJKFontWarning,
        stacklevel=4,
    )
    return None


def cjk_font() -> str | None:
    """The family name of the CJK font the plots use, or ``None`` (with a warning) if none.

    Looks at ``TOWNFISCAL_CJK_FONT`` (family name, font file path, or ``bundled``), then the
    installed fonts in :data:`CJK_FAMILIES`, then the bundled subset :data:`BUNDLED_FONT`.
    The answer is cached per setting.

    Warns
    -----
    CJKFontWarning
        When no CJK font is usable (labels then fall back to matplotlib's default font).

    Examples
    --------
    >>> cjk_font() is not None
    True
    """
    return _resolve(os.environ.get("TOWNFISCAL_CJK_FONT") or None, str(BUNDLED_FONT))


def _rc() -> dict[Any, Any]:
    family = cjk_font()
    fonts = [family, "DejaVu Sans"] if family else ["DejaVu Sans"]
    return {"font.family": fonts, "axes.unicode_minus": False}


def use_cjk_font() -> str | None:
    """Make matplotlib's defaults use the CJK font for your own figures too (global rcParams).

    The plots of this module do not need it: they set their font themselves. Returns the
    family name, or ``None`` with a :class:`CJKFontWarning` when none is found.
    """
    import matplotlib as mpl

    rc = _rc()
    mpl.rcParams.update(rc)
    return cjk_font()


class _InlineFigure(Figure):
    """A matplotlib Figure that a notebook displays inline by itself: IPython's display hook
    calls :meth:`_repr_png_` on the value of a cell, whatever the backend (these figures are
    not pyplot's, so ``%matplotlib inline`` would not show them)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


@contextlib.contextmanager
def _cjk() -> Iterator[list[str]]:
    rc = _rc()
    with _rc_context(rc):
        yield list(rc["font.family"])


def _finish(fig: Figure, families: list[str]) -> Figure:
    """Pin every text of the figure to the CJK font (ticks made later copy the first tick)."""
    for text in fig.findobj(Text):
        text.set_fontfamily(families)
    return fig


# --------------------------------------------------------------------------------------------
# inputs


def _amounts(amounts: Any) -> pd.Series[Any]:
    """A Series of yuan per town from a Series or anything with ``.amounts`` (an Allocation)."""
    values = getattr(amounts, "amounts", amounts)
    if not isinstance(values, pd.Series):
        raise ValidationError(
            [
                Problem(
                    "amounts must be a Series of yuan indexed by town code, or an Allocation",
                    value=type(amounts).__name__,
                )
            ],
            what="plot input",
        )
    return values


def _need(towns: pd.DataFrame, columns: Sequence[str], codes: pd.Index) -> None:
    problems = [Problem("column is missing", column=c) for c in columns if c not in towns.columns]
    missing = codes.difference(towns.index)
    problems += [Problem("town is not in the towns table", row=str(c)) for c in missing[:50]]
    if problems:
        raise ValidationError(problems, what="towns table")


def _wan(x: float, _pos: object = None) -> str:
    return f"{x:,.0f}"


# --------------------------------------------------------------------------------------------
# figures


def lorenz(
    towns: pd.DataFrame,
    amounts: Any = None,
    *,
    population: str = "resident_population",
    title: str | None = None,
) -> Figure:
    """Lorenz curves of per-capita fiscal capacity before and after the transfer.

    Parameters
    ----------
    towns
        The towns to measure over (e.g. the eligible ones, ``towns.loc[alloc.amounts.index]``),
        with ``fiscal_capacity`` (yuan) and the population column.
    amounts
        Yuan per town (Series indexed by code, or an Allocation); ``None`` draws only "before".
    population
        The people per town to divide by and weight with (see
        :func:`townfiscal.metrics.capacity_per_capita`).
    title
        The figure title (default 人均可用财力洛伦兹曲线).

    Returns
    -------
    matplotlib Figure with one Axes; each curve's legend gives its Gini coefficient.
    """
    weights = towns[population] if population in towns.columns else None
    curves = {"before": metrics.capacity_per_capita(towns, population=population)}
    if amounts is not None:
        curves["after"] = metrics.capacity_per_capita(
            towns, _amounts(amounts), population=population
        )
    with _cjk() as families:
        fig = _InlineFigure(figsize=(6.4, 6.0), layout="constrained")
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="#888888", lw=1, ls="--", label="绝对平均线")
        style = {"before": ("转移支付前", "#C44E52"), "after": ("转移支付后", "#4C72B0")}
        for when, y in curves.items():
            curve = metrics.lorenz(y, weights)
            g = metrics.gini(y, weights)
            label, colour = style[when]
            ax.plot(
                curve["population_share"],
                curve["value_share"],
                color=colour,
                lw=2,
                label=f"{label}（基尼系数 {g:.3f}）",
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("人口累计占比")
        ax.set_ylabel("人均可用财力累计占比")
        ax.set_title(title or "人均可用财力洛伦兹曲线")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
    return _finish(fig, families)


def amounts_by_area(towns: pd.DataFrame, amounts: Any, *, title: str | None = None) -> Figure:
    """Total amounts (万元) by zone and by city, side by side; cities coloured by zone.

    Parameters
    ----------
    towns
        Towns table with ``city`` and ``zone`` for every town in ``amounts``.
    amounts
        Yuan per town (Series indexed by code, or an Allocation).

    Returns
    -------
    matplotlib Figure with two Axes: zones (left) and cities sorted by total (right).
    """
    amt = _amounts(amounts).astype(np.float64)
    _need(towns, ("city", "zone"), amt.index)
    info = towns.loc[amt.index, ["city", "zone"]]
    wan = amt / 10_000.0
    by_zone = wan.groupby(info["zone"]).sum()
    by_zone = by_zone.reindex([z for z in ZONES if z in by_zone.index])
    by_city = wan.groupby(info["city"]).sum().sort_values()
    city_zone = info.groupby("city")["zone"].agg(lambda z: z.mode().iloc[0])
    with _cjk() as families:
        fig = _InlineFigure(figsize=(11, max(4.0, 0.32 * len(by_city) + 1.5)), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[1, 1.6])
        zone_colours = [_ZONE_COLOURS.get(z, _OTHER_COLOUR) for z in by_zone.index]
        left.bar(
            [ZONE_LABELS.get(z, z) for z in by_zone.index], by_zone.to_numpy(), color=zone_colours
        )
        for i, v in enumerate(by_zone.to_numpy()):
            left.annotate(f"{v:,.0f}", (i, v), ha="center", va="bottom", fontsize=9)
        left.set_ylabel("补助金额（万元）")
        left.set_title("按区域")
        left.yaxis.set_major_formatter(_wan)
        colours = [_ZONE_COLOURS.get(city_zone[c], _OTHER_COLOUR) for c in by_city.index]
        right.barh(list(by_city.index), by_city.to_numpy(), color=colours)
        right.set_xlabel("补助金额（万元）")
        right.set_title("按地级市")
        right.xaxis.set_major_formatter(_wan)
        handles = [
            Patch(color=_ZONE_COLOURS[z], label=ZONE_LABELS[z])
            for z in ZONES
            if z in set(city_zone)
        ]
        right.legend(handles=handles, loc="lower right")
        total = float(wan.sum())
        fig.suptitle(title or f"补助资金分布（合计 {total:,.0f} 万元）")
    return _finish(fig, families)


def change_from_last_year(
    towns: pd.DataFrame,
    amounts: Any,
    *,
    label: int = 3,
    title: str | None = None,
) -> Figure:
    """Each town's change against last year's amount (%), sorted, coloured by zone.

    Towns without a last-year amount (``prior_amount`` NaN or 0) are left out and counted in
    the subtitle. The ``label`` largest gains and losses are named.

    Parameters
    ----------
    towns
        Towns table with ``name``, ``zone`` and ``prior_amount`` (yuan) for the towns paid.
    amounts
        Yuan per town this year (Series indexed by code, or an Allocation).
    label
        How many of the biggest gainers and of the biggest losers to name on the plot.

    Returns
    -------
    matplotlib Figure with one Axes: one bar per town, ascending.
    """
    amt = _amounts(amounts).astype(np.float64)
    _need(towns, ("name", "zone", "prior_amount"), amt.index)
    prior = towns.loc[amt.index, "prior_amount"].astype(np.float64)
    has_prior = prior > 0
    pct = ((amt - prior) / prior * 100.0)[has_prior].sort_values(kind="stable")
    zones = towns.loc[pct.index, "zone"]
    up, down = int((pct > 0.005).sum()), int((pct < -0.005).sum())
    same = len(pct) - up - down
    without = int((~has_prior).sum())
    with _cjk() as families:
        fig = _InlineFigure(figsize=(11, 5), layout="constrained")
        ax = fig.add_subplot()
        x = np.arange(len(pct))
        ax.bar(
            x,
            pct.to_numpy(),
            width=1.0,
            linewidth=0,
            color=[_ZONE_COLOURS.get(z, _OTHER_COLOUR) for z in zones],
        )
        ax.axhline(0, color="black", lw=0.8)
        n = len(pct)
        gainers = [i for i in range(n - 1, max(n - 1 - label, -1), -1) if pct.iloc[i] > 0.005]
        losers = [i for i in range(min(label, n)) if pct.iloc[i] < -0.005]
        for rank, i in [*enumerate(gainers), *enumerate(losers)]:
            gain = pct.iloc[i] > 0
            ax.annotate(
                f"{towns.at[pct.index[i], 'name']!s} {pct.iloc[i]:+.1f}%",
                (i, pct.iloc[i]),
                xytext=(-30 if gain else 30, (-16 if gain else 16) * (rank + 1)),
                textcoords="offset points",
                ha="right" if gain else "left",
                va="center",
                fontsize=8,
                arrowprops={"arrowstyle": "-", "color": "#555555", "lw": 0.5},
            )
        ax.set_xlim(-1, len(pct))
        ax.set_xticks([])
        ax.set_xlabel(f"乡镇（按变化排序，共 {len(pct)} 个）")
        ax.set_ylabel("较上年变化（%）")
        ax.grid(axis="y", alpha=0.3)
        handles = [
            Patch(color=_ZONE_COLOURS[z], label=ZONE_LABELS[z]) for z in ZONES if z in set(zones)
        ]
        ax.legend(handles=handles, loc="upper left")
        note = f"增加 {up} 个，减少 {down} 个，持平 {same} 个"
        if without:
            note += f"；{without} 个无上年补助，未列出"
        ax.set_title(note, fontsize=10)
        fig.suptitle(title or "各乡镇补助较上年变化")
    return _finish(fig, families)


def _column_label(column: str) -> str:
    for suffix, words in _WHEN.items():
        if column.endswith("_" + suffix):
            base = column[: -len(suffix) - 1]
            if base in MEASURE_LABELS:
                return MEASURE_LABELS[base] + words
    return MEASURE_LABELS.get(column, column)


def _failed_runs(data: pd.DataFrame, xs: np.ndarray[Any, np.dtype[np.float64]]
                 ) -> list[tuple[float, float, int, str]]:
    """Runs of consecutive failed scenarios (sorted by x): ``(left, right, count, label)``,
    the span reaching half-way to the neighbouring scenarios (half a step at the ends)."""
    failed = np.zeros(len(data), dtype=bool)
    if "status" in data.columns:
        failed |= data["status"].isin(["infeasible", "invalid"]).to_numpy()
    if "error" in data.columns:
        failed |= (data["error"].fillna("").astype(str) != "").to_numpy()
    if not failed.any() or not np.isfinite(xs).all():
        return []
    step = float(np.median(np.diff(xs))) if xs.size > 1 else 1.0
    statuses = (data["status"].astype(str).to_numpy() if "status" in data.columns
                else np.full(len(data), "infeasible"))
    out = []
    i = 0
    while i < len(xs):
        if not failed[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(xs) and failed[j + 1]:
            j += 1
        left = (xs[i - 1] + xs[i]) / 2 if i > 0 else xs[i] - step / 2
        right = (xs[j] + xs[j + 1]) / 2 if j + 1 < len(xs) else xs[j] + step / 2
        word = "无效" if set(statuses[i:j + 1]) == {"invalid"} else "不可行"
        out.append((float(left), float(right), j - i + 1, word))
        i = j + 1
    return out


def sweep(
    table: pd.DataFrame,
    *,
    x: str | None = None,
    y: Sequence[str] = ("gini_after", "cv_after", "max_min_after", "min_per_capita"),
    title: str | None = None,
) -> Figure:
    """Curves of a sweep: each measure against the swept fund or parameter value.

    Parameters
    ----------
    table
        A sweep's table (see :func:`townfiscal.sweep`): one row per scenario with the swept
        column (``fund`` in yuan, or ``value`` for a parameter) and the measure columns.
    x
        The swept column (default ``fund`` when present, else ``value``); a fund is shown in
        亿元 (100 million yuan).
    y
        The columns to draw, one panel each; columns the table lacks are skipped.

    Scenarios that failed (``status`` infeasible or invalid, or an ``error``) have no
    measures: each run of them is shaded on every panel and labelled with how many there
    are (e.g. "不可行 7 个情景"), so a curve that stops says why.

    Returns
    -------
    matplotlib Figure with one Axes per drawn column.

    Raises
    ------
    ValidationError
        When the table has neither the x column nor any of the y columns.
    """
    x = x or ("fund" if "fund" in table.columns else "value")
    ys = [c for c in y if c in table.columns]
    problems = []
    if x not in table.columns:
        problems.append(Problem("the swept column is missing", column=x))
    if not ys:
        problems.append(Problem(f"none of the columns {list(y)} is in the table"))
    if problems:
        raise ValidationError(problems, what="sweep table")
    data = table.sort_values(x)
    xs = data[x].to_numpy(dtype=np.float64)
    xlabel = str(table.attrs.get("param", x))
    if x == "fund":
        xs = xs / 1e8
        xlabel = "资金总额（亿元）"
    with _cjk() as families:
        ncols = 2 if len(ys) == 4 else min(len(ys), 3)
        nrows = -(-len(ys) // ncols)
        fig = _InlineFigure(figsize=(4.4 * ncols, 3.6 * nrows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
        runs = _failed_runs(data, xs)
        for ax, col in zip(axes, ys, strict=False):
            ax.plot(xs, data[col].to_numpy(dtype=np.float64), marker="o", ms=3, lw=1.5)
            for left, right, count, word in runs:
                ax.axvspan(left, right, color="tab:red", alpha=0.12, lw=0)
                ax.text((left + right) / 2, 0.97, f"{word}\n{count} 个情景", ha="center",
                        va="top", fontsize=8, color="tab:red",
                        transform=ax.get_xaxis_transform())
            ax.set_xlabel(xlabel)
            ax.set_ylabel(_column_label(col))
            ax.grid(alpha=0.3)
        for ax in axes[len(ys) :]:
            ax.set_visible(False)
        fig.suptitle(title or "情景分析：指标随参数变化")
    return _finish(fig, families)
