"""The same orders booked through the API (one by one, or in batches) and through import_orders
give the same ledgers, lots, allocations, balances, credits and blocked credits, row for row, on
whichever database the suite runs (SQLite and PostgreSQL in CI)."""

import contextlib
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.tests.conftest import ApiClient
from membership.tests.services.test_booking_batch import facts_of, members_make, order_state, orders_csv, snapshot
from points.selectors import points_reconcile

pytestmark = pytest.mark.django_db

API, FILE = "API_", "IMP_"


def as_json(facts) -> dict:
    return {
        "member_id": facts.member_id, "paid_at": facts.paid_at.isoformat(), "status": facts.status,
        "goods_amount": str(facts.goods_amount), "discount_amount": str(facts.discount_amount), "refunded_amount": str(facts.refunded_amount),
    }


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(files=st.lists(st.lists(order_state(), min_size=1, max_size=10), min_size=1, max_size=3), batched=st.lists(st.booleans(), min_size=3, max_size=3))
def test_the_api_books_what_importing_the_same_orders_books(program, make_key, tmp_path_factory, files, batched):
    directory = tmp_path_factory.mktemp("files")
    with transaction.atomic():
        _, key = make_key(scopes=("ingest",), name="equivalence")
        client = ApiClient(key)
        for prefix in (API, FILE):
            members_make(prefix)
        for number, states in enumerate(files):
            states = list({s[0]: s for s in states}.values())  # each order once per file
            with contextlib.suppress(CommandError):  # rejected rows are rejected by the API too
                call_command("import_orders", str(orders_csv(directory / f"o{number}.csv", [facts_of(FILE, s) for s in states])), stdout=io.StringIO(), stderr=io.StringIO())
            facts = sorted((facts_of(API, s) for s in states), key=lambda f: (f.paid_at, f.order_id))  # the import's booking order
            if batched[number]:
                response = client.call("POST", "orders/batch", {"orders": [{"order_id": f.order_id, **as_json(f)} for f in facts]})
                assert response.status_code == 200
            else:
                for f in facts:
                    assert client.call("PUT", f"orders/{f.order_id}", as_json(f)).status_code in (200, 201, 422)
        assert snapshot(API) == snapshot(FILE)
        assert points_reconcile() == []
        transaction.set_rollback(True)
