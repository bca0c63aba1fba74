"""Request bodies checked at the door, in the server process, before any work is queued.

The body is decoded once (Litestar keeps the decoded value for the handler) and checked
against the service's limits and the request's schema, strictly:

- nesting deeper than ``max_depth`` (a body nested 1,000 levels deep is ``422``, not a
  crash of the decoder), text or keys longer than ``max_string_length``: ``422``;
- more towns rows than ``max_towns`` or constraints than ``max_constraints``: ``413``;
- unknown fields, and text where a number belongs (``"fund": "2000000000"``): ``422``,
  every problem at once. A number written with a fraction of zero (``2e9``) is a whole
  number.

The towns rows, the bulk of a body, are checked by msgspec in compiled code (each value
flat: text, number, boolean or null); only the small parts (reform, constraints, objective)
are walked in Python.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Annotated, Any

import attrs
import msgspec
from litestar import Request
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from msgspec import Meta

from townfiscal._errors import Problem, ValidationError
from townfiscal.service._config import ServiceConfig

__all__ = ["MAX_ECHO", "TooLarge", "check_body", "intake", "short_value"]

MAX_ECHO = 200
"""Characters of a client's value an error message repeats (the rest is cut)."""


class TooLarge(HTTPException):
    """``413``: a list in the body is longer than the service's limit."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail=detail)


def short_value(value: Any) -> Any:
    """*value* as an error may repeat it: numbers and short text as they are, anything
    longer than :data:`MAX_ECHO` characters (as JSON) cut, with its length."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    if len(text) <= MAX_ECHO:
        return value
    return f"{text[:MAX_ECHO]}… ({len(text):,} characters)"


@functools.cache
def _flat_rows(max_length: int) -> Any:
    """Towns rows of flat values, text no longer than *max_length* (checked in C)."""
    text = Annotated[str, Meta(max_length=max_length)]
    scalar = text | int | float | bool | None
    return list[dict[text, scalar]]


@functools.cache
def _field_types(model: type) -> dict[str, tuple[Any, bool]]:
    """Each field of a request type: its type and whether it is required."""
    if isinstance(model, type) and issubclass(model, msgspec.Struct):
        return {
            f.encode_name: (f.type, f.required) for f in msgspec.structs.fields(model)
        }
    attrs_model: Any = model
    attrs.resolve_types(attrs_model)
    return {
        f.name: (f.type, f.default is attrs.NOTHING) for f in attrs.fields(attrs_model)
    }


def _walk(value: Any, path: str, depth: int, config: ServiceConfig) -> Iterator[Problem]:
    """Problems of nesting and text length in *value* (a part of the body at *path*)."""
    if depth > config.max_depth:
        yield Problem(
            f"nested deeper than {config.max_depth} levels (max_depth)", column=path, value=None
        )
        return
    if isinstance(value, str):
        if len(value) > config.max_string_length:
            yield Problem(
                f"text of {len(value):,} characters; at most {config.max_string_length:,} "
                "(max_string_length)",
                column=path,
                value=short_value(value),
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if len(key) > config.max_string_length:
                yield Problem(
                    f"key of {len(key):,} characters; at most {config.max_string_length:,} "
                    "(max_string_length)",
                    column=path,
                    value=short_value(key),
                )
                continue
            yield from _walk(item, f"{path}.{key}", depth + 1, config)
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from _walk(item, f"{path}[{k}]", depth + 1, config)


def _whole(value: Any) -> Any:
    """A number with a fraction of zero as an integer (``2e9`` is a whole number of yuan;
    strict decoding would otherwise refuse it for an integer field)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def check_body(data: Any, model: type, config: ServiceConfig) -> None:
    """Check a decoded request body against *model* and the service's limits.

    What the library checks itself (an unknown policy, a negative fund, a town row's
    values) is left to it, so that those problems are reported together; this checks what
    the library must never see: lists over the limits, deep nesting, long text, unknown
    fields, and values of the wrong JSON type (text for a number), every one of them.

    Raises
    ------
    TooLarge
        More towns rows or constraints than the limits.
    ValidationError
        Every other problem: nesting, long text, unknown fields, wrong types.
    """
    if not isinstance(data, dict):
        return  # the handler's own decoding says what is wrong with it
    towns = data.get("towns")
    if isinstance(towns, list) and len(towns) > config.max_towns:
        raise TooLarge(
            f"{len(towns):,} towns rows; the service takes at most {config.max_towns:,} "
            "(max_towns)"
        )
    constraints = data.get("constraints")
    if isinstance(constraints, list) and len(constraints) > config.max_constraints:
        raise TooLarge(
            f"{len(constraints):,} constraints; the service takes at most "
            f"{config.max_constraints:,} (max_constraints)"
        )
    fields = _field_types(model)
    problems: list[Problem] = [
        Problem(
            f"unknown field; the fields are: {', '.join(fields)}",
            column=short_value(str(key)),
            value=None,
        )
        for key in data
        if key not in fields
    ]
    for key, value in data.items():
        if key not in fields:
            continue
        if key == "towns" and isinstance(value, list):
            try:  # the common case, in compiled code: flat rows of short values
                msgspec.convert(value, _flat_rows(config.max_string_length), strict=True)
            except msgspec.ValidationError:
                # A value that is not flat is the library's to report (with the other
                # problems of the rows); only what it must not be handed is refused here.
                for k, row in enumerate(value):
                    problems.extend(_walk(row, f"towns[{k}]", 1, config))
            continue
        found = list(_walk(value, str(key), 1, config))
        if not found:
            try:
                msgspec.convert(_whole(value), fields[key][0], strict=True)
            except msgspec.ValidationError as exc:
                found.append(_problem(exc, str(key)))
        problems.extend(found)
    if problems:
        raise ValidationError(problems, what="request body")


def _problem(exc: msgspec.ValidationError, prefix: str) -> Problem:
    """A msgspec error (``Expected `int`, got `str` - at `$.fund```) as a problem at its
    path."""
    text = str(exc)
    message, _, where = text.partition(" - at `")
    path = where.rstrip("`").removeprefix("$")
    column = (prefix + path).lstrip(".") or None
    if message.startswith("Expected `int"):
        message = "must be a whole number (" + message + ")"
    elif message.startswith(("Expected `float", "Expected `number")):
        message = "must be a number (" + message + ")"
    return Problem(message, column=column, value=None)


def intake(config: ServiceConfig, models: dict[str, type]) -> Any:
    """A ``before_request`` hook: the bodies of the routes in *models* (path → request
    type) decoded and checked by :func:`check_body`.

    A body too deeply nested for the decoder is ``422``; one that is not JSON at all is left
    to the handler, which says so the same way. (A full queue has turned the request away
    before this, at the front door.)
    """

    async def before_request(request: Request[Any, Any, Any]) -> None:
        model = models.get(request.url.path)
        if model is None or request.method != "POST":
            return
        try:
            data = await request.json()
        except RecursionError:
            raise ValidationError(
                [
                    Problem(
                        f"nested too deeply to read (at most {config.max_depth} levels: "
                        "max_depth)",
                        column=None,
                        value=None,
                    )
                ],
                what="request body",
            ) from None
        except Exception:
            return
        check_body(data, model, config)

    return before_request
