"""Examples for the OpenAPI document, taken from the bundled Guangdong example.

Every value comes from a real run of the service on the bundled towns table under policy
``guangdong-2020`` (fund 2,000,000,000 yuan; the town shown is 441581101, 甲子镇 in 陆丰市,
汕尾市) with ``HoldHarmless``, a ``Floor`` of 600,000 yuan and ``Rounding`` to 10,000 yuan.
The tests check each example against its schema, so they cannot drift from the models'
shapes; the figures are illustrations and move with the policy files.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ERROR_EXAMPLES", "REQUEST_EXAMPLES", "SCHEMA_EXAMPLES"]

_POLICY = "guangdong-2020"
_POLICY_HASH = "f382d31b22f5f4b593ebd0ca3d730098bb321efa33f79c046fc90c84d3354317"
_DATA_HASH = "3008e7b71d2e7ade2d79dcdb21e06e9e27ba2e56755b86aa6c1717db0a3ad8c6"
_RUN = "7f7ed7bea2ca44bcab214291a316a2ff"
_FUND = 2_000_000_000
_CONSTRAINTS = [
    {"type": "HoldHarmless", "ratio": 1.0},
    {"type": "Floor", "amount": 600000},
    {"type": "Rounding", "unit": 10000},
]
_LINKS = {
    "self": f"/allocations/{_RUN}",
    "explain": f"/allocations/{_RUN}/explain/{{code}}",
    "workbook": f"/allocations/{_RUN}.xlsx",
}
_PROVENANCE = {
    "policy": _POLICY,
    "policy_hash": _POLICY_HASH,
    "data_hash": _DATA_HASH,
    "fund": _FUND,
    "towns": 1002,
    "constraints": ["HoldHarmless(ratio=1.0)", "Floor(600,000)",
                    "Rounding(unit=10000, exact='auto')"],
    "objective": "Proportional(target=None)",
    "method": "breakpoint search",
    "spend": "exact",
    "rounding": "largest_remainder",
    "townfiscal": "0.1.0",
    "solver": "breakpoints",
    "solver_version": "townfiscal breakpoint search (exact)",
    "numpy": "2.4.6",
    "pandas": "3.1.1",
    "model": {"rows": 1, "columns": 1002, "nonzeros": 1002},
    "created": "2026-12-01T04:17:18+00:00",
    "status": "optimal",
}
_GROWTH_PARAMETERS = [
    {
        "path": "growth_control.floor",
        "value": 0.0,
        "source": "assumption: Art. 5 applies a growth-control adjustment whose rule is not "
        "published; no town receives less than last year (hold-harmless)",
        "unit": "change against last year",
        "description": None,
        "assumption": True,
    },
    {
        "path": "growth_control.cap",
        "value": 0.15,
        "source": "assumption: growth capped at +15% on last year, about twice the fund's own "
        "growth of 7.7% in 2020",
        "unit": "change against last year",
        "description": None,
        "assumption": True,
    },
]
_STEP = {
    "label": "growth control",
    "formula": "clip(λ × coefficient, lower, upper) with λ = 1.72767e+06; "
    "[2,874,452.00, 3,305,619.80] from last year's 2,874,452",
    "value": 3271064.813028007,
    "unit": "yuan",
    "parameters": _GROWTH_PARAMETERS,
    "note": "within its bounds: scaled with the other unclamped towns (the total stays "
    "exactly the fund)",
}

#: One example per component schema (``components.schemas.<name>.examples``).
SCHEMA_EXAMPLES: dict[str, dict[str, Any]] = {
    "EligibilityTown": {
        "code": "441581101", "eligible": True, "reason": "covered: town (镇) in 汕尾市"
    },
    "FormulaTown": {
        "code": "441581101", "name": "甲子镇", "kind": "town", "county": "陆丰市",
        "city": "汕尾市", "zone": "east_wing",
        "value_supported_population": 462.0, "coef_supported_population": 1.5915917154880765,
        "value_registered_population": 96527.0, "coef_registered_population": 1.9384581954647802,
        "value_capacity_per_supported": 124658.00865800866,
        "coef_capacity_per_supported": 1.2633972023317368,
        "value_expenditure_per_resident": 971.4626484610827,
        "coef_expenditure_per_resident": 1.97460769333757,
        "regional": 1.1, "coefficient": 1.8933400235022853, "share": 0.0016294487404395978,
        "prior_amount": 2874452.0, "proportional": 3258897.4808791955, "lower": 2874452.0,
        "upper": 3305619.8, "unrounded": 3271064.813028007, "amount": 3271065,
    },
    "AllocationTown": {
        "code": "441581101", "name": "甲子镇", "county": "陆丰市", "city": "汕尾市",
        "target": 3271065.0, "optimum": 3269291.9217259404, "amount": 3270000,
        "prior_amount": 2874452.0, "change": 395548.0, "change_pct": 13.760814235200309,
        "lower": 2880000.0, "upper": 2000000000.0, "binding": "", "lower_dual": 0.0,
        "upper_dual": 0.0,
    },
    "ShadowPrice": {
        "family": "HoldHarmless", "shadow_price": 1.1547167774036664, "binding": 174,
        "unit": "yuan (Σ (x − t)² / t) per yuan",
        "meaning": "objective gain per yuan of loosening each binding bound",
    },
    "Provenance": _PROVENANCE,
    "Links": _LINKS,
    "Parameter": _GROWTH_PARAMETERS[1],
    "ExplanationStep": _STEP,
    "Explanation": {
        "code": "441581101", "name": "甲子镇", "policy": _POLICY, "amount": 3270000,
        "steps": [_STEP],
        "text": "441581101 甲子镇 — policy guangdong-2020: 3,270,000 yuan\n"
        "10. growth control: clip(λ × coefficient, lower, upper) with λ = 1.72767e+06; "
        "[2,874,452.00, 3,305,619.80] from last year's 2,874,452 = 3,271,064.81 yuan\n"
        "16. amount: allocated = 3,270,000 yuan",
    },
    "StoredRequest": {
        "policy": _POLICY, "changes": None, "fund": _FUND, "unit": "yuan",
        "constraints": [
            {"type": "HoldHarmless", "ratio": 1.0},
            {"type": "Floor", "amount": 600000.0},
            {"type": "Rounding", "unit": 10000, "exact": "auto"},
        ],
        "objective": None, "towns": "example",
    },
    "AllocationSummary": {
        "id": _RUN, "created": "2026-12-01T04:17:18.711523+00:00", "policy": _POLICY,
        "policy_hash": _POLICY_HASH, "data_hash": _DATA_HASH, "fund": _FUND, "total": _FUND,
        "library_version": "0.1.0",
    },
    "FundRangeResult": {
        "policy": _POLICY, "policy_hash": _POLICY_HASH, "data_hash": _DATA_HASH,
        "least": 1857010214, "most": 2135561280,
        "least_set_by": ["HoldHarmless", "growth_control.floor = 0.0 (assumption: …)"],
        "most_set_by": ["growth_control.cap = 0.15 (assumption: …)"],
        "text": "least fund 1,857,010,214 yuan, set by HoldHarmless, growth_control.floor = "
        "0.0 (assumption: …)\nmost fund  2,135,561,280 yuan, set by growth_control.cap = 0.15 "
        "(assumption: …)",
    },
    "Health": {"status": "ok", "version": "0.1.0", "database": "ok"},
    "Problem": {
        "row": "441581101", "column": "registered_population", "value": -5,
        "message": "must not be negative",
    },
    "Conflict": {
        "message": "the floors need 2,100,000,000 yuan but the fund is 2,000,000,000 yuan",
        "constraints": ["fund", "Floor"], "required": 2100000000.0,
        "available": 2000000000.0, "towns": [],
    },
}

#: Request bodies, by schema name: {example name: (summary, value)}.
REQUEST_EXAMPLES: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "EligibilityRequest": {
        "example": ("The bundled Guangdong example under the 2020 measures",
                    {"policy": _POLICY}),
    },
    "FormulaRequest": {
        "example": ("The 2020 formula for 2 billion yuan on the bundled example",
                    {"policy": _POLICY, "fund": _FUND}),
        "reform": ("A reform that weighs the registered population more",
                   {"policy": _POLICY, "fund": _FUND,
                    "changes": {"factors.registered_population.weight": 0.4,
                                "factors.supported_population.weight": 0.3}}),
        "towns": ("Your own towns table (one town, 3 million yuan; money in 万元)",
                  {"policy": _POLICY, "fund": 3_000_000, "unit": "wan", "towns": [{
                      "code": "441581101", "name": "甲子镇", "kind": "town",
                      "county": "陆丰市", "city": "汕尾市", "zone": "east_wing",
                      "registered_population": 96527, "resident_population": 70894,
                      "supported_population": 462, "fiscal_capacity": 5759.2,
                      "expenditure": 6887.0873, "prior_amount": 287.4452}]}),
    },
    "FundRangeRequest": {
        "example": ("The funds the growth control and hold-harmless allow",
                    {"policy": _POLICY, "constraints": [{"type": "HoldHarmless"}]}),
    },
    "AllocationRequest": {
        "example": ("2 billion yuan, nobody below last year, a floor, whole 万元",
                    {"policy": _POLICY, "fund": _FUND, "constraints": _CONSTRAINTS}),
        "min_deviation": ("Closest to the formula in absolute yuan, capped per city",
                          {"policy": _POLICY, "fund": _FUND,
                           "constraints": [{"type": "HoldHarmless"},
                                           {"type": "GroupTotal", "by": "city",
                                            "hi": {"韶关市": 300000000}}],
                           "objective": {"type": "MinDeviation"}}),
    },
}

#: An example error body per HTTP status: (summary, body).
ERROR_EXAMPLES: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("A Host the service does not serve",
          {"error": "bad_request", "message": "invalid host header"}),
    401: ("No bearer token", {"error": "unauthorized",
                              "message": "missing or invalid bearer token"}),
    403: ("A cross-site request", {"error": "forbidden",
                                   "message": "cross-origin request refused"}),
    404: ("An unknown run", {"error": "not_found", "message": f"no allocation '{_RUN[:-1]}0'"}),
    409: ("A stored run this version no longer reproduces", {
        "error": "conflict",
        "message": f"allocation {_RUN} was made with townfiscal 0.0.9; re-solving its stored "
        "request here gives different amounts, so it cannot be explained or exported by this "
        "version (its stored amounts and provenance are still at GET /allocations/{id})"}),
    413: ("A body over the limit", {"error": "too_large",
                                    "message": "request body is too large"}),
    415: ("A body that is not JSON", {
        "error": "unsupported_media_type",
        "message": "the request body must be sent as application/json"}),
    422: ("A town row with a negative population and an unknown policy", {
        "error": "validation",
        "what": "formula request",
        "message": "formula request is invalid: 2 problems",
        "problems": [
            {"row": None, "column": "policy", "value": "guangdong-2021",
             "message": "unknown policy; bundled policies: guangdong-minority-2014, "
             "guangdong-2018, guangdong-2020"},
            {"row": "441581101", "column": "registered_population", "value": -5,
             "message": "must not be negative"},
        ]}),
    503: ("The request's deadline ran out", {
        "error": "unavailable",
        "message": "the request did not finish within its deadline of 30 s; retry later"}),
}

#: A second 422: constraints that cannot all hold.
INFEASIBLE_EXAMPLE: tuple[str, dict[str, Any]] = (
    "Floors the fund cannot pay for",
    {
        "error": "infeasible",
        "message": "the constraints cannot all be met",
        "conflicts": [{
            "message": "the floors need 2,104,000,000 yuan but the fund is 2,000,000,000 yuan",
            "constraints": ["fund", "Floor"], "required": 2104000000.0,
            "available": 2000000000.0, "towns": []}],
    },
)
