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
    """One step of a trace: what was computed, how, its value, and the parameters it read."""

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


@attrs.frozen
class Trace:
    """The trace of one town's amount: its inputs and each step, in order."""

    code: str
    name: str
    policy: str
    steps: tuple[Step, ...]
    amount: int | None

    def step(self, label: str) -> Step:
        """The first step whose label starts with *label*."""
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
