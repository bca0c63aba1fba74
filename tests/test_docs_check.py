"""The headless-browser check of the docs flags unrendered formulas and network resources."""

from __future__ import annotations

import importlib.util
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
