"""The HTTP service: endpoints, error mapping, limits and authentication, through an HTTP client."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("litestar")

from litestar.testing import TestClient

import townfiscal as tf
from townfiscal.cli import build_parser
from townfiscal.service import ServiceConfig, create_app

FUND = 3_677_500
NO_GROWTH_CONTROL = {"growth_control.floor": None, "growth_control.cap": None}


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A towns table as JSON rows (NaN as null)."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]


@pytest.fixture
def client(tmp_path):
    """A client of a fresh service on an SQLite file."""
    app = create_app(ServiceConfig(database=str(tmp_path / "runs.sqlite3")))
    with TestClient(app) as c:
        yield c


def assert_no_trace(text: str) -> None:
    """A response body shows no Python stack trace."""
    assert "Traceback" not in text
    assert 'File "' not in text


def test_health_answers_with_the_version(client):
    """GET /health says ok, the library version and that the database answers."""
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": tf.__version__, "database": "ok"}


def test_policies_lists_the_bundled_policies(client):
    """GET /policies lists every bundled policy with its hash."""
    r = client.get("/policies")
    assert r.status_code == 200
    body = r.json()
    assert [p["id"] for p in body] == tf.list_policies()
    by_id = {p["id"]: p for p in body}
    pol = tf.get_policy("guangdong-2020")
    assert by_id["guangdong-2020"]["hash"] == pol.hash
    assert by_id["guangdong-2020"]["parameters"] == len(pol.parameters)
    assert by_id["guangdong-2020"]["assumptions"] == len(pol.assumptions)


def test_one_policy_has_its_parameters_with_sources(client):
    """GET /policies/{id} gives every parameter with its value and source."""
    r = client.get("/policies/guangdong-2020")
    assert r.status_code == 200
    params = {p["path"]: p for p in r.json()["parameters"]}
    assert params["fund.default"]["value"] == 2_000_000_000
    assert params["factors.registered_population.weight"]["value"] == 0.35
    assert all(p["source"] for p in params.values())
    assert params["regional_coefficient"]["value"]["east_wing"] == 1.1
    assert params["growth_control.cap"]["assumption"] is True
    assert params["fund.default"]["assumption"] is False


def test_an_unknown_policy_id_is_404_with_json(client):
    """GET /policies/{unknown} is a 404 whose JSON names the bundled policies."""
    r = client.get("/policies/guangdong-1999")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert "guangdong-2020" in r.json()["message"]


def test_eligibility_of_the_example(client):
    """POST /eligibility without towns uses the example: 1,002 of 1,757 units covered."""
    r = client.post("/eligibility", json={"policy": "guangdong-2020"})
    assert r.status_code == 200
    body = r.json()
    assert (body["count"], body["eligible"]) == (1757, 1002)
    assert body["towns"][0].keys() == {"code", "eligible", "reason"}


def test_eligibility_of_posted_towns(client, hand):
    """POST /eligibility with rows: the three covered towns, reasons for the three others."""
    r = client.post("/eligibility", json={"policy": "guangdong-2020", "towns": rows(hand)})
    assert r.status_code == 200
    towns = {t["code"]: t for t in r.json()["towns"]}
    assert [c for c, t in towns.items() if t["eligible"]] == [
        "441521100",
        "441402101",
        "441402200",
    ]
    assert towns["441502001"]["reason"].startswith("not covered: subdistrict")


def test_formula_amounts_by_hand(client, hand):
    """POST /formula: growth control gives 1,032,500 / 1,380,000 / 1,265,000 yuan."""
    r = client.post(
        "/formula", json={"policy": "guangdong-2020", "fund": FUND, "towns": rows(hand)}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["amounts"] == {
        "441521100": 1_032_500,
        "441402101": 1_380_000,
        "441402200": 1_265_000,
    }
    assert body["total"] == body["fund"] == FUND
    first = body["towns"][0]
    assert first["code"] == "441521100"
    assert first["coefficient"] == pytest.approx(0.9625)


def test_formula_with_a_reform(client, hand):
    """POST /formula with changes: growth control off gives 962,500 / 1,515,000 / 1,200,000."""
    body = {"policy": "guangdong-2020", "fund": FUND, "towns": rows(hand)}
    r = client.post("/formula", json={**body, "changes": NO_GROWTH_CONTROL})
    assert r.status_code == 200
    assert list(r.json()["amounts"].values()) == [962_500, 1_515_000, 1_200_000]
    assert r.json()["policy"] == "guangdong-2020+changes"
    assert r.json()["policy_hash"] != tf.get_policy("guangdong-2020").hash


def test_formula_of_the_example_matches_the_library(client, example):
    """POST /formula on the example gives the library's amounts, 2 billion in all."""
    r = client.post("/formula", json={"policy": "guangdong-2020"})
    assert r.status_code == 200
    expected = tf.formula_allocation(example, "guangdong-2020")["amount"]
    assert r.json()["amounts"] == {k: int(v) for k, v in expected.items()}
    assert r.json()["total"] == 2_000_000_000


def test_invalid_towns_list_every_problem(client, hand):
    """Bad towns give 422 listing each problem with its row, column and value."""
    table = rows(hand)
    table[0]["code"] = "12345"
    table[1]["registered_population"] = -3
    table[2]["zone"] = "south"
    r = client.post("/formula", json={"policy": "guangdong-2020", "towns": table})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "validation"
    found = {(p["row"], p["column"], p["value"]) for p in body["problems"]}
    assert ("#1", "code", "12345") in found
    assert ("441402101", "registered_population", -3.0) in found
    assert ("441402200", "zone", "south") in found
    assert_no_trace(r.text)


def test_several_kinds_of_bad_input_are_reported_together(client):
    """An unknown policy, a bad fund and a town row that is not flat: one 422 naming all."""
    r = client.post(
        "/formula",
        json={"policy": "guangdong-1999", "fund": -5, "towns": [{"code": [1, 2]}]},
    )
    assert r.status_code == 422
    columns = {p["column"] for p in r.json()["problems"]}
    assert {"policy", "fund", "code"} <= columns


def test_an_unknown_change_path_is_422(client):
    """A reform naming a parameter the policy lacks is a 422 naming the path."""
    r = client.post("/formula", json={"policy": "guangdong-2020", "changes": {"no.such": 1}})
    assert r.status_code == 422
    assert r.json()["problems"][0]["column"] == "changes.no.such"


def test_malformed_json_is_422(client):
    """A body that is not JSON is a 422 with a validation body."""
    r = client.post(
        "/formula", content=b"{policy: oops", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"] == "validation"
    assert r.json()["what"] == "request body"
    assert_no_trace(r.text)


def test_a_body_of_the_wrong_shape_is_422(client):
    """A policy that is not a string, or no policy at all, is a 422 naming the field."""
    r = client.post("/formula", json={"policy": 2020})
    assert r.status_code == 422
    assert r.json()["problems"][0]["column"] == "policy"
    r = client.post("/eligibility", json={})
    assert r.status_code == 422


def test_an_infeasible_growth_control_is_422_with_the_diagnosis(client, hand):
    """A fund below last year's floors is a 422 'infeasible' saying what is needed."""
    r = client.post(
        "/formula", json={"policy": "guangdong-2020", "fund": 1_000_000, "towns": rows(hand)}
    )
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "infeasible"
    assert body["conflicts"]
    assert_no_trace(r.text)


def test_unknown_paths_and_methods_answer_json(client):
    """404 and 405 come as JSON error bodies."""
    r = client.get("/no-such-thing")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = client.delete("/policies")
    assert (r.status_code, r.json()["error"]) == (405, "method_not_allowed")


def test_a_body_over_the_limit_is_413(tmp_path):
    """Request bodies larger than max_body_bytes get 413 with a JSON body."""
    app = create_app(ServiceConfig(database=":memory:", max_body_bytes=1000))
    with TestClient(app) as c:
        r = c.post("/formula", json={"policy": "guangdong-2020", "changes": {"x": "y" * 2000}})
        assert r.status_code == 413
        assert r.json()["error"] == "too_large"
        assert c.post("/formula", json={"policy": "guangdong-2020"}).status_code == 200


def test_the_token_guards_every_endpoint_but_health():
    """With a token: 401 without or with a wrong one, 200 with it; /health stays open."""
    app = create_app(ServiceConfig(database=":memory:", api_token="s3cret"))
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        for path in ("/policies", "/openapi.json", "/policies/guangdong-2020"):
            r = c.get(path)
            assert r.status_code == 401
            assert r.json()["error"] == "unauthorized"
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/policies", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/policies", headers={"Authorization": "Basic s3cret"}).status_code == 401
        r = c.post("/formula", json={"policy": "guangdong-2020"})
        assert r.status_code == 401
        ok = c.get("/policies", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        doc = c.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_openapi_describes_the_endpoints(client):
    """/openapi.json is an OpenAPI 3 document with every endpoint."""
    r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    for path in ("/health", "/policies", "/policies/{policy_id}", "/eligibility", "/formula"):
        assert path in doc["paths"]
    assert "422" in doc["paths"]["/formula"]["post"]["responses"]


def test_serve_binds_to_localhost_by_default():
    """`townfiscal serve` listens on 127.0.0.1:8000 unless told otherwise."""
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9000"])
    assert (args.host, args.port) == ("0.0.0.0", 9000)


def test_settings_come_from_the_environment(tmp_path):
    """TOWNFISCAL_* variables set the database, token and limits; bad numbers are named."""
    env = {
        "TOWNFISCAL_DATABASE": str(tmp_path / "x.sqlite3"),
        "TOWNFISCAL_API_TOKEN": "t",
        "TOWNFISCAL_MAX_BODY_BYTES": "2048",
        "TOWNFISCAL_SOLVE_TIME_LIMIT": "5",
    }
    cfg = ServiceConfig.from_env(env)
    assert cfg.database_url == f"sqlite:///{tmp_path / 'x.sqlite3'}"
    assert (cfg.api_token, cfg.max_body_bytes, cfg.solve_time_limit) == ("t", 2048, 5.0)
    assert ServiceConfig.from_env(cfg.to_env()) == cfg
    assert ServiceConfig.from_env(env, database="postgresql+psycopg://u@h/db").database_url == (
        "postgresql+psycopg://u@h/db"
    )
    with pytest.raises(tf.ValidationError, match="TOWNFISCAL_MAX_BODY_BYTES"):
        ServiceConfig.from_env({"TOWNFISCAL_MAX_BODY_BYTES": "lots"})
    with pytest.raises(tf.ValidationError, match="solve_time_limit"):
        ServiceConfig(solve_time_limit=0)


def test_rows_are_written_as_json_objects_with_gaps_as_null():
    """records(): a JSON object per row, index first, NaN, ±inf and NA as null, numpy as numbers."""
    import json

    import msgspec
    import numpy as np

    from townfiscal.service._compute import records

    frame = pd.DataFrame(
        {
            "name": ["甲镇", None, "丙镇"],
            "kind": pd.array(["town", pd.NA, "township"], dtype="str"),
            "x": [1.5, np.nan, np.inf],
            "n": np.array([1, 2, 3], dtype="int64"),
            "ok": [True, False, True],
            "mixed": [np.float64(2.0), "a", -np.inf],
        },
        index=pd.Index(["440203100", "440203101", "440203102"], name="code"),
    )
    expected = [
        {"code": "440203100", "name": "甲镇", "kind": "town", "x": 1.5, "n": 1, "ok": True,
         "mixed": 2.0},
        {"code": "440203101", "name": None, "kind": None, "x": None, "n": 2, "ok": False,
         "mixed": "a"},
        {"code": "440203102", "name": "丙镇", "kind": "township", "x": None, "n": 3,
         "ok": True, "mixed": None},
    ]  # fmt: skip
    encoded = msgspec.json.encode(records(frame))
    assert json.loads(encoded) == expected
    assert encoded.index(b'"code"') < encoded.index(b'"name"') < encoded.index(b'"mixed"')
    repeated = frame.rename(columns={"x": "n"})
    assert records(repeated)[0] == {
        "code": "440203100", "name": "甲镇", "kind": "town", "n": 1, "ok": True, "mixed": 2.0
    }  # fmt: skip
