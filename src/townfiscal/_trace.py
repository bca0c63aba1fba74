"""Traces: how one town's amount was computed, step by step, with parameters and articles."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Step", "Trace"]


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "—"
        if abs(value) >= 1000:
            return f"{value:,.2f}"
        return f"{value:.6g}"
    return str(value)


@attrs.frozen
class Step:
    """One step of a trace: what was computed, how, its value, and the parameters it read.

    Steps are made by the library (:func:`~townfiscal.explain_formula`, ``Allocation.explain``)
    and read from a :class:`Trace`.

    Attributes
    ----------
    label:
        What the step computes (``"share"``, ``"growth control"``, ``"amount"``).
    formula:
        How, written out with the town's figures.
    value:
        The result, in :attr:`unit` (a float, an int for yuan paid, a bool for eligibility).
    unit:
        The unit of :attr:`value` (``"yuan"``), or ``None`` for a pure number.
    parameters:
        The policy parameters the step read, each as :meth:`Parameter.to_dict` gives it
        (``path``, ``value``, ``source``, …).
    note:
        A remark in words (which bound applied, the mean a coefficient is relative to), or
        ``None``.

    Examples
    --------
    >>> step = Step("amount", "largest-remainder rounding of 3,271,064.8130 to whole units",
    ...             3271065, unit="yuan")
    >>> step.to_dict()["value"]
    3271065
    """

    label: str
    formula: str
    value: Any
    unit: str | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The step as a JSON-friendly dict."""
        value = self.value
        if isinstance(value, float) and value != value:
            value = None
        return {
            "label": self.label,
            "formula": self.formula,
            "value": value,
            "unit": self.unit,
            "parameters": list(self.parameters),
            "note": self.note,
        }


@attrs.frozen(repr=False)
class Trace:
    """The trace of one town's amount: its inputs and each step, in order.

    ``str(trace)`` is a readable numbered account, one line per step with the parameters and
    their sources beneath; in Jupyter it shows as a table.

    Attributes
    ----------
    code:
        The town's 9-digit code.
    name:
        The town's name.
    policy:
        The id of the policy applied.
    steps:
        The :class:`Step` objects, in the order they were computed.
    amount:
        The town's final amount, whole yuan (0 for a town that is not eligible); ``None``
        for a trace that stops before an amount is paid.

    Examples
    --------
    >>> import townfiscal as tf
    >>> tr = tf.explain_formula(tf.load_example(), "guangdong-2020", "441581101")
    >>> tr.name, tr.amount
    ('甲子镇', 3271065)
    >>> tr.step("growth control").unit
    'yuan'
    >>> print(str(tr).splitlines()[0])
    441581101 甲子镇 — policy guangdong-2020: 3,271,065 yuan
    """

    code: str
    name: str
    policy: str
    steps: tuple[Step, ...]
    amount: int | None

    def step(self, label: str) -> Step:
        """The first step whose label starts with *label*.

        Raises
        ------
        KeyError
            When no step's label starts with *label*.
        """
        for s in self.steps:
            if s.label.startswith(label):
                return s
        raise KeyError(f"no step {label!r} in the trace of {self.code}")

    def to_dict(self) -> dict[str, Any]:
        """The trace as a JSON-friendly dict."""
        return {
            "code": self.code,
            "name": self.name,
            "policy": self.policy,
            "amount": self.amount,
            "steps": [s.to_dict() for s in self.steps],
        }

    def __str__(self) -> str:
        head = f"{self.code} {self.name} — policy {self.policy}"
        if self.amount is not None:
            head += f": {self.amount:,} yuan"
        lines = [head]
        for i, s in enumerate(self.steps, 1):
            unit = f" {s.unit}" if s.unit else ""
            lines.append(f"{i:>2}. {s.label}: {s.formula} = {_fmt(s.value)}{unit}")
            if s.note:
                lines.append(f"      {s.note}")
            for p in s.parameters:
                lines.append(f"      · {p['path']} = {p['value']!r}  [{p['source']}]")
        return "\n".join(lines)

    def __repr__(self) -> str:
        amount = "" if self.amount is None else f": {self.amount:,} yuan"
        return (f"<Trace {self.code} {self.name}, policy {self.policy}{amount}, "
                f"{len(self.steps)} steps; print() it for the account>")

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{i}</td><td>{html.escape(s.label)}</td><td><code>{html.escape(s.formula)}"
            f"</code></td><td style='text-align:right'>{html.escape(_fmt(s.value))}"
            f"{' ' + html.escape(s.unit) if s.unit else ''}</td><td>"
            + "<br>".join(
                f"{html.escape(p['path'])} = {html.escape(repr(p['value']))} "
                f"<small>[{html.escape(p['source'])}]</small>"
                for p in s.parameters
            )
            + "</td></tr>"
            for i, s in enumerate(self.steps, 1)
        )
        title = html.escape(str(self).splitlines()[0])
        return (
            f"<p><b>{title}</b></p><table><thead><tr><th>#</th><th>step</th><th>formula</th>"
            f"<th>value</th><th>parameters [source]</th></tr></thead><tbody>{rows}</tbody></table>"
        )
