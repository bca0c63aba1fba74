"""Finishing touches to the generated OpenAPI document.

Litestar derives the document from the routes and the attrs request/response classes. Two
things it cannot see are added here: the constraint and objective schemas (derived from the
library's attrs classes by the codec) and the workbook download
``GET /allocations/{allocation_id}.xlsx``, served by the same route as the JSON.
"""

from __future__ import annotations

from typing import Any

from townfiscal.policy import list_policies
from townfiscal.service._codec import Codec
from townfiscal.service._compute import MAX_FUND
from townfiscal.towns import COLUMNS

__all__ = ["XLSX", "patch_openapi"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PATCHED = "x-townfiscal-patched"


def _error_ref() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def _town_row() -> dict[str, Any]:
    props: dict[str, Any] = {}
    for col in COLUMNS:
        if col.kind in {"people", "money", "area"}:
            schema: dict[str, Any] = {"type": ["number", "string", "null"]}
        else:
            schema = {"type": "string"}
        if col.name == "code":
            schema["pattern"] = r"^[1-9][0-9]{8}$"
        schema["description"] = f"{col.zh}: {col.description}"
        props[col.name] = schema
    return {
        "type": "object",
        "title": "TownRow",
        "description": (
            "One township-level unit. Canonical English names or the Chinese headers ("
            + ", ".join(c.zh for c in COLUMNS)
            + ") are accepted; money in yuan unless `unit` is `wan` or the header says (万元). "
            "Required: " + ", ".join(c.name for c in COLUMNS if c.required) + "."
        ),
        "properties": props,
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
    }


def _error_responses(doc: dict[str, Any], secured: bool) -> None:
    """Errors as this service answers them: 422 (not Litestar's 400) and 401 with a token."""
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            had_400 = responses.pop("400", None) is not None
            if (had_400 or "requestBody" in op) and "422" not in responses:
                responses["422"] = {
                    "description": "Invalid request (every problem listed)",
                    "content": _error_ref(),
                }
            if secured and op.get("security") != [{}]:
                responses["401"] = {
                    "description": "Missing or wrong bearer token",
                    "content": _error_ref(),
                }


def patch_openapi(doc: dict[str, Any], codec: Codec | None, *, secured: bool = False) -> None:
    """Add the constraint/objective schemas and the workbook path to *doc* (once, in place)."""
    if doc.get(_PATCHED):
        return
    doc[_PATCHED] = True
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    paths = doc.setdefault("paths", {})
    schemas["TownRow"] = _town_row()
    for name, schema in schemas.items():
        props = schema.get("properties", {})
        if name.endswith("Request") and "towns" in props:
            props["policy"] = {
                "type": "string",
                "enum": list_policies(),
                "description": "A bundled policy id (GET /policies)",
            }
            props["towns"] = {
                "anyOf": [
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"$ref": "#/components/schemas/TownRow"},
                    },
                    {"type": "null"},
                ],
                "description": "The towns table as rows; omitted or null: the bundled example",
            }
            if "fund" in props:
                props["fund"] = {
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": MAX_FUND},
                        {"type": "null"},
                    ],
                    "description": "The fund, yuan (default: the policy's fund.default)",
                }
            props["changes"] = {
                "anyOf": [{"type": "object"}, {"type": "null"}],
                "description": "A reform: {dotted parameter path: new value} "
                "(see GET /policies/{id})",
            }
    if codec is not None and "AllocationRequest" in schemas:
        _allocations(schemas, paths, codec)
    _error_responses(doc, secured)


def _allocations(schemas: dict[str, Any], paths: dict[str, Any], codec: Codec) -> None:
    schemas.update(codec.schemas())
    props = schemas["AllocationRequest"]["properties"]
    props["constraints"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Constraint"},
        "description": 'Constraints from the catalogue, e.g. {"type": "HoldHarmless"}',
    }
    props["objective"] = {
        "anyOf": [{"$ref": "#/components/schemas/Objective"}, {"type": "null"}],
        "description": ("The objective (default: Proportional, the unique allocation closest "
                        "to the formula amounts in Σ (x − t)² / t, which spreads every "
                        "adjustment in proportion)"),
    }
    paths["/allocations/{allocation_id}.xlsx"] = {
        "get": {
            "tags": ["allocations"],
            "summary": "The allocation as an Excel workbook (分配表)",
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
                    "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
                },
                "404": {"description": "No such allocation", "content": _error_ref()},
            },
        }
    }
