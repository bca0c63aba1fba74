"""The OpenAPI document says exactly what the service does: every body typed down to its
leaves, error codes an enum, every error status declared, bounds on the paging parameters,
the workbook as binary content, examples that are real and valid, and live answers with no
field the document does not name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("litestar")

import jsonschema
import msgspec
from litestar.testing import TestClient

from townfiscal.service import ServiceConfig, create_app
from townfiscal.service import _models as models
from townfiscal.service._examples import ERROR_EXAMPLES, REQUEST_EXAMPLES, SCHEMA_EXAMPLES
from townfiscal.service._openapi import MAX_OFFSET, XLSX
from townfiscal.towns import COLUMNS

TOKEN = "a-token-for-the-schema-tests"
TOWN = "441581101"
ALLOCATION = REQUEST_EXAMPLES["AllocationRequest"]["example"][1]

#: The error statuses each operation can answer, besides 500 (and 401 with a token); 400 and
#: 403 are the front door's (Host, Origin).
ERRORS: dict[tuple[str, str], set[int]] = {
    ("get", "/health"): {400, 403},
    ("get", "/ready"): {400, 403, 503},
    ("get", "/policies"): {400, 403, 503},
    ("get", "/policies/{policy_id}"): {400, 403, 404, 503},
    ("post", "/eligibility"): {400, 403, 413, 415, 422, 503},
    ("post", "/formula"): {400, 403, 413, 415, 422, 503},
    ("post", "/fund-range"): {400, 403, 413, 415, 422, 503},
    ("post", "/allocations"): {400, 403, 409, 413, 415, 422, 503},
    ("get", "/allocations"): {400, 403, 422, 503},
    ("get", "/allocations/{allocation_id}"): {400, 403, 404, 503},
    ("delete", "/allocations/{allocation_id}"): {400, 403, 404, 503},
    ("get", "/allocations/{allocation_id}.xlsx"): {400, 403, 404, 409, 503},
    ("get", "/allocations/{allocation_id}/explain/{code}"): {400, 403, 404, 409, 503},
}
UNSECURED = {("get", "/health"), ("get", "/ready")}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Any]]:
    with TestClient(create_app(ServiceConfig(database=":memory:", worker_processes=0))) as c:
        yield c


@pytest.fixture(scope="module")
def doc(client: TestClient[Any]) -> dict[str, Any]:
    out: dict[str, Any] = client.get("/openapi.json").json()
    return out


@pytest.fixture(scope="module")
def secured_doc() -> dict[str, Any]:
    app = create_app(ServiceConfig(database=":memory:", worker_processes=0, api_token=TOKEN))
    with TestClient(app) as c:
        out: dict[str, Any] = c.get(
            "/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
    return out


@pytest.fixture(scope="module")
def run(client: TestClient[Any]) -> dict[str, Any]:
    r = client.post("/allocations", json=ALLOCATION)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                yield method, path, op


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    """A JSON Schema 2020-12 validator of *schema*, its $refs resolved in *doc*."""
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def _untyped(doc: dict[str, Any], schema: Any, where: str, seen: set[str]) -> Iterator[str]:
    """Where *schema* lets a value through without saying its shape."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            yield from _untyped(doc, doc["components"]["schemas"][name], name, seen)
        return
    words = {"type", "anyOf", "oneOf", "allOf", "enum", "const"}
    if not words & set(schema):
        yield f"{where}: no type"
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "object" in kinds:
        extra = schema.get("additionalProperties")
        if not schema.get("properties") and not schema.get("patternProperties") and (
            extra is None or extra is True or extra == {}
        ):
            yield f"{where}: an object of unknown shape"
        if extra == {}:
            yield f"{where}: untyped additional properties"
    if "array" in kinds and not schema.get("items"):
        yield f"{where}: an array of unknown items"
    for key, sub in schema.get("properties", {}).items():
        yield from _untyped(doc, sub, f"{where}.{key}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _untyped(doc, schema[key], f"{where}[{key}]", seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key, [])):
            yield from _untyped(doc, sub, f"{where}|{i}", seen)
    for sub in schema.get("patternProperties", {}).values():
        yield from _untyped(doc, sub, f"{where}[pattern]", seen)


def test_every_body_is_typed_down_to_its_leaves(doc: dict[str, Any]) -> None:
    """No request or response body, nor any part of one, is an object or value of unknown
    shape (per-town rows, steps, shadow prices, provenance, error problems included)."""
    found: list[str] = []
    seen: set[str] = set()
    for method, path, op in _operations(doc):
        bodies = [("request", op.get("requestBody", {}).get("content", {}))]
        bodies += [(status, r.get("content", {})) for status, r in op["responses"].items()]
        for status, content in bodies:
            for media, spec in content.items():
                if media == XLSX or media == "application/octet-stream":
                    assert spec["schema"] == {"type": "string", "format": "binary"}
                    continue
                found += _untyped(doc, spec["schema"], f"{method} {path} {status}", seen)
    assert found == []
    for name in ("Explanation", "ExplanationStep", "PolicyDetail", "Parameter", "FormulaTown",
                 "AllocationTown", "ShadowPrice", "Provenance", "AllocationSummary",
                 "Problem", "Conflict", "StoredRequest", "Constraint", "Objective"):
        assert name in seen, name


def test_error_codes_are_an_enum_with_each_meaning(doc: dict[str, Any]) -> None:
    """`error` is one of a fixed set of codes, each documented with its status."""
    schemas = doc["components"]["schemas"]
    assert schemas["ErrorBody"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorCode"}
    code = schemas["ErrorCode"]
    assert code["enum"] == [c.value for c in models.ErrorCode]
    assert set(models.ERROR_CODES) == set(models.ErrorCode)
    # every code the service's error handler writes is one of them
    from townfiscal.service._app import _ERRORS

    assert set(_ERRORS.values()) <= {c.value for c in models.ErrorCode}
    assert all(models.ERROR_CODES[models.ErrorCode(code)][0] == status
               for status, code in _ERRORS.items())
    for c, (status, meaning) in models.ERROR_CODES.items():
        assert f"`{c.value}` ({status}): {meaning}" in code["description"]


@pytest.mark.parametrize("secured", [False, True])
def test_every_operation_declares_its_error_statuses(
    doc: dict[str, Any], secured_doc: dict[str, Any], secured: bool
) -> None:
    """Each operation lists every error status it can answer, with the error body and a
    realistic example (401 on every operation but /health and /ready when a token is set)."""
    document = secured_doc if secured else doc
    seen = set()
    for method, path, op in _operations(document):
        seen.add((method, path))
        expected = set(ERRORS[(method, path)])
        if secured and (method, path) not in UNSECURED:
            expected.add(401)
        declared = {int(s) for s in op["responses"] if not s.startswith("2")}
        assert declared == expected, (method, path)
        for status in declared:
            media = op["responses"][str(status)]["content"]["application/json"]
            if path == "/ready" and status == 503:
                assert media["schema"] == {"$ref": "#/components/schemas/Ready"}
                continue
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
            for example in media["examples"].values():
                _validator(document, media["schema"]).validate(example["value"])
                assert models.ERROR_CODES[models.ErrorCode(example["value"]["error"])][0] \
                    == status
            if status == 503:
                assert "Retry-After" in op["responses"]["503"]["headers"]
    assert seen == set(ERRORS)


def test_the_workbook_is_binary_content_generated_clients_keep(doc: dict[str, Any]) -> None:
    """The workbook's 200 is the spreadsheet type (and octet-stream) as binary strings."""
    ok = doc["paths"]["/allocations/{allocation_id}.xlsx"]["get"]["responses"]["200"]
    binary = {"type": "string", "format": "binary"}
    assert ok["content"] == {XLSX: {"schema": binary},
                             "application/octet-stream": {"schema": binary}}


def test_the_workbook_comes_as_the_type_asked_for(
    client: TestClient[Any], run: dict[str, Any]
) -> None:
    """The same bytes come as the spreadsheet type, or octet-stream when asked for."""
    path = run["links"]["workbook"]
    xlsx = client.get(path)
    octet = client.get(path, headers={"Accept": "application/octet-stream"})
    assert xlsx.headers["content-type"] == XLSX
    assert octet.headers["content-type"] == "application/octet-stream"
    assert xlsx.content[:2] == b"PK"
    assert len(octet.content) == len(xlsx.content)


def test_reform_changes_take_the_values_of_policy_parameters(doc: dict[str, Any]) -> None:
    """A reform maps parameter paths to numbers, text, flags, lists or objects (the shapes
    parameters have), or null to lift a bound; nested objects and lists do not fit."""
    schema = doc["components"]["schemas"]["AllocationRequest"]["properties"]["changes"]
    valid = _validator(doc, schema)
    valid.validate({"tiers.base": 2_100_000, "growth_control.new_towns": "exempt",
                    "eligibility.kinds": ["town"], "regional_coefficient": {"north": 1.3},
                    "tiers.multipliers": [1.2, 1.1, 1.0, 0.9, 0.8]})
    valid.validate(None)
    valid.validate({"growth_control.cap": None})
    for bad in ({"x": {"a": {"b": 1}}}, {"x": [[1]]}, ["tiers.base"], {"x": [None]}):
        assert not valid.is_valid(bad), bad


def test_fields_with_defaults_are_not_required(doc: dict[str, Any]) -> None:
    """Every schema's required list is its struct's fields without a default."""
    schemas = doc["components"]["schemas"]
    checked = 0
    for name in models.__all__:
        kind = getattr(models, name)
        if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)) or name not in \
                schemas:
            continue
        info = msgspec.inspect.type_info(kind)
        required = sorted(f.encode_name for f in info.fields if f.required)
        assert sorted(schemas[name].get("required", [])) == required, name
        checked += 1
    assert checked >= 25
    assert schemas["AllocationRequest"]["required"] == ["policy"]


def test_town_columns_and_paging_bounds(doc: dict[str, Any], client: TestClient[Any]) -> None:
    """The towns row names its required columns; limit is 1…500 and offset 0…2⁶³−1, and a
    value outside is a 422 about the query parameter."""
    row = doc["components"]["schemas"]["TownRow"]
    required = [c.name for c in COLUMNS if c.required]
    assert row["x-required-columns"] == required
    assert "Required (under either name): " + ", ".join(required) in row["description"]
    params = {p["name"]: p["schema"] for p in doc["paths"]["/allocations"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, 500)
    assert (params["offset"]["minimum"], params["offset"]["maximum"]) == (0, MAX_OFFSET)
    for query in ("limit=0", "limit=501", "offset=-1", f"offset={MAX_OFFSET + 1}"):
        r = client.get(f"/allocations?{query}")
        assert r.status_code == 422, query
        body = r.json()
        assert body["error"] == "validation"
        assert body["message"] == "invalid query parameter"
        assert [p["column"] for p in body["problems"]] == [query.split("=")[0]]
    assert client.get(f"/allocations?offset={MAX_OFFSET}").status_code == 200


def test_examples_are_real_and_valid(doc: dict[str, Any]) -> None:
    """Every example in the document validates against its schema, and none is filler text
    made up by the framework."""
    schemas = doc["components"]["schemas"]
    count = 0
    for name, schema in schemas.items():
        for example in schema.get("examples", []):
            if name in SCHEMA_EXAMPLES or name in {"ErrorBody", "TownRow"}:
                _validator(doc, schema).validate(example)
                count += 1
    for _, _, op in _operations(doc):
        media = op.get("requestBody", {}).get("content", {}).get("application/json")
        for example in (media or {}).get("examples", {}).values():
            _validator(doc, media["schema"]).validate(example["value"])
            count += 1
    assert count >= len(SCHEMA_EXAMPLES) + sum(map(len, REQUEST_EXAMPLES.values()))
    words = re.findall(r'"([A-Za-z]{20})"', msgspec.json.encode(doc).decode())
    assert [w for w in words if sum(c.isupper() for c in w) >= 4] == []
    assert set(ERROR_EXAMPLES) == {s for s, _ in models.ERROR_CODES.values()} - {405, 429, 500}


@pytest.mark.parametrize(
    ("path", "name"),
    [(path, name) for path, name in (("/eligibility", "EligibilityRequest"),
                                     ("/formula", "FormulaRequest"),
                                     ("/fund-range", "FundRangeRequest"),
                                     ("/allocations", "AllocationRequest"))],
)
def test_request_examples_are_answered(
    client: TestClient[Any], doc: dict[str, Any], path: str, name: str
) -> None:
    """Each request example, posted as it stands, is answered with success and a body that
    matches the document."""
    for key, (_, body) in REQUEST_EXAMPLES[name].items():
        r = client.post(path, json=body)
        assert r.status_code in {200, 201}, (key, r.text)
        status = str(r.status_code)
        schema = doc["paths"][path]["post"]["responses"][status]["content"]["application/json"]
        _validator(doc, schema["schema"]).validate(r.json())


def _undocumented(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str
                  ) -> Iterator[str]:
    """Fields of *value* that *schema* does not name."""
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for sub in schema[key]:
                if _validator(doc, sub).is_valid(value):
                    yield from _undocumented(doc, sub, value, where)
                    return
    if isinstance(value, dict):
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                yield from _undocumented(doc, props[k], v, f"{where}.{k}")
            elif any(re.search(p, k) for p in patterns):
                continue
            elif isinstance(extra, dict) and extra:
                yield from _undocumented(doc, extra, v, f"{where}[*]")
            else:
                yield f"{where}.{k}"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value[:50]):
            yield from _undocumented(doc, schema["items"], v, f"{where}[{i}]")


def test_live_answers_match_the_document_field_for_field(
    client: TestClient[Any], doc: dict[str, Any], run: dict[str, Any]
) -> None:
    """Every endpoint's answer on the bundled example validates against its schema and has
    no field the document does not name, errors included."""
    code = TOWN
    calls = [
        ("get", "/health", "/health", None),
        ("get", "/policies", "/policies", None),
        ("get", "/policies/{policy_id}", "/policies/guangdong-2020", None),
        ("get", "/policies/{policy_id}", "/policies/guangdong-2018", None),
        ("get", "/policies/{policy_id}", "/policies/guangdong-2099", None),
        ("post", "/eligibility", "/eligibility", {"policy": "guangdong-2020"}),
        ("post", "/formula", "/formula", {"policy": "guangdong-2018"}),
        ("post", "/formula", "/formula", {"policy": "guangdong-minority-2014",
                                          "fund": 100_000_000}),
        ("post", "/formula", "/formula", {"policy": "guangdong-minority-2014"}),
        ("post", "/formula", "/formula", {"policy": "guangdong-2020", "fund": 2_000_000_000}),
        ("post", "/formula", "/formula", {"policy": "guangdong-2099", "towns": [{"code": "x"}]}),
        ("post", "/fund-range", "/fund-range", {"policy": "guangdong-2020"}),
        ("post", "/allocations", "/allocations",
         {"policy": "guangdong-2020", "constraints": [{"type": "Floor", "amount": 3e6}]}),
        ("post", "/allocations", "/allocations", {"policy": "guangdong-2020", "constraint": []}),
        ("get", "/allocations", "/allocations", None),
        ("get", "/allocations/{allocation_id}", run["links"]["self"], None),
        ("get", "/allocations/{allocation_id}/explain/{code}",
         run["links"]["explain"].replace("{code}", code), None),
        ("get", "/allocations/{allocation_id}/explain/{code}",
         run["links"]["explain"].replace("{code}", "999999999"), None),
    ]
    for method, template, url, body in calls:
        r = client.request(method.upper(), url, json=body)
        op = doc["paths"][template][method]
        assert str(r.status_code) in op["responses"], (url, r.status_code, r.text[:300])
        schema = op["responses"][str(r.status_code)]["content"]["application/json"]["schema"]
        value = r.json()
        _validator(doc, schema).validate(value)
        assert list(_undocumented(doc, schema, value, f"{method} {url}")) == []


def test_the_policy_detail_keeps_every_field_of_the_library() -> None:
    """GET /policies/{id} is the library's Policy.to_dict() checked against PolicyDetail:
    the model names every field the library gives, so none is dropped on the way."""
    from townfiscal.policy import get_policy, list_policies

    def names(kind: type[msgspec.Struct]) -> set[str]:
        return {f.encode_name for f in msgspec.inspect.type_info(kind).fields}

    for policy_id in list_policies():
        detail = get_policy(policy_id).to_dict()
        assert set(detail) == names(models.PolicyDetail)
        assert {k for p in detail["parameters"] for k in p} == names(models.Parameter)


def test_the_front_doors_refusals_are_documented(
    client: TestClient[Any], doc: dict[str, Any]
) -> None:
    """A Host the service does not serve (400) and a foreign Origin (403) get the documented
    error body, on any operation; every answer carries its request id."""
    for headers, status, code in (({"Host": "evil.example"}, 400, "bad_request"),
                                  ({"Origin": "https://evil.example"}, 403, "forbidden")):
        for url, template in (("/health", "/health"), ("/policies/guangdong-2020",
                                                       "/policies/{policy_id}")):
            r = client.get(url, headers=headers)
            assert r.status_code == status
            assert r.json()["error"] == code
            declared = doc["paths"][template]["get"]["responses"][str(status)]
            _validator(doc, declared["content"]["application/json"]["schema"]).validate(r.json())
            assert {h.lower() for h in declared["headers"]} <= set(r.headers.keys())


def test_posted_town_cells_take_their_columns_types(client: TestClient[Any]) -> None:
    """As the towns row schema says: text columns take text, the code text or a whole
    number, figures a number or text; every cell at fault is named, row by row."""
    row = REQUEST_EXAMPLES["FormulaRequest"]["towns"][1]["towns"][0]
    rows = [dict(row, city=False), dict(row, name=12, prior_amount=True),
            dict(row, code=441581101)]
    r = client.post("/eligibility", json={"policy": "guangdong-2020", "towns": rows})
    assert r.status_code == 422
    assert [(p["row"], p["column"], p["message"]) for p in r.json()["problems"]] == [
        ("#1", "city", "must be text"),
        ("#2", "name", "must be text"),
        ("#2", "prior_amount", "must be a number"),
    ]
    ok = client.post("/eligibility", json={"policy": "guangdong-2020",
                                            "towns": [dict(row, code=441581101)]})
    assert ok.status_code == 200
    assert ok.json()["towns"][0]["code"] == "441581101"
