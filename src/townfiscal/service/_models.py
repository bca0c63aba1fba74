"""Request and response bodies of the HTTP API (attrs classes; Litestar reads them natively)."""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = [
    "AllocationCreated",
    "AllocationRequest",
    "AllocationRun",
    "EligibilityRequest",
    "EligibilityResult",
    "ErrorBody",
    "FormulaRequest",
    "FormulaResult",
    "FundRangeRequest",
    "FundRangeResult",
    "Health",
    "PolicySummary",
]

Unit = Literal["yuan", "wan"]


@attrs.frozen
class EligibilityRequest:
    """Which towns a policy covers.

    ``policy`` is a bundled policy id; ``changes`` an optional reform
    (``{"dotted.path": value}``, see ``Policy.with_changes``); ``towns`` the towns table as a
    list of rows with the canonical (or Chinese) column names — omitted for the bundled
    Guangdong example; ``unit`` the unit of money columns whose header does not say.
    """

    policy: str
    changes: dict[str, Any] | None = None
    towns: list[dict[str, Any]] | None = None
    unit: Unit = "yuan"


@attrs.frozen
class FormulaRequest:
    """The formula amounts of a policy (Art. 5–6), for a fund in yuan (default: the policy's)."""

    policy: str
    changes: dict[str, Any] | None = None
    towns: list[dict[str, Any]] | None = None
    unit: Unit = "yuan"
    fund: int | None = None


@attrs.frozen
class AllocationRequest:
    """An allocation by the optimiser.

    ``constraints`` is a list of objects such as ``{"type": "HoldHarmless", "ratio": 1.0}``,
    ``{"type": "GrowthCap", "rate": 0.15}``, ``{"type": "Floor", "amount": 1000000}``,
    ``{"type": "Rounding", "unit": 10000}``; ``objective`` one such as
    ``{"type": "Proportional"}`` (the default: every adjustment spread in proportion to the
    formula amounts) or ``{"type": "MinDeviation"}``. Per-town amounts may be a number, an object
    keyed by town code, or the name of a column of the towns table.
    """

    policy: str
    changes: dict[str, Any] | None = None
    towns: list[dict[str, Any]] | None = None
    unit: Unit = "yuan"
    fund: int | None = None
    constraints: list[dict[str, Any]] = attrs.field(factory=list)
    objective: dict[str, Any] | None = None


@attrs.frozen
class FundRangeRequest:
    """The least and the most fund a policy's growth control and ``constraints`` (objects as
    in an allocation request) allow to be allocated exactly."""

    policy: str
    changes: dict[str, Any] | None = None
    towns: list[dict[str, Any]] | None = None
    unit: Unit = "yuan"
    constraints: list[dict[str, Any]] = attrs.field(factory=list)


@attrs.frozen
class FundRangeResult:
    """``least`` and ``most`` (yuan, whole yuan inside the exact bounds; ``most`` is null when
    nothing caps the fund) and, for each end, what sets it: constraint families, or a policy
    parameter with its value and whether it is published or an assumption."""

    policy: str
    policy_hash: str
    data_hash: str
    least: int
    most: int | None
    least_set_by: list[str]
    most_set_by: list[str]
    text: str


@attrs.frozen
class Health:
    """The service is up; ``database`` says whether the store answers."""

    status: str
    version: str
    database: str


@attrs.frozen
class PolicySummary:
    """One bundled policy (``GET /policies/{id}`` gives its parameters with sources)."""

    id: str
    title: str
    title_zh: str | None
    effective: str
    method: str
    document: str
    hash: str
    assumptions: int
    parameters: int


@attrs.frozen
class EligibilityResult:
    """Per town: ``eligible`` and the ``reason``."""

    policy: str
    policy_hash: str
    count: int
    eligible: int
    towns: list[dict[str, Any]]


@attrs.frozen
class FormulaResult:
    """The formula amounts: ``amounts`` (yuan by town code, summing to ``total`` = ``fund``)
    and per-town ``towns`` rows with every intermediate value."""

    policy: str
    policy_hash: str
    data_hash: str
    fund: int
    total: int
    amounts: dict[str, int]
    towns: list[dict[str, Any]]


@attrs.frozen
class AllocationCreated:
    """A stored allocation run: ``amounts`` in yuan by town code, summing to ``total``.

    ``status`` is ``optimal``, or ``time_limit`` when the solver stopped at the service's time
    limit with a feasible but unproven answer; ``provenance`` holds the policy id and hash,
    the data hash, the constraints and objective, library and solver versions."""

    id: str
    created: str
    policy: str
    policy_hash: str
    data_hash: str
    fund: int
    total: int
    status: str
    amounts: dict[str, int]
    provenance: dict[str, Any]
    links: dict[str, str]


@attrs.frozen
class AllocationRun:
    """A stored allocation run with its request, provenance and per-town rows.

    ``towns`` has one row per eligible town: target, optimum (before rounding), amount, last
    year's amount, change, effective bounds, binding constraints and duals; ``shadow_prices``
    one row per constraint family."""

    id: str
    created: str
    policy: str
    policy_hash: str
    data_hash: str
    fund: int
    total: int
    status: str
    objective_value: float | None
    objective_unit: str
    amounts: dict[str, int]
    provenance: dict[str, Any]
    request: dict[str, Any]
    towns: list[dict[str, Any]]
    shadow_prices: list[dict[str, Any]]
    links: dict[str, str]


@attrs.frozen
class ErrorBody:
    """An error: ``error`` is ``validation``, ``infeasible``, ``not_found``, ``unauthorized``,
    ``too_large``, ``time_limit`` …; ``problems`` (validation) lists every problem with its
    row (town code), column and value; ``conflicts`` (infeasible) says which constraints
    cannot hold together and by how much."""

    error: str
    message: str
    what: str | None = None
    problems: list[dict[str, Any]] | None = None
    conflicts: list[dict[str, Any]] | None = None
