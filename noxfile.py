"""Sessions: tests, lint, typecheck, docs, examples, build (``nox -l`` lists them)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typecheck", "tests"]

ROOT = Path(__file__).parent
PYTHON = "3.11"
TESTED_PYTHONS = ["3.11", "3.13"]
"""The oldest Python the package supports and the newest these machines have."""


@nox.session(python=TESTED_PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the whole test suite (``tests-3.11``, ``tests-3.13``)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff over the code, tests, benchmarks, examples and docs tooling; the wings' layers.

    ``lint-imports`` checks the contracts in pyproject.toml: the wings' layers, no import
    cycles, nothing importing the package's public face (docs/layout.md).
    """
    session.install("ruff>=0.5", "import-linter>=2.17")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "noxfile.py",
                "docs/conf.py", "docs/_ext", "docs/tools", "tools")
    session.install("-e", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Mypy, strict, over the package."""
    session.install("-e", ".[all]", "mypy>=1.10", "pandas-stubs")
    session.run("mypy")


def _katex(session: nox.Session) -> None:
    """Install the pinned KaTeX (docs/package.json) and put its bin folder on PATH.

    KaTeX renders every formula to static HTML during the build (sphinxcontrib-katex with
    ``katex_prerender``), so the built pages need no network.
    """
    docs = ROOT / "docs"
    wanted = json.loads((docs / "package.json").read_text())["dependencies"]["katex"]
    have = docs / "node_modules" / "katex" / "package.json"
    if not (have.is_file() and json.loads(have.read_text())["version"] == wanted):
        session.run("npm", "ci", "--prefix", str(docs), "--no-audit", "--no-fund", external=True)
    session.env["PATH"] = os.pathsep.join(
        [str(docs / "node_modules" / ".bin"), session.env.get("PATH") or os.environ["PATH"]]
    )


def _build_docs(session: nox.Session) -> None:
    session.install("-e", ".[docs,plots,service]")
    _katex(session)
    out = ROOT / "docs" / "_build" / "html"
    shutil.rmtree(out, ignore_errors=True)
    # -E: a fresh environment, so every worked example is recomputed on every build
    session.run("sphinx-build", "-E", "-W", "--keep-going", "-b", "html", "docs", str(out),
                *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors; worked examples run on the way."""
    _build_docs(session)


@nox.session(python=PYTHON, name="docs_check")
def docs_check(session: nox.Session) -> None:
    """Build the docs, then check every page in headless Chromium, offline, without CJK fonts.

    Every formula must be rendered by KaTeX with the local fonts, every Chinese character drawn
    with the docs' web font, nothing clipped at 1,280 px and nothing fetched from the network;
    screenshots go to docs/_build/screenshots. Needs Debian's `chromium` package.
    """
    _build_docs(session)
    session.run("python", str(ROOT / "docs" / "tools" / "check_rendered.py"))


@nox.session(python=PYTHON)
def examples(session: nox.Session) -> None:
    """Run every script in examples/."""
    session.install("-e", ".[all]")
    session.env["MPLBACKEND"] = "Agg"
    for script in sorted((ROOT / "examples").glob("*.py")):
        session.run("python", str(script), str(ROOT / "out" / "examples"))


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build the sdist and wheel."""
    session.install("build")
    shutil.rmtree(ROOT / "dist", ignore_errors=True)
    session.run("python", "-m", "build")
