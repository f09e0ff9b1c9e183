"""Behaviour rules (one-time, repeated, per-day and per-month limits), rule validity and program loading."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from membership.models import EarningRule, GrowthEntry
from membership.rules import EventFixedStrategy, OrderAmountStrategy
from membership.services import event_record, order_book
from membership.tests.factories import MemberFactory, local, order
from points.selectors import points_balance_get

pytestmark = pytest.mark.django_db


def growth(member):
    return GrowthEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0


def rule(program, code, currency="growth", **params):
    return EarningRule.objects.create(program=program, code=code, name=code, kind="event_fixed", currency=currency, params=params)


def test_one_time_task_pays_once(program):
    rule(program, "first-transfer", event_type="first_transfer", amount=500, once=True)
    m = MemberFactory()
    assert event_record(member_id=m.member_id, event_type="first_transfer", occurred_at=local(2026, 3, 1), event_id="e1").growth == 500
    assert event_record(member_id=m.member_id, event_type="first_transfer", occurred_at=local(2026, 4, 1), event_id="e2").growth == 0
    assert growth(m) == 500


def test_same_event_id_is_recorded_once(program):
    rule(program, "check-in", event_type="check_in", amount=5)
    m = MemberFactory()
    event_record(member_id=m.member_id, event_type="check_in", occurred_at=local(2026, 3, 1), event_id="e1")
    assert event_record(member_id=m.member_id, event_type="check_in", occurred_at=local(2026, 3, 1), event_id="e1").outcome == "unchanged"
    assert growth(m) == 5


def test_per_day_and_per_month_frequency_limits(program):
    rule(program, "check-in", event_type="check_in", amount=5, per_day=1)
    rule(program, "utility-bill", currency="points", event_type="utility_bill", amount=10, per_month=3)
    m = MemberFactory()
    for i in range(3):
        event_record(member_id=m.member_id, event_type="check_in", occurred_at=local(2026, 3, 1, 8 + i), event_id=f"c{i}")
    event_record(member_id=m.member_id, event_type="check_in", occurred_at=local(2026, 3, 2, 8), event_id="c-next-day")
    assert growth(m) == 10
    for i in range(5):
        event_record(member_id=m.member_id, event_type="utility_bill", occurred_at=local(2026, 3, 1) + timedelta(days=i), event_id=f"u{i}")
    event_record(member_id=m.member_id, event_type="utility_bill", occurred_at=local(2026, 4, 1), event_id="u-april")
    assert points_balance_get(member=m) == 40


def test_events_share_the_daily_growth_cap_with_orders(program):
    rule(program, "review", event_type="review", amount=300)
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 9), goods="10000"))
    order_book(facts=order("O2", m, local(2026, 3, 1, 10), goods="9900"))
    result = event_record(member_id=m.member_id, event_type="review", occurred_at=local(2026, 3, 1, 11), event_id="r1")
    assert (result.growth, result.capped) == (100, 200)
    assert growth(m) == 20000


def test_rules_apply_only_within_their_validity(program):
    promo = EarningRule.objects.create(
        program=program, code="double-points", name="March double points", kind="order_amount", currency="points",
        params={"rate": 1}, valid_from=local(2026, 3, 1), valid_until=local(2026, 4, 1),
    )
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 31, 23), goods="100"))
    order_book(facts=order("O2", m, local(2026, 4, 1, 0), goods="100"))
    assert points_balance_get(member=m) == 300
    promo.is_active = False
    promo.save()
    order_book(facts=order("O1", m, local(2026, 3, 31, 23), status="refunded", goods="100"))
    assert points_balance_get(member=m) == 100  # the rule that credited an order still governs its changes


def test_category_rules_and_vipcom_style_multiplier(program):
    EarningRule.objects.filter(program=program).update(is_active=False)
    EarningRule.objects.create(
        program=program, code="v-value", name="V值", kind="order_amount", currency="growth",
        params={"rate": 5, "exclude_categories": ["gift-card"]},
    )
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1), goods="200", discount="20", shipping="10"))
    order_book(facts=order("O2", m, local(2026, 3, 1), goods="200", category="gift-card"))
    assert growth(m) == 900  # VIP.com: (200 - 20) x 5; shipping excluded; gift cards excluded


@pytest.mark.parametrize(
    "strategy, params",
    [
        (OrderAmountStrategy, {"rate": "abc"}),
        (OrderAmountStrategy, {"rate": -1}),
        (OrderAmountStrategy, {"per_order_cap": 0}),
        (EventFixedStrategy, {"amount": 5}),
        (EventFixedStrategy, {"event_type": "x", "amount": -5}),
        (EventFixedStrategy, {"event_type": "x", "amount": 5, "per_day": "two"}),
    ],
)
def test_bad_rule_parameters_are_refused(strategy, params):
    with pytest.raises(ValidationError):
        strategy.validate_params(params)
