"""Sphinx configuration for the townfiscal documentation.

Build with ``nox -s docs`` (or ``sphinx-build -W --keep-going -b html docs docs/_build/html``
after ``npm ci --prefix docs``). Formulas are rendered to static HTML at build time by KaTeX
running under Node, and the KaTeX stylesheet and fonts are served from ``_static``: the built
pages need no network. Every figure in a worked example is computed by the library while the
pages are built (see ``_ext/tf_docs.py``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from sphinx.errors import ConfigError

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
html_theme_options = {
    "navigation_with_keys": True,
}

# -- townfiscal's own directives (``_ext/tf_docs.py``) -----------------------------------------
tf_repo_root = str(ROOT)
tf_examples_dir = str(ROOT / "examples")
