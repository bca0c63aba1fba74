"""The library's errors: both are :class:`ValueError` subclasses carrying structured details."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

__all__ = ["Conflict", "InfeasibleError", "Problem", "ValidationError"]

_MAX_LISTED = 200


@attrs.frozen
class Problem:
    """One thing wrong with the input.

    ``row`` is the row's town code (or its 1-based line in the file when no code is
    readable), ``None`` for a problem with the table as a whole; ``column`` the canonical
    column name (or the header as written); ``value`` the offending value as read.
    """

    message: str
    row: str | None = None
    column: str | None = None
    value: Any = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        """The problem as a JSON-friendly dict."""
        value = self.value
        if value is not None and not isinstance(value, str | int | float | bool):
            value = str(value)
        elif isinstance(value, float) and value != value:  # NaN is not JSON
            value = "NaN"
        return {"row": self.row, "column": self.column, "value": value, "message": self.message}


class ValidationError(ValueError):
    """Input that the library cannot use.

    The message lists every problem found (not just the first); :attr:`problems` holds them
    as :class:`Problem` objects for programs to read.
    """

    def __init__(self, problems: Iterable[Problem], *, what: str = "input") -> None:
        self.problems: list[Problem] = list(problems)
        self.what = what
        n = len(self.problems)
        lines = [f"{what} is invalid: {n} problem{'s' if n != 1 else ''}"]
        lines += [f"  - {p}" for p in self.problems[:_MAX_LISTED]]
        if n > _MAX_LISTED:
            lines.append(f"  … and {n - _MAX_LISTED} more (see .problems)")
        super().__init__("\n".join(lines))

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-friendly dict."""
        return {
            "error": "validation",
            "what": self.what,
            "problems": [p.to_dict() for p in self.problems],
        }


@attrs.frozen
class Conflict:
    """One reason a set of constraints cannot all hold, in the user's terms.

    ``constraints`` names the constraint families involved; ``required`` and ``available``
    are the amounts (yuan) that do not fit, where they apply; ``towns`` the town codes
    concerned (empty for a conflict of totals).
    """

    message: str
    constraints: tuple[str, ...] = ()
    required: float | None = None
    available: float | None = None
    towns: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The conflict as a JSON-friendly dict."""
        return {
            "message": self.message,
            "constraints": list(self.constraints),
            "required": self.required,
            "available": self.available,
            "towns": list(self.towns),
        }


class InfeasibleError(ValueError):
    """Constraints that no allocation can meet all at once.

    The message explains each conflict; :attr:`details` holds them as :class:`Conflict`
    objects.
    """

    def __init__(self, details: Sequence[Conflict], *, headline: str | None = None) -> None:
        self.details: list[Conflict] = list(details)
        head = headline or "the constraints cannot all be met"
        lines = [head] + [f"  - {c}" for c in self.details[:_MAX_LISTED]]
        if len(self.details) > _MAX_LISTED:
            lines.append(f"  … and {len(self.details) - _MAX_LISTED} more (see .details)")
        super().__init__("\n".join(lines))

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-friendly dict."""
        return {"error": "infeasible", "conflicts": [c.to_dict() for c in self.details]}
