"""The library's errors: both are :class:`ValueError` subclasses carrying structured details."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

__all__ = [
    "Conflict",
    "InfeasibleError",
    "MissingExtraError",
    "Problem",
    "UnreadableFileError",
    "ValidationError",
]

_MAX_LISTED = 200

#: A 9-digit township code, as a problem's row names a town.
_TOWN_CODE = re.compile(r"[1-9]\d{8}")


def _row_numbers(rows: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(r) for r in rows)


@attrs.frozen
class Problem:
    """One thing wrong with the input.

    Problems are collected, all of them at once, into a :class:`ValidationError`; ``str()``
    gives a one-line description naming the row, column and value.

    Parameters
    ----------
    message:
        What is wrong and what was expected.
    row:
        The row's town code (or its 1-based position in the table when no code is readable,
        as ``"#3"``); ``None`` for a problem with the table as a whole. A code is written
        "town 441581101", not "row …", so that it does not read as a row number.
    column:
        The canonical column name (or the header as written); ``None`` for a problem with a
        whole row or table.
    value:
        The offending value as read (in the unit of its column, e.g. yuan or km²), or
        ``None``.
    file, sheet:
        For a problem found in a file: the file's name and the sheet read (``None`` for a
        CSV file).
    lines:
        For a problem found in a file: the rows at fault as the spreadsheet numbers them
        (1-based, title and header lines counted: what Excel shows; a CSV file's line
        numbers). Two rows for a duplicate code, one otherwise; empty for a whole-table
        problem.
    header:
        For a problem found in a file: the column's header as written there
        (``"可用财力（万元）"``), beside the canonical :attr:`column`.

    Examples
    --------
    >>> p = Problem("must not be negative", row="441581101", column="area_km2", value=-3.0)
    >>> print(p)
    town 441581101, column 'area_km2', value -3.0: must not be negative
    >>> p.to_dict()["column"]
    'area_km2'

    Read from a workbook, a problem names the place a clerk looks at:

    >>> print(Problem("duplicate code", row="441521101", column="code", value="4415…",
    ...               file="t.xlsx", sheet="乡镇", lines=(5, 22), header="代码"))
    t.xlsx, sheet '乡镇', rows 5 and 22 (441521101), column '代码', value '4415…': duplicate code
    """

    message: str
    row: str | None = None
    column: str | None = None
    value: Any = None
    file: str | None = None
    sheet: str | None = None
    lines: tuple[int, ...] = attrs.field(default=(), converter=_row_numbers)
    header: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file is not None or self.lines:  # found in a file: the place a clerk looks at
            place = [] if self.file is None else [self.file]
            if self.sheet is not None:
                place.append(f"sheet {self.sheet!r}")
            if self.lines:
                rows = [str(n) for n in self.lines]
                label = ("row " + rows[0] if len(rows) == 1
                         else "rows " + ", ".join(rows[:-1]) + " and " + rows[-1])
                if self.row is not None and not self.row.startswith("#"):
                    label += f" ({self.row})"
                place.append(label)
            where.append(", ".join(place))
        elif self.row is not None:  # a town's code is not a row number: say which it is
            where.append(f"town {self.row}" if _TOWN_CODE.fullmatch(self.row)
                         else f"row {self.row}")
        column = self.header if self.header is not None else self.column
        if column is not None:
            where.append(f"column {column!r}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        """The problem as a JSON-friendly dict (with ``file``, ``sheet``, ``lines`` and
        ``header`` when it was found in a file)."""
        value = self.value
        if value is not None and not isinstance(value, str | int | float | bool):
            value = str(value)
        elif isinstance(value, float) and value != value:  # NaN is not JSON
            value = "NaN"
        out: dict[str, Any] = {"row": self.row, "column": self.column, "value": value,
                               "message": self.message}
        if self.file is not None or self.lines:
            out.update(file=self.file, sheet=self.sheet, lines=list(self.lines),
                       header=self.header)
        return out


class ValidationError(ValueError):
    """Input that the library cannot use.

    The message lists every problem found (not just the first); :attr:`problems` holds them
    as :class:`Problem` objects for programs to read. A :class:`ValueError`, so code that
    catches ``ValueError`` catches it too.

    Parameters
    ----------
    problems:
        Every :class:`Problem` found; kept in :attr:`problems` as a list.
    what:
        What was invalid (``"towns table"``, ``"policy file x.toml"``), for the message;
        kept in :attr:`what`.

    Examples
    --------
    >>> err = ValidationError(
    ...     [Problem("must not be negative", row="441581101", column="area_km2", value=-3.0),
    ...      Problem("missing required column", column="zone")],
    ...     what="towns table",
    ... )
    >>> print(err)
    towns table is invalid: 2 problems
      - town 441581101, column 'area_km2', value -3.0: must not be negative
      - column 'zone': missing required column
    >>> [p.column for p in err.problems]
    ['area_km2', 'zone']
    >>> err.to_dict()["error"]
    'validation'
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


class UnreadableFileError(ValidationError):
    """A file that cannot be read as a table at all: empty, corrupt, or something else under a
    table's name (a PDF or a Word document renamed ``.xlsx``).

    Its message is one line saying what the file seems to be; :attr:`problems` holds that
    line as one :class:`Problem` (with the file's name), so code that handles
    :class:`ValidationError` handles this too.

    Examples
    --------
    >>> err = UnreadableFileError("towns.xlsx", "it is a PDF document, not a workbook")
    >>> print(err)
    cannot read towns.xlsx: it is a PDF document, not a workbook
    >>> err.problems[0].file
    'towns.xlsx'
    """

    def __init__(self, file: str, reason: str) -> None:
        super().__init__([Problem(reason, file=file)], what=f"file {file}")
        self.file = file
        self.reason = reason
        self.args = (f"cannot read {file}: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.file, self.reason))


@attrs.frozen
class Conflict:
    """One reason a set of constraints cannot all hold, in the user's terms.

    Conflicts are collected into an :class:`InfeasibleError`; ``str()`` gives the message.

    Parameters
    ----------
    message:
        The conflict in the user's terms ("the floors need 2.08 bn, the fund is 2.00 bn").
    constraints:
        The names of the constraint families involved (``"fund"``, ``"floor"``, …).
    required, available:
        The amounts that do not fit, yuan, where they apply (``None`` otherwise).
    towns:
        The town codes concerned; empty for a conflict of totals.

    Examples
    --------
    >>> c = Conflict("the floors need 2.08 bn, the fund is 2.00 bn",
    ...              constraints=("floor", "fund"), required=2.08e9, available=2.0e9)
    >>> print(c)
    the floors need 2.08 bn, the fund is 2.00 bn
    >>> c.to_dict()["constraints"]
    ['floor', 'fund']
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
    objects. A :class:`ValueError`, so code that catches ``ValueError`` catches it too.

    Parameters
    ----------
    details:
        Every :class:`Conflict` found; kept in :attr:`details` as a list.
    headline:
        The first line of the message; by default "the constraints cannot all be met".

    Examples
    --------
    Rounding cannot reach a total of 5 yuan when two amounts are capped at 2 yuan each:

    >>> from townfiscal import round_to_total
    >>> try:
    ...     round_to_total([1.0, 2.0], 5, upper=[2, 2])
    ... except InfeasibleError as err:
    ...     print(err)
    ...     print(err.details[0].required, err.details[0].available)
    the constraints cannot all be met
      - the upper bounds allow at most 4 yuan, below the total 5
    5.0 4.0
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


class MissingExtraError(ModuleNotFoundError):
    """An optional dependency is not installed: the message names the ``pip install`` of the
    townfiscal extra that brings it.

    >>> print(MissingExtraError.needs("townfiscal.plots", "matplotlib", "plots"))
    townfiscal.plots needs matplotlib, which is not installed: pip install "townfiscal[plots]"
    """

    @classmethod
    def needs(cls, what: str, module: str, extra: str) -> MissingExtraError:
        """The error for ``what`` (a module or an action) lacking ``module`` from ``extra``."""
        return cls(f'{what} needs {module}, which is not installed: '
                   f'pip install "townfiscal[{extra}]"', name=module)
