"""Property tests: random sequences of order bookings and changes against a model of the contract's rules."""

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from membership.models import GrowthEntry, OrderCredit
from membership.services import order_book
from membership.tests.factories import MemberFactory, local, order
from points.models import PointsEntry
from points.selectors import points_reconcile

pytestmark = pytest.mark.django_db

MEMBERS = ("PA", "PB")
STATUSES = ("paid", "completed", "refunded", "cancelled")
DAILY_CAP, ORDER_CAP = 20000, 10000


def order_home(index: int):
    """Each order's member and payment time are fixed; days repeat so daily caps bite."""
    return MEMBERS[index % 2], local(2026, 3, 1 if index < 6 else 2, 8) + timedelta(minutes=index)


@st.composite
def booking(draw):
    index = draw(st.integers(0, 7))
    goods = draw(st.one_of(st.integers(0, 1600000), st.integers(700000, 1600000))) / Decimal(100)
    discount = draw(st.one_of(st.just(0), st.integers(0, int(goods * 100)))) / Decimal(100)
    shipping = draw(st.sampled_from([Decimal(0), Decimal("12.50")]))
    refunded = draw(st.one_of(st.just(0), st.integers(0, int((goods - discount + shipping) * 100)))) / Decimal(100)
    status = draw(st.sampled_from(("completed", "completed", "completed", *STATUSES)))
    return index, status, goods, discount, shipping, refunded


class Model:
    """The rules of CONTRACT.md, written out plainly."""

    def __init__(self):
        self.orders = {}  # index -> [growth entitlement, growth credited, points entitlement, points credited]
        self.day_used = {}  # (member, day) -> net growth credited
        self.growth = dict.fromkeys(MEMBERS, 0)
        self.points = dict.fromkeys(MEMBERS, 0)

    def book(self, index, status, goods, discount, shipping, refunded):
        member, paid_at = order_home(index)
        qualified = max(goods - discount - refunded, Decimal(0))
        g_new = min(math.floor(qualified), ORDER_CAP) if status == "completed" else 0
        p_new = math.floor(qualified) if status == "completed" else 0
        g_old, g_cred, p_old, p_cred = self.orders.get(index, [0, 0, 0, 0])
        day = (member, paid_at.date())
        if g_new < g_old:
            g_delta = min(g_new, g_cred) - g_cred
        elif g_new > g_old:
            g_delta = min(g_new - g_old, max(0, DAILY_CAP - self.day_used.get(day, 0)))
        else:
            g_delta = 0
        p_delta = (min(p_new, p_cred) - p_cred) if p_new < p_old else (p_new - p_old)
        self.orders[index] = [g_new, g_cred + g_delta, p_new, p_cred + p_delta]
        self.day_used[day] = self.day_used.get(day, 0) + g_delta
        self.growth[member] += g_delta
        self.points[member] += p_delta


def book(members, step):
    index, status, goods, discount, shipping, refunded = step
    member_id, paid_at = order_home(index)
    order_book(
        facts=order(f"P{index}", members[member_id], paid_at, status, str(goods), str(discount), str(shipping), str(refunded))
    )


def sums(model_cls, member):
    return model_cls.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(booking(), min_size=1, max_size=14), repeat=st.lists(st.integers(0, 13), max_size=4))
def test_random_bookings_match_the_model_sum_to_balances_and_replay_changes_nothing(program, steps, repeat):
    with transaction.atomic():
        members = {m: MemberFactory(member_id=m) for m in MEMBERS}
        model = Model()
        for position, step in enumerate(steps):
            book(members, step)
            model.book(*step)
            if position in repeat:  # the same booking twice in a row books nothing more
                before = GrowthEntry.objects.count(), PointsEntry.objects.count()
                book(members, step)
                assert (GrowthEntry.objects.count(), PointsEntry.objects.count()) == before

        for member_id, member in members.items():
            assert sums(GrowthEntry, member) == model.growth[member_id]
            assert sums(PointsEntry, member) == model.points[member_id]
        assert points_reconcile() == []
        for credit in OrderCredit.objects.select_related("order", "rule"):
            ledger = GrowthEntry if credit.rule.currency == "growth" else PointsEntry
            booked = ledger.objects.filter(source="order", source_ref=credit.order.order_id).aggregate(s=Sum("amount"))["s"]
            assert credit.credited == (booked or 0)

        # Re-importing every order's latest state changes nothing.
        latest = {step[0]: step for step in steps}
        before = GrowthEntry.objects.count(), PointsEntry.objects.count()
        for step in latest.values():
            book(members, step)
        assert (GrowthEntry.objects.count(), PointsEntry.objects.count()) == before
        transaction.set_rollback(True)
