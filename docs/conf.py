"""Sphinx configuration for the townfiscal documentation.

Build with ``nox -s docs`` (or ``sphinx-build -W --keep-going -b html docs docs/_build/html``
after ``npm ci --prefix docs``). Formulas are rendered to static HTML at build time by KaTeX
running under Node, and the KaTeX stylesheet and fonts are served from ``_static``: the built
pages need no network. Every figure in a worked example is computed by the library while the
pages are built (see ``_ext/tf_docs.py``). Chinese needs no font on the reader's machine: once
the pages are written, a web font with exactly their CJK characters is cut from the package's
bundled font into ``_static/fonts`` (``tools/subset_cjk_font.py``; needs fontTools and brotli).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ConfigError, ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
# Document (and execute) the source tree beside these docs, even if another copy is installed.
sys.path.insert(0, str(ROOT / "src"))

import townfiscal  # noqa: E402  (after the path set-up, on purpose)

project = "townfiscal"
author = "townfiscal developers"
copyright = "2026, townfiscal developers"
release = townfiscal.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinxcontrib.katex",
    "tf_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "node_modules",
    "tools",
    "_ext",
    "README.md",
    "Thumbs.db",
    ".DS_Store",
]
language = "en"
nitpicky = False
# A code block Pygments cannot lex strictly (e.g. JSON with "…" for elided parts) is still shown,
# highlighted in relaxed mode: not worth failing the build for.
suppress_warnings = ["misc.highlighting_failure"]

# -- MyST ------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# -- autodoc ---------------------------------------------------------------------------------
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes:" as fields, not entries that clash with :members:
napoleon_attr_annotations = False  # attrs field types are in the signature already

# -- KaTeX: pre-rendered at build time, no network when reading --------------------------------
katex_prerender = True


def _katex_dist() -> Path:
    """The ``dist`` folder of the pinned ``katex`` npm package (``npm ci --prefix docs``)."""
    candidates = []
    if os.environ.get("KATEX_DIST"):
        candidates.append(Path(os.environ["KATEX_DIST"]))
    candidates.append(DOCS / "node_modules" / "katex" / "dist")
    for c in candidates:
        if (c / "katex.min.css").is_file() and (c / "katex.min.js").is_file():
            return c
    raise ConfigError(
        "KaTeX not found: run `npm ci --prefix docs` (or set KATEX_DIST to katex's dist folder)"
    )


if shutil.which("node") is None:
    raise ConfigError("Node.js is needed to pre-render formulas with KaTeX: install `nodejs`")

_KATEX = _katex_dist()
# Render with the very KaTeX whose stylesheet we ship, so markup and CSS always match.
katex_js_path = str(_KATEX / "katex.min.js")
# The stylesheet and its fonts are copied into a private folder of this build (so two builds
# never race) and served locally from _static/katex/.
_KATEX_STATIC = Path(tempfile.mkdtemp(prefix="townfiscal-docs-katex-"))
atexit.register(shutil.rmtree, _KATEX_STATIC, ignore_errors=True)
(_KATEX_STATIC / "katex").mkdir(parents=True)
shutil.copy2(_KATEX / "katex.min.css", _KATEX_STATIC / "katex" / "katex.min.css")
shutil.copytree(_KATEX / "fonts", _KATEX_STATIC / "katex" / "fonts")
katex_css_path = "katex/katex.min.css"
katex_options = ""

# -- HTML ------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"townfiscal {release}"
html_static_path = ["_static", str(_KATEX_STATIC)]
html_css_files = ["townfiscal.css"]
html_show_sourcelink = False
# The CJK web font (below) joins furo's font stacks, ahead of the generic families so that
# Chinese is drawn with it and not with whatever CJK font the reader's system picks; its
# unicode-range (docs/_static/townfiscal.css) keeps it away from Latin text.
_CJK_FAMILY = '"Townfiscal Sans CJK SC Web"'
html_theme_options = {
    "navigation_with_keys": True,
    "light_css_variables": {
        "font-stack": (
            f"-apple-system, BlinkMacSystemFont, Segoe UI, Helvetica, Arial, {_CJK_FAMILY}, "
            "sans-serif, Apple Color Emoji, Segoe UI Emoji"
        ),
        "font-stack--monospace": (
            '"SFMono-Regular", Menlo, Consolas, Monaco, Liberation Mono, Lucida Console, '
            f"{_CJK_FAMILY}, monospace"
        ),
    },
}


def _cjk_web_font(app: Sphinx, exception: Exception | None) -> None:
    """Cut the CJK web font from the bundled font, with exactly the characters the pages use.

    Runs once every page is written (``tools/subset_cjk_font.py`` explains why the font is made
    at build time); a CJK character the bundled font lacks fails the build.
    """
    if exception is not None or app.builder.format != "html":
        return
    spec = importlib.util.spec_from_file_location("subset_cjk_font", ROOT / "tools" /
                                                  "subset_cjk_font.py")
    if spec is None or spec.loader is None:
        raise ExtensionError("tools/subset_cjk_font.py not found")
    tool = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(tool)
        n, size = tool.build_web_font(Path(app.outdir), Path(app.outdir) / "_static" / "fonts")
    except ImportError as e:
        raise ExtensionError(
            f"the CJK web font needs fontTools and brotli ({e}): pip install -e '.[docs]'"
        ) from e
    except ValueError as e:
        raise ExtensionError(str(e)) from e
    logger.info("CJK web font: %d characters, %.1f kB", n, size / 1e3)


def _preload_cjk_font(app: Sphinx, pagename: str, templatename: str,
                      context: dict[str, Any], doctree: object) -> None:
    """Preload the CJK web font on every page (the navigation alone has Chinese titles).

    Loaded only when the layout first meets a Chinese character, the font can arrive after the
    text was laid out with a fallback font lacking the glyphs, and Chromium may keep those
    empty boxes (docs/tools/check_rendered.py saw it); preloaded, it is there from the start.
    """
    href = context["pathto"]("_static/fonts/townfiscal-cjk.woff2", 1)
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="preload" href="{href}" as="font" type="font/woff2" crossorigin>'
    )


def setup(app: Sphinx) -> None:
    app.connect("html-page-context", _preload_cjk_font)
    app.connect("build-finished", _cjk_web_font)

# -- townfiscal's own directives (``_ext/tf_docs.py``) -----------------------------------------
tf_repo_root = str(ROOT)
tf_examples_dir = str(ROOT / "examples")
