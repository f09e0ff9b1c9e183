"""What an order rule can ask: a minimum amount, shops, a rate per level, the member's lifecycle
stage and paid membership; the part paid with points; and points that end days after earning."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from membership.lifecycle import LIFECYCLE_STAGES, lifecycle_q, lifecycle_stage
from membership.models import EarningRule, GrowthEntry, Level, Member, Order
from membership.rules import LevelValuesField, OrderAmountStrategy, OrderFacts
from membership.services import order_book, orders_book_batch
from membership.tests.factories import MemberFactory, local, order
from points.models import PointsEntry, PointsLot
from subscriptions.models import Plan, Subscription

pytestmark = pytest.mark.django_db


def bonus(program, code="bonus", **params):
    """A points rule of its own beside the default program's, so what it gives is its entries alone."""
    return EarningRule.objects.create(program=program, code=code, name=code, kind="order_amount", currency="points", params=params)


def given_by(rule, member):
    return PointsEntry.objects.filter(member=member, rule=rule).aggregate(s=Sum("amount"))["s"] or 0


def shop_order(order_id, member, paid_at, goods, shop="", status="completed", refunded="0", offset="0"):
    return OrderFacts(
        order_id=order_id, member_id=member.member_id, paid_at=paid_at, status=status, goods_amount=Decimal(goods),
        refunded_amount=Decimal(refunded), shop_id=shop, offset_amount=Decimal(offset),
    )


def test_an_order_below_the_minimum_amount_earns_nothing_from_the_rule(program):
    rule = bonus(program, min_amount=99)
    m = MemberFactory()
    order_book(facts=shop_order("O1", m, local(2026, 3, 1), "98.99"))
    assert given_by(rule, m) == 0
    order_book(facts=shop_order("O2", m, local(2026, 3, 1), "99"))
    assert given_by(rule, m) == 99
    # A refund that takes the order below the minimum takes all it gave back.
    order_book(facts=shop_order("O2", m, local(2026, 3, 1), "99", refunded="1"))
    assert given_by(rule, m) == 0


def test_shops_included_and_excluded(program):
    only = bonus(program, "flagship", shops=["S1", "S2"])
    never = bonus(program, "not-outlet", exclude_shops=["OUTLET"])
    m = MemberFactory()
    for n, shop in enumerate(("S1", "S3", "OUTLET", "")):
        order_book(facts=shop_order(f"O{n}", m, local(2026, 3, 1), "100", shop=shop))
    assert given_by(only, m) == 100
    assert given_by(never, m) == 300


def test_a_rate_per_level_and_a_multiplier_and_a_refund_weighed_at_the_level_the_order_was_booked_at(program):
    rule = bonus(program, level_rates={"V3": 2}, level_multipliers={"V3": 1.5, "V4": 3})
    v0, v3, v4 = MemberFactory(), MemberFactory(), MemberFactory()
    levels = {level.code: level for level in Level.objects.filter(program=program)}
    Member.objects.filter(pk=v3.pk).update(level=levels["V3"])
    Member.objects.filter(pk=v4.pk).update(level=levels["V4"])
    for member in (v0, v3, v4):
        order_book(facts=shop_order(f"O-{member.member_id}", Member.objects.get(pk=member.pk), local(2026, 3, 1), "100"))
    assert [given_by(rule, m) for m in (v0, v3, v4)] == [100, 300, 300]
    assert Order.objects.get(order_id=f"O-{v3.member_id}").member_level == "V3"
    assert Order.objects.get(order_id=f"O-{v0.member_id}").member_level == "V0"  # no level yet: the lowest

    # Downgraded to V0, then half the order refunded: half of what it gave at V3 is taken back.
    Member.objects.filter(pk=v3.pk).update(level=levels["V0"])
    order_book(facts=shop_order(f"O-{v3.member_id}", v3, local(2026, 3, 1), "100", refunded="50"))
    assert given_by(rule, v3) == 150


def test_a_comeback_offer_for_dormant_members_pays_the_first_order_back_only(program):
    rule = bonus(program, "comeback", stages=["dormant", "lost"], rate=5)
    joined = local(2025, 1, 1)
    dormant = MemberFactory(joined_at=joined, last_active_at=local(2025, 11, 1))
    active = MemberFactory(joined_at=joined, last_active_at=local(2026, 2, 20))
    for member in (dormant, active):
        order_book(facts=shop_order(f"A-{member.member_id}", member, local(2026, 3, 1), "100"))
        order_book(facts=shop_order(f"B-{member.member_id}", Member.objects.get(pk=member.pk), local(2026, 3, 2), "100"))
    assert given_by(rule, dormant) == 500  # the first order only: the second finds the member active again
    assert given_by(rule, active) == 0
    assert Order.objects.get(order_id=f"A-{dormant.member_id}").member_stage == "dormant"
    assert Order.objects.get(order_id=f"B-{dormant.member_id}").member_stage == "growing"


def test_paid_members_earn_a_rule_for_the_days_their_subscription_covers(program):
    rule = bonus(program, "plus-double", when="subscribed")
    plan = Plan.objects.create(program=program, code="plus", name="PLUS", term_months=12, price=Decimal("99"))
    paid, free = MemberFactory(), MemberFactory()
    Subscription.objects.create(member=paid, plan=plan, starts_on=date(2026, 3, 1), ends_on=date(2027, 2, 28), status="active")
    order_book(facts=shop_order("O1", paid, local(2026, 2, 28, 12), "100"))  # the day before it started
    order_book(facts=shop_order("O2", paid, local(2026, 3, 1, 12), "100"))
    order_book(facts=shop_order("O3", free, local(2026, 3, 1, 12), "100"))
    assert given_by(rule, paid) == 100
    assert given_by(rule, free) == 0
    assert Order.objects.get(order_id="O1").member_conditions == "!subscribed"
    assert Order.objects.get(order_id="O2").member_conditions == "subscribed"


def test_the_part_paid_with_points_earns_only_when_the_program_says_so(program):
    m = MemberFactory()
    order_book(facts=shop_order("O1", m, local(2026, 3, 1), "100", offset="30"))
    program.offset_earns = False
    program.save()
    order_book(facts=shop_order("O2", m, local(2026, 3, 1), "100", offset="30"))
    growth = dict(GrowthEntry.objects.filter(member=m).values_list("source_ref", "amount"))
    assert growth == {"O1": 100, "O2": 70}


def test_an_offset_larger_than_what_was_paid_is_refused_naming_the_field(program):
    m = MemberFactory()
    with pytest.raises(ValidationError) as caught:
        order_book(facts=shop_order("O1", m, local(2026, 3, 1), "100", offset="100.01"))
    assert "offset_amount" in caught.value.message_dict


def test_points_can_end_a_number_of_days_after_earning(program):
    program.points_expiry, program.points_expiry_days = "days", 30
    program.full_clean()
    program.save()
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 9, 30), goods="100"))
    assert PointsLot.objects.get(member=m).expires_at == local(2026, 3, 31, 9, 30)
    program.points_expiry_days = None
    with pytest.raises(ValidationError) as caught:
        program.full_clean()
    assert "points_expiry_days" in caught.value.message_dict


@pytest.mark.parametrize(
    "params, named",
    [
        ({"min_amount": "abc"}, "min_amount"),
        ({"min_amount": -1}, "min_amount"),
        ({"level_rates": {"V9": 2}}, "V9"),
        ({"level_rates": {"V3": "two"}}, "V3"),
        ({"level_multipliers": [2]}, "level_multipliers"),
        ({"stages": ["sleeping"]}, "sleeping"),
        ({"when": "vip"}, "vip"),
        ({"shops": "S1"}, "shops"),
        ({"statuses": ["done"]}, "done"),
        ({"min_order_value": 10}, "min_order_value"),
    ],
)
def test_an_unknown_or_ill_typed_parameter_is_refused_naming_it(program, params, named):
    rule = EarningRule(program=program, code="x", name="x", kind="order_amount", currency="points", params=params)
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert named in " ".join(caught.value.message_dict["params"])


def test_the_level_values_box_reads_codes_and_numbers_and_names_what_it_cannot():
    field = LevelValuesField(required=False)
    assert field.clean("V3=1.5, V4 = 2") == {"V3": 1.5, "V4": 2}
    with pytest.raises(ValidationError) as caught:
        field.clean("V3=1.5, V4")
    assert "V4" in caught.value.messages[0]


def test_the_most_an_order_could_earn_uses_the_highest_rate_for_the_size_check():
    strategy = OrderAmountStrategy({"rate": 1, "level_rates": {"V4": 3}, "stages": ["dormant"]})
    facts = OrderFacts(order_id="O", member_id="M", paid_at=local(2026, 3, 1), status="completed", goods_amount=Decimal(10))
    assert strategy.uncapped(facts) == 30


def test_batch_and_one_by_one_read_the_same_stage_for_a_member_ordering_twice_in_one_batch(program):
    bonus(program, "comeback", stages=["dormant"], rate=5)
    for prefix in ("ONE", "BAT"):
        MemberFactory(member_id=f"{prefix}M", joined_at=local(2025, 1, 1), last_active_at=local(2025, 11, 1))
    facts = {prefix: [shop_order(f"{prefix}O{n}", Member.objects.get(member_id=f"{prefix}M"), local(2026, 3, 1 + n), "100") for n in range(2)] for prefix in ("ONE", "BAT")}
    for fact in facts["ONE"]:
        order_book(facts=fact)
    orders_book_batch(facts=facts["BAT"], program=program)
    stages = {o.order_id: o.member_stage for o in Order.objects.all()}
    assert stages == {"ONEO0": "dormant", "ONEO1": "growing", "BATO0": "dormant", "BATO1": "growing"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    joined=st.one_of(st.none(), st.integers(0, 800)),
    active=st.one_of(st.none(), st.integers(0, 800)),
    rank=st.one_of(st.none(), st.integers(0, 4)),
)
def test_a_members_stage_read_from_its_fields_is_the_stage_the_filter_finds_it_at(program, joined, active, rank):
    now = local(2026, 6, 1, 12)
    levels = {level.rank: level for level in Level.objects.filter(program=program)}
    fields = {
        "joined_at": None if joined is None else now - timedelta(days=joined, hours=3),
        "last_active_at": None if active is None else now - timedelta(days=active, hours=5),
    }
    member = MemberFactory(level=None if rank is None else levels[rank], **fields)
    found = [stage for stage in LIFECYCLE_STAGES if Member.objects.filter(lifecycle_q(program=program, stage=stage, now=now), pk=member.pk).exists()]
    assert found == [lifecycle_stage(program=program, level_rank=rank, now=now, **fields)]
    member.delete()
