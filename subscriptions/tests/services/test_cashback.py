"""Cashback on orders: the plan's rate in points, yearly and subscription caps, none on special
invoices, frozen during a trial, released by a purchase within 30 days, otherwise cleared."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from membership.services import orders_book_batch
from membership.services import order_book
from membership.tests.factories import MemberFactory, local, order
from points.models import PointsEntry
from points.selectors import points_available_get, points_balance_get, points_frozen_get, points_reconcile
from riskcontrol.models import ListEntry
from subscriptions.models import Cashback
from subscriptions.services import subscription_start, subscriptions_daily_run

pytestmark = pytest.mark.django_db


def cashback(order_id):
    return Cashback.objects.filter(order__order_id=order_id).first()


def test_completed_orders_of_a_paid_member_earn_the_plan_s_rate_in_points(program, plans):
    m = MemberFactory()
    subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 3, 1))
    order_book(facts=order("O1", m, local(2026, 3, 2), goods="1000.00", discount="100.00"))
    order_book(facts=order("O2", m, local(2026, 3, 2), status="paid", goods="500"))
    order_book(facts=order("O0", m, local(2026, 2, 28), goods="500"))  # before the subscription
    c = cashback("O1")
    assert (c.points, c.status, c.points_entry.source) == (1800, "credited", "cashback")  # 2% of 900 yuan = 18 yuan = 1,800 points
    assert cashback("O2") is None and cashback("O0") is None
    order_book(facts=order("O1", m, local(2026, 3, 2), goods="1000.00", discount="100.00"))
    assert Cashback.objects.count() == 1 and PointsEntry.objects.filter(source="cashback").count() == 1
    order_book(facts=order("O2", m, local(2026, 3, 2), goods="500"))  # completed later
    assert cashback("O2").points == 1000
    assert points_reconcile() == []


def test_no_cashback_on_special_invoice_orders(program, plans):
    m = MemberFactory()
    subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 3, 1))
    order_book(facts=replace(order("O1", m, local(2026, 3, 2), goods="1000"), special_invoice=True))
    assert cashback("O1") is None


def test_the_yearly_cap_and_the_cap_over_the_subscription(program, plans):
    m = MemberFactory()
    s = subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 6, 1))
    order_book(facts=order("O1", m, local(2026, 6, 2), goods="40000"))  # 40,000 yuan → 80,000 points
    assert (cashback("O1").points, cashback("O1").capped) == (50000, 30000)
    order_book(facts=order("O2", m, local(2027, 1, 2), goods="1000"))  # a new year, but the term cap is used up
    assert (cashback("O2").points, cashback("O2").capped) == (0, 2000)
    plan = s.plan
    plan.term_cashback_cap = None
    plan.save()
    order_book(facts=order("O3", m, local(2027, 1, 3), goods="1000"))
    assert cashback("O3").points == 2000


def test_a_refund_takes_cashback_back_in_proportion(program, plans):
    m = MemberFactory()
    subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 3, 1))
    order_book(facts=order("O1", m, local(2026, 3, 2), goods="1000"))
    order_book(facts=order("O1", m, local(2026, 3, 2), goods="1000", refunded="250"))
    assert cashback("O1").points == 1500
    order_book(facts=order("O1", m, local(2026, 3, 2), status="refunded", goods="1000", refunded="1000"))
    assert cashback("O1").points == 0
    assert points_balance_get(member=m) == 0 and points_reconcile() == []


def test_trial_cashback_is_frozen_and_released_by_a_purchase_within_30_days(program, plans):
    m = MemberFactory()
    subscription_start(member=m, plan=plans["plus-year"], reference="t", trial=True, at=local(2026, 3, 1))  # ends 2026-03-30
    order_book(facts=order("O1", m, local(2026, 3, 2), goods="1000"))
    assert cashback("O1").status == "frozen" and points_frozen_get(member=m) == 2000
    assert points_available_get(member=m, at=local(2026, 3, 3)) == 1000  # the order's own points
    subscriptions_daily_run(at=local(2026, 4, 20))  # 21 days after the trial: not cleared yet
    subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 4, 29))
    assert cashback("O1").status == "released" and points_frozen_get(member=m) == 0
    assert points_available_get(member=m, at=local(2026, 5, 1)) == 3000
    subscriptions_daily_run(at=local(2026, 6, 1))
    assert cashback("O1").status == "released" and points_reconcile() == []


def test_trial_cashback_is_cleared_by_the_daily_task_without_a_purchase(program, plans):
    m = MemberFactory()
    subscription_start(member=m, plan=plans["plus-year"], reference="t", trial=True, at=local(2026, 3, 1))
    order_book(facts=order("O1", m, local(2026, 3, 2), goods="1000"))
    assert subscriptions_daily_run(at=local(2026, 4, 29))["trials_cleared"] == 0  # day 30 after the trial's end
    counts = subscriptions_daily_run(at=local(2026, 4, 30))
    assert subscriptions_daily_run(at=local(2026, 4, 30))["trials_cleared"] == 0
    assert (counts["trials_cleared"], counts["points_cleared"]) == (1, 2000)
    assert cashback("O1").status == "cleared"
    assert PointsEntry.objects.get(kind="cleared").amount == -2000
    assert points_balance_get(member=m) == 1000 and points_reconcile() == []
    subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 5, 1))
    assert cashback("O1").status == "cleared"


def test_the_batch_import_path_books_the_same_cashback(program, plans):
    a, b = MemberFactory(), MemberFactory()
    subscription_start(member=a, plan=plans["plus-year"], reference="p", at=local(2026, 3, 1))
    result = orders_book_batch(facts=[order("B1", a, local(2026, 3, 2), goods="1000"), order("B2", b, local(2026, 3, 2), goods="1000")], program=program)
    assert all(outcome.outcome == "created" for outcome in result.outcomes)
    assert cashback("B1").points == 2000 and cashback("B2") is None
    orders_book_batch(facts=[order("B1", a, local(2026, 3, 2), goods="1000", refunded="500")], program=program)
    assert cashback("B1").points == 1000 and points_reconcile() == []


def test_a_member_blacklisted_for_earning_gets_a_blocked_cashback(program, plans):
    m = MemberFactory()
    subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 3, 1))
    entry = ListEntry.objects.create(member=m, kind="black", scope="earning", reason="farming", starts_at=local(2026, 1, 1))
    order_book(facts=order("O1", m, local(2026, 3, 2), goods="1000"))
    c = cashback("O1")
    assert (c.status, c.list_entry, c.points_entry) == ("blocked", entry, None)


def test_a_cancelled_subscription_earns_nothing_after_its_end(program, plans):
    from subscriptions.services import subscription_cancel

    m = MemberFactory()
    s = subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 3, 1))
    subscription_cancel(subscription=s, reason="refund", at=local(2026, 3, 10))
    order_book(facts=order("O1", m, local(2026, 3, 10, 20), goods="100"))
    order_book(facts=order("O2", m, local(2026, 3, 11), goods="100"))
    assert cashback("O1").points == 200 and cashback("O2") is None


def test_cashback_follows_the_rate_exactly(program, plans):
    m = MemberFactory()
    plan = plans["plus-year"]
    plan.cashback_rate = Decimal("5.00")
    plan.save()
    subscription_start(member=m, plan=plan, reference="p", at=local(2026, 3, 1) - timedelta(days=1))
    order_book(facts=order("O1", m, local(2026, 3, 2), goods="19.99"))
    assert cashback("O1").points == 99  # 5% of 19.99 yuan = 0.9995 yuan → 99 points, rounded down
