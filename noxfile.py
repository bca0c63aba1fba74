"""Developer tasks: ``nox -l`` lists them, ``nox -s NAME`` runs one.

Modelled on the Scientific Python cookie's noxfile. Each session installs what it needs into
its own virtualenv from ``pyproject.toml``'s extras; ``nox --no-venv --no-install -s NAME``
runs a session in the current environment instead.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import nox

DIR = Path(__file__).parent.resolve()
DOCS = DIR / "docs"

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "docs", "examples"]


@nox.session
def lint(session: nox.Session) -> None:
    """Run ruff over the sources, tests, docs tooling and examples."""
    session.install("ruff")
    paths = ["src", "tests", "examples", "benchmarks", "docs/conf.py", "docs/_ext", "docs/tools"]
    session.run("ruff", "check", *[p for p in paths if (DIR / p).exists()], "noxfile.py",
                *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """Run mypy --strict on the package (configuration in pyproject.toml)."""
    session.install("-e", ".[test]", "mypy", "pandas-stubs")
    session.run("mypy", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the unit tests."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


def _katex(session: nox.Session) -> None:
    """Install the pinned KaTeX (docs/package.json) and put its bin folder on PATH."""
    wanted = json.loads((DOCS / "package.json").read_text())["dependencies"]["katex"]
    have = DOCS / "node_modules" / "katex" / "package.json"
    if not (have.is_file() and json.loads(have.read_text())["version"] == wanted):
        session.run("npm", "ci", "--prefix", str(DOCS), "--no-audit", "--no-fund",
                    external=True)
    session.env["PATH"] = os.pathsep.join(
        [str(DOCS / "node_modules" / ".bin"), session.env.get("PATH") or os.environ["PATH"]]
    )


def _build_docs(session: nox.Session) -> None:
    session.install("-e", ".[docs,plots]")
    _katex(session)
    shutil.rmtree(DOCS / "_build" / "html", ignore_errors=True)
    session.run(
        "sphinx-build", "-E", "-W", "--keep-going", "-b", "html",
        str(DOCS), str(DOCS / "_build" / "html"), *session.posargs,
    )


@nox.session(reuse_venv=True)
def docs(session: nox.Session) -> None:
    """Build the docs (warnings are errors); every worked example is computed on the way.

    The site lands in docs/_build/html; formulas are pre-rendered by KaTeX under Node.
    """
    _build_docs(session)


@nox.session(name="docs_check", reuse_venv=True)
def docs_check(session: nox.Session) -> None:
    """Build the docs, then open the rendered pages in headless Chromium, offline.

    Checks every formula rendered (no raw TeX left) with the local KaTeX fonts and no network,
    and saves screenshots to docs/_build/screenshots. Needs Debian's `chromium` package.
    """
    _build_docs(session)
    session.run("python", str(DOCS / "tools" / "check_rendered.py"))


@nox.session
def examples(session: nox.Session) -> None:
    """Run every script in examples/, each in a fresh folder; fail if any fails."""
    session.install("-e", ".[plots]")
    scripts = sorted(p for p in (DIR / "examples").glob("*.py") if not p.name.startswith("_"))
    if not scripts:
        session.error("no scripts in examples/")
    session.env["MPLBACKEND"] = "Agg"
    failed = []
    for script in scripts:
        with tempfile.TemporaryDirectory(prefix=f"example-{script.stem}-") as tmp, \
                session.chdir(tmp):
            try:
                session.run("python", str(script))
            except nox.command.CommandFailed:
                failed.append(script.name)
    if failed:
        session.error(f"examples failed: {', '.join(failed)}")


@nox.session
def build(session: nox.Session) -> None:
    """Build the sdist and wheel into dist/."""
    shutil.rmtree(DIR / "dist", ignore_errors=True)
    session.install("build")
    session.run("python", "-m", "build")
