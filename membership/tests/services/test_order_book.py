"""The default program's order rules (CONTRACT.md, "Orders", "Daily growth cap", "Changes", "Dating")."""

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from membership.models import GrowthEntry, OrderCredit
from membership.services import order_book
from membership.tests.factories import MemberFactory, local, order
from points.models import PointsEntry
from points.selectors import points_balance_get, points_reconcile
from points.services import points_debit

pytestmark = pytest.mark.django_db


def growth(member):
    return GrowthEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0


def points(member):
    return points_balance_get(member=member)


def test_qualified_amount_is_goods_less_discount_and_refund_without_shipping(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 10), goods="300.99", discount="50.5", shipping="20", refunded="0"))
    assert growth(m) == 250  # floor(300.99 - 50.5) = floor(250.49); shipping never counts
    assert points(m) == 250


def test_growth_is_capped_at_10000_per_order_but_points_are_not(program):
    m = MemberFactory()
    result = order_book(facts=order("O1", m, local(2026, 3, 1, 10), goods="12345.67"))
    assert growth(m) == 10000
    assert points(m) == 12345
    assert result.capped == 0  # the per-order cap is the rule itself, not a cap withholding credit


@pytest.mark.parametrize("status", ["paid", "refunded", "cancelled"])
def test_only_completed_orders_earn(program, status):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 10), status=status, goods="500"))
    assert growth(m) == 0 and points(m) == 0


def test_paid_order_earns_when_reimported_as_completed(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 10), status="paid", goods="500"))
    result = order_book(facts=order("O1", m, local(2026, 3, 1, 10), status="completed", goods="500"))
    assert result.outcome == "changed"
    assert growth(m) == 500 and points(m) == 500


@pytest.mark.parametrize("status", ["refunded", "cancelled"])
def test_refund_or_cancellation_takes_back_what_was_earned(program, status):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 10), goods="800"))
    order_book(facts=order("O1", m, local(2026, 3, 1, 10), status=status, goods="800"))
    assert growth(m) == 0 and points(m) == 0
    reversal = GrowthEntry.objects.get(member=m, kind="reversal")
    assert reversal.amount == -800


def test_partial_refund_books_only_the_difference(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 10), goods="800"))
    order_book(facts=order("O1", m, local(2026, 3, 1, 10), goods="800", refunded="300.5"))
    assert growth(m) == 499 and points(m) == 499
    assert GrowthEntry.objects.filter(member=m).count() == 2  # one credit, one reversal: never a second credit


def test_identical_rebooking_changes_nothing(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 10), goods="800"))
    result = order_book(facts=order("O1", m, local(2026, 3, 1, 10), goods="800"))
    assert result.outcome == "unchanged"
    assert GrowthEntry.objects.count() == 1 and PointsEntry.objects.count() == 1


def test_daily_growth_cap_records_what_is_over(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 9), goods="10000"))
    order_book(facts=order("O2", m, local(2026, 3, 1, 10), goods="8000"))
    result = order_book(facts=order("O3", m, local(2026, 3, 1, 23, 59), goods="5000"))
    assert growth(m) == 20000
    assert result.capped == 3000
    entry = GrowthEntry.objects.get(source_ref="O3")
    assert (entry.amount, entry.capped) == (2000, 3000)
    assert points(m) == 23000  # points have no cap in the default program
    # The next local day has its own room.
    order_book(facts=order("O4", m, local(2026, 3, 2, 0, 0), goods="5000"))
    assert growth(m) == 25000


def test_daily_cap_uses_the_local_day_not_utc(program):
    m = MemberFactory()
    # 2026-03-01 23:30 and 2026-03-02 00:30 Shanghai are the same UTC day but two local days.
    order_book(facts=order("O1", m, local(2026, 3, 1, 23, 30), goods="10000"))
    order_book(facts=order("O2", m, local(2026, 3, 1, 23, 40), goods="10000"))
    order_book(facts=order("O3", m, local(2026, 3, 2, 0, 30), goods="10000"))
    assert growth(m) == 30000


def test_lower_entitlement_takes_credit_down_to_min_of_new_and_credited(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 9), goods="10000"))
    order_book(facts=order("O2", m, local(2026, 3, 1, 10), goods="10000"))
    order_book(facts=order("O3", m, local(2026, 3, 1, 11), goods="8000"))  # entitled 8000, credited 0
    credit = OrderCredit.objects.get(order__order_id="O3", rule__currency="growth")
    assert (credit.entitlement, credit.credited) == (8000, 0)
    order_book(facts=order("O3", m, local(2026, 3, 1, 11), goods="8000", refunded="7000"))  # entitled 1000
    assert growth(m) == 20000  # min(1000, 0) = 0: nothing to take back
    order_book(facts=order("O1", m, local(2026, 3, 1, 9), goods="10000", refunded="4000"))  # 10000 -> 6000
    assert growth(m) == 16000


def test_higher_entitlement_credits_the_increase_within_the_room_left(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 9), goods="10000"))
    order_book(facts=order("O2", m, local(2026, 3, 1, 10), status="paid", goods="10000"))
    order_book(facts=order("O3", m, local(2026, 3, 1, 11), goods="7000"))
    result = order_book(facts=order("O2", m, local(2026, 3, 1, 10), goods="10000"))
    assert result.growth == 3000 and result.capped == 7000
    assert growth(m) == 20000


def test_every_entry_is_dated_at_paid_at(program):
    m = MemberFactory()
    paid_at = local(2025, 6, 1, 10)
    order_book(facts=order("O1", m, paid_at, goods="800"))
    order_book(facts=order("O1", m, paid_at, status="refunded", goods="800"))
    for entry in [*GrowthEntry.objects.all(), *PointsEntry.objects.all()]:
        assert entry.effective_at == paid_at
        assert entry.booked_at > paid_at


def test_points_taken_back_after_spending_leave_a_negative_balance(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 9), goods="500"))
    points_debit(member=m, amount=400, kind="spend", effective_at=local(2026, 3, 2), source="redemption", idempotency_key="spend-1")
    order_book(facts=order("O1", m, local(2026, 3, 1, 9), status="refunded", goods="500"))
    assert points(m) == -400
    assert points_reconcile() == []
    order_book(facts=order("O2", m, local(2026, 3, 3, 9), goods="1000"))  # new points pay the debt first
    assert points(m) == 600
    assert points_reconcile() == []


def test_unknown_member_and_foreign_order_are_refused(program):
    a, b = MemberFactory(), MemberFactory()
    with pytest.raises(ValidationError, match="unknown member"):
        order_book(facts=order("O1", "NOPE", local(2026, 3, 1), goods="1"))
    order_book(facts=order("O1", a, local(2026, 3, 1), goods="1"))
    with pytest.raises(ValidationError, match="belongs to member"):
        order_book(facts=order("O1", b, local(2026, 3, 1), goods="1"))


def test_refund_larger_than_paid_is_refused(program):
    m = MemberFactory()
    with pytest.raises(ValidationError, match="larger than what was paid"):
        order_book(facts=order("O1", m, local(2026, 3, 1), goods="100", shipping="10", refunded="110.01"))
    assert GrowthEntry.objects.count() == 0


def test_no_points_records_the_entitlement_without_crediting(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1), goods="800"), book_points=False)
    assert growth(m) == 800 and points(m) == 0
    order_book(facts=order("O1", m, local(2026, 3, 1), status="refunded", goods="800"), book_points=True)
    assert growth(m) == 0 and points(m) == 0  # the legacy system's points are not ours to take back
