"""schemathesis against the service's own OpenAPI document, with every check it has: no
server errors, answers (status, content type, headers, body, Allow) as documented,
schema-invalid requests refused, schema-valid ones accepted, no answer slower than the
service's deadline and a second; and, following the document's links, a created run is
there and a deleted one is gone. Seeded and bounded: 50 examples per operation, 40 sequences
of up to 8 calls; about a minute and a half on two cores, in the normal suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("litestar")
pytest.importorskip("schemathesis")

import schemathesis
from hypothesis import HealthCheck, seed, settings

from townfiscal.service import ServiceConfig, create_app

DEADLINE = 20.0
"""Seconds the service gives one request; schemathesis fails an answer later than this and a
second (the service's promise: no request keeps a core busy longer)."""

APP = create_app(
    ServiceConfig(
        database=":memory:", worker_processes=0, solve_time_limit=10.0,
        request_deadline=DEADLINE,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

# A schema-valid body may still be refused with 422 and every problem listed: the document
# says what each field looks like, while some rules span fields and rows (floors the fund
# cannot pay for, a reform under which no fund fits the growth control, a town whose code
# does not match its city). Every check runs; the response time one, off by default, with
# the deadline and a second as its limit.
_accepted = schema.config.checks.positive_data_acceptance
_accepted.expected_statuses = [*_accepted.expected_statuses, "422"]
_slow = schema.config.checks.max_response_time
_slow.enabled, _slow.limit = True, DEADLINE + 1.0


@pytest.fixture(scope="module", autouse=True)
def _close_the_service() -> Iterator[None]:
    """The store and workers of the module's service are released after its tests."""
    yield
    APP.state.runs.close()



@schema.parametrize()
@seed(20261201)
@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_service_keeps_to_its_openapi_document(case):
    """Generated requests, valid and invalid, never get a 5xx; answers match the document."""
    case.call_and_validate()


# Stateful: sequences that follow the document's links (a created run fetched, explained,
# downloaded, deleted, then fetched again), with the stateful checks (a deleted run stays
# gone; a created one is there).
class Stateful(schema.as_state_machine()):  # type: ignore[misc]
    def setup(self) -> None:
        """Each sequence starts from an empty store, so that it replays the same way."""
        store = APP.state.runs.store
        while rows := store.list(limit=500, offset=0):
            for row in rows:
                assert store.delete(row["id"])


TestTheServiceAcrossCalls = Stateful.TestCase
TestTheServiceAcrossCalls.settings = settings(
    max_examples=40,
    stateful_step_count=8,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
