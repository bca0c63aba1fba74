"""A Python client generated from the live service's OpenAPI document (openapi-python-client),
as an integrating team would make one, drives every endpoint and gets typed results: attrs
models for every body, the error model on every error status, bytes for the workbook."""

from __future__ import annotations

import importlib
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("litestar")
pytest.importorskip("uvicorn")
pytest.importorskip("openapi_python_client")

import httpx
import uvicorn

import townfiscal as tf
from townfiscal.service import ServiceConfig, create_app

TOKEN = "s3cret-token-for-the-generated-client"
POLICY = "guangdong-2020"
FUND = 2_000_000_000
TOWN = "441581101"
PACKAGE = "tf_generated_client"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Live:
    """The service under uvicorn in a thread, on a free loopback port."""

    def __init__(self, config: ServiceConfig) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(config), host="127.0.0.1", port=self.port,
                           log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Live:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _config(tmp: Path, **kwargs: Any) -> ServiceConfig:
    return ServiceConfig(database=str(tmp / "runs.sqlite3"), worker_processes=0,
                         api_token=TOKEN, **kwargs)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with Live(_config(tmp_path_factory.mktemp("live"))) as server:
        yield server


@pytest.fixture(scope="module")
def generated(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The client package, generated at test time from the running service's document."""
    tmp = tmp_path_factory.mktemp("client")
    doc = httpx.get(f"{live.url}/openapi.json", headers=AUTH, timeout=30).json()
    (tmp / "openapi.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (tmp / "config.yml").write_text(
        f"package_name_override: {PACKAGE}\nproject_name_override: tf-generated-client\n"
        "post_hooks: []\n",
        encoding="utf-8",
    )
    exe = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert exe is not None
    run = subprocess.run(
        [exe, "generate", "--path", "openapi.json", "--config", "config.yml", "--meta", "none",
         "--output-path", PACKAGE],
        cwd=tmp, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # The generator warns about every part of the document it cannot turn into code
    # (an endpoint it drops, a schema it leaves untyped): there must be none.
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(tmp))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _models() -> Any:
    return importlib.import_module(f"{PACKAGE}.models")


def _client(generated: Any, live: Live, *, token: str | None = TOKEN) -> Any:
    """A generated client for *live* (use it in a ``with`` block: it closes its sockets)."""
    if token is None:
        return generated.Client(base_url=live.url, timeout=httpx.Timeout(120.0))
    return generated.AuthenticatedClient(base_url=live.url, token=token,
                                         timeout=httpx.Timeout(120.0))


@pytest.fixture
def client(generated: Any, live: Live) -> Iterator[Any]:
    """A generated client with the token, closed after the test."""
    with _client(generated, live) as c:
        yield c


def test_every_operation_of_the_document_is_generated(generated: Any, live: Live) -> None:
    """The generator keeps every operation, the workbook download included."""
    doc = httpx.get(f"{live.url}/openapi.json", headers=AUTH, timeout=30).json()
    root = Path(generated.__file__).parent / "api"
    modules = {p.stem for p in root.glob("*/*.py") if p.stem != "__init__"}
    operations = {
        op["operationId"] for item in doc["paths"].values() for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert len(modules) == len(operations) >= 13
    assert "allocations_allocation_id_xlsx" in modules


def test_service_and_policies(client: Any) -> None:
    """Health, readiness, the policies and one policy come back as models; an unknown policy
    as the error model with the not_found code."""
    m = _models()
    health = _api("service.health_health").sync(client=client)
    assert isinstance(health, m.Health)
    assert health.status == m.HealthStatus.OK
    ready = _api("service.ready_ready").sync(client=client)
    assert isinstance(ready, m.Ready)
    policies = _api("policies.policies_policies").sync(client=client)
    assert {p.id for p in policies} == set(tf.list_policies())
    assert all(isinstance(p, m.PolicySummary) for p in policies)
    detail = _api("policies.policies_policy_id_policy").sync(POLICY, client=client)
    assert isinstance(detail, m.PolicyDetail)
    values = {p.path: p.value for p in detail.parameters}
    assert all(isinstance(p, m.Parameter) for p in detail.parameters)
    assert values["fund.default"] == FUND
    assert values["eligibility.kinds"] == ["town", "township"]
    missing = _api("policies.policies_policy_id_policy").sync("guangdong-2099", client=client)
    assert isinstance(missing, m.ErrorBody)
    assert missing.error == m.ErrorCode.NOT_FOUND


def test_rules(client: Any) -> None:
    """Eligibility, the formula and the fund range give typed rows whose figures are the
    library's; invalid input gives the error model with every problem."""
    m = _models()
    towns = tf.load_example()
    elig = _api("rules.eligibility_eligibility").sync(
        client=client, body=m.EligibilityRequest(policy=m.PolicyId(POLICY)))
    assert isinstance(elig, m.EligibilityResult)
    assert (elig.count, elig.eligible) == (len(towns), int(tf.eligibility(towns, POLICY)
                                                           ["eligible"].sum()))
    assert all(isinstance(t, m.EligibilityTown) for t in elig.towns)

    formula = _api("rules.formula_formula").sync(
        client=client, body=m.FormulaRequest(policy=m.PolicyId(POLICY), fund=FUND))
    assert isinstance(formula, m.FormulaResult)
    expected = tf.formula_allocation(towns, POLICY, fund=FUND)
    row = next(t for t in formula.towns if t.code == TOWN)
    assert isinstance(row, m.FormulaTown)
    assert row.amount == int(expected.loc[TOWN, "amount"])
    assert row.additional_properties["coef_supported_population"] == pytest.approx(
        float(expected.loc[TOWN, "coef_supported_population"]))
    assert formula.total == FUND

    bad = _api("rules.formula_formula").sync(
        client=client,
        body=m.FormulaRequest(policy=m.PolicyId(POLICY), fund=FUND,
                              changes=m.Reform.from_dict(
                                  {"factors.nonexistent.weight": 0.5})))
    assert isinstance(bad, m.ErrorBody)
    assert bad.error == m.ErrorCode.VALIDATION
    assert isinstance(bad.problems, list)
    assert all(isinstance(p, m.Problem) for p in bad.problems)
    assert any("factors.nonexistent.weight" in str(p.column) for p in bad.problems)

    fund_range = _api("rules.fund_range_fund_range").sync(
        client=client,
        body=m.FundRangeRequest(policy=m.PolicyId(POLICY),
                                constraints=[m.HoldHarmless(type_="HoldHarmless")]))
    assert isinstance(fund_range, m.FundRangeResult)
    exact = tf.fund_range(towns, POLICY, [tf.HoldHarmless()])
    assert fund_range.least == int(-(-float(exact.least) // 1))


def test_allocations(client: Any, tmp_path: Path) -> None:
    """An allocation is created, listed, read with its per-town rows, explained, downloaded
    as a workbook and deleted, each through the generated client with typed results; the
    error statuses on the way (409, 413, 404, 422) come back as the error model."""
    m = _models()
    create = _api("allocations.allocations_create_allocation")
    body = m.AllocationRequest(
        policy=m.PolicyId(POLICY), fund=FUND,
        constraints=[m.HoldHarmless(type_="HoldHarmless"),
                     m.Floor(type_="Floor", amount=600_000.0),
                     m.Rounding(type_="Rounding", unit=10_000)])
    created = create.sync(client=client, body=body, idempotency_key="client-test-1")
    assert isinstance(created, m.AllocationCreated)
    assert isinstance(created.provenance, m.Provenance)
    amounts = created.amounts.additional_properties
    assert sum(amounts.values()) == created.total == FUND
    assert min(amounts.values()) >= 600_000
    assert all(a % 10_000 == 0 for a in amounts.values())

    again = create.sync(client=client, body=body, idempotency_key="client-test-1")
    assert isinstance(again, m.AllocationCreated)
    assert again.id == created.id
    other = m.AllocationRequest(policy=m.PolicyId(POLICY), fund=FUND)
    clash = create.sync(client=client, body=other, idempotency_key="client-test-1")
    assert isinstance(clash, m.ErrorBody)
    assert clash.error == m.ErrorCode.CONFLICT

    infeasible = create.sync(client=client, body=m.AllocationRequest(
        policy=m.PolicyId(POLICY), fund=FUND,
        constraints=[m.Floor(type_="Floor", amount=3_000_000.0)]))
    assert isinstance(infeasible, m.ErrorBody)
    assert infeasible.error == m.ErrorCode.INFEASIBLE
    assert infeasible.conflicts
    assert all(isinstance(c, m.Conflict) for c in infeasible.conflicts)

    too_many = create.sync(client=client, body=m.AllocationRequest(
        policy=m.PolicyId(POLICY),
        constraints=[m.HoldHarmless(type_="HoldHarmless")] * 10_000))
    assert isinstance(too_many, m.ErrorBody)
    assert too_many.error == m.ErrorCode.TOO_LARGE

    listing = _api("allocations.allocations_list_allocations").sync(client=client, limit=10)
    assert isinstance(listing, m.AllocationList)
    assert created.id in {item.id for item in listing.items}
    assert all(isinstance(item, m.AllocationSummary) for item in listing.items)
    bad_limit = _api("allocations.allocations_list_allocations").sync(client=client, limit=0)
    assert isinstance(bad_limit, m.ErrorBody)
    assert bad_limit.error == m.ErrorCode.VALIDATION
    assert "query parameter" in bad_limit.message

    run = _api("allocations.allocations_allocation_id_get_allocation").sync(created.id,
                                                                            client=client)
    assert isinstance(run, m.AllocationRun)
    assert isinstance(run.request, m.StoredRequest)
    assert all(isinstance(t, m.AllocationTown) for t in run.towns)
    assert all(isinstance(s, m.ShadowPrice) for s in run.shadow_prices)
    town = next(t for t in run.towns if t.code == TOWN)
    assert town.amount == amounts[TOWN]

    explain = _api("allocations.allocations_allocation_id_explain_code_explain_allocation")
    trace = explain.sync(created.id, TOWN, client=client)
    assert isinstance(trace, m.Explanation)
    assert trace.amount == amounts[TOWN]
    assert all(isinstance(s, m.ExplanationStep) for s in trace.steps)
    assert any(isinstance(p, m.Parameter) for s in trace.steps for p in s.parameters)
    nowhere = explain.sync(created.id, "999999999", client=client)
    assert isinstance(nowhere, m.ErrorBody)
    assert nowhere.error == m.ErrorCode.NOT_FOUND

    workbook = _api("allocations.allocations_allocation_id_xlsx").sync(created.id,
                                                                      client=client)
    content = workbook.payload.read()
    assert isinstance(content, bytes)
    assert content[:2] == b"PK"
    (tmp_path / "run.xlsx").write_bytes(content)
    back = tf.read_allocation(tmp_path / "run.xlsx")
    assert int(back.table.loc[TOWN, "amount"]) == amounts[TOWN]

    delete = _api("allocations.allocations_allocation_id_delete_allocation")
    delete.sync(created.id, client=client)
    gone = _api("allocations.allocations_allocation_id_get_allocation").sync(created.id,
                                                                             client=client)
    assert isinstance(gone, m.ErrorBody)
    assert gone.error == m.ErrorCode.NOT_FOUND


def test_unauthorized_and_unavailable(generated: Any, live: Live, tmp_path: Path) -> None:
    """Without the token: 401; a foreign Host: 400; a foreign Origin: 403; past the request's
    deadline: 503 with Retry-After; each as the error model with its code."""
    m = _models()
    for headers, status, code in (({"Host": "evil.example"}, 400, m.ErrorCode.BAD_REQUEST),
                                  ({"Origin": "https://evil.example"}, 403,
                                   m.ErrorCode.FORBIDDEN)):
        with _client(generated, live).with_headers(headers) as foreign:
            refusal = _api("policies.policies_policy_id_policy").sync_detailed(
                POLICY, client=foreign)
        assert refusal.status_code == status
        assert isinstance(refusal.parsed, m.ErrorBody)
        assert refusal.parsed.error == code
    with _client(generated, live, token=None) as anonymous:
        refused = _api("policies.policies_policies").sync_detailed(client=anonymous)
    assert refused.status_code == 401
    assert isinstance(refused.parsed, m.ErrorBody)
    assert refused.parsed.error == m.ErrorCode.UNAUTHORIZED
    with Live(_config(tmp_path, request_deadline=0.001)) as hurried, \
            _client(generated, hurried) as client:
        late = _api("rules.formula_formula").sync_detailed(
            client=client,
            body=m.FormulaRequest(policy=m.PolicyId(POLICY), fund=FUND))
    assert late.status_code == 503
    assert isinstance(late.parsed, m.ErrorBody)
    assert late.parsed.error == m.ErrorCode.UNAVAILABLE
    assert "retry-after" in {k.lower() for k in late.headers}
