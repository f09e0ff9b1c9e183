"""Any mix of earning, redemption, cancellation, lottery draws, cash offsets and expiry keeps the
points books whole and stock above 0."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from mall.models import CashOffset, Lottery, LotteryPrize, MallItem, Redemption
from mall.presets import MALL_PRESETS
from mall.services import MallRefused, cash_offset_policy_sync, lottery_draw, offset_apply, offset_reverse, redemption_cancel, redemption_create
from membership.tests.factories import MemberFactory, local, order
from points.selectors import points_reconcile
from points.services import points_expire_due

from ..factories import at_level, item

pytestmark = pytest.mark.django_db

MEMBERS = 3


class Spending(RuleBasedStateMachine):
    def __init__(self, program, operator):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.program, self.operator = program, operator
        self.clock = local(2025, 6, 1)
        self.members = [at_level(MemberFactory(), code) for code in ("V3", "V4", "V4")[:MEMBERS]]
        self.items = [item(program, code="limited", stock=4), item(program, code="cheap", prices={"V3": 100, "V4": 80}, limit_per_member=10, limit_period="month")]
        self.lottery = Lottery.objects.create(program=program, code="spin", name="Spin", cost=50)
        LotteryPrize.objects.create(lottery=self.lottery, name="300", kind="points", weight=2, stock=3, points=300)
        LotteryPrize.objects.create(lottery=self.lottery, name="thanks", kind="nothing", weight=5)
        cash_offset_policy_sync(program=program, specs=MALL_PRESETS["jd-beans"]["cash_offset"])
        self.orders = 0
        self.keys = 0

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def _key(self):
        self.keys += 1
        return f"k{self.keys}"

    @initialize(amounts=st.lists(st.integers(0, 60000), min_size=MEMBERS, max_size=MEMBERS))
    def opening(self, amounts):
        from points.services import points_credit

        for member, amount in zip(self.members, amounts):
            points_credit(program=self.program, member=member, amount=amount, effective_at=self.clock, source="event", idempotency_key=self._key())

    @rule(member=st.integers(0, MEMBERS - 1), amount=st.integers(1, 6000), days=st.integers(0, 60))
    def earn(self, member, amount, days):
        from membership.services import order_book

        self.clock += timedelta(days=days)
        self.orders += 1
        order_book(facts=order(f"O{self.orders}", self.members[member], self.clock, goods=str(amount)))

    @rule(member=st.integers(0, MEMBERS - 1), which=st.integers(0, 1), quantity=st.integers(1, 3), repeat=st.booleans())
    def redeem(self, member, which, quantity, repeat):
        key = self._key()
        for _ in range(2 if repeat else 1):
            try:
                redemption_create(member=self.members[member], item=self.items[which], quantity=quantity, key=key, at=self.clock)
            except MallRefused:
                pass

    @rule(pick=st.integers(0, 50), twice=st.booleans())
    def cancel(self, pick, twice):
        done = list(Redemption.objects.order_by("pk"))
        if done:
            target = done[pick % len(done)]
            for _ in range(2 if twice else 1):
                try:
                    redemption_cancel(redemption=target, actor=self.operator, reason="machine", at=self.clock)
                except MallRefused:
                    pass

    @rule(member=st.integers(0, MEMBERS - 1), seed=st.integers(0, 2**32), repeat=st.booleans())
    def draw(self, member, seed, repeat):
        key = self._key()
        for _ in range(2 if repeat else 1):
            try:
                lottery_draw(member=self.members[member], lottery=self.lottery, key=key, seed=seed, at=self.clock)
            except MallRefused:
                pass

    @rule(member=st.integers(0, MEMBERS - 1), amount=st.integers(1, 10000), thousands=st.integers(1, 4))
    def offset(self, member, amount, thousands):
        try:
            offset_apply(member=self.members[member], order_ref=self._key(), order_amount=amount, points=thousands * 1000, key=self._key(), at=self.clock)
        except MallRefused:
            pass

    @rule(pick=st.integers(0, 50))
    def reverse(self, pick):
        offsets = list(CashOffset.objects.order_by("pk"))
        if offsets:
            offset_reverse(offset=offsets[pick % len(offsets)], reason="refunded", at=self.clock)

    @rule(days=st.integers(1, 300))
    def expire(self, days):
        self.clock += timedelta(days=days)
        points_expire_due(until=self.clock)

    @invariant()
    def books_agree_and_stock_holds(self):
        assert points_reconcile() == []
        assert not MallItem.objects.filter(stock__lt=0).exists()
        limited = MallItem.objects.get(code="limited")
        sold = sum(Redemption.objects.filter(item=limited, status=Redemption.Status.DONE).values_list("quantity", flat=True))
        assert limited.stock + sold == 4
        assert not LotteryPrize.objects.filter(stock__lt=0).exists()


def test_any_mix_of_spending_keeps_the_books_whole(program, django_user_model):
    operator = django_user_model.objects.create_user("machineop", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    operator = django_user_model.objects.get(pk=operator.pk)
    run_state_machine_as_test(
        lambda: Spending(program, operator),
        settings=settings(max_examples=30, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)),
    )
