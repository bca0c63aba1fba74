"""JSON ↔ the library's constraint and objective classes, through cattrs.

A constraint or objective travels as an object naming its class in ``type`` with the class's
attrs fields beside it: ``{"type": "HoldHarmless", "ratio": 1.0}``,
``{"type": "GroupTotal", "by": "city", "hi": {"韶关市": 300000000}}``. A per-town value may be
a number, an object keyed by town code (a pandas Series to the library) or a column name.
A weighted sum of objectives is ``{"type": "WeightedObjective", "parts": [{"weight": 1.0,
"objective": {...}}, ...]}``. The JSON Schema of each class is derived from its attrs fields,
so the OpenAPI document follows the library without a second copy of the models.
"""

from __future__ import annotations

import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs
import cattrs
import pandas as pd
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from townfiscal._errors import Problem, ValidationError

__all__ = ["Codec"]

_NoneType = type(None)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def _is_abc_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) is Mapping


def _is_mapping(tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    return origin in (Mapping, dict) or tp is pd.Series


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value!r}")
    return value


def _number(value: Any, _: Any = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__} {value!r}"[:120])
    return _finite(float(value))


def _integer(value: Any, _: Any = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, got {type(value).__name__} {value!r}"[:120])
    return value


def _text(value: Any, _: Any = None) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__} {value!r}"[:120])
    return value


def _boolean(value: Any, _: Any = None) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}"[:120])
    return value


def _numbers_by_key(value: Any, _: Any = None) -> pd.Series:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object of numbers keyed by code, got {value!r}"[:120])
    bad = [k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad:
        raise TypeError(f"values must be numbers (keys {', '.join(map(str, bad[:5]))})")
    for v in value.values():
        _finite(float(v))
    return pd.Series({str(k): float(v) for k, v in value.items()}, dtype="float64")


def _literal(tp: Any) -> Callable[[Any, Any], Any]:
    allowed = typing.get_args(tp)

    def structure(value: Any, _: Any) -> Any:
        if value not in allowed or isinstance(value, bool):
            raise ValueError(f"expected one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value

    return structure


class Codec:
    """Structure JSON into constraint and objective objects and back, with JSON Schemas.

    Parameters
    ----------
    constraints, objectives:
        ``{"TypeName": attrs class}``: the catalogue the service accepts.
    weighted:
        The class of a weighted sum of objectives (constructed from ``((weight,
        objective), ...)``), or ``None``.

    Examples
    --------
    >>> import attrs
    >>> @attrs.frozen
    ... class Floor:
    ...     amount: float
    >>> codec = Codec({"Floor": Floor}, {})
    >>> codec.constraint({"type": "Floor", "amount": 10})
    Floor(amount=10.0)
    >>> codec.to_json(Floor(5.0))
    {'type': 'Floor', 'amount': 5.0}
    """

    def __init__(
        self,
        constraints: Mapping[str, type],
        objectives: Mapping[str, type],
        weighted: type | None = None,
    ) -> None:
        self.constraint_types = dict(constraints)
        self.objective_types = dict(objectives)
        self.weighted = weighted
        self._names = {cls: name for name, cls in {**constraints, **objectives}.items()}
        for cls in self._names:
            attrs.resolve_types(cls)
        conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        conv.register_structure_hook(float, _number)
        conv.register_structure_hook(int, _integer)
        conv.register_structure_hook(str, _text)
        conv.register_structure_hook(bool, _boolean)
        conv.register_structure_hook(pd.Series, _numbers_by_key)
        conv.register_structure_hook_func(_is_union, self._union)
        conv.register_structure_hook_factory(_is_literal, _literal)
        conv.register_structure_hook_func(_is_abc_mapping, _numbers_by_key)
        conv.register_unstructure_hook(pd.Series, _series_to_json)
        self._conv = conv

    # --- JSON → objects ----------------------------------------------------------------

    def _union(self, value: Any, tp: Any) -> Any:
        members = typing.get_args(tp)
        if value is None:
            if _NoneType in members:
                return None
            raise TypeError("must not be null")
        if isinstance(value, bool):
            if bool in members:
                return value
        elif isinstance(value, int | float):
            if float in members:
                return _finite(float(value))
            if int in members:
                return _integer(value)
        elif isinstance(value, str):
            if str in members:
                return value
            for m in members:
                if typing.get_origin(m) is Literal:
                    return _literal(m)(value, m)
        elif isinstance(value, Mapping) and any(_is_mapping(m) for m in members):
            return _numbers_by_key(value)
        raise TypeError(f"expected {_describe(tp)}, got {value!r}"[:160])

    def _structure(self, obj: Any, kinds: Mapping[str, type], where: str) -> Any:
        if not isinstance(obj, Mapping):
            raise ValidationError(
                [Problem("must be an object with a `type`", column=where, value=str(obj)[:80])],
                what=where,
            )
        name = obj.get("type")
        if not isinstance(name, str) or name not in kinds:
            raise ValidationError(
                [
                    Problem(
                        f"unknown type; expected one of {', '.join(kinds)}",
                        column=f"{where}.type",
                        value=name if isinstance(name, str | int | float) else str(name),
                    )
                ],
                what=where,
            )
        fields = {k: v for k, v in obj.items() if k != "type"}
        cls = kinds[name]
        if self.weighted is not None and cls is self.weighted:
            return self._weighted(fields, where)
        known = [f.name for f in attrs.fields(cls)]
        problems = [
            Problem(
                f"unknown field of {name}; its fields are: {', '.join(known) or 'none'}",
                column=f"{where}.{key}",
            )
            for key in fields
            if key not in known
        ]
        try:
            value: Any = self._conv.structure({k: v for k, v in fields.items() if k in known}, cls)
        except (ClassValidationError, IterableValidationError, ValidationError) as exc:
            problems += _problems(exc, where)
        except (TypeError, ValueError) as exc:
            problems.append(Problem(str(exc), column=where))
        if problems:
            raise ValidationError(problems, what=where)
        return value

    def _weighted(self, fields: Mapping[str, Any], where: str) -> Any:
        assert self.weighted is not None
        parts = fields.get("parts")
        extra = set(fields) - {"parts"}
        problems = [Problem("unknown field", column=f"{where}.{k}") for k in sorted(extra)]
        if not isinstance(parts, list) or not parts:
            problems.append(
                Problem("a non-empty list of {weight, objective}", column=f"{where}.parts")
            )
            raise ValidationError(problems, what=where)
        out = []
        for i, part in enumerate(parts):
            at = f"{where}.parts[{i}]"
            if not isinstance(part, Mapping) or set(part) != {"weight", "objective"}:
                problems.append(Problem("must be {weight, objective}", column=at))
                continue
            try:
                weight = _number(part["weight"])
            except (TypeError, ValueError) as exc:
                problems.append(Problem(str(exc), column=f"{at}.weight"))
                continue
            try:
                out.append((weight, self.objective(part["objective"], where=f"{at}.objective")))
            except ValidationError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ValidationError(problems, what=where)
        try:
            return self.weighted(tuple(out))
        except ValidationError as exc:  # a weight outside its declared domain
            raise ValidationError(
                [attrs.evolve(p, column=re.sub(r"^WeightedObjective\.weight\[(\d+)\]$",
                                               rf"{where}.parts[\1].weight", p.column or ""))
                 for p in exc.problems], what=where) from None

    def constraint(self, obj: Any, *, where: str = "constraint") -> Any:
        """One constraint object from its JSON form.

        Raises
        ------
        ValidationError
            Unknown ``type``, unknown or missing fields, values of the wrong kind — each a
            :class:`~townfiscal.Problem` whose ``column`` is the JSON path.
        """
        return self._structure(obj, self.constraint_types, where)

    def constraints(self, objs: Sequence[Any], *, where: str = "constraints") -> list[Any]:
        """Every constraint of a JSON list; the problems of all of them in one error."""
        out, problems = [], []
        for i, obj in enumerate(objs):
            try:
                out.append(self.constraint(obj, where=f"{where}[{i}]"))
            except ValidationError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ValidationError(problems, what=where)
        return out

    def objective(self, obj: Any, *, where: str = "objective") -> Any:
        """One objective from its JSON form (see :meth:`constraint`)."""
        kinds = dict(self.objective_types)
        if self.weighted is not None:
            kinds["WeightedObjective"] = self.weighted
        return self._structure(obj, kinds, where)

    # --- objects → JSON ----------------------------------------------------------------

    def to_json(self, value: Any) -> dict[str, Any]:
        """The JSON form of a constraint or objective (the inverse of :meth:`constraint`)."""
        if self.weighted is not None and isinstance(value, self.weighted):
            return {
                "type": "WeightedObjective",
                "parts": [
                    {"weight": float(w), "objective": self.to_json(o)}
                    for w, o in typing.cast(Any, value).terms()
                ],
            }
        name = self._names.get(type(value))
        if name is None:
            raise TypeError(f"{type(value).__name__} is not in the catalogue")
        body: dict[str, Any] = self._conv.unstructure(value)
        return {"type": name, **body}

    # --- JSON Schema -------------------------------------------------------------------

    def json_schema(self, name: str) -> dict[str, Any]:
        """The JSON Schema (OpenAPI 3.1 dialect) of the type called *name*."""
        if self.weighted is not None and name == "WeightedObjective":
            return {
                "type": "object",
                "title": name,
                "description": "A weighted sum of objectives, Σ weight · objective.",
                "properties": {
                    "type": {"type": "string", "const": name},
                    "parts": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "weight": {"type": "number"},
                                "objective": {"$ref": "#/components/schemas/Objective"},
                            },
                            "required": ["weight", "objective"],
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["type", "parts"],
                "additionalProperties": False,
            }
        cls = {**self.constraint_types, **self.objective_types}[name]
        props: dict[str, Any] = {"type": {"type": "string", "const": name}}
        required = ["type"]
        for f in attrs.fields(cls):
            schema = _schema(f.type)
            if f.default is attrs.NOTHING:
                required.append(f.name)
            elif f.default is None or isinstance(f.default, bool | int | float | str):
                schema["default"] = f.default
            props[f.name] = schema
        doc = inspect.getdoc(cls) or name
        return {
            "type": "object",
            "title": name,
            "description": doc.split("\n\n")[0].replace("\n", " "),
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }

    def schemas(self) -> dict[str, dict[str, Any]]:
        """Component schemas: one per type, plus ``Constraint`` and ``Objective`` unions."""
        out = {name: self.json_schema(name) for name in self.constraint_types}
        objective_names = list(self.objective_types)
        if self.weighted is not None:
            objective_names.append("WeightedObjective")
        out.update({name: self.json_schema(name) for name in objective_names})
        out["Constraint"] = _one_of(list(self.constraint_types))
        out["Objective"] = _one_of(objective_names)
        return out


def _one_of(names: list[str]) -> dict[str, Any]:
    return {
        "oneOf": [{"$ref": f"#/components/schemas/{n}"} for n in names],
        "discriminator": {
            "propertyName": "type",
            "mapping": {n: f"#/components/schemas/{n}" for n in names},
        },
    }


def _series_to_json(series: pd.Series) -> dict[str, float]:
    clean = series.dropna()
    return dict(zip(map(str, clean.index), clean.astype("float64").tolist(), strict=True))


def _describe(tp: Any) -> str:
    words = []
    for m in typing.get_args(tp) if _is_union(tp) else (tp,):
        if m in (float, int):
            words.append("a number")
        elif m is str:
            words.append("a column name")
        elif _is_mapping(m):
            words.append("an object of numbers keyed by code")
        elif m is bool:
            words.append("true or false")
        elif m is _NoneType:
            words.append("null")
        elif typing.get_origin(m) is Literal:
            words.append("one of " + ", ".join(map(repr, typing.get_args(m))))
    return " or ".join(dict.fromkeys(words)) or str(tp)


def _schema(tp: Any) -> dict[str, Any]:
    if _is_union(tp):
        members = typing.get_args(tp)
        if float in members:
            members = tuple(m for m in members if m is not int)
        parts: list[dict[str, Any]] = []
        for m in members:
            s = _schema(m)
            if s not in parts:
                parts.append(s)
        return parts[0] if len(parts) == 1 else {"anyOf": parts}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string", "description": "a column of the towns table"}
    if tp is _NoneType:
        return {"type": "null"}
    if typing.get_origin(tp) is Literal:
        return {"type": "string", "enum": list(typing.get_args(tp))}
    if _is_mapping(tp):
        return {
            "type": "object",
            "additionalProperties": {"type": "number"},
            "description": "numbers keyed by town code (or by group label)",
        }
    return {}


def _problems(exc: BaseException, where: str) -> list[Problem]:
    """Flatten a cattrs validation error group into problems with JSON paths."""
    out: list[Problem] = []

    def walk(e: BaseException, path: str) -> None:
        if isinstance(e, ClassValidationError | IterableValidationError):
            grouped, bare = e.group_exceptions()
            for sub, note in grouped:
                name = getattr(note, "name", None)
                index = getattr(note, "index", None)
                step = f".{name}" if name is not None else f"[{index}]" if index is not None else ""
                walk(sub, path + step)
            for sub in bare:
                walk(sub, path)
            return
        if isinstance(e, ForbiddenExtraKeysError):
            for key in sorted(e.extra_fields):
                out.append(Problem("unknown field", column=f"{path}.{key}"))
            return
        if isinstance(e, KeyError):
            out.append(Problem("required field is missing", column=path))
            return
        if isinstance(e, ValidationError):
            # a constraint's own check names its argument "<Family>.<argument>" (the path of
            # its declared domain, tf.PARAMETER_DOMAINS); here the family is the JSON object
            prefix = f"{e.what}."
            for p in e.problems:
                column = p.column[len(prefix):] if p.column and p.column.startswith(prefix) else (
                    p.column)
                out.append(attrs.evolve(p, column=f"{path}.{column}" if column else path))
            return
        out.append(Problem(str(e), column=path))

    walk(exc, where)
    return out
