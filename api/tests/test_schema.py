"""The served OpenAPI schema, run against the API with generated requests (schemathesis, through
Hypothesis): no answer is a server error, and every answer (status, content type, body) is one
the schema names."""

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from api.services import api_key_create
from membership.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30  # generated requests per operation




@pytest.fixture
def wsgi_in_test_transaction():
    """The WSGI handler closes the database connection after each request; in a test it must stay
    open inside the test's transaction (as Django's test client keeps it)."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield WSGIHandler()
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


def test_every_answer_is_one_the_schema_names(program, wsgi_in_test_transaction):
    MemberFactory(member_id="M1")
    key = api_key_create(name="fuzz", scopes=["ingest", "read", "spend"], actor=None, rate_per_minute=10**9)[1]
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", wsgi_in_test_transaction)
    seen, calls = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        seen.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_as_the_schema_says(case):
            response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
            calls.append(response.status_code)

        answers_as_the_schema_says()
    assert len(seen) >= 20 and "PUT /api/v1/orders/{order_id}" in seen
    assert len(calls) >= 10 * len(seen) and {200, 201, 400, 404} <= set(calls)
