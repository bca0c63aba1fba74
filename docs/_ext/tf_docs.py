"""Sphinx directives that make the townfiscal docs compute their own figures.

Every number in a worked example is produced by running the library while the pages are built;
nothing is typed by hand. A failing cell, an unexpected exception or a Python warning raised by
a cell is a Sphinx warning, so ``sphinx-build -W`` stops on it.

Directives and roles (usable from MyST as ```` ```{tf-exec} ```` and ``{tf-eval}`…```):

``tf-exec``
    Run Python code in the page's namespace (shared by every cell of the page, like a
    notebook). Shows the code, what it printed, and the value of a final expression
    (a DataFrame or Series as a table). Options: ``:hide-code:``, ``:hide-output:``,
    ``:max-rows: N``, ``:raises: ExceptionName`` (the cell must raise it; the message is shown),
    ``:if-importable: module`` (skip the cell in a version without that module).
``tf-eval`` (role)
    The value of a Python expression in the page's namespace, as inline text
    (integers get thousands separators).
``tf-math``
    A display formula whose ``<<expr>>`` (or ``<<expr|format-spec>>``) placeholders are
    replaced by values computed in the page's namespace, pre-rendered like any formula.
``tf-policy-table``
    The table of a policy's parameters (value, published or assumption, source), read from the
    policy files during the build. Argument: policy id; option ``:prefix:`` (comma-separated
    dotted-path prefixes).
``tf-legal-basis``
    A measure's legal basis from its policy file: title, document (issuing body and number),
    date and where it comes from, status (in force or superseded), the article (option
    ``:article:``) and whether the project holds the article's text (option ``:copy:``).
``tf-says-assumes``
    Two boxes from a policy file: what the measures say (published values and their sources)
    and what the library assumes (values and reasons). Options as for ``tf-policy-table``.
``tf-example``
    Run a script from ``examples/`` in a fresh directory and show its source, its output
    and any figures it saved.
``tf-cli``
    The ``--help`` text of the ``townfiscal`` command and of each of its subcommands.
``tf-openapi``
    The HTTP service's endpoints (``:part: paths``), schemas (``:part: schemas``) or error
    codes (``:part: errors``), rendered from the OpenAPI document the service itself serves.
``tf-shell``
    Run ``townfiscal <args>`` during the build and show the command with its output.

At ``builder-inited`` the extension also writes the API reference listing (one entry per
name in ``townfiscal.__all__``, grouped by the module that defines it) and one page per script
in ``examples/``; both are generated, not committed.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import io
import math
import numbers
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

logger = logging.getLogger(__name__)

_NS_KEY = "tf_docs_namespace"
_IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")


# ---------------------------------------------------------------------------------------------
# the page namespace and running code
# ---------------------------------------------------------------------------------------------


def _importable(module: str) -> bool:
    """Whether *module* can be imported (False also when a parent package is missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _namespace(env: Any) -> dict[str, Any]:
    """The namespace shared by every cell of the document being read (fresh per document)."""
    ns = env.temp_data.get(_NS_KEY)
    if ns is None:
        ns = {"__name__": "__tf_docs__", "__builtins__": __builtins__}
        env.temp_data[_NS_KEY] = ns
    return ns


class _CellResult:
    def __init__(self) -> None:
        self.stdout = ""
        self.value: Any = None
        self.has_value = False
        self.error: BaseException | None = None
        self.error_text = ""
        self.warnings: list[warnings.WarningMessage] = []
        self.figures: list[Any] = []


def _run_cell(code: str, ns: dict[str, Any], filename: str) -> _CellResult:
    """Run ``code`` like a notebook cell: statements, then the value of a final expression."""
    res = _CellResult()
    buf = io.StringIO()
    try:
        tree = ast.parse(code, filename=filename, mode="exec")
    except SyntaxError as exc:
        res.error = exc
        res.error_text = "".join(traceback.format_exception_only(type(exc), exc))
        return res
    last: ast.expr | None = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop().value  # type: ignore[attr-defined]
    plt = sys.modules.get("matplotlib.pyplot")
    before = set(plt.get_fignums()) if plt is not None else set()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(buf),
    ):
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        try:
            exec(compile(tree, filename, "exec"), ns)
            if last is not None:
                expr = ast.Expression(last)
                res.value = eval(compile(expr, filename, "eval"), ns)
                res.has_value = res.value is not None
        except BaseException as exc:
            res.error = exc
            tb = traceback.TracebackException.from_exception(exc)
            # keep only the frames of the cell itself and below, not this extension's
            tb.stack = traceback.StackSummary.from_list(
                [f for f in tb.stack if f.filename != __file__]
            )
            res.error_text = "".join(tb.format())
    res.stdout = buf.getvalue()
    res.warnings = list(caught)
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        res.figures = [plt.figure(n) for n in plt.get_fignums() if n not in before]
    return res


# ---------------------------------------------------------------------------------------------
# formatting values
# ---------------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """Inline text for a computed value: integers with thousands separators."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isfinite(v) and v == int(v) and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{v:,.6g}"
    return str(value)


def _latex_number(text: str) -> str:
    return text.replace(",", "{,}").replace("%", r"\%")


def _column_formatter(col: Any) -> Any:
    import numpy as np
    import pandas as pd

    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return str
    if pd.api.types.is_integer_dtype(dtype):
        return lambda v: "—" if pd.isna(v) else f"{int(v):,}"
    if pd.api.types.is_float_dtype(dtype):
        finite = col[np.isfinite(col.to_numpy(dtype=float, na_value=np.nan))]
        big = len(finite) > 0 and float(np.abs(finite).max()) >= 1000
        whole = len(finite) > 0 and bool((finite == np.round(finite)).all())

        def fmt(v: Any) -> str:
            if pd.isna(v):
                return "—"
            if np.isinf(v):
                return "∞" if v > 0 else "−∞"
            if whole or (big and abs(v) >= 1e5):
                return f"{v:,.0f}"
            if abs(v) >= 100:
                return f"{v:,.2f}"
            return f"{v:.4f}"

        return fmt
    return lambda v: "—" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def frame_table(frame: Any, max_rows: int = 12) -> list[nodes.Node]:
    """A pandas DataFrame or Series as a docutils table (head and tail when long)."""
    import pandas as pd

    df = frame.to_frame() if isinstance(frame, pd.Series) else frame
    n = len(df)
    truncated = max_rows > 0 and n > max_rows
    if truncated:
        top = max_rows - max_rows // 2
        shown = pd.concat([df.iloc[:top], df.iloc[n - (max_rows // 2) :]])
    else:
        shown = df
    index_names = [str(x) if x is not None else "" for x in shown.index.names]
    header = [*index_names, *[str(c) for c in shown.columns]]
    formatters = [_column_formatter(df[c]) for c in df.columns]

    table = nodes.table(classes=["tf-frame"])
    tgroup = nodes.tgroup(cols=len(header))
    table += tgroup
    for _ in header:
        tgroup += nodes.colspec(colwidth=1)

    def row_of(cells: list[str]) -> nodes.row:
        row = nodes.row()
        for text in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=text)
            row += entry
        return row

    thead = nodes.thead()
    thead += row_of(header)
    tgroup += thead
    tbody = nodes.tbody()
    top_count = max_rows - max_rows // 2 if truncated else n
    for i, (idx, values) in enumerate(zip(shown.index, shown.itertuples(index=False), strict=True)):
        if truncated and i == top_count:
            tbody += row_of(["⋮"] * len(header))
        idx_cells = [str(x) for x in idx] if isinstance(idx, tuple) else [str(idx)]
        cells = [f(v) for f, v in zip(formatters, values, strict=True)]
        tbody += row_of(idx_cells + cells)
    tgroup += tbody
    out: list[nodes.Node] = [table]
    if truncated:
        out.append(
            nodes.paragraph(
                text=f"{n:,} rows × {df.shape[1]} columns (first and last rows shown)",
                classes=["tf-frame-caption"],
            )
        )
    return out


def _display(value: Any) -> str:
    """How a notebook would show a value: numpy scalars as plain numbers, strings as text."""
    np = sys.modules.get("numpy")

    def plain(v: Any) -> Any:
        if np is not None and isinstance(v, np.generic):
            return v.item()
        if isinstance(v, tuple):
            return tuple(plain(x) for x in v)
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    return value if isinstance(value, str) else repr(plain(value))


def _is_frame(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, pd.DataFrame | pd.Series)


# ---------------------------------------------------------------------------------------------
# tf-exec
# ---------------------------------------------------------------------------------------------


def _generated_dir(app: Sphinx) -> Path:
    return Path(app.srcdir) / "_generated"


class TfExec(SphinxDirective):
    """Run Python code during the build; show the code and what it produced."""

    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {
        "hide-code": directives.flag,
        "hide-output": directives.flag,
        "max-rows": directives.nonnegative_int,
        "raises": directives.unchanged_required,
        "if-importable": directives.unchanged_required,
    }

    def run(self) -> list[nodes.Node]:
        needed = self.options.get("if-importable")
        if needed and not _importable(needed):
            logger.info("tf-exec: skipped, %s is not part of this version", needed)
            return []
        code = "\n".join(self.content)
        ns = _namespace(self.env)
        _, lineno = self.get_source_info()
        filename = f"<{self.env.docname}.md:{lineno}>"
        res = _run_cell(code, ns, filename)
        out: list[nodes.Node] = []
        container = nodes.container(classes=["tf-cell"])
        if "hide-code" not in self.options:
            block = nodes.literal_block(code, code, language="python", classes=["tf-code"])
            self.set_source_info(block)
            container += block

        expected = self.options.get("raises")
        if expected:
            if res.error is None:
                logger.warning(
                    "tf-exec: expected %s but the cell raised nothing", expected,
                    location=self.get_location(),
                )
            elif type(res.error).__name__ != expected.strip():
                logger.warning(
                    "tf-exec: expected %s, got:\n%s", expected, res.error_text,
                    location=self.get_location(),
                )
            shown_error = "".join(traceback.format_exception_only(type(res.error), res.error))
        elif res.error is not None:
            logger.warning(
                "tf-exec: the cell failed:\n%s", res.error_text, location=self.get_location()
            )
            shown_error = res.error_text
        else:
            shown_error = ""
        for w in res.warnings:
            logger.warning(
                "tf-exec: the cell warned: %s: %s (%s:%s)",
                w.category.__name__, w.message, w.filename, w.lineno,
                location=self.get_location(),
            )

        if "hide-output" not in self.options:
            text = res.stdout + shown_error
            if res.has_value and not _is_frame(res.value):
                text += _display(res.value)
                text += "\n"
            if text.strip():
                lit = nodes.literal_block(
                    text.rstrip("\n"), text.rstrip("\n"), classes=["tf-output"]
                )
                lit["language"] = "text"
                container += lit
            if res.has_value and _is_frame(res.value):
                for node in frame_table(res.value, self.options.get("max-rows", 12)):
                    container += node
            for fig in res.figures:
                container += self._figure_node(fig, code)
        for fig in res.figures:
            sys.modules["matplotlib.pyplot"].close(fig)
        out.append(container)
        nb_code = code
        if expected:  # keep "Run all" going in the notebook: the error is the point of the cell
            body = "\n".join("    " + line if line.strip() else "" for line in code.splitlines())
            nb_code = (f"try:\n{body}\nexcept Exception as error:  # expected: {expected}\n"
                       f"    print(f\"{{type(error).__name__}}: {{error}}\")")
        _record_cell(self.env, self.state.document, nb_code, res,
                     "hide-output" not in self.options)
        return out

    def _figure_node(self, fig: Any, code: str) -> nodes.Node:
        figdir = _generated_dir(self.env.app) / "figures"
        figdir.mkdir(parents=True, exist_ok=True)
        key = hashlib.sha1(f"{self.env.docname}\n{code}\n{fig.number}".encode()).hexdigest()
        name = f"{self.env.docname.replace('/', '-')}-{key[:12]}.png"
        fig.savefig(figdir / name, dpi=110, bbox_inches="tight")
        return nodes.image(uri=f"/_generated/figures/{name}", classes=["tf-figure"])


# ---------------------------------------------------------------------------------------------
# each page's cells as a notebook (offered with {download}`/_generated/notebooks/<page>.ipynb`)
# ---------------------------------------------------------------------------------------------


def _nb_output(res: _CellResult) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    if res.stdout:
        outputs.append({"output_type": "stream", "name": "stdout",
                        "text": res.stdout.splitlines(keepends=True)})
    if res.error is not None:
        outputs.append({"output_type": "error", "ename": type(res.error).__name__,
                        "evalue": str(res.error), "traceback": []})
    elif res.has_value:
        data: dict[str, Any] = {"text/plain": _display(res.value).splitlines(keepends=True)}
        if _is_frame(res.value):
            frame = res.value.to_frame() if hasattr(res.value, "to_frame") else res.value
            data["text/html"] = frame.to_html(max_rows=20).splitlines(keepends=True)
        outputs.append({"output_type": "execute_result", "data": data, "metadata": {},
                        "execution_count": None})
    return outputs


def _record_cell(
    env: Any, document: nodes.document, code: str, res: _CellResult, with_output: bool
) -> None:
    """Add a cell to the page's notebook, and rewrite the notebook file."""
    import json

    cells = env.temp_data.setdefault("tf_docs_cells", [])
    n = len(cells) + 1
    outputs = _nb_output(res) if with_output else []
    for o in outputs:
        if o["output_type"] == "execute_result":
            o["execution_count"] = n
    cells.append({
        "cell_type": "code", "id": f"cell-{n}", "execution_count": n, "metadata": {},
        "outputs": outputs, "source": code.splitlines(keepends=True),
    })
    title = next(iter(document.findall(nodes.title)), None)
    heading = title.astext() if title is not None else env.docname
    notebook = {
        "cells": [{"cell_type": "markdown", "id": "title", "metadata": {},
                   "source": [f"# {heading}\n", "\n",
                              "The code of this page of the townfiscal docs, with the outputs "
                              "it produced when the docs were built.\n"]}, *cells],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = _generated_dir(env.app) / "notebooks" / f"{env.docname}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# tf-eval and tf-math
# ---------------------------------------------------------------------------------------------


class TfEval(SphinxRole):
    """Inline value of an expression evaluated in the page's namespace."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        ns = _namespace(self.env)
        try:
            value = eval(self.text, ns)
        except Exception as exc:
            msg = self.inliner.reporter.warning(
                f"tf-eval: {self.text!r} failed: {type(exc).__name__}: {exc}", line=self.lineno
            )
            prb = self.inliner.problematic(self.rawtext, self.rawtext, msg)
            return [prb], [msg]
        return [nodes.Text(format_value(value))], []


_PLACEHOLDER = re.compile(r"<<(.+?)>>", re.DOTALL)


class TfMath(SphinxDirective):
    """A display formula with computed values substituted for ``<<expr>>`` placeholders."""

    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {"label": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        ns = _namespace(self.env)
        problems: list[str] = []

        def substitute(m: re.Match[str]) -> str:
            body = m.group(1)
            expr, _, spec = body.partition("|")
            try:
                value = eval(expr, ns)
                text = format(value, spec) if spec else format_value(value)
            except Exception as exc:
                problems.append(f"{body!r}: {type(exc).__name__}: {exc}")
                return r"\text{??}"
            return _latex_number(text)

        latex = _PLACEHOLDER.sub(substitute, "\n".join(self.content))
        for p in problems:
            logger.warning("tf-math: %s", p, location=self.get_location())
        node = nodes.math_block(
            latex, latex, docname=self.env.docname, number=None,
            label=self.options.get("label"), nowrap=False,
        )
        self.set_source_info(node)
        return [node]


# ---------------------------------------------------------------------------------------------
# tf-policy-table
# ---------------------------------------------------------------------------------------------


def format_parameter(value: Any) -> str:
    """A policy value as table text: mappings as ``key value`` pairs, lists joined by commas."""
    from collections.abc import Mapping

    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {format_parameter(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(format_parameter(v) for v in value)
    return format_value(value)


def policy_rows(policy_id: str, prefixes: list[str]) -> list[tuple[str, str, str, str]]:
    """(path, value with unit, status, source) of a policy's parameters under the prefixes."""
    import townfiscal as tf

    pol = tf.get_policy(policy_id)
    rows = []
    for path, param in pol.parameters.items():
        if prefixes and not any(path == p or path.startswith(p + ".") for p in prefixes):
            continue
        value = format_parameter(param.value)
        if getattr(param, "unit", None):
            value += f" ({param.unit})"
        status = "assumption" if param.is_assumption else "published"
        rows.append((path, value, status, str(param.source)))
    return rows


def selected_policy_rows(directive: SphinxDirective, name: str) -> list[tuple[str, str, str, str]]:
    """The rows of ``policy_rows`` a policy directive asks for (its argument, ``:prefix:`` and
    ``:exclude:``), or ``[]`` after a build warning saying why there are none."""
    policy_id = directive.arguments[0]
    options = directive.options
    prefixes = [p.strip() for p in options.get("prefix", "").split(",") if p.strip()]
    excluded = [p.strip() for p in options.get("exclude", "").split(",") if p.strip()]
    try:
        rows = [r for r in policy_rows(policy_id, prefixes)
                if not any(r[0].endswith("." + e) or r[0] == e for e in excluded)]
    except Exception as exc:
        logger.warning("%s: %s: %s: %s", name, policy_id, type(exc).__name__, exc,
                       location=directive.get_location())
        return []
    if not rows:
        logger.warning("%s: no parameter of %s under %s", name, policy_id, prefixes,
                       location=directive.get_location())
    return rows


class TfPolicyTable(SphinxDirective):
    """The parameters of a policy with their values and sources, from the policy files."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "prefix": directives.unchanged,
        "exclude": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        rows = selected_policy_rows(self, "tf-policy-table")
        if not rows:
            return []
        header = ["parameter", "value", "status", "source"]
        table = nodes.table(classes=["tf-policy"])
        tgroup = nodes.tgroup(cols=4)
        table += tgroup
        for w in (3, 2, 1, 4):
            tgroup += nodes.colspec(colwidth=w)

        def cell(text: str, literal: bool = False, cls: str = "") -> nodes.entry:
            entry = nodes.entry()
            para = nodes.paragraph()
            para += nodes.literal(text, text) if literal else nodes.Text(text)
            if cls:
                entry["classes"].append(cls)
            entry += para
            return entry

        thead = nodes.thead()
        hrow = nodes.row()
        for h in header:
            hrow += cell(h)
        thead += hrow
        tgroup += thead
        tbody = nodes.tbody()
        for path, value, status, source in rows:
            row = nodes.row()
            row += cell(path, literal=True)
            row += cell(value)
            row += cell(status, cls=f"tf-{status}")
            row += cell(source)
            tbody += row
        tgroup += tbody
        return [table]


# ---------------------------------------------------------------------------------------------
# tf-legal-basis and tf-says-assumes: what a measure says, what the library assumes
# ---------------------------------------------------------------------------------------------

_NO_COPY = (
    "The project holds no copy of this article's text. The document number, the article and "
    "the Chinese terms on this page come from the project's summary of the measures; "
    "quotations marked as from the seed are from the 南方新闻网 (Southern Daily's news site) "
    "article of 2020-09-10."
)


def policy_status(policy_id: str) -> str:
    """In force or superseded, from the bundled policies' ``supersedes`` links."""
    import townfiscal as tf

    later = [q for q in map(tf.get_policy, tf.list_policies()) if q.supersedes == policy_id]
    if later:
        q = later[0]
        return (f"superseded by {q.title_zh or q.title} ({q.id}, "
                f"{q.effective.isoformat()})")
    return "in force: the latest revision the project knows of (no bundled policy supersedes it)"


def _field(name: str, body: str) -> nodes.field:
    field = nodes.field()
    field += nodes.field_name(name, name)
    fbody = nodes.field_body()
    fbody += nodes.paragraph(body, body)
    field += fbody
    return field


class TfLegalBasis(SphinxDirective):
    """A measure's legal basis as a Chinese reader cites it, read from its policy file:
    title, issuing body and document number, date (with where the date comes from), status
    (in force or superseded), the article, and whether the project holds the article's text."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {
        "article": directives.unchanged_required,
        "copy": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        import townfiscal as tf

        try:
            pol = tf.get_policy(self.arguments[0])
            status = policy_status(pol.id)
        except Exception as exc:
            logger.warning("tf-legal-basis: %s: %s: %s", self.arguments[0],
                           type(exc).__name__, exc, location=self.get_location())
            return []
        box = nodes.admonition(classes=["tf-legal-basis"])
        box += nodes.title("Legal basis", "Legal basis")
        fields = nodes.field_list()
        title = f"{pol.title_zh} ({pol.title})" if pol.title_zh else (
            f"{pol.title} (the document's Chinese title is in no copy the project holds)")
        fields += _field("Measure", title)
        fields += _field("Issued as", pol.document)
        date = pol.effective.isoformat()
        if pol.effective_source:
            date += f" — {pol.effective_source}"
        fields += _field("Date", date)
        fields += _field("Status", status)
        if self.options.get("article"):
            fields += _field("Article", self.options["article"])
        fields += _field("Text", self.options.get("copy") or _NO_COPY)
        fields += _field("Policy file", f"{pol.id} (townfiscal/policy/files/{pol.id}.toml)")
        box += fields
        self.set_source_info(box)
        return [box]


class TfSaysAssumes(SphinxDirective):
    """Two boxes from a policy file: the values the measure publishes, with their sources, and
    the values this library assumes, with its reasons. Options as for ``tf-policy-table``."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {
        "prefix": directives.unchanged,
        "exclude": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        rows = selected_policy_rows(self, "tf-says-assumes")
        if not rows:
            return []
        out: list[nodes.Node] = []
        for status, heading, cls, empty in (
            ("published", "What the measures say", "tf-says",
             "The measures publish none of these values."),
            ("assumption", "What this library assumes", "tf-assumes",
             "None: every value here is published."),
        ):
            box = nodes.admonition(classes=[cls])
            box += nodes.title(heading, heading)
            items = [r for r in rows if r[2] == status]
            if not items:
                box += nodes.paragraph(empty, empty)
            else:
                bullets = nodes.bullet_list()
                for path, value, _, source in items:
                    reason = source
                    if status == "assumption" and ":" in source:
                        reason = source.split(":", 1)[1].strip()
                    para = nodes.paragraph()
                    para += nodes.literal(path, path)
                    para += nodes.Text(f" = {value} — {reason}")
                    item = nodes.list_item()
                    item += para
                    bullets += item
                box += bullets
            out.append(box)
        container = nodes.container(classes=["tf-says-assumes"])
        container.extend(out)
        self.set_source_info(container)
        return [container]


# ---------------------------------------------------------------------------------------------
# running scripts: examples and the CLI
# ---------------------------------------------------------------------------------------------


def _subprocess_env(app: Sphinx) -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(app.config.tf_repo_root) / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env["MPLBACKEND"] = "Agg"
    env["PYTHONWARNINGS"] = env.get("PYTHONWARNINGS", "default")
    env["COLUMNS"] = "100"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


class TfExample(SphinxDirective):
    """Run a script of ``examples/`` and show its source, output and saved figures."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {
        "timeout": directives.positive_int,
        "hide-source": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        app = self.env.app
        root = Path(app.config.tf_repo_root)
        script = (root / self.arguments[0]).resolve()
        if not script.is_file():
            logger.warning("tf-example: no script %s", script, location=self.get_location())
            return []
        self.env.note_dependency(str(script))
        source = script.read_text(encoding="utf-8")
        out: list[nodes.Node] = []
        figdir = _generated_dir(app) / "examples" / script.stem
        shutil.rmtree(figdir, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix=f"tf-example-{script.stem}-") as tmp:
            try:
                proc = subprocess.run(
                    # like `nox -s examples`: the output folder is the first argument
                    [sys.executable, str(script), str(Path(tmp) / "out")],
                    cwd=tmp, env=_subprocess_env(app), capture_output=True, text=True,
                    timeout=self.options.get("timeout", 600), check=False,
                )
            except subprocess.TimeoutExpired:
                logger.warning("tf-example: %s timed out", script.name,
                               location=self.get_location())
                return []
            if proc.returncode != 0:
                logger.warning(
                    "tf-example: %s exited with %d:\n%s", script.name, proc.returncode,
                    proc.stderr[-4000:], location=self.get_location(),
                )
            images = sorted(p for p in Path(tmp).rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
            if images:
                figdir.mkdir(parents=True, exist_ok=True)
            copied = []
            for p in images:
                target = figdir / str(p.relative_to(tmp)).replace(os.sep, "-")
                shutil.copy2(p, target)
                copied.append(target)
        if "hide-source" not in self.options:
            src_block = nodes.literal_block(source, source, language="python",
                                            classes=["tf-code"])
            src_block["linenos"] = False
            caption = nodes.caption(text=f"examples/{script.name}")
            cont = nodes.container(classes=["literal-block-wrapper"], literal_block=True)
            cont += caption
            cont += src_block
            out.append(cont)
        text = proc.stdout
        if proc.stderr.strip():
            text += ("\n" if text else "") + proc.stderr
        out.append(nodes.rubric(text="Output"))
        lit = nodes.literal_block(text.rstrip("\n"), text.rstrip("\n"), classes=["tf-output"])
        lit["language"] = "text"
        out.append(lit)
        srcdir = Path(app.srcdir)
        for target in copied:
            out.append(nodes.image(uri="/" + target.relative_to(srcdir).as_posix(),
                                   classes=["tf-figure"], alt=target.name))
        return out


def _cli_parser() -> Any:
    cli = importlib.import_module("townfiscal.cli")
    return cli.build_parser()


class TfCli(SphinxDirective):
    """The help of ``townfiscal`` and of every subcommand, from the CLI's own parser."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        import argparse

        if not _importable("townfiscal.cli"):
            logger.info("tf-cli: this version of townfiscal has no command-line interface")
            para = nodes.paragraph(text="This version of townfiscal has no command-line "
                                   "interface yet; use the Python API.")
            return [para]
        old = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "96"
        try:
            parser = _cli_parser()
            out: list[nodes.Node] = [self._block("townfiscal --help", parser.format_help())]
            for action in parser._actions:
                if not isinstance(action, argparse._SubParsersAction):
                    continue
                for name, sub in action.choices.items():
                    out.append(self._block(f"townfiscal {name} --help", sub.format_help(), name))
        except Exception as exc:
            logger.warning("tf-cli: %s: %s", type(exc).__name__, exc,
                           location=self.get_location())
            return []
        finally:
            if old is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = old
        return out

    def _block(self, title: str, text: str, anchor: str | None = None) -> nodes.Node:
        cont = nodes.container(classes=["tf-cli"])
        rubric = nodes.rubric()
        rubric += nodes.literal(title, title)  # a literal: no smart dashes in "--help"
        if anchor:
            rubric["ids"].append(f"cli-{anchor}")
        cont += rubric
        lit = nodes.literal_block(text.rstrip(), text.rstrip(), classes=["tf-output"])
        lit["language"] = "text"
        cont += lit
        return cont


class TfShell(SphinxDirective):
    """Run a ``townfiscal`` command line during the build and show it with its output.

    Content: the arguments after ``townfiscal`` (one command). Option ``:returncode: N``
    (default 0) is the exit status the command must end with.
    """

    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {
        "returncode": directives.nonnegative_int,
        "max-lines": directives.nonnegative_int,
    }

    def run(self) -> list[nodes.Node]:
        import shlex

        args = shlex.split(" ".join(self.content))
        app = self.env.app
        with tempfile.TemporaryDirectory(prefix="tf-shell-") as tmp:
            proc = subprocess.run(
                [sys.executable, "-m", "townfiscal.cli", *args], cwd=tmp,
                env=_subprocess_env(app), capture_output=True, text=True, timeout=600,
                check=False,
            )
        expected = self.options.get("returncode", 0)
        if proc.returncode != expected:
            logger.warning("tf-shell: townfiscal %s exited %d (expected %d):\n%s",
                           " ".join(args), proc.returncode, expected, proc.stderr[-3000:],
                           location=self.get_location())
        text = proc.stdout + proc.stderr
        lines = text.rstrip("\n").splitlines()
        limit = self.options.get("max-lines", 0)
        if limit and len(lines) > limit:
            lines = [*lines[:limit], f"… ({len(lines) - limit} more lines)"]
        shown = "$ townfiscal " + " ".join(shlex.quote(a) for a in args) + "\n" + "\n".join(lines)
        lit = nodes.literal_block(shown, shown, classes=["tf-output", "tf-shell"])
        lit["language"] = "text"
        self.set_source_info(lit)
        return [lit]


# ---------------------------------------------------------------------------------------------
# tf-openapi: the HTTP reference, from the service's own OpenAPI document
# ---------------------------------------------------------------------------------------------


def _openapi_document(path: str) -> dict[str, Any]:
    """The OpenAPI document the service serves (fetched in-process, no network)."""
    import logging as std_logging

    from litestar.testing import TestClient

    service = importlib.import_module("townfiscal.service")
    app = service.create_app(service.ServiceConfig(database=":memory:"))
    quiet = std_logging.getLogger("httpx")
    level = quiet.level
    quiet.setLevel(std_logging.WARNING)
    try:
        with TestClient(app) as client:
            response = client.get(path)
    finally:
        quiet.setLevel(level)
    response.raise_for_status()
    doc: dict[str, Any] = response.json()
    return doc


def _schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"{{ref}}`{name} <http-schema-{name.lower()}>`"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            parts = [_schema_type(s) for s in schema[key]]
            return (" and " if key == "allOf" else " or ").join(parts)
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return "array of " + _schema_type(schema.get("items", {}))
    extra = schema.get("additionalProperties")
    if kind == "object" and isinstance(extra, dict) and extra:
        return "object of " + _schema_type(extra)
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind)


def _cell(text: Any) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def _openapi_paths_md(doc: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method.startswith("x-") or not isinstance(op, dict):
                continue
            anchor = "http-" + re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")
            lines += [f"```{{rubric}} {method.upper()} {path}", f":name: {anchor}",
                      ":class: tf-http-op", "```", ""]
            for key in ("summary", "description"):
                if op.get(key):
                    lines += [_cell(op[key]), ""]
            params = op.get("parameters", [])
            if params:
                lines += ["| parameter | in | required | type | description |",
                          "|---|---|---|---|---|"]
                for prm in params:
                    lines.append(
                        f"| `{prm['name']}` | {prm.get('in', '')} | "
                        f"{'yes' if prm.get('required') else 'no'} | "
                        f"{_schema_type(prm.get('schema', {}))} | "
                        f"{_cell(prm.get('description'))} |"
                    )
                lines.append("")
            body = op.get("requestBody")
            if body:
                for ctype, content in body.get("content", {}).items():
                    lines += [f"Request body ({ctype}): {_schema_type(content.get('schema', {}))}"
                              + (f" — {_cell(body['description'])}" if body.get("description")
                                 else ""), ""]
            responses = op.get("responses", {})
            if responses:
                lines += ["| status | meaning | body |", "|---|---|---|"]
                for status, resp in responses.items():
                    bodies = [f"{_schema_type(c.get('schema', {}))} ({t})"
                              for t, c in resp.get("content", {}).items()]
                    lines.append(f"| {status} | {_cell(resp.get('description'))} | "
                                 f"{'; '.join(bodies) or '—'} |")
                lines.append("")
    return lines


def _openapi_schemas_md(doc: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, schema in sorted(doc.get("components", {}).get("schemas", {}).items()):
        lines += [f"```{{rubric}} {name}", f":name: http-schema-{name.lower()}",
                  ":class: tf-http-schema", "```", ""]
        if schema.get("description"):
            lines += [_cell(schema["description"]), ""]
        props = schema.get("properties", {})
        if props:
            required = set(schema.get("required", []))
            lines += ["| field | type | required | description |", "|---|---|---|---|"]
            for field, sub in props.items():
                lines.append(f"| `{field}` | {_schema_type(sub)} | "
                             f"{'yes' if field in required else 'no'} | "
                             f"{_cell(sub.get('description'))} |")
            lines.append("")
        elif schema.get("oneOf") or schema.get("anyOf"):
            lines += ["One of: " + _schema_type(schema), ""]
        else:
            lines += ["Type: " + _schema_type(schema), ""]
    return lines


def _openapi_errors_md(doc: dict[str, Any]) -> list[str]:
    """The error codes (the ``error`` of every error body) with their status and meaning."""
    codes = doc.get("components", {}).get("schemas", {}).get("ErrorCode", {})
    rows = zip(codes.get("enum", []), codes.get("x-enum-statuses", []),
               codes.get("x-enum-descriptions", []), strict=True)
    lines = ["| `error` | status | meaning |", "|---|---|---|"]
    lines += [f"| `{code}` | {status} | {_cell(meaning)} |" for code, status, meaning in rows]
    return [*lines, ""]


class TfOpenApi(SphinxDirective):
    """Endpoints or schemas of the HTTP service, from the OpenAPI document it serves."""

    option_spec: ClassVar[dict[str, Any]] = {
        "part": lambda arg: directives.choice(arg, ("paths", "schemas", "errors")),
        "path": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        from docutils.statemachine import StringList

        if not _importable("townfiscal.service"):
            logger.info("tf-openapi: this version of townfiscal has no HTTP service")
            return [nodes.paragraph(text="This version of townfiscal has no HTTP service yet.")]
        try:
            doc = _openapi_document(self.options.get("path", "/schema/openapi.json"))
        except Exception as exc:
            logger.warning("tf-openapi: %s: %s", type(exc).__name__, exc,
                           location=self.get_location())
            return []
        part = self.options.get("part", "paths")
        render = {"paths": _openapi_paths_md, "schemas": _openapi_schemas_md,
                  "errors": _openapi_errors_md}[part]
        lines = render(doc)
        container = nodes.container(classes=["tf-openapi"])
        self.state.nested_parse(StringList(lines, source=self.get_location()),
                                self.content_offset, container)
        return [container]


# ---------------------------------------------------------------------------------------------
# generated sources: the API listing and the example pages
# ---------------------------------------------------------------------------------------------

# Sections of the API reference, in reading order: (words in the defining module's name, title)
_API_SECTIONS: list[tuple[tuple[str, ...], str]] = [
    (("towns", "datasets", "synthetic", "example"), "Towns tables"),
    (("policy", "policies"), "Policies"),
    (("rules", "eligib", "factor", "coefficient", "formula", "tier", "growth", "explain", "trace"),
     "Rules"),
    (("optimi", "constraint", "objective", "allocat", "solver", "rounding"), "Allocation"),
    (("metric", "equal"), "Equalisation measures"),
    (("report", "plot", "excel"), "Reports"),
    (("responsib", "split", "devol", "transfer", "programme"), "Responsibility and devolution"),
    (("service", "http"), "HTTP service"),
    (("error",), "Errors"),
]


def _api_section(module: str) -> int:
    name = module.removeprefix("townfiscal").lower()
    for i, (words, _) in enumerate(_API_SECTIONS):
        if any(w in name for w in words):
            return i
    return len(_API_SECTIONS)


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _width(text: str) -> int:
    """Display width for an RST underline: wide (CJK) characters count twice."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def generate_api(app: Sphinx) -> None:
    """Write ``_generated/api.rst.inc``: every public name, grouped, with autodoc."""
    tf = importlib.import_module("townfiscal")
    groups: dict[int, list[str]] = {}
    undocumented = []
    for name in tf.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(tf, name)
        if inspect.ismodule(obj):  # a public submodule (tf.metrics): its own section, below
            if not inspect.getdoc(obj):
                undocumented.append(name)
            continue
        module = getattr(obj, "__module__", None) or "townfiscal"
        if not (inspect.isclass(obj) or callable(obj)):
            module = _defining_module(name, obj)
        groups.setdefault(_api_section(module), []).append(name)
        if (inspect.isclass(obj) or inspect.isroutine(obj)) and not inspect.getdoc(obj):
            undocumented.append(name)
    if undocumented and app.config.tf_require_docstrings:
        logger.warning("public names without a docstring: %s", ", ".join(undocumented))
    lines: list[str] = []
    for idx in sorted(groups):
        title = _API_SECTIONS[idx][1] if idx < len(_API_SECTIONS) else "Other"
        lines += [title, "-" * _width(title), ""]
        for name in groups[idx]:
            obj = getattr(tf, name)
            if inspect.isclass(obj):
                lines += [f".. autoclass:: townfiscal.{name}", "   :members:", ""]
                if issubclass(obj, BaseException):
                    lines.insert(-1, "   :exclude-members: with_traceback, add_note")
            elif inspect.isroutine(obj) or callable(obj):
                lines += [f".. autofunction:: townfiscal.{name}", ""]
            else:
                lines += _data_entry(name, obj, app.config.tf_require_docstrings)
    for name in tf.__all__:
        obj = getattr(tf, name)
        if not inspect.ismodule(obj):
            continue
        doc = (inspect.getdoc(obj) or "").strip()
        first = doc.split("\n\n", 1)[0].replace("\n", " ").rstrip(".")
        title = f"{first} (townfiscal.{name})" if first else f"townfiscal.{name}"
        lines += [title, "-" * _width(title), "",
                  f".. automodule:: townfiscal.{name}", "   :members:"]
        # names also re-exported at the top are documented once, in their section above
        again = sorted(set(getattr(obj, "__all__", ())) & set(tf.__all__))
        if again:
            lines.append(f"   :exclude-members: {', '.join(again)}")
        lines.append("")
    service = None
    if _importable("townfiscal.service"):
        try:
            service = importlib.import_module("townfiscal.service")
        except ImportError as exc:
            logger.warning("the HTTP service cannot be imported (%s): install the `service` "
                           "extra to document it", exc)
    if service is not None:
        title = "The HTTP service (townfiscal.service)"
        lines += [title, "-" * _width(title), "",
                  "Needs the ``service`` extra. See also the :doc:`HTTP reference </http>`.", ""]
        for name in service.__all__:
            obj = getattr(service, name)
            if inspect.isclass(obj):
                lines += [f".. autoclass:: townfiscal.service.{name}", "   :members:", ""]
            elif callable(obj):
                lines += [f".. autofunction:: townfiscal.service.{name}", ""]
            else:
                lines += [f".. py:data:: townfiscal.service.{name}", f"   :value: {obj!r}", ""]
    _write_if_changed(_generated_dir(app) / "api.rst.inc", "\n".join(lines) + "\n")


def _defining_module(name: str, obj: Any) -> str:
    """The private module where a re-exported constant is defined."""
    for modname, mod in sorted(sys.modules.items()):
        if modname.startswith("townfiscal.") and vars(mod).get(name) is obj:
            return modname
    return "townfiscal"


def _attr_doc(name: str) -> str:
    """The ``#:`` comment or docstring of a module-level name, from the module defining it."""
    from sphinx.pycode import ModuleAnalyzer

    for modname, mod in sorted(sys.modules.items()):
        if not modname.startswith("townfiscal.") or name not in vars(mod):
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:
            continue
        if ("", name) in docs:
            return "\n".join(docs[("", name)]).strip()
    return ""


def _data_entry(name: str, obj: Any, require_doc: bool) -> list[str]:
    shown = repr(obj)
    lines = [f".. py:data:: townfiscal.{name}"]
    if len(shown) <= 200:
        lines.append(f"   :value: {shown}")
    lines.append("")
    doc = _attr_doc(name)
    if not doc and require_doc:
        logger.warning("public name without a docstring: %s", name)
    lines += [f"   {line}" if line else "" for line in doc.splitlines()]
    return [*lines, ""]


def _title_and_body(script: Path) -> tuple[str, str]:
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    first, _, rest = doc.strip().partition("\n")
    title = first.strip().rstrip(".") or script.stem.replace("_", " ").capitalize()
    return title, rest.strip()


def generate_examples(app: Sphinx) -> None:
    """Write one page per script in ``examples/`` under ``examples/`` of the docs."""
    exdir = Path(app.config.tf_examples_dir)
    outdir = Path(app.srcdir) / "examples"
    scripts = sorted(exdir.glob("*.py")) if exdir.is_dir() else []
    wanted = set()
    for script in scripts:
        if script.name.startswith("_"):
            continue
        title, body = _title_and_body(script)
        rel = script.relative_to(Path(app.config.tf_repo_root)).as_posix()
        body_rst = f"```{{eval-rst}}\n{body}\n```\n\n" if body else ""  # docstrings are RST
        page = (
            f"# {title}\n\n"
            f"{body_rst}"
            f"Run it yourself with `python {rel}`; the output below was produced by running "
            f"it while these pages were built.\n\n"
            f"```{{tf-example}} {rel}\n```\n"
        )
        target = outdir / f"{script.stem}.md"
        wanted.add(target.name)
        _write_if_changed(target, page)
    notebooks = sorted((exdir / "notebooks").glob("*.ipynb")) if exdir.is_dir() else []
    for notebook in notebooks:
        target = outdir / f"{notebook.stem}.md"
        wanted.add(target.name)
        rel = notebook.relative_to(Path(app.config.tf_repo_root)).as_posix()
        _write_if_changed(target, _notebook_page(notebook, rel))
    for old in outdir.glob("*.md"):
        if old.name != "index.md" and old.name not in wanted:
            old.unlink()


def _notebook_page(notebook: Path, rel: str) -> str:
    """A page from an analyst's notebook: its markdown cells as they are, its code cells as
    ``tf-exec`` cells (run during the build, outputs and figures shown, a warning or an error
    failing the build)."""
    import json

    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    parts = []
    for i, cell in enumerate(cells):
        source = "".join(cell["source"]).strip("\n")
        if cell["cell_type"] == "markdown":
            parts.append(source)
            if i == 0:  # after the title: where the notebook is
                parts.append(f"This page is the notebook `{rel}`, run while these pages were "
                             "built; open it in Jupyter to run it yourself.")
        elif cell["cell_type"] == "code" and source:
            parts.append(f"```{{tf-exec}}\n{source}\n```")
    return "\n\n".join(parts) + "\n"


# Toctrees of the index, generated so that pages other branches add join the navigation:
# each entry is listed when its file exists, and any other top-level page (not listed anywhere
# in index.md) is appended to the reference toctree.
_GENERATED_TOCTREES = {
    "model-toctree.md": ("The allocation model", ["model", "allocation", "allocator-internals"]),
    "reference-toctree.md": ("Reference", ["api", "layout", "cli", "service", "http",
                                           "glossary", "benchmarks", "changelog"]),
}


def generate_toctrees(app: Sphinx) -> None:
    """Write the ``_generated/*-toctree.md`` files the index includes."""
    src = Path(app.srcdir)
    index = (src / "index.md").read_text(encoding="utf-8") if (src / "index.md").is_file() else ""
    listed = set(re.findall(r"^([\w/-]+)\s*$", index, flags=re.MULTILINE))
    listed |= {p for _, pages in _GENERATED_TOCTREES.values() for p in pages}
    others = sorted(p.stem for p in src.glob("*.md")
                    if p.stem not in listed and p.stem not in {"index", "README"})
    for filename, (caption, pages) in _GENERATED_TOCTREES.items():
        present = [p for p in pages if (src / f"{p}.md").is_file() or (src / f"{p}.rst").is_file()]
        if filename == "reference-toctree.md":
            present += others
        entries = "\n".join("/" + p for p in present)
        text = f"```{{toctree}}\n:maxdepth: 1\n:caption: {caption}\n\n{entries}\n```\n"
        _write_if_changed(_generated_dir(app) / filename, text)


def _builder_inited(app: Sphinx) -> None:
    generate_api(app)
    generate_examples(app)
    generate_toctrees(app)


def _patch_katex_startup() -> None:
    """Make sphinxcontrib-katex's render server start reliably on a busy machine.

    sphinxcontrib-katex 0.9 connects as soon as the server's socket file exists, which can be
    before the server listens: the connection is refused, the build dies, and the orphaned
    Node process keeps the build's output pipes open. This retries the connection until a
    deadline and kills the server if it never answers.
    """
    try:
        from sphinxcontrib import katex as sk
    except ImportError:
        return
    import socket
    import time

    def start_server_process(cls: Any, rundir: Path, timeout: float) -> tuple[Any, Any]:
        socket_path = rundir / "katex.sock"
        process = subprocess.Popen(
            cls.build_command(socket=socket_path), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, cwd=rundir,
        )
        deadline = time.monotonic() + max(float(timeout), 60.0)
        while True:
            if process.poll() is not None:
                raise sk.KaTeXError(f"the KaTeX server exited with {process.returncode}")
            if socket_path.is_socket():
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(max(deadline - time.monotonic(), 0.1))
                    sock.connect(str(socket_path))
                    sock.settimeout(None)
                    return process, sock
                except (ConnectionRefusedError, FileNotFoundError):
                    sock.close()
            if time.monotonic() > deadline:
                process.kill()
                raise cls.timeout_error(timeout)
            time.sleep(0.01)

    sk.KaTeXServer.start_server_process = classmethod(start_server_process)  # type: ignore[assignment]


def setup(app: Sphinx) -> dict[str, Any]:
    import logging as std_logging

    _patch_katex_startup()
    std_logging.getLogger("httpx").setLevel(std_logging.WARNING)  # in-process HTTP calls
    app.add_config_value("tf_repo_root", str(Path(app.srcdir).parent), "env")
    app.add_config_value("tf_examples_dir", str(Path(app.srcdir).parent / "examples"), "env")
    app.add_config_value("tf_require_docstrings", True, "env")
    app.add_directive("tf-exec", TfExec)
    app.add_directive("tf-math", TfMath)
    app.add_directive("tf-policy-table", TfPolicyTable)
    app.add_directive("tf-legal-basis", TfLegalBasis)
    app.add_directive("tf-says-assumes", TfSaysAssumes)
    app.add_directive("tf-example", TfExample)
    app.add_directive("tf-cli", TfCli)
    app.add_directive("tf-shell", TfShell)
    app.add_directive("tf-openapi", TfOpenApi)
    app.add_role("tf-eval", TfEval())
    app.connect("builder-inited", _builder_inited)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
