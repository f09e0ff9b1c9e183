"""Members, orders and events in: each booked as the import (or the single service) books it."""

from datetime import date

import pytest
from django.db.models import Sum

from membership.models import GrowthEntry, Member, MemberEvent, Order
from points.models import PointsEntry

pytestmark = pytest.mark.django_db

ORDER = {"member_id": "M1", "paid_at": "2026-03-01 10:00", "status": "completed", "goods_amount": "1234.56"}


def growth(member_id: str) -> int:
    return GrowthEntry.objects.filter(member__member_id=member_id).aggregate(s=Sum("amount"))["s"] or 0


def test_put_member_creates_then_updates_only_the_fields_given(api):
    response = api.call("PUT", "members/M1", {"name": "张三", "phone": "13900000001", "birthday": "1990-05-01"})
    assert response.status_code == 201
    body = response.json()
    assert (body["member_id"], body["name"], body["level"], body["growth_total"], body["points_balance"]) == ("M1", "张三", "V0", 0, 0)
    response = api.call("PUT", "members/M1", {"phone": "13900000002"})
    assert response.status_code == 200 and response.json()["name"] == "张三"
    member = Member.objects.get(member_id="M1")
    assert (member.phone, member.birthday) == ("13900000002", date(1990, 5, 1))
    assert api.call("PUT", "members/M1", {}).status_code == 200


def test_put_order_books_once_and_then_only_what_changed(api):
    api.call("PUT", "members/M1", {})
    response = api.call("PUT", "orders/O1", ORDER)
    assert (response.status_code, response.json()) == (201, {"outcome": "created", "growth": 1234, "points": 1234})
    assert api.call("PUT", "orders/O1", ORDER).json() == {"outcome": "unchanged", "growth": 0, "points": 0}
    refund = {**ORDER, "status": "COMPLETED", "refunded_amount": 234.56}
    assert api.call("PUT", "orders/O1", refund).json() == {"outcome": "changed", "growth": -234, "points": -234}
    order = Order.objects.get(order_id="O1")
    assert (order.status, order.revision, growth("M1")) == ("completed", 2, 1000)
    moved = api.call("PUT", "orders/O1", {**refund, "paid_at": "2026-03-02 10:00"})
    assert moved.status_code == 422 and "paid_at cannot change" in moved.json()["detail"]


def test_a_naive_paid_at_is_local_time(api):
    api.call("PUT", "members/M1", {})
    api.call("PUT", "orders/O1", {**ORDER, "paid_at": "2026-03-01 00:30"})
    assert Order.objects.get(order_id="O1").paid_at.isoformat() == "2026-02-28T16:30:00+00:00"


def test_a_batch_books_the_valid_orders_in_the_order_given_and_names_what_it_refused(api):
    api.call("PUT", "members/M1", {})
    orders = [
        {**ORDER, "order_id": "B1"},
        {**ORDER, "order_id": "B2", "goods_amount": "oops"},
        {**ORDER, "order_id": "B3", "member_id": "NOBODY"},
        {**ORDER, "order_id": "B1", "status": "refunded", "refunded_amount": "1234.56"},  # the same order again, later
        {"member_id": "M1"},
    ]
    response = api.call("POST", "orders/batch", {"orders": orders})
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0] == {"order_id": "B1", "outcome": "created", "growth": 1234, "points": 1234}
    assert results[1]["order_id"] == "B2" and results[1]["error"].startswith("goods_amount: ")
    assert results[2] == {"order_id": "B3", "error": "member_id: unknown member 'NOBODY'.", "errors": {"member_id": ["unknown member 'NOBODY'"]}}
    assert results[3] == {"order_id": "B1", "outcome": "changed", "growth": -1234, "points": -1234}
    assert results[4]["order_id"] == "" and "order_id" in results[4]["errors"]
    assert growth("M1") == 0 and Order.objects.count() == 1


def test_orders_in_a_batch_see_the_ones_before_them_in_the_day_cap(api):
    api.call("PUT", "members/M1", {})
    orders = [{**ORDER, "order_id": f"C{n}", "goods_amount": "9000", "paid_at": f"2026-03-01 1{n}:00"} for n in range(3)]
    results = api.call("POST", "orders/batch", {"orders": orders}).json()["results"]
    assert [r["growth"] for r in results] == [9000, 9000, 2000]  # 20,000 growth a day at most
    assert [r["points"] for r in results] == [9000, 9000, 9000]


def test_an_event_is_booked_once_per_member_type_and_reference(api, program):
    program.rules.create(code="check-in", name="check-in", kind="event_fixed", currency="points", params={"event_type": "check_in", "amount": 5})
    api.call("PUT", "members/M1", {})
    event = {"type": "check_in", "reference": "2026-03-01", "occurred_at": "2026-03-01T08:00:00+08:00"}
    first = api.call("POST", "members/M1/events", event)
    assert (first.status_code, first.json()) == (201, {"outcome": "created", "growth": 0, "points": 5})
    again = api.call("POST", "members/M1/events", event)
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    assert api.call("POST", "members/M1/events", {**event, "reference": "2026-03-02"}).status_code == 201
    assert PointsEntry.objects.filter(member__member_id="M1").count() == 2
    assert MemberEvent.objects.filter(created_by=api.api_key.user).count() == 2
    assert api.call("POST", "members/NOBODY/events", event).status_code == 404
