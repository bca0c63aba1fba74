"""Request and response bodies of the HTTP API: msgspec structs that Litestar turns into the
OpenAPI document's schemas.

Every body the service sends or reads is typed here down to its leaves (per-town rows,
explanation steps, shadow prices, provenance, policy parameters, the problems and conflicts
of errors), so that clients generated from the document get models rather than untyped
dicts. What the structs cannot say (the towns table's column aliases, the constraint and
objective catalogue, bounds that depend on the library) is added by
:mod:`townfiscal.service._openapi`.

Request bodies refuse unknown fields (``{"constraint": …}`` for ``constraints`` is a 422,
not a silently dropped floor). Responses are encoded as the workers build them, without a
second validation pass (a policy's detail and the listing are converted to their structs);
the tests hold every live answer against these schemas, field for field.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal, TypeAlias

from msgspec import Meta, Struct, field

__all__ = [
    "ERROR_CODES",
    "AllocationCreated",
    "AllocationList",
    "AllocationRequest",
    "AllocationRun",
    "AllocationSummary",
    "AllocationTown",
    "Conflict",
    "EligibilityRequest",
    "EligibilityResult",
    "EligibilityTown",
    "ErrorBody",
    "ErrorCode",
    "Explanation",
    "ExplanationStep",
    "FormulaRequest",
    "FormulaResult",
    "FormulaTown",
    "FundRangeRequest",
    "FundRangeResult",
    "Health",
    "Links",
    "ModelSize",
    "Parameter",
    "ParameterValue",
    "PolicyDetail",
    "PolicySummary",
    "Problem",
    "Provenance",
    "ShadowPrice",
    "StoredRequest",
    "TownsPrior",
    "TownsSource",
]

Unit = Literal["yuan", "wan"]

EXAMPLE_POLICY = "guangdong-2020"
EXAMPLE_TOWN = "441581101"
EXAMPLE_RUN = "7f7ed7bea2ca44bcab214291a316a2ff"

Scalar: TypeAlias = str | int | float | bool
"""A plain JSON value: text, a number or true/false."""

ParameterValue: TypeAlias = Scalar | list[str | int | float] | dict[str, str | int | float]
"""A policy parameter's value: a number, text or flag; a list (``eligibility.kinds``,
``tiers.multipliers``); or an object (``eligibility.areas`` by code prefix,
``regional_coefficient`` by zone)."""

_Hash = Annotated[str, Meta(pattern="^[0-9a-f]{64}$", description="SHA-256, hex")]
_Code = Annotated[
    str, Meta(pattern="^[1-9][0-9]{8}$", description="9-digit NBS township code",
              examples=[EXAMPLE_TOWN])
]
_Yuan = Annotated[int, Meta(description="whole yuan")]
_PolicyId = Annotated[str, Meta(description="a policy id (GET /policies)",
                                examples=[EXAMPLE_POLICY])]


# --- errors -------------------------------------------------------------------------------


class ErrorCode(enum.StrEnum):
    """What went wrong, as a fixed code (the ``error`` of every error body)."""

    VALIDATION = "validation"
    INFEASIBLE = "infeasible"
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"


ERROR_CODES: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.VALIDATION: (
        422,
        "the request is invalid: a field, query parameter, town row or constraint argument "
        "is missing, of the wrong type or out of range; `problems` lists every one",
    ),
    ErrorCode.INFEASIBLE: (
        422,
        "the constraints (with the fund and the policy's growth control) cannot all hold; "
        "`conflicts` says which and by how much",
    ),
    ErrorCode.BAD_REQUEST: (
        400, "the request is malformed at the HTTP level: a Host the service does not serve"
    ),
    ErrorCode.UNAUTHORIZED: (401, "the bearer token is missing or wrong"),
    ErrorCode.FORBIDDEN: (
        403,
        "the request comes from a web page of an origin the service does not allow, or "
        "reaches a service without a token on a network address",
    ),
    ErrorCode.NOT_FOUND: (404, "no such policy, allocation run or town in the run"),
    ErrorCode.METHOD_NOT_ALLOWED: (405, "the path does not answer this method"),
    ErrorCode.CONFLICT: (
        409,
        "the request conflicts with the stored state: this version of the library no longer "
        "reproduces a stored run's amounts, or an idempotency key was used for another body",
    ),
    ErrorCode.TOO_LARGE: (413, "the body, or a list or text in it, is over the service's limit"),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: (415, "the body is not sent as application/json"),
    ErrorCode.INTERNAL: (500, "a fault in the service; its log has the details"),
    ErrorCode.UNAVAILABLE: (
        503,
        "the service cannot answer now: the request's deadline ran out, the queue is full, "
        "the solver failed or the database is down; retry after `Retry-After` seconds",
    ),
}
"""Each error code with the HTTP status it comes with and what it means (the HTTP reference
is generated from this table)."""


class Problem(Struct, kw_only=True):
    """One problem with the input: where (row = town code or ``#n``, column = field or JSON
    path) and what."""

    row: Annotated[str | None, Meta(description="the town code, or #n for the n-th row",
                                    examples=["#3"])]
    column: Annotated[str | None, Meta(description="the column, field or JSON path",
                                       examples=["constraints[0].amount"])]
    value: Annotated[Scalar | None, Meta(description="the value at fault (long ones cut)")]
    message: str


class Conflict(Struct, kw_only=True):
    """One reason the constraints cannot all hold, in yuan."""

    message: str
    constraints: Annotated[list[str], Meta(description="the constraint families involved",
                                           examples=[["fund", "Floor"]])]
    required: Annotated[float | None, Meta(description="yuan the constraints need")]
    available: Annotated[float | None, Meta(description="yuan there are")]
    towns: Annotated[list[str], Meta(description="the towns concerned (empty: totals)")]


class ErrorBody(Struct, kw_only=True):
    """An error: a fixed ``error`` code, a one-line ``message``, and for validation errors
    every ``problem`` (row, column, value), for infeasible constraints every ``conflict``."""

    error: ErrorCode
    message: str
    what: Annotated[str | None, Meta(description="what was invalid (validation)")] = None
    problems: list[Problem] | None = None
    conflicts: list[Conflict] | None = None


# --- requests -----------------------------------------------------------------------------

_Changes = Annotated[
    dict[str, ParameterValue | None] | None,
    Meta(
        description="A reform: {dotted parameter path: new value}; the paths and the values' "
        "types are those of GET /policies/{policy_id}; null removes a parameter that may be "
        "absent (growth_control.floor or .cap: no bound)",
        examples=[{"factors.registered_population.weight": 0.4,
                   "factors.supported_population.weight": 0.3}],
    ),
]


class EligibilityRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """Which towns a policy covers.

    ``policy`` is a bundled policy id; ``changes`` an optional reform
    (``{"dotted.path": value}``, see ``Policy.with_changes``); ``towns`` the towns table as a
    list of rows with the canonical (or Chinese) column names — omitted for the bundled
    Guangdong example; ``unit`` the unit of money columns whose header does not say.
    """

    policy: str
    changes: _Changes = None
    towns: list[dict[str, Any]] | None = None
    unit: Unit = "yuan"


class FormulaRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """The formula amounts of a policy (Art. 5–6), for a fund in yuan (default: the policy's)."""

    policy: str
    changes: _Changes = None
    towns: list[dict[str, Any]] | None = None
    unit: Unit = "yuan"
    fund: int | None = None


class AllocationRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """An allocation by the optimiser.

    ``constraints`` is a list of objects such as ``{"type": "HoldHarmless", "ratio": 1.0}``,
    ``{"type": "GrowthCap", "rate": 0.15}``, ``{"type": "Floor", "amount": 1000000}``,
    ``{"type": "Rounding", "unit": 10000}``; ``objective`` one such as
    ``{"type": "Proportional"}`` (the default: every adjustment spread in proportion to the
    formula amounts) or ``{"type": "MinDeviation"}``. Per-town amounts may be a number, an object
    keyed by town code, or the name of a column of the towns table.
    """

    policy: str
    changes: _Changes = None
    towns: list[dict[str, Any]] | None = None
    unit: Unit = "yuan"
    fund: int | None = None
    constraints: list[dict[str, Any]] = field(default_factory=list)
    objective: dict[str, Any] | None = None


class FundRangeRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """The least and the most fund a policy's growth control and ``constraints`` (objects as
    in an allocation request) allow to be allocated exactly."""

    policy: str
    changes: _Changes = None
    towns: list[dict[str, Any]] | None = None
    unit: Unit = "yuan"
    constraints: list[dict[str, Any]] = field(default_factory=list)


# --- service and policies -----------------------------------------------------------------


class Health(Struct, kw_only=True):
    """The service is up; ``database`` says whether the store answers."""

    status: Literal["ok", "degraded"]
    version: Annotated[str, Meta(examples=["0.1.0"])]
    database: Literal["ok", "unavailable"]


class PolicySummary(Struct, kw_only=True):
    """One bundled policy (``GET /policies/{id}`` gives its parameters with sources)."""

    id: _PolicyId
    title: str
    title_zh: str | None
    effective: Annotated[str, Meta(description="ISO date the policy took effect",
                                   examples=["2020-08-27"])]
    method: Annotated[str, Meta(description="factor_share or tier_standard",
                                examples=["factor_share"])]
    document: str
    hash: _Hash
    assumptions: Annotated[int, Meta(description="how many values are assumptions")]
    parameters: Annotated[int, Meta(description="how many parameters")]


class Parameter(Struct, kw_only=True):
    """One policy parameter with its source (an article, or ``assumption: …``)."""

    path: Annotated[str, Meta(examples=["factors.supported_population.weight"])]
    value: ParameterValue
    source: str
    unit: str | None
    description: str | None
    assumption: Annotated[bool, Meta(description="the value is assumed, not published")]


class PolicyDetail(Struct, kw_only=True):
    """A policy with every parameter and its source."""

    id: _PolicyId
    title: str
    title_zh: str | None
    effective: Annotated[str, Meta(examples=["2020-08-27"])]
    effective_source: Annotated[str | None,
                                Meta(description="where the effective date comes from")] = None
    method: Annotated[str, Meta(examples=["factor_share"])]
    document: str
    supersedes: str | None
    derived_from: Annotated[str | None, Meta(description="the policy a reform changed")]
    description: str
    hash: _Hash
    parameters: list[Parameter]


# --- eligibility, formula, fund range -----------------------------------------------------


class EligibilityTown(Struct, kw_only=True):
    """Whether one town is covered, and why."""

    code: _Code
    eligible: bool
    reason: str


class EligibilityResult(Struct, kw_only=True):
    """Per town: ``eligible`` and the ``reason``."""

    policy: _PolicyId
    policy_hash: _Hash
    count: int
    eligible: int
    towns: list[EligibilityTown]


class FormulaTown(Struct, kw_only=True):
    """One eligible town's formula: its inputs, each factor's value and coefficient
    (``value_<factor>``, ``coef_<factor>``, one pair per factor of the policy), the composite
    coefficient, its share, the proportional amount, the growth-control bounds and the
    amount."""

    code: _Code
    name: str
    kind: str
    county: str
    city: str
    zone: str
    regional: Annotated[float, Meta(description="regional coefficient r")]
    coefficient: Annotated[float, Meta(description="composite coefficient C")]
    share: Annotated[float, Meta(description="C / ΣC")]
    prior_amount: Annotated[float | None, Meta(description="last year's amount, yuan")]
    proportional: Annotated[float, Meta(description="fund × weight share, yuan")]
    lower: Annotated[float | None, Meta(description="growth-control floor, yuan")]
    upper: Annotated[float | None, Meta(description="growth-control cap, yuan (null: none)")]
    unrounded: Annotated[float, Meta(description="the exact amount before rounding, yuan")]
    amount: _Yuan
    tier: Annotated[int | None, Meta(description="tier, 1 = weakest (tier_standard)")] = None
    standard: Annotated[float | None,
                        Meta(description="the tier's standard amount, yuan (tier_standard)")] = None


class FormulaResult(Struct, kw_only=True):
    """The formula amounts: ``amounts`` (yuan by town code, summing to ``total`` = ``fund``)
    and per-town ``towns`` rows with every intermediate value."""

    policy: _PolicyId
    policy_hash: _Hash
    data_hash: _Hash
    fund: _Yuan
    total: _Yuan
    amounts: Annotated[dict[str, int], Meta(description="whole yuan by town code")]
    towns: list[FormulaTown]


class FundRangeResult(Struct, kw_only=True):
    """``least`` and ``most`` (yuan, whole yuan inside the exact bounds; ``most`` is null when
    nothing caps the fund) and, for each end, what sets it: constraint families, or a policy
    parameter with its value and whether it is published or an assumption."""

    policy: _PolicyId
    policy_hash: _Hash
    data_hash: _Hash
    least: _Yuan
    most: Annotated[int | None, Meta(description="whole yuan; null when nothing caps it")]
    least_set_by: list[str]
    most_set_by: list[str]
    text: str


# --- allocations --------------------------------------------------------------------------


class Links(Struct, kw_only=True):
    """Where a run's views are."""

    self_: str = field(name="self")
    explain: Annotated[str, Meta(description="replace {code} with a town code")]
    workbook: str


class ModelSize(Struct, kw_only=True):
    """The size of the optimisation model."""

    rows: int
    columns: int
    nonzeros: int


class TownsSource(Struct, kw_only=True):
    """The file a towns table was read from (each field only when it applies)."""

    file: str | None = None
    format: Annotated[str | None, Meta(examples=["csv"])] = None
    sheet: str | int | None = None
    header_row: Annotated[int | None, Meta(description="1-based row of the headers")] = None
    unit: Annotated[str | None, Meta(examples=["wan"])] = None
    encoding: str | None = None
    rows: Annotated[int | None, Meta(description="data rows read")] = None
    skipped: Annotated[str | None, Meta(description="rows skipped, and why")] = None


class TownsPrior(Struct, kw_only=True):
    """Where last year's amounts were rolled forward from (each field only when it applies)."""

    file: str | None = None
    kind: str | None = None
    sheet: str | int | None = None
    amount_header: str | None = None
    unit: str | None = None
    matched: Annotated[int | None, Meta(description="towns matched by code")] = None
    total: Annotated[float | None, Meta(description="yuan")] = None
    source_policy_id: str | None = None
    source_fund: Annotated[float | None, Meta(description="yuan")] = None
    appeared: Annotated[str | None, Meta(description="codes new this year (50 at most)")] = None
    vanished: Annotated[str | None, Meta(description="codes gone this year (50 at most)")] = None


class Provenance(Struct, kw_only=True):
    """What a run was made from and with: the policy and data (by hash), the constraints and
    objective, the method and solver, and the library versions."""

    policy: _PolicyId
    policy_hash: _Hash
    data_hash: _Hash
    fund: _Yuan
    towns: Annotated[int, Meta(description="how many towns were allocated")]
    constraints: Annotated[list[str], Meta(examples=[["HoldHarmless(ratio=1.0)"]])]
    objective: Annotated[str, Meta(examples=["Proportional(target=None)"])]
    method: Annotated[str, Meta(examples=["breakpoint search"])]
    spend: Annotated[str, Meta(examples=["exact"])]
    rounding: Annotated[str | None, Meta(examples=["largest_remainder"])]
    townfiscal: str
    solver: Annotated[str, Meta(examples=["highs"])]
    solver_version: str
    numpy: str
    pandas: str
    model: ModelSize
    created: Annotated[str, Meta(description="when it was solved, ISO 8601 UTC")]
    status: Literal["optimal", "time_limit"]
    towns_source: Annotated[TownsSource | None,
                            Meta(description="the towns table's file, when read from one")] = None
    towns_prior: Annotated[TownsPrior | None,
                           Meta(description="last year's amounts, when rolled forward")] = None


class AllocationTown(Struct, kw_only=True):
    """One town of an allocation run: target, optimum before rounding, amount, change on
    last year, effective bounds, the constraint families holding it and their duals."""

    code: _Code
    name: str
    county: str
    city: str
    target: Annotated[float, Meta(description="the objective's target, yuan")]
    optimum: Annotated[float, Meta(description="the optimum before rounding, yuan")]
    amount: _Yuan
    prior_amount: Annotated[float | None, Meta(description="last year's amount, yuan")]
    change: Annotated[float | None, Meta(description="amount − prior_amount, yuan")]
    change_pct: Annotated[float | None, Meta(description="change in % of prior_amount")]
    lower: Annotated[float | None, Meta(description="effective lower bound, yuan")]
    upper: Annotated[float | None, Meta(description="effective upper bound, yuan")]
    binding: Annotated[str, Meta(description="the families holding the town, comma-separated",
                                 examples=["HoldHarmless"])]
    lower_dual: Annotated[float | None, Meta(description="objective per yuan of the lower bound")]
    upper_dual: Annotated[float | None, Meta(description="objective per yuan of the upper bound")]


class ShadowPrice(Struct, kw_only=True):
    """One constraint family's shadow price: how the objective moves per yuan of loosening."""

    family: Annotated[str, Meta(examples=["HoldHarmless"])]
    shadow_price: float | None
    binding: Annotated[int, Meta(description="how many of its bounds hold")]
    unit: str
    meaning: str


class StoredRequest(Struct, kw_only=True):
    """The request a run was made from, normalised (``towns``: ``example`` or ``posted: N
    rows``; constraints with every argument)."""

    policy: _PolicyId
    changes: dict[str, ParameterValue] | None
    fund: int | None
    unit: Unit
    constraints: list[dict[str, Any]]
    objective: dict[str, Any] | None
    towns: Annotated[str, Meta(examples=["example", "posted: 1757 rows"])]


class _RunHead(Struct, kw_only=True):
    id: Annotated[str, Meta(examples=[EXAMPLE_RUN])]
    created: Annotated[str, Meta(description="ISO 8601 UTC",
                                 examples=["2026-12-01T04:15:03.711523+00:00"])]
    policy: _PolicyId
    policy_hash: _Hash
    data_hash: _Hash
    fund: _Yuan
    total: _Yuan


class AllocationSummary(_RunHead, kw_only=True):
    """A stored run in a listing (``GET /allocations/{id}`` has the rest)."""

    library_version: str


class AllocationList(Struct, kw_only=True):
    """A page of stored runs, newest first: ``total`` runs in all, ``next`` the next page's
    path (null on the last page)."""

    items: list[AllocationSummary]
    total: int
    next: str | None


class AllocationCreated(_RunHead, kw_only=True):
    """A stored allocation run: ``amounts`` in yuan by town code, summing to ``total``.

    ``status`` is ``optimal``, or ``time_limit`` when the solver stopped at the service's time
    limit with a feasible but unproven answer; ``provenance`` holds the policy id and hash,
    the data hash, the constraints and objective, library and solver versions."""

    status: Literal["optimal", "time_limit"]
    amounts: Annotated[dict[str, int], Meta(description="whole yuan by town code")]
    provenance: Provenance
    links: Links


class AllocationRun(_RunHead, kw_only=True):
    """A stored allocation run with its request, provenance and per-town rows.

    ``towns`` has one row per eligible town: target, optimum (before rounding), amount, last
    year's amount, change, effective bounds, binding constraints and duals; ``shadow_prices``
    one row per constraint family."""

    status: Literal["optimal", "time_limit"]
    objective_value: float | None
    objective_unit: Annotated[str, Meta(examples=["yuan (Σ (x − t)² / t)"])]
    amounts: Annotated[dict[str, int], Meta(description="whole yuan by town code")]
    provenance: Provenance
    request: StoredRequest
    towns: list[AllocationTown]
    shadow_prices: list[ShadowPrice]
    links: Links


class ExplanationStep(Struct, kw_only=True):
    """One step of an explanation: what was computed, how, its value and the parameters it
    read."""

    label: Annotated[str, Meta(examples=["growth control"])]
    formula: str
    value: Annotated[Scalar | None, Meta(description="a number (in `unit`), a flag "
                                                     "(eligibility) or text (bounds)")]
    unit: str | None
    parameters: list[Parameter]
    note: str | None


class Explanation(Struct, kw_only=True):
    """How one town's amount came about: the formula's steps, then what the optimiser did,
    as values and as ``text``."""

    code: _Code
    name: str
    policy: _PolicyId
    amount: _Yuan | None
    steps: list[ExplanationStep]
    text: str
