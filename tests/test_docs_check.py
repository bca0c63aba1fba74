"""The headless-browser check of the docs flags unrendered formulas and network resources."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[1] / "docs" / "tools" / "check_rendered.py"


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_rendered", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RENDERED = (
    '<div class="math"><span class="katex-display"><span class="katex">'
    '<span class="katex-mathml"><math><annotation encoding="application/x-tex">'
    "x = $$y$$</annotation></math></span>"
    '<span class="katex-html">x</span></span></span></div>'
)


def test_rendered_formula_passes(checker: ModuleType) -> None:
    """A formula rendered by KaTeX raises no problem, and TeX inside its annotation is ignored."""
    problems, n = checker.check_dom(f"<html><body><p>text</p>{RENDERED}</body></html>")
    assert (problems, n) == ([], 1)


def test_raw_formula_is_flagged(checker: ModuleType) -> None:
    """A .math element left as raw TeX is counted as unrendered and its $$ is reported."""
    dom = f'<html><body>{RENDERED}<div class="math">$$a + b$$</div></body></html>'
    problems, n = checker.check_dom(dom)
    assert n == 2
    assert "2 formulas but only 1 rendered by KaTeX" in problems
    assert "raw $$ left in the page text" in problems


def test_katex_error_is_flagged(checker: ModuleType) -> None:
    """KaTeX's error markup fails the check."""
    dom = f'<html><body>{RENDERED}<span class="katex-error">\\frac</span></body></html>'
    problems, _ = checker.check_dom(dom)
    assert "KaTeX reported an error (class katex-error)" in problems


def test_dollars_in_code_are_allowed(checker: ModuleType) -> None:
    """Dollar signs inside code blocks are code, not formulas."""
    problems, n = checker.check_dom("<html><body><pre>echo $$</pre></body></html>")
    assert (problems, n) == ([], 0)


def test_network_resources_are_flagged(checker: ModuleType, tmp_path: Path) -> None:
    """Stylesheets, scripts and CSS fonts from the network are reported; plain links are not."""
    static = tmp_path / "_static"
    static.mkdir()
    (static / "local.css").write_text(
        "@font-face{src:url(fonts/a.woff2)} .b{background:url('https://cdn.example/x.png')}"
    )
    page = tmp_path / "page.html"
    page.write_text(
        '<html><head><link rel="stylesheet" href="_static/local.css">'
        '<link rel="stylesheet" href="https://cdn.example/katex.min.css">'
        '<script src="//cdn.example/k.js"></script></head>'
        '<body><a href="https://example.org/">a link</a><img src="_static/x.png"></body></html>'
    )
    found = checker.external_resources(page)
    assert found == [
        "https://cdn.example/katex.min.css",
        "//cdn.example/k.js",
        "'https://cdn.example/x.png' (in local.css)",
    ]


# --- fonts: the CJK web font and the missing-glyph check ------------------------------------

ROOT = Path(__file__).resolve().parents[1]
FONT_TOOL = ROOT / "tools" / "subset_cjk_font.py"
KATEX_MAIN = ROOT / "docs" / "node_modules" / "katex" / "dist" / "fonts" / "KaTeX_Main-Regular.ttf"


@pytest.fixture(scope="module")
def font_tool() -> ModuleType:
    pytest.importorskip("fontTools")
    spec = importlib.util.spec_from_file_location("subset_cjk_font", FONT_TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cjk_ranges_agree(checker: ModuleType, font_tool: ModuleType) -> None:
    """The checker, the font tool and the stylesheet's unicode-range name the same CJK blocks."""
    assert checker.CJK_RANGES == font_tool.CJK_RANGES
    css = (ROOT / "docs" / "_static" / "townfiscal.css").read_text(encoding="utf-8")
    declared = re.search(r"unicode-range:([^;]+);", css)
    assert declared is not None
    assert " ".join(declared.group(1).split()) == font_tool.unicode_range()
    assert [font_tool.is_cjk(c) for c in "镇鄉（，〔A·é"] == [True] * 5 + [False] * 3


def _drawn(text: str, *fonts: tuple[str, bool, int]) -> tuple[str, int, list[dict[str, object]]]:
    count = sum(1 for c in text if "\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef")
    return text, count, [{"familyName": f, "isCustomFont": web, "glyphCount": n}
                         for f, web, n in fonts]


WEB = "Townfiscal Sans CJK SC"


def test_text_drawn_with_the_web_font_passes(checker: ModuleType) -> None:
    """CJK text whose every CJK glyph comes from the web font passes; hidden text is not counted.

    Latin characters around it may come from any font.
    """
    texts = [_drawn("甲子镇", (WEB, True, 3)),
             _drawn("441581101 补助 (鄉鎮)", ("Arial", False, 13), (WEB, True, 4)),
             _drawn("隐藏")]
    assert checker.glyph_problems(texts) == ([], 2)


def test_text_drawn_with_another_font_fails(checker: ModuleType) -> None:
    """CJK glyphs from a system font, or from a web font other than the docs' own, fail."""
    texts = [
        _drawn("甲子镇", (WEB, True, 3)),
        _drawn("鄉鎮 2020", ("DejaVu Sans", False, 7)),
        _drawn("鄉鎮 2020", ("DejaVu Sans", False, 7)),
        _drawn("縣", ("DejaVu Sans", False, 1)),
        _drawn("补助金", (WEB, True, 2), ("Noto Sans CJK SC", False, 1)),
        _drawn("江湾镇", ("Noto Sans CJK SC", True, 3)),
    ]
    problems, drawn = checker.glyph_problems(texts)
    assert drawn == 6
    assert problems == [
        "3 text(s) with CJK characters drawn with DejaVu Sans (system font), not the web font "
        "(missing glyphs): '鄉鎮 2020', '縣'",
        "1 text(s) with CJK characters drawn with Noto Sans CJK SC (system font), not the web "
        "font (missing glyphs): '补助金'",
        "1 text(s) with CJK characters drawn with Noto Sans CJK SC (web font), not the web "
        "font (missing glyphs): '江湾镇'",
    ]


def _site(tmp_path: Path, body: str) -> Path:
    site = tmp_path / "site"
    (site / "_sources").mkdir(parents=True)
    (site / "index.html").write_text(
        f"<html><head><title>t</title></head><body>{body}</body></html>", encoding="utf-8"
    )
    return site


def test_web_font_holds_every_cjk_character_of_the_site(font_tool: ModuleType,
                                                        tmp_path: Path) -> None:
    """The web font holds exactly the site's CJK characters (plus common punctuation)."""
    pytest.importorskip("brotli")
    from fontTools.ttLib import TTFont

    site = _site(tmp_path, "<p>441581101 甲子镇 补助 (鄉鎮)</p>")
    (site / "_sources" / "page.md.txt").write_text("縣", encoding="utf-8")
    n, size = font_tool.build_web_font(site, site / "_static" / "fonts")
    font = TTFont(str(site / "_static" / "fonts" / "townfiscal-cjk.woff2"))
    cmap = {chr(c) for c in font.getBestCmap()}
    assert n == 8
    assert set("甲子镇补助鄉鎮縣") <= cmap
    kept = set("甲子镇补助鄉鎮縣\u3000、。，：；（）")
    assert {c for c in cmap if font_tool.is_cjk(c)} == kept
    assert font.flavor == "woff2"
    assert 0 < size < 20_000
    licence = (site / "_static" / "fonts" / "OFL.txt").read_text(encoding="utf-8")
    assert "8 CJK characters" in licence
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence


def test_character_missing_from_bundled_font_fails(font_tool: ModuleType,
                                                   tmp_path: Path) -> None:
    """A CJK character the bundled font lacks stops the build, named with its page."""
    site = _site(tmp_path, "<p>镇 𠀀 龘</p>")
    with pytest.raises(ValueError, match="2 CJK character") as err:
        font_tool.build_web_font(site, tmp_path / "fonts")
    assert "𠀀 U+20000 in index.html" in str(err.value)
    assert "龘 U+9F98 in index.html" in str(err.value)
    assert not (tmp_path / "fonts").exists()


# --- the whole check in Chromium, on a small site ----------------------------------------------

# The body's first family is the check's one system font, as Arial or Segoe UI is on a reader's
# machine: the CJK characters then come from the web font only if it was there in time.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>t</title>{preload}<style>
{font_face}
body {{ margin: 0; font-family: "Townfiscal Check Fallback", "CJK Web", sans-serif; }}
article {{ width: 600px; margin-left: 20px; }}
.table-wrapper {{ overflow-x: auto; }}
</style></head><body><article role="main"><section><h1>样例</h1>
<p>甲子镇的补助 (鄉鎮).</p>
<div class="table-wrapper"><table><tr><td>{wide}</td></tr></table></div>
{extra}
</section></article></body></html>"""


def _browser_site(tmp_path: Path, font_tool: ModuleType, *, font: bool, extra: str = "") -> Path:
    if not KATEX_MAIN.is_file():
        pytest.skip("KaTeX's fonts are not installed (npm ci --prefix docs)")
    pytest.importorskip("brotli")
    face = ('@font-face { font-family: "CJK Web"; src: url("_static/fonts/townfiscal-cjk.woff2") '
            'format("woff2"); unicode-range: ' + font_tool.unicode_range() + "; }")
    preload = ('<link rel="preload" href="_static/fonts/townfiscal-cjk.woff2" as="font" '
               'type="font/woff2" crossorigin>')
    html = PAGE.format(font_face=face if font else "", preload=preload if font else "",
                       wide="x" * 200, extra=extra)
    site = _site(tmp_path, "")
    (site / "index.html").write_text(html, encoding="utf-8")
    font_tool.build_web_font(site, site / "_static" / "fonts")
    fonts = site / "_static" / "katex" / "fonts"
    fonts.mkdir(parents=True)
    shutil.copy2(KATEX_MAIN, fonts / KATEX_MAIN.name)
    return site


needs_chromium = pytest.mark.skipif(
    not (os.environ.get("CHROMIUM") or shutil.which("chromium")), reason="no chromium"
)


@needs_chromium
def test_browser_check_passes_with_the_web_font(checker: ModuleType, font_tool: ModuleType,
                                                tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """With the web font declared, all CJK text is drawn with it; a scrolling table is fine."""
    site = _browser_site(tmp_path, font_tool, font=True)
    assert checker.main(["--build", str(site), "--out", str(tmp_path / "shots"),
                         "index.html"]) == 0
    out = capsys.readouterr().out
    assert "ok     index.html: 0 formulas, 2 texts with CJK, 1 scrolling tables" in out


@needs_chromium
def test_browser_check_fails_without_the_web_font(checker: ModuleType, font_tool: ModuleType,
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Without the @font-face, the CJK text is drawn with the Latin fallback: the check fails."""
    site = _browser_site(tmp_path, font_tool, font=False)
    assert checker.main(["--build", str(site), "--out", str(tmp_path / "shots"),
                         "index.html"]) == 1
    err = capsys.readouterr().err
    assert ("index.html: 2 text(s) with CJK characters drawn with Townfiscal Check Fallback "
            "(system font), not the web font (missing glyphs): '样例', '甲子镇的补助 (鄉鎮).'"
            ) in err
    assert "did not load _static/fonts/townfiscal-cjk.woff2" in err


@needs_chromium
def test_browser_check_finds_clipped_and_scrolling_lines(checker: ModuleType,
                                                         font_tool: ModuleType, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """Cut-off, sideways-scrolling and spilling lines fail; a wrapped line does not."""
    line = "clip(1,488,567, 1,521,360, 1,749,564) = 1,521,360 " * 3  # about 900 px
    extra = (f'<pre style="overflow-x: hidden">{line}</pre>'
             f'<pre style="overflow-x: auto">{line}</pre>'
             f'<div style="white-space: nowrap">{line}</div>'
             f'<pre style="white-space: pre-wrap">{line}</pre>')
    site = _browser_site(tmp_path, font_tool, font=True, extra=extra)
    assert checker.main(["--build", str(site), "--out", str(tmp_path / "shots"),
                         "index.html"]) == 1
    failures = [x for x in capsys.readouterr().err.splitlines() if x.startswith("index.html")]
    assert len(failures) == 3, failures
    assert "pre in “样例”: content cut off" in failures[0]
    assert "pre in “样例”: scrolls sideways" in failures[1]
    assert "its lines must wrap or be split" in failures[1]
    assert "div in “样例”: reaches" in failures[2]
    assert "px past the article column" in failures[2]


def test_every_page_is_checked_but_highlighted_source(checker: ModuleType,
                                                      tmp_path: Path) -> None:
    """By default the check visits every HTML page, the index and search pages included."""
    for rel in ("index.html", "search.html", "genindex.html", "rules/formula.html",
                "examples/plots.html", "_modules/townfiscal/rules.html", "_static/x.html",
                "_sources/index.md.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("<html></html>", encoding="utf-8")
    assert checker.default_pages(tmp_path) == [
        "examples/plots.html", "genindex.html", "index.html", "rules/formula.html", "search.html",
    ]
