"""Policies: the rules of a measure as versioned data, each value with its source."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from townfiscal._errors import Problem, ValidationError
from townfiscal.policy._schema import check_policy

__all__ = ["METHODS", "Parameter", "Policy", "get_policy", "list_policies", "load_policy"]

METHODS = ("factor_share", "tier_standard")
"""How a policy turns coefficients into amounts: a share of the fund, or tiered standards."""

_ASSUMPTION = "assumption:"


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """Like :func:`_thaw` but keeping dates: the inverse of :func:`_freeze`, for pickling."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@attrs.frozen
class Parameter:
    """One value of a policy, with where it comes from.

    Read from a policy with :meth:`Policy.parameter`; frozen (a mapping or list value is
    stored read-only).

    Attributes
    ----------
    path:
        The dotted path of the value in the policy (``"growth_control.cap"``).
    value:
        The value: a number (in :attr:`unit`), a string, a list or a mapping.
    source:
        An article reference (e.g. ``"Art. 6 of the 2020 measures"``) or ``"assumption:"``
        followed by why this value was chosen where the measure does not publish one.
    unit:
        The unit of a number (``"yuan"``, ``"people"``, ``"km2"``), or ``None`` for a pure
        number or a non-numeric value.
    description:
        What the value means, in words, where the path does not say it; or ``None``.

    Examples
    --------
    >>> p = get_policy("guangdong-2020").parameter("fund.default")
    >>> p.value, p.unit, p.is_assumption
    (2000000000, 'yuan', False)
    >>> get_policy("guangdong-2020").parameter("growth_control.cap").is_assumption
    True
    """

    path: str
    value: Any = attrs.field(converter=_freeze)
    source: str
    unit: str | None = None
    description: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: read-only mappings in values are thawed, and frozen again on load."""
        value = _plain(self.value)
        return (Parameter, (self.path, value, self.source, self.unit, self.description))

    @property
    def is_assumption(self) -> bool:
        """Whether the value is a documented assumption rather than a published figure."""
        return self.source.strip().lower().startswith(_ASSUMPTION)

    def to_dict(self) -> dict[str, Any]:
        """The parameter as a JSON-friendly dict."""
        return {
            "path": self.path,
            "value": _thaw(self.value),
            "source": self.source,
            "unit": self.unit,
            "description": self.description,
            "assumption": self.is_assumption,
        }


def _frozen_parameters(params: Mapping[str, Parameter]) -> Mapping[str, Parameter]:
    return MappingProxyType(dict(params))


@attrs.frozen
class Policy:
    """A measure's rules as data: eligibility, factors, coefficients, tiers, growth control.

    Read values by dotted path (``policy["growth_control.cap"]``, which raises
    :class:`KeyError` for a path the policy does not set) or whole parameters with their
    sources (``policy.parameter("growth_control.cap").source``). Policies are immutable;
    :meth:`with_changes` returns a reformed copy. Get one with :func:`get_policy` or
    :func:`load_policy` rather than building it by hand.

    Attributes
    ----------
    id:
        The policy's id (``"guangdong-2020"``).
    title, title_zh:
        The measure's title in English and (where known) in Chinese.
    effective:
        The date the rules take effect.
    effective_source:
        Where :attr:`effective` comes from: a published date, or ``"assumption: <why>"``
        where the measure's date of effect is not known; ``None`` if the file does not say.
    method:
        How coefficients become amounts: ``"factor_share"`` (a share of the fund) or
        ``"tier_standard"`` (tier standards).
    document:
        The published document the rules come from.
    parameters:
        Every value, as a read-only mapping from dotted path to :class:`Parameter`.
    supersedes:
        The id of the policy this one replaces, or ``None``.
    description:
        A longer description, possibly empty.
    derived_from:
        For a policy made by :meth:`with_changes`, the id of the one it was made from.

    Examples
    --------
    >>> pol = get_policy("guangdong-2020")
    >>> pol.id, pol.method, pol.effective.isoformat()
    ('guangdong-2020', 'factor_share', '2020-08-27')
    >>> pol["growth_control.cap"]
    0.15
    >>> "tiers.base" in pol
    False
    """

    id: str
    title: str
    effective: dt.date
    method: str
    document: str
    parameters: Mapping[str, Parameter] = attrs.field(converter=_frozen_parameters)
    title_zh: str | None = None
    supersedes: str | None = None
    description: str = ""
    derived_from: str | None = None
    effective_source: str | None = None

    def __getitem__(self, path: str) -> Any:
        return self.parameter(path).value

    def __contains__(self, path: object) -> bool:
        return path in self.parameters

    def get(self, path: str, default: Any = None) -> Any:
        """The value at *path*, or *default* when the policy does not set it."""
        p = self.parameters.get(path)
        return default if p is None else p.value

    def parameter(self, path: str) -> Parameter:
        """The :class:`Parameter` at dotted *path*.

        Raises
        ------
        KeyError
            Naming the path and the policy, with the paths that do exist nearby.
        """
        try:
            return self.parameters[path]
        except KeyError:
            head = path.split(".")[0]
            near = [p for p in self.parameters if p.startswith(head)] or list(self.parameters)
            raise KeyError(
                f"policy {self.id!r} has no parameter {path!r}; it has: {', '.join(near)}"
            ) from None

    def under(self, prefix: str) -> Iterator[Parameter]:
        """The parameters whose path starts with ``prefix + '.'``, in file order."""
        dotted = prefix + "."
        return (p for k, p in self.parameters.items() if k.startswith(dotted))

    @property
    def assumptions(self) -> list[Parameter]:
        """The parameters that are documented assumptions, not published figures."""
        return [p for p in self.parameters.values() if p.is_assumption]

    @functools.cached_property
    def hash(self) -> str:
        """A stable content hash (SHA-256, hex) of the rules: method, dates and every value.

        Two policies with the same rules have the same hash whatever their file layout;
        changing any value or source changes it. Computed once per policy (a policy is
        immutable).
        """
        payload = {
            "id": self.id,
            "method": self.method,
            "effective": self.effective.isoformat(),
            "parameters": {
                k: [_thaw(p.value), p.source] for k, p in sorted(self.parameters.items())
            },
        }
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def with_changes(
        self, changes: Mapping[str, Any], *, id: str | None = None, reason: str = "reform"
    ) -> Policy:
        """A new policy with some values replaced; this one is left as it was.

        Parameters
        ----------
        changes:
            ``{"dotted.path": new_value}``. Paths must exist in the policy.
        id:
            The new policy's id (default: ``"<id>+changes"``).
        reason:
            Recorded in each changed parameter's source, with the value it replaced.

        Raises
        ------
        ValidationError
            When a path is unknown or the changed policy breaks the schema (e.g. weights
            that no longer make sense).

        Examples
        --------
        >>> reform = get_policy("guangdong-2020").with_changes(
        ...     {"factors.registered_population.weight": 0.40,
        ...      "factors.supported_population.weight": 0.30})
        >>> reform["factors.registered_population.weight"]
        0.4
        """
        problems = [
            Problem(f"policy {self.id!r} has no parameter {path!r}", column=path)
            for path in changes
            if path not in self.parameters
        ]
        if problems:
            raise ValidationError(problems, what=f"changes to policy {self.id}")
        params = dict(self.parameters)
        for path, value in changes.items():
            old = params[path]
            params[path] = attrs.evolve(
                old,
                value=value,
                source=f"{reason}: set to {_thaw(_freeze(value))!r} "
                f"(was {_thaw(old.value)!r}, {old.source})",
            )
        new = attrs.evolve(
            self, id=id or f"{self.id}+changes", parameters=params, derived_from=self.id
        )
        _check_schema(new, f"policy {new.id}")
        return new

    def to_dict(self) -> dict[str, Any]:
        """The policy as a JSON-friendly dict (parameters listed with their sources)."""
        return {
            "id": self.id,
            "title": self.title,
            "title_zh": self.title_zh,
            "effective": self.effective.isoformat(),
            "effective_source": self.effective_source,
            "method": self.method,
            "document": self.document,
            "supersedes": self.supersedes,
            "derived_from": self.derived_from,
            "description": self.description,
            "hash": self.hash,
            "parameters": [p.to_dict() for p in self.parameters.values()],
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support (for process pools and Dask): the parameters' read-only mapping
        cannot be pickled as it is, so the policy is rebuilt from its fields."""
        fields = {a.name: getattr(self, a.name) for a in attrs.fields(Policy)}
        fields["parameters"] = dict(self.parameters)
        return (_rebuild_policy, (fields,))

    def _repr_html_(self) -> str:
        """A compact summary for Jupyter: facts, then the parameters with their sources."""
        from townfiscal._html import policy_html

        return policy_html(self)

    def __repr__(self) -> str:
        n = len(self.parameters)
        return (
            f"<Policy {self.id} ({self.method}, effective {self.effective.isoformat()}, "
            f"{n} parameters, {len(self.assumptions)} assumptions)>"
        )


def _rebuild_policy(fields: dict[str, Any]) -> Policy:
    return Policy(**fields)


# --- loading -------------------------------------------------------------------------------

_TOP_REQUIRED = ("id", "title", "effective", "method", "document", "parameters")
_TOP_ALLOWED = {*_TOP_REQUIRED, "title_zh", "supersedes", "description", "effective_source"}
_LEAF_ALLOWED = {"value", "source", "unit", "description"}


def _flatten(
    table: Mapping[str, Any], prefix: str, out: dict[str, Any], problems: list[Problem]
) -> None:
    for key, item in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(item, Mapping) and "value" in item:
            out[path] = item
        elif isinstance(item, Mapping):
            _flatten(item, path, out, problems)
        else:
            problems.append(
                Problem(
                    "a parameter must be a table with `value` and `source`", column=path, value=item
                )
            )


def policy_from_mapping(data: Mapping[str, Any], *, what: str = "policy") -> Policy:
    """Build a :class:`Policy` from the parsed contents of a policy file, checking its schema.

    Raises
    ------
    ValidationError
        Listing every schema problem (missing keys, parameters without a source, values of
        the wrong type, weights or tiers that do not make sense).
    """
    problems: list[Problem] = []
    for key in _TOP_REQUIRED:
        if key not in data:
            problems.append(Problem("required key is missing", column=key))
    for key in data:
        if key not in _TOP_ALLOWED:
            problems.append(Problem("unknown key", column=key))
    effective = data.get("effective")
    if "effective" in data and not isinstance(effective, dt.date):
        problems.append(Problem("must be a date (YYYY-MM-DD)", column="effective", value=effective))
    method = data.get("method")
    if "method" in data and method not in METHODS:
        problems.append(
            Problem(
                f"unknown method; expected one of {', '.join(METHODS)}",
                column="method",
                value=method,
            )
        )
    leaves: dict[str, Any] = {}
    raw_params = data.get("parameters", {})
    if isinstance(raw_params, Mapping):
        _flatten(raw_params, "", leaves, problems)
    else:
        problems.append(Problem("must be a table", column="parameters"))
    params: dict[str, Parameter] = {}
    for path, leaf in leaves.items():
        extra = set(leaf) - _LEAF_ALLOWED
        if extra:
            problems.append(Problem(f"unknown keys {sorted(extra)}", column=path))
        source = leaf.get("source")
        if not isinstance(source, str) or not source.strip():
            problems.append(
                Problem(
                    "every value needs a `source`: an article, or 'assumption: <why>'", column=path
                )
            )
            continue
        params[path] = Parameter(
            path, leaf["value"], source.strip(), leaf.get("unit"), leaf.get("description")
        )
    if problems:
        raise ValidationError(problems, what=what)
    if isinstance(effective, dt.datetime):
        effective = effective.date()
    assert isinstance(effective, dt.date)
    policy = Policy(
        id=str(data["id"]),
        title=str(data["title"]),
        effective=effective,
        method=str(method),
        document=str(data["document"]),
        parameters=params,
        title_zh=data.get("title_zh"),
        supersedes=data.get("supersedes"),
        description=str(data.get("description", "")).strip(),
        effective_source=data.get("effective_source"),
    )
    _check_schema(policy, what)
    return policy


def _check_schema(policy: Policy, what: str) -> None:
    """Method-specific checks: the parameters a method reads exist and make sense."""
    problems = check_policy(policy)
    if problems:
        raise ValidationError(problems, what=what)


def load_policy(path: str | PathLike[str]) -> Policy:
    """Load a policy from a TOML file (see the bundled ``policy/files/*.toml`` for the format).

    Parameters
    ----------
    path:
        The policy file (TOML, UTF-8).

    Returns
    -------
    Policy
        The policy the file describes, checked against the schema.

    Raises
    ------
    FileNotFoundError
        When there is no file at *path*.
    ValidationError
        When the file is not valid TOML or breaks the policy schema; the message lists every
        problem.

    Examples
    --------
    >>> from importlib import resources
    >>> path = resources.files("townfiscal.policy") / "files" / "guangdong-2018.toml"
    >>> load_policy(str(path)).id
    'guangdong-2018'
    """
    import tomllib  # with the first policy file read, not with the package

    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(
            [Problem(f"not valid TOML: {exc}")], what=f"policy file {p.name}"
        ) from exc
    return policy_from_mapping(data, what=f"policy file {p.name}")


_CACHE: dict[str, Policy] = {}


def _bundled() -> dict[str, Policy]:
    if not _CACHE:
        import tomllib

        folder = resources.files("townfiscal.policy") / "files"
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                data = tomllib.loads(entry.read_text(encoding="utf-8"))
                pol = policy_from_mapping(data, what=f"bundled policy file {entry.name}")
                _CACHE[pol.id] = pol
    return _CACHE


def list_policies() -> list[str]:
    """The ids of the bundled policies, oldest effective date first.

    Returns
    -------
    list of str
        Policy ids, each accepted by :func:`get_policy`.

    Examples
    --------
    >>> list_policies()
    ['guangdong-minority-2014', 'guangdong-2018', 'guangdong-2020']
    """
    return [p.id for p in sorted(_bundled().values(), key=lambda p: (p.effective, p.id))]


def get_policy(policy: str | PathLike[str] | Policy) -> Policy:
    """A bundled policy by id, a policy file by path, or a :class:`Policy` as it is.

    Parameters
    ----------
    policy:
        A bundled policy's id (see :func:`list_policies`), the path of a policy file (TOML),
        or a :class:`Policy`.

    Returns
    -------
    Policy
        The policy; a :class:`Policy` passed in is returned unchanged.

    Raises
    ------
    KeyError
        When no bundled policy has that id (the message lists the ones that exist).
    ValidationError
        When a policy file is malformed.

    Examples
    --------
    >>> get_policy("guangdong-2020")["fund.default"]
    2000000000
    """
    if isinstance(policy, Policy):
        return policy
    key = str(policy)
    bundled = _bundled()
    if key in bundled:
        return bundled[key]
    if key.endswith(".toml") or Path(key).exists():
        return load_policy(key)
    raise KeyError(f"no policy {key!r}; bundled policies: {', '.join(list_policies())}")
