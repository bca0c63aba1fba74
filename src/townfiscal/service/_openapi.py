"""Finishing touches to the generated OpenAPI document.

Litestar derives the document from the routes and the msgspec structs of
:mod:`townfiscal.service._models`. What it cannot see is added here, once per document:

- the towns table's row schema (canonical or Chinese headers, the required columns), the
  bundled policy ids, the fund's bounds;
- the constraint and objective schemas, derived from the library's attrs classes by the
  codec, wherever a request or a stored run holds them;
- the per-factor columns of a formula row (``value_<factor>``, ``coef_<factor>``); one named
  ``Reform`` of parameter values; the closed sets of methods, kinds and zones;
- every error status each operation can answer, with the error body, an example and
  ``Retry-After`` where it applies; the ``error`` codes, each with its status and meaning;
  ``X-Request-ID`` on every response;
- the workbook download ``GET /allocations/{allocation_id}.xlsx`` (served by the same route
  as the JSON), as binary content that generated clients return as bytes;
- links from where a run's id appears to the operations that take it;
- realistic examples, from the bundled Guangdong example (:mod:`._examples`).
"""

from __future__ import annotations

import copy
from typing import Any

from townfiscal.policy import METHODS, list_policies
from townfiscal.service._codec import Codec
from townfiscal.service._compute import MAX_FUND
from townfiscal.service._examples import (
    ERROR_EXAMPLES,
    INFEASIBLE_EXAMPLE,
    REQUEST_EXAMPLES,
    SCHEMA_EXAMPLES,
)
from townfiscal.service._models import ERROR_CODES
from townfiscal.towns import COLUMNS, KINDS, ZONES

__all__ = ["MAX_OFFSET", "XLSX", "error_statuses", "patch_openapi"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_OFFSET = 2**63 - 1
"""The largest ``offset`` of a listing (a signed 64-bit SQL integer)."""

_PATCHED = "x-townfiscal-patched"
_REQUESTS = ("EligibilityRequest", "FormulaRequest", "FundRangeRequest", "AllocationRequest")

_STATUS_TEXT = {
    400: "Malformed request (e.g. a Host the service does not serve)",
    401: "Missing or wrong bearer token",
    403: "Refused: a foreign Origin, or a network address reaching a service without a token",
    404: "No such resource",
    409: "Conflict with the stored state",
    413: "Request body, or a list or text in it, over the service's limit",
    415: "Request body not sent as application/json",
    422: "Invalid request (every problem listed) or infeasible constraints",
    503: "The service cannot answer now (deadline, queue full, solver or database); "
    "retry after Retry-After seconds",
}
_NOT_FOUND = {
    "/policies/{policy_id}": "No such policy",
    "/allocations/{allocation_id}": "No such allocation run",
    "/allocations/{allocation_id}.xlsx": "No such allocation run",
    "/allocations/{allocation_id}/explain/{code}": "No such allocation run, or no such town in it",
}
_CONFLICT = {
    "/allocations/{allocation_id}.xlsx": "This version of the library no longer reproduces "
    "the stored run's amounts (its JSON is still at GET /allocations/{allocation_id})",
    "/allocations/{allocation_id}/explain/{code}": "This version of the library no longer "
    "reproduces the stored run's amounts",
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _town_row() -> dict[str, Any]:
    props: dict[str, Any] = {}
    for col in COLUMNS:
        schema: dict[str, Any]
        if col.kind in {"people", "money", "area"}:
            schema = {"type": ["number", "string", "null"]}
        elif col.kind == "code":
            schema = {"anyOf": [
                {"type": "string", "pattern": r"^[1-9][0-9]{8}$"},
                {"type": "integer", "minimum": 100_000_000, "maximum": 999_999_999},
            ]}
        else:
            schema = {"type": "string" if col.required else ["string", "null"]}
        schema["description"] = f"{col.zh}: {col.description}"
        props[col.name] = schema
    required = [c.name for c in COLUMNS if c.required]
    return {
        "type": "object",
        "title": "TownRow",
        "description": (
            "One township-level unit. Canonical English names or the Chinese headers ("
            + ", ".join(c.zh for c in COLUMNS)
            + ") are accepted; money in yuan unless `unit` is `wan` or the header says (万元). "
            "Required (under either name): " + ", ".join(required) + "."
        ),
        "properties": props,
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        "x-required-columns": required,
        "examples": [REQUEST_EXAMPLES["FormulaRequest"]["towns"][1]["towns"][0]],
    }


def error_statuses(path: str, method: str, op: dict[str, Any], *, secured: bool) -> list[int]:
    """The error statuses the operation *method* *path* can answer (besides 500)."""
    # Every request passes the front door: its Host (400), its Origin, or a network address
    # reaching a service without a token (403).
    out = {400, 403} if path == "/health" else {400, 403, 503}  # liveness never sheds
    if "requestBody" in op:
        out |= {413, 415, 422}
    if any(p.get("in") == "query" for p in op.get("parameters", [])):
        out.add(422)
    if path in _NOT_FOUND:
        out.add(404)
    if path in _CONFLICT or (path == "/allocations" and method == "post"):
        out.add(409)
    if secured and op.get("security") != [{}]:
        out.add(401)
    return sorted(out)


def _error_response(status: int, description: str) -> dict[str, Any]:
    summary, body = ERROR_EXAMPLES[status]
    examples = {str(body["error"]): {"summary": summary, "value": body}}
    if status == 422:
        summary, body = INFEASIBLE_EXAMPLE
        examples["infeasible"] = {"summary": summary, "value": body}
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("ErrorBody"), "examples": examples}},
    }
    if status == 503:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    return response


_REQUEST_ID = {
    "description": "The request's id: the client's X-Request-ID when it sent a valid one, "
    "else a new one; the service's log line of the request carries it",
    "schema": {"type": "string"},
}


def _responses(doc: dict[str, Any], secured: bool) -> None:
    """Every error status each operation can answer, with the error body and an example;
    the request id on every response."""
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            # Litestar's own 400 (a body or parameter that does not decode) is answered as
            # 422 here; the 400 declared below is the front door's (the Host).
            responses.pop("400", None)
            for status in error_statuses(path, method, op, secured=secured):
                declared = responses.get(str(status), {}).get("content", {})
                schema = declared.get("application/json", {}).get("schema", {})
                if declared and schema != _ref("ErrorBody"):
                    continue  # the route's own body for this status (/ready's 503)
                description = _STATUS_TEXT[status]
                if status == 404:
                    description = _NOT_FOUND[path]
                elif status == 409:
                    description = _CONFLICT.get(
                        path, "The Idempotency-Key was used before with another body"
                    )
                responses[str(status)] = _error_response(status, description)
            for response in responses.values():
                response.setdefault("headers", {})["X-Request-ID"] = dict(_REQUEST_ID)


def _unions(node: Any) -> None:
    """Unions as ``anyOf``: Litestar writes ``oneOf``, which a whole number fails for
    ``int | float`` (it matches both); a discriminated union keeps its ``oneOf``."""
    if isinstance(node, dict):
        if "oneOf" in node and "discriminator" not in node:
            node["anyOf"] = node.pop("oneOf")
        for value in node.values():
            _unions(value)
    elif isinstance(node, list):
        for value in node:
            _unions(value)


def _strip_examples(schema: Any) -> None:
    """Drop the filler examples Litestar makes up for response models."""
    if isinstance(schema, dict):
        schema.pop("examples", None)
        for value in schema.values():
            _strip_examples(value)
    elif isinstance(schema, list):
        for value in schema:
            _strip_examples(value)


def _error_code(schemas: dict[str, Any]) -> None:
    for name in ("ErrorBody", "Problem", "Conflict"):
        _strip_examples(schemas.get(name))
    lines = [f"- `{code.value}` ({status}): {meaning}" for code, (status, meaning)
             in ERROR_CODES.items()]
    schemas["ErrorCode"] = {
        "type": "string",
        "title": "ErrorCode",
        "enum": [code.value for code in ERROR_CODES],
        "description": "What went wrong, as a fixed code:\n\n" + "\n".join(lines),
        "x-enum-descriptions": [meaning for _, meaning in ERROR_CODES.values()],
        "x-enum-statuses": [status for status, _ in ERROR_CODES.values()],
    }
    body = schemas["ErrorBody"]
    body["examples"] = [ERROR_EXAMPLES[422][1]]


def _requests(schemas: dict[str, Any], codec: Codec | None) -> None:
    schemas["PolicyId"] = {
        "type": "string",
        "title": "PolicyId",
        "enum": list_policies(),
        "description": "A bundled policy id (GET /policies)",
        "examples": ["guangdong-2020"],
    }
    schemas["MoneyUnit"] = {
        "type": "string",
        "title": "MoneyUnit",
        "enum": ["yuan", "wan"],
        "description": "The unit of the towns table's money columns whose header does not "
        "say: yuan, or wan (万元, 10,000 yuan)",
    }
    for name, schema in schemas.items():
        props = schema.get("properties", {})
        if name not in _REQUESTS:
            continue
        schema["additionalProperties"] = False
        props["policy"] = _ref("PolicyId")
        props["towns"] = {
            **_nullable({"type": "array", "minItems": 1, "items": _ref("TownRow")}),
            "description": "The towns table as rows; omitted or null: the bundled example",
        }
        props["unit"] = {**_ref("MoneyUnit"), "default": props["unit"].get("default", "yuan")}
        if "fund" in props:
            props["fund"] = {
                **_nullable({"type": "integer", "minimum": 1, "maximum": MAX_FUND}),
                "description": "The fund, yuan (default: the policy's fund.default)",
                "examples": [2_000_000_000],
            }
        if codec is not None and "constraints" in props:
            props["constraints"] = {
                "type": "array",
                "items": _ref("Constraint"),
                "default": [],
                "description": 'Constraints from the catalogue, e.g. {"type": "HoldHarmless"}',
            }
        if codec is not None and "objective" in props:
            props["objective"] = {
                **_nullable(_ref("Objective")),
                "description": (
                    "The objective (default: Proportional, the unique allocation closest to "
                    "the formula amounts in Σ (x − t)² / t, which spreads every adjustment in "
                    "proportion)"
                ),
            }
    stored = schemas.get("StoredRequest")
    if stored is not None:
        stored["properties"]["unit"] = _ref("MoneyUnit")
    if stored is not None and codec is not None:
        stored["properties"]["constraints"] = {"type": "array", "items": _ref("Constraint")}
        stored["properties"]["objective"] = _nullable(_ref("Objective"))


def _reform(schemas: dict[str, Any]) -> None:
    """One named ``Reform`` (and ``ParameterValue``) for the requests, stored runs and policy
    parameters, instead of a copy in each (generated clients get one model)."""
    value: dict[str, Any] | None = None
    nullable = False
    for name in (*_REQUESTS, "StoredRequest"):
        props = schemas.get(name, {}).get("properties", {})
        if "changes" not in props:
            continue
        changes = props["changes"]
        reform = next(s for s in changes["anyOf"] if s.get("type") == "object")
        value = copy.deepcopy(reform["additionalProperties"])
        members = value.get("anyOf", [])
        if {"type": "null"} in members:  # null lifts a bound that may be absent
            nullable = True
            value["anyOf"] = [m for m in members if m != {"type": "null"}]
        props["changes"] = {
            **_nullable(_ref("Reform")),
            "description": "A reform (null or omitted: the policy as published)",
        }
    if value is None:
        return
    schemas["ParameterValue"] = {
        **value,
        "title": "ParameterValue",
        "description": "A policy parameter's value: a number, text or flag; a list "
        "(eligibility.kinds, tiers.multipliers); or an object (eligibility.areas by code "
        "prefix, regional_coefficient by zone)",
    }
    schemas["Reform"] = {
        "type": "object",
        "title": "Reform",
        "description": "New values of a policy's parameters: {dotted parameter path: value}; "
        "the paths and the values' types are those of GET /policies/{policy_id}"
        + ("; null removes a parameter that may be absent (growth_control.floor or .cap: "
           "no bound)" if nullable else ""),
        "additionalProperties": _nullable(_ref("ParameterValue")) if nullable
        else _ref("ParameterValue"),
        "examples": [{"factors.registered_population.weight": 0.4,
                      "factors.supported_population.weight": 0.3}],
    }
    if "Parameter" in schemas:
        schemas["Parameter"]["properties"]["value"] = _ref("ParameterValue")


def _enums(schemas: dict[str, Any]) -> None:
    """The closed sets the library answers with: a policy's method, a town's kind and zone
    (canonical names; requests may use the Chinese ones)."""
    sets = {"method": list(METHODS), "kind": list(KINDS), "zone": list(ZONES)}
    for name in ("PolicySummary", "PolicyDetail", "FormulaTown"):
        for field, values in sets.items():
            prop = schemas.get(name, {}).get("properties", {}).get(field)
            if prop is not None and prop.get("type") == "string":
                prop["enum"] = values


def _formula_row(schemas: dict[str, Any]) -> None:
    row = schemas.get("FormulaTown")
    if row is None:
        return
    number = _nullable({"type": "number"})
    row["patternProperties"] = {"^(value|coef)_[a-z0-9_]+$": number}
    row["additionalProperties"] = number


def _examples(doc: dict[str, Any], schemas: dict[str, Any]) -> None:
    for name, example in SCHEMA_EXAMPLES.items():
        if name in schemas:
            schemas[name]["examples"] = [copy.deepcopy(example)]
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            media = op.get("requestBody", {}).get("content", {}).get("application/json")
            if media is None:
                continue
            name = str(media.get("schema", {}).get("$ref", "")).rsplit("/", 1)[-1]
            if name in REQUEST_EXAMPLES:
                media["examples"] = {
                    key: {"summary": summary, "value": copy.deepcopy(value)}
                    for key, (summary, value) in REQUEST_EXAMPLES[name].items()
                }


def _parameters(doc: dict[str, Any]) -> None:
    """Bounds of the query parameters, and path parameters' shapes."""
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for param in op.get("parameters", []):
                schema = param.setdefault("schema", {})
                if param.get("in") == "query" and param["name"] == "offset":
                    schema["maximum"] = MAX_OFFSET
                    param.setdefault("description", "How many runs to skip")
                elif param.get("in") == "query" and param["name"] == "limit":
                    param.setdefault("description", "How many runs to return")
                elif param.get("in") == "path" and param["name"] == "code":
                    param.setdefault("description", "A town's 9-digit code")
                    param.setdefault("example", "441581101")
                elif param.get("in") == "path" and param["name"] == "policy_id":
                    param.setdefault("example", "guangdong-2020")
                for key in ("minimum", "maximum"):
                    if isinstance(schema.get(key), float) and schema[key].is_integer():
                        schema[key] = int(schema[key])


def _links(paths: dict[str, Any]) -> None:
    """OpenAPI links from where a run's id appears to the operations that take it (clients
    and stateful testers follow them)."""
    def op_id(method: str, path: str) -> str | None:
        op = paths.get(path, {}).get(method)
        return op.get("operationId") if isinstance(op, dict) else None

    run = "/allocations/{allocation_id}"
    targets = {
        "GetAllocation": op_id("get", run),
        "GetWorkbook": op_id("get", run + ".xlsx"),
        "ExplainAllocation": op_id("get", run + "/explain/{code}"),
        "DeleteAllocation": op_id("delete", run),
    }
    sources = {
        ("post", "/allocations", "201"): "$response.body#/id",
        ("get", "/allocations", "200"): "$response.body#/items/0/id",
        ("get", run, "200"): "$response.body#/id",
    }
    for (method, path, status), id_at in sources.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        links: dict[str, Any] = {}
        for name, target in targets.items():
            if target is None or (path == run and name == "GetAllocation"):
                continue
            if name == "GetWorkbook" and path != run:
                # From the run's own view only: a stateful tester that deletes a run it has
                # just created does not see the delete of /allocations/{id} as one of
                # /allocations/{id}.xlsx, and would report the workbook's 404 as lost.
                continue
            params = {"allocation_id": id_at}
            if name == "ExplainAllocation":
                if path != run:
                    continue
                params["code"] = "$response.body#/towns/0/code"
            links[name] = {"operationId": target, "parameters": params}
        response["links"] = links


def _workbook(paths: dict[str, Any]) -> None:
    binary = {"type": "string", "format": "binary"}
    paths["/allocations/{allocation_id}.xlsx"] = {
        "get": {
            "tags": ["allocations"],
            "summary": "The allocation as an Excel workbook (分配表)",
            "description": (
                "One row per town, the shadow prices and the provenance, as an .xlsx file. "
                "The body is sent as " + XLSX + ", or as application/octet-stream when the "
                "request's Accept header asks for that instead."
            ),
            "operationId": "AllocationsAllocationIdXlsx",
            "parameters": [
                {
                    "name": "allocation_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": {
                    "description": "The workbook: one row per town, shadow prices, provenance",
                    "headers": {
                        "Content-Disposition": {
                            "description": 'attachment; filename="allocation-<id>.xlsx"',
                            "schema": {"type": "string"},
                        }
                    },
                    "content": {
                        XLSX: {"schema": binary},
                        "application/octet-stream": {"schema": binary},
                    },
                },
            },
        }
    }


def patch_openapi(doc: dict[str, Any], codec: Codec | None, *, secured: bool = False) -> None:
    """Complete *doc* as the module says (once, in place)."""
    if doc.get(_PATCHED):
        return
    doc[_PATCHED] = True
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    paths = doc.setdefault("paths", {})
    _unions(doc)
    schemas["TownRow"] = _town_row()
    if codec is not None:
        schemas.update(codec.schemas())
        _workbook(paths)
    _requests(schemas, codec)
    _reform(schemas)
    _enums(schemas)
    _formula_row(schemas)
    if "ErrorBody" in schemas:
        _error_code(schemas)
    _parameters(doc)
    _responses(doc, secured)
    _links(paths)
    _examples(doc, schemas)
