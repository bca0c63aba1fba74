"""Finishing touches to the generated OpenAPI document.

Litestar derives the document from the routes and the attrs request/response classes. Two
things it cannot see are added here: the constraint and objective schemas (derived from the
library's attrs classes by the codec) and the workbook download
``GET /allocations/{allocation_id}.xlsx``, served by the same route as the JSON.
"""

from __future__ import annotations

from typing import Any

from townfiscal.service._codec import Codec

__all__ = ["XLSX", "patch_openapi"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PATCHED = "x-townfiscal-patched"


def _error_ref() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def patch_openapi(doc: dict[str, Any], codec: Codec | None) -> None:
    """Add the constraint/objective schemas and the workbook path to *doc* (once, in place)."""
    if doc.get(_PATCHED):
        return
    doc[_PATCHED] = True
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    paths = doc.setdefault("paths", {})
    if codec is None or "AllocationRequest" not in schemas:
        return
    schemas.update(codec.schemas())
    props = schemas["AllocationRequest"]["properties"]
    props["constraints"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Constraint"},
        "description": 'Constraints from the catalogue, e.g. {"type": "HoldHarmless"}',
    }
    props["objective"] = {
        "anyOf": [{"$ref": "#/components/schemas/Objective"}, {"type": "null"}],
        "description": "The objective (default: MinDeviation from the formula amounts)",
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
