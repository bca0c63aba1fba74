"""The HTTP service's allocations: create, fetch, explain, export, survive a restart."""

from __future__ import annotations

import io
import math
import os
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("litestar")

import openpyxl
from litestar.testing import TestClient

import townfiscal as tf
from townfiscal.service import ServiceConfig, create_app
from townfiscal.service._engine import default_codec

FUND = 2_000_000_000
CONSTRAINTS = [
    {"type": "HoldHarmless", "ratio": 1.0},
    {"type": "GrowthCap", "rate": 0.15},
    {"type": "Rounding", "unit": 10_000},
]


def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A towns table as JSON rows (NaN as null)."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]


POSTGRES = os.environ.get("TOWNFISCAL_TEST_POSTGRES_URL")


@pytest.fixture
def database(tmp_path):
    """Settings of a service on an SQLite file in a fresh directory."""
    return ServiceConfig(database=str(tmp_path / "runs.sqlite3"))


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not POSTGRES, reason="set TOWNFISCAL_TEST_POSTGRES_URL to test PostgreSQL"
            ),
        ),
    ]
)
def durable(request, tmp_path):
    """Settings of a service on an empty SQLite file, or on PostgreSQL when configured."""
    if request.param == "sqlite":
        return ServiceConfig(database=str(tmp_path / "runs.sqlite3"))
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS townfiscal_allocations"))
    engine.dispose()
    return ServiceConfig(database=POSTGRES)


@pytest.fixture
def client(database):
    """A client of a fresh service."""
    with TestClient(create_app(database)) as c:
        yield c


@pytest.fixture(scope="module")
def expected(example_module):
    """The library's own allocation of the 2020 example with the test constraints."""
    return tf.allocate(
        example_module,
        "guangdong-2020",
        fund=FUND,
        constraints=[tf.HoldHarmless(1.0), tf.GrowthCap(0.15), tf.Rounding(10_000)],
    )


@pytest.fixture(scope="module")
def example_module():
    """The bundled example, loaded once for this module."""
    return tf.load_example()


def post_2020(client: TestClient) -> Any:
    """POST the 2020 allocation of the example with hold-harmless, +15% and 万元 rounding."""
    return client.post(
        "/allocations", json={"policy": "guangdong-2020", "fund": FUND, "constraints": CONSTRAINTS}
    )


def test_post_allocation_answers_201_with_amounts_by_code(client, expected):
    """POST /allocations: 201, id, Location, the library's amounts, summing to 2 bn."""
    r = post_2020(client)
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == f"/allocations/{body['id']}"
    assert body["total"] == body["fund"] == FUND
    assert sum(body["amounts"].values()) == FUND
    assert body["amounts"] == {k: int(v) for k, v in expected.amounts.items()}
    assert all(v % 10_000 == 0 for v in body["amounts"].values())
    assert len(body["amounts"]) == 1002
    prov = body["provenance"]
    assert prov["policy"] == "guangdong-2020"
    assert prov["policy_hash"] == tf.get_policy("guangdong-2020").hash
    assert prov["data_hash"] == body["data_hash"] == expected.provenance["data_hash"]
    assert prov["townfiscal"] == tf.__version__
    assert body["status"] == "optimal"


def test_a_stored_run_survives_a_restart(durable):
    """A run posted to one app instance is fetched, explained and exported by a new one."""
    with TestClient(create_app(durable)) as first:
        created = post_2020(first).json()
    with TestClient(create_app(durable)) as second:
        r = second.get(f"/allocations/{created['id']}")
        assert r.status_code == 200
        run = r.json()
        assert run["amounts"] == created["amounts"]
        assert run["provenance"] == created["provenance"]
        assert run["request"]["constraints"] == [
            {"type": "HoldHarmless", "ratio": 1.0},
            {"type": "GrowthCap", "rate": 0.15, "no_prior": None},
            {"type": "Rounding", "unit": 10_000, "exact": "auto"},
        ]
        assert run["request"]["towns"] == "example"
        assert len(run["towns"]) == 1002
        code = next(iter(created["amounts"]))
        r = second.get(f"/allocations/{created['id']}/explain/{code}")
        assert r.status_code == 200
        assert r.json()["amount"] == created["amounts"][code]
        r = second.get(f"/allocations/{created['id']}.xlsx")
        assert r.status_code == 200
        listing = second.get("/allocations").json()
        assert [x["id"] for x in listing["items"]] == [created["id"]]
        assert listing["total"] == 1


def test_explain_traces_the_formula_and_the_optimiser(client):
    """GET …/explain/{code}: formula steps, then bounds, optimum, rounding and the amount."""
    created = post_2020(client).json()
    code = "440203100"
    r = client.get(f"/allocations/{created['id']}/explain/{code}")
    assert r.status_code == 200
    trace = r.json()
    labels = [s["label"] for s in trace["steps"]]
    assert labels[0] == "eligibility"
    assert {"composite coefficient C", "bounds", "optimum", "amount"} <= {
        lab.split(":")[0] for lab in labels
    }
    assert trace["amount"] == created["amounts"][code]
    assert trace["steps"][-1]["value"] == created["amounts"][code]
    assert code in trace["text"]


def test_explain_of_an_uncovered_town_is_404(client):
    """A subdistrict is not among the allocated towns: 404 naming it."""
    created = post_2020(client).json()
    r = client.get(f"/allocations/{created['id']}/explain/440103001")
    assert r.status_code == 404
    assert "440103001" in r.json()["message"]


def test_the_workbook_has_one_row_per_town(client):
    """GET /allocations/{id}.xlsx is a workbook with the run's amounts, town by town."""
    created = post_2020(client).json()
    r = client.get(f"/allocations/{created['id']}.xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert f"allocation-{created['id']}.xlsx" in r.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
    table = list(book[book.sheetnames[0]].iter_rows(values_only=True))
    header = [str(h) for h in table[0]]
    code = next(i for i, h in enumerate(header) if h in ("code", "行政区划代码"))
    amount = next(i for i, h in enumerate(header) if h in ("amount", "分配金额(元)"))
    got = {str(row[code]): row[amount] for row in table[1:] if str(row[code]).isdigit()}
    assert got == created["amounts"]


def test_unknown_allocation_ids_are_404(client):
    """Fetching, explaining or exporting an unknown run is a 404 JSON error."""
    for path in (
        "/allocations/nope",
        "/allocations/nope/explain/440203100",
        "/allocations/nope.xlsx",
    ):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json()["error"] == "not_found"


def test_allocation_with_posted_towns_and_an_objective(client, hand):
    """Posted rows and a MaxMin objective: the run stores them and sums to the fund."""
    body = {
        "policy": "guangdong-2020",
        "fund": 3_677_500,
        "towns": rows(hand),
        "objective": {"type": "MinDeviation", "relative": True},
        "constraints": [{"type": "Floor", "amount": {"441521100": 1_100_000}}],
    }
    r = client.post("/allocations", json=body)
    assert r.status_code == 201
    amounts = r.json()["amounts"]
    assert sum(amounts.values()) == 3_677_500
    assert amounts["441521100"] >= 1_100_000
    run = client.get(f"/allocations/{r.json()['id']}").json()
    assert run["request"]["towns"] == "posted: 6 rows"
    assert run["request"]["objective"] == {"type": "MinDeviation", "target": None, "relative": True}


def test_a_reform_changes_the_allocation(client, hand):
    """changes= reforms the policy before allocating; the run records the reformed policy."""
    body = {"policy": "guangdong-2020", "fund": 3_677_500, "towns": rows(hand)}
    off = {"growth_control.floor": None, "growth_control.cap": None}
    r = client.post("/allocations", json={**body, "changes": off})
    assert r.status_code == 201
    assert r.json()["policy"] == "guangdong-2020+changes"
    assert list(r.json()["amounts"].values()) == [962_500, 1_515_000, 1_200_000]


def test_bad_constraints_are_listed_together(client):
    """Unknown types, unknown or missing fields and bad values: one 422 with a problem each."""
    body = {
        "policy": "guangdong-2020",
        "constraints": [
            {"type": "Bogus"},
            {"type": "GrowthCap", "rat": 0.1},
            {"type": "Floor", "amount": "lots", "extra": 1},
            {"type": "Rounding", "unit": 0},
        ],
        "objective": {"type": "MaxMin", "measure": "nope"},
    }
    r = client.post("/allocations", json=body)
    assert r.status_code == 422
    found = {(p["column"], p["message"].split(";")[0]) for p in r.json()["problems"]}
    assert ("constraints[0].type", "unknown type") in found
    assert ("constraints[1].rat", "unknown field of GrowthCap") in found
    assert ("constraints[1].rate", "required field is missing") in found
    assert ("constraints[2].extra", "unknown field of Floor") in found
    assert any(c == "constraints[3].unit" for c, _ in found)
    assert any(c == "objective.measure" for c, _ in found)


def test_infeasible_constraints_are_422_with_the_diagnosis(client):
    """Floors of 3 million yuan for 1,002 towns need 3.006 bn of a 2 bn fund: 422 says so."""
    r = client.post(
        "/allocations",
        json={"policy": "guangdong-2020", "constraints": [{"type": "Floor", "amount": 3_000_000}]},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "infeasible"
    conflict = body["conflicts"][0]
    assert conflict["required"] == 3_006_000_000
    assert conflict["available"] == FUND
    assert "Floor" in conflict["constraints"]
    assert client.get("/allocations").json() == {"items": [], "total": 0, "next": None}


def test_the_codec_round_trips_the_catalogue():
    """Every constraint and objective survives JSON → object → JSON unchanged."""
    codec = default_codec()
    cases = [
        {"type": "HoldHarmless", "ratio": 0.95},
        {"type": "GrowthCap", "rate": 0.15, "no_prior": 3_000_000.0},
        {"type": "Floor", "amount": {"440203100": 1_000_000.0}},
        {"type": "Cap", "amount": "prior_amount"},
        {"type": "NeedOrder", "by": "coefficient"},
        {"type": "TierOrder"},
        {"type": "GroupTotal", "by": "city", "lo": None, "hi": {"韶关市": 3e8}},
        {
            "type": "CapacityFloor",
            "share": 0.65,
            "population": "supported_population",
            "reference": "after",
        },
        {"type": "Rounding", "unit": 10_000, "exact": "milp"},
    ]
    for case in cases:
        obj = codec.constraint(case)
        assert type(obj).__name__ == case["type"]
        assert codec.to_json(obj) == {**codec.to_json(codec.constraint(codec.to_json(obj)))}
        assert {k: v for k, v in codec.to_json(obj).items() if k in case} == case
    weighted = {
        "type": "WeightedObjective",
        "parts": [
            {
                "weight": 1.0,
                "objective": {"type": "MinDeviation", "target": None, "relative": False},
            },
            {
                "weight": 2.0,
                "objective": {
                    "type": "MinShortfall",
                    "need": "expenditure",
                    "capacity": "fiscal_capacity",
                },
            },
        ],
    }
    obj = codec.objective(weighted)
    assert [w for w, _ in obj.terms()] == [1.0, 2.0]
    assert codec.to_json(obj) == weighted
    assert codec.constraint({"type": "HoldHarmless"}) == tf.HoldHarmless(1.0)


def test_openapi_documents_allocations_and_the_catalogue(client):
    """The document has the allocation paths, the workbook and a schema per constraint."""
    doc = client.get("/openapi.json").json()
    for path in (
        "/allocations",
        "/allocations/{allocation_id}",
        "/allocations/{allocation_id}/explain/{code}",
        "/allocations/{allocation_id}.xlsx",
    ):
        assert path in doc["paths"]
    assert "201" in doc["paths"]["/allocations"]["post"]["responses"]
    schemas = doc["components"]["schemas"]
    for name in (
        "HoldHarmless",
        "GrowthCap",
        "Floor",
        "Cap",
        "NeedOrder",
        "TierOrder",
        "GroupTotal",
        "CapacityFloor",
        "Rounding",
        "MinDeviation",
        "MaxMin",
        "MinShortfall",
        "WeightedObjective",
    ):
        assert schemas[name]["properties"]["type"]["const"] == name
    assert schemas["GrowthCap"]["required"] == ["type", "rate"]
    assert schemas["HoldHarmless"]["properties"]["ratio"]["default"] == 1.0


def test_every_solve_gets_the_service_time_limit(tmp_path, monkeypatch):
    """The configured solve_time_limit reaches tf.allocate on every POST."""
    import townfiscal.service._engine as runs_module

    seen = []
    real = runs_module.allocate

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["time_limit"])
        return real(*args, **kwargs)

    monkeypatch.setattr(runs_module, "allocate", spy)
    # In threads of this process, where the spy is (worker processes import their own).
    config = ServiceConfig(
        database=str(tmp_path / "r.sqlite3"), solve_time_limit=7.5, worker_processes=0
    )
    app = create_app(config)
    with TestClient(app) as c:
        assert post_2020(c).status_code == 201
    assert seen == [7.5]


def test_a_solver_failure_is_503_without_a_trace(tmp_path, monkeypatch):
    """When the solver gives up (e.g. out of time with no answer) the answer is a JSON 503."""
    import townfiscal.service._engine as runs_module

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise tf.SolverError("HiGHS stopped at the time limit (60 s) without a feasible answer")

    monkeypatch.setattr(runs_module, "allocate", fail)
    config = ServiceConfig(database=str(tmp_path / "r.sqlite3"), worker_processes=0)
    with TestClient(create_app(config)) as client:
        r = post_2020(client)
    assert r.status_code == 503
    assert r.json()["error"] == "unavailable"
    assert "time limit" in r.json()["message"]
    assert "Traceback" not in r.text


def test_a_run_this_version_cannot_reproduce_is_409(database):
    """After a restart, explain re-solves the stored request; different amounts give 409."""
    import json

    import sqlalchemy as sa

    with TestClient(create_app(database)) as first:
        created = post_2020(first).json()
    engine = sa.create_engine(database.database_url)
    with engine.begin() as conn:
        raw = conn.execute(sa.text("SELECT result FROM townfiscal_allocations")).scalar_one()
        result = json.loads(raw)
        a, b = list(result["amounts"])[:2]
        result["amounts"][a] += 10_000
        result["amounts"][b] -= 10_000
        conn.execute(
            sa.text("UPDATE townfiscal_allocations SET result = :r"), {"r": json.dumps(result)}
        )
    engine.dispose()
    with TestClient(create_app(database)) as second:
        r = second.get(f"/allocations/{created['id']}/explain/{a}")
        assert r.status_code == 409
        assert r.json()["error"] == "conflict"
        assert second.get(f"/allocations/{created['id']}").status_code == 200
