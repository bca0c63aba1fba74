"""POST /fund-range: the funds a policy's growth control and constraints allow, over HTTP."""

from __future__ import annotations

import pytest

pytest.importorskip("litestar")

from litestar.testing import TestClient

import townfiscal as tf
from townfiscal.service import ServiceConfig, create_app


@pytest.fixture
def client(tmp_path):
    config = ServiceConfig(database=str(tmp_path / "runs.sqlite3"), worker_processes=0)
    with TestClient(create_app(config)) as c:
        yield c


def test_the_range_matches_the_library(client) -> None:
    """The example under hold-harmless: the library's ends, in whole yuan, and what sets each
    (the policy's assumed growth cap at the top)."""
    body = {"policy": "guangdong-2020", "constraints": [{"type": "HoldHarmless"}]}
    r = client.post("/fund-range", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    lib = tf.fund_range(tf.load_example(), "guangdong-2020", [tf.HoldHarmless()])
    assert got["least"] == 1_857_010_214
    assert got["most"] == 2_135_561_280
    assert got["least"] >= lib.least
    assert got["most"] <= lib.most
    assert any("growth_control.cap = 0.15" in s for s in got["most_set_by"])
    assert "assumption" in got["most_set_by"][0]
    assert got["policy"] == "guangdong-2020"


def test_a_bad_constraint_is_a_422_naming_it(client) -> None:
    """An unknown constraint type is refused with 422 and a message naming it."""
    r = client.post("/fund-range", json={"policy": "guangdong-2020",
                                         "constraints": [{"type": "Nope"}]})
    assert r.status_code == 422
    assert "Nope" in r.text


def test_the_route_is_in_the_openapi_document(client) -> None:
    """The OpenAPI document lists POST /fund-range with its request and result schemas."""
    doc = client.get("/openapi.json").json()
    op = doc["paths"]["/fund-range"]["post"]
    assert "FundRangeRequest" in str(op["requestBody"])
    assert "FundRangeResult" in str(op["responses"]["200"])


def test_a_policy_without_a_cap_has_no_upper_end(client) -> None:
    """guangdong-minority-2014 has no growth cap: most is null, least is the library's."""
    r = client.post("/fund-range", json={"policy": "guangdong-minority-2014"})
    assert r.status_code == 200, r.text
    lib = tf.fund_range(tf.load_example(), "guangdong-minority-2014")
    assert r.json()["most"] is None
    assert r.json()["least"] == lib.least == 1


def test_a_per_town_amount_naming_a_text_column_is_422(client) -> None:
    """Floor(amount='name') names the text column and the field, as /allocations does."""
    body = {"policy": "guangdong-2020", "constraints": [{"type": "Floor", "amount": "name"}]}
    r = client.post("/fund-range", json=body)
    assert r.status_code == 422, r.text
    (problem,) = r.json()["problems"]
    assert "holds text" in problem["message"]
    assert problem["column"] == "constraints[0].amount"
