"""The batch path books exactly what booking the same orders one by one does."""

import contextlib
import dataclasses
import io
import re
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.db import transaction
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from membership.services import Rejection, orders_book_batch
from membership.models import EarningRule, GrowthEntry, Member, Order, OrderCredit
from campaigns.models import Campaign, CampaignMember
from campaigns.services import campaign_approve, campaign_save, campaign_submit
from subscriptions.models import Plan, Subscription
from membership.services import order_book
from membership.tests.factories import MemberFactory, local, order
from riskcontrol.models import BlockedCredit, ListEntry
from segments.models import Segment, SegmentMember, SegmentUpload
from riskcontrol.services import list_entry_add
from points.models import PointsAccount, PointsAllocation, PointsEntry, PointsLot
from points.selectors import points_available_get, points_reconcile
from points.services import points_debit

pytestmark = pytest.mark.django_db

STATUSES = ("paid", "completed", "refunded", "cancelled")
ONE, BATCH = "ONE_", "BAT_"  # the two copies of every member and order: booked one by one, and in batches


def order_home(index: int):
    """Each order's member and payment time are fixed; days and months repeat so caps bite."""
    day = (1, 1, 1, 2, 2, 3, 20, 31)[index % 8]
    return f"M{index % 3}", local(2025, 12, day, 8) + timedelta(days=31 * (index // 8), minutes=index)


@st.composite
def order_state(draw):
    index = draw(st.integers(0, 11))
    goods = draw(st.one_of(st.integers(0, 200000), st.integers(700000, 1600000))) / Decimal(100)
    discount = draw(st.one_of(st.just(0), st.integers(0, int(goods * 100)))) / Decimal(100)
    refunded = draw(st.one_of(st.just(0), st.integers(0, int((goods - discount) * 100)))) / Decimal(100)
    status = draw(st.sampled_from(("completed", "completed", *STATUSES)))
    return index, status, goods, discount, refunded


@st.composite
def imports(draw):
    """A sequence of steps: an import file (each order once), or a member spending points."""
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.integers(0, 4)) == 0:
            steps.append(("spend", draw(st.integers(0, 2)), draw(st.integers(1, 30000))))
        else:
            rows = {state[0]: state for state in draw(st.lists(order_state(), min_size=1, max_size=10))}
            steps.append(("import", list(rows.values()), draw(st.integers(1, 4))))
    return steps


def facts_of(prefix, state):
    """The order of ``state``; every other order is from shop S1 and paid a quarter with points."""
    index, status, goods, discount, refunded = state
    member, paid_at = order_home(index)
    facts = order(f"{prefix}O{index}", f"{prefix}{member}", paid_at, status, str(goods), str(discount), "0", str(refunded), category=prefix)
    if index % 2:
        return dataclasses.replace(facts, shop_id="S1", offset_amount=((goods - discount) / 4).quantize(Decimal("0.01"), rounding=ROUND_DOWN))
    return facts


def run(prefix, steps, batched):
    outcomes = []
    for step in steps:
        if step[0] == "spend":
            _, member, amount = step
            member = MemberFactory._meta.model.objects.get(member_id=f"{prefix}M{member}")
            if points_available_get(member=member, at=local(2026, 6, 1)) >= amount:
                points_debit(
                    member=member, amount=amount, kind="spend", effective_at=local(2026, 6, 1), source="redemption",
                    idempotency_key=f"{prefix}spend:{len(outcomes)}", reason="test",
                )
            outcomes.append("spend")
            continue
        _, states, batch_size = step
        facts = sorted((facts_of(prefix, s) for s in states), key=lambda f: (f.paid_at, f.order_id))
        if batched:
            for start in range(0, len(facts), batch_size):
                for outcome in orders_book_batch(facts=facts[start : start + batch_size], program=_program()).outcomes:
                    outcomes.append(("rejected", outcome.field) if isinstance(outcome, Rejection) else vars(outcome))
        else:
            for fact in facts:
                outcomes.append(vars(order_book(facts=fact)))
    return outcomes


def _program():
    from membership.selectors import program_active_get

    return program_active_get()


def snapshot(prefix):
    """Everything the bookings wrote for one copy, with the copy's prefix taken out (and the rules
    named by their codes: each copy's campaigns have rules of their own): each member's rows in the
    order they were written (an import may book one member after another, the API as orders come)."""
    codes = dict(EarningRule.objects.values_list("pk", "code"))

    def strip(value):
        if not isinstance(value, str):
            return value
        value = re.sub(r"^(order|event):([^:]+):(\d+):", lambda m: f"{m[1]}:{m[2]}:{codes[int(m[3])]}:", value)
        return value.replace(prefix, "")

    def rows(queryset, *fields):
        return [tuple(strip(v) for v in row) for row in queryset.values_list(*fields)]

    growth = GrowthEntry.objects.filter(member__member_id__startswith=prefix).order_by("member__member_id", "pk")
    points = PointsEntry.objects.filter(member__member_id__startswith=prefix).order_by("member__member_id", "pk")
    return {
        "growth": rows(growth, "member__member_id", "kind", "amount", "capped", "effective_at", "source", "source_ref", "rule__code", "idempotency_key"),
        "points": rows(points, "member__member_id", "kind", "amount", "capped", "effective_at", "source", "source_ref", "rule__code", "idempotency_key"),
        "lots": rows(
            PointsLot.objects.filter(member__member_id__startswith=prefix).order_by("member__member_id", "pk"),
            "entry__idempotency_key", "earned_at", "expires_at", "amount", "remaining",
        ),
        "allocations": rows(
            PointsAllocation.objects.filter(entry__member__member_id__startswith=prefix).order_by("entry__member__member_id", "pk"),
            "entry__idempotency_key", "lot__entry__idempotency_key", "amount",
        ),
        "accounts": rows(PointsAccount.objects.filter(member__member_id__startswith=prefix).order_by("member__member_id"), "member__member_id", "balance"),
        "activity": rows(MemberFactory._meta.model.objects.filter(member_id__startswith=prefix).order_by("member_id"), "member_id", "last_active_at"),
        "orders": rows(
            Order.objects.filter(order_id__startswith=prefix).order_by("order_id"),
            "order_id", "status", "refunded_amount", "revision", "member_level", "member_stage", "member_conditions",
        ),
        "credits": rows(
            OrderCredit.objects.filter(order__order_id__startswith=prefix)
            .exclude(Q(rule__code__startswith="campaign-") & ~Q(rule__code__contains=prefix))  # the other copy's campaigns
            .order_by("order__order_id", "rule__code"),
            "order__order_id", "rule__code", "entitlement", "credited",
        ),
        "campaigns": rows(Campaign.objects.filter(code__startswith=prefix).order_by("code"), "code", "credited", "refused"),
        "campaign members": rows(
            CampaignMember.objects.filter(campaign__code__startswith=prefix).order_by("campaign__code", "member__member_id"),
            "campaign__code", "member__member_id", "credited", "refused",
        ),
        "blocked": rows(
            BlockedCredit.objects.filter(member__member_id__startswith=prefix).order_by("source_ref", "currency", "pk"),
            "member__member_id", "currency", "amount", "source", "source_ref", "rule__code", "effective_at", "list_entry__reason",
        ),
    }


def orders_csv(path, facts):
    """``facts`` as an orders file in the contract's columns."""
    header = "order_id,member_id,paid_at,status,goods_amount,discount_amount,shipping_amount,refunded_amount,category,shop_id"
    rows = "".join(
        f"{f.order_id},{f.member_id},{f.paid_at.isoformat()},{f.status},{f.goods_amount},{f.discount_amount},0,{f.refunded_amount},,\n"
        for f in facts
    )
    path.write_text(f"{header}\n{rows}", encoding="utf-8")
    return path


def members_make(prefix):
    """Three members per copy; M2 is blacklisted for earning from 2025-12-02 to 2026-01-02, so two
    of its orders (O5, O8) are blocked and two (O2, O11) are not."""
    for n in range(3):
        member = MemberFactory(member_id=f"{prefix}M{n}")
    list_entry_add(
        member=member, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.EARNING, reason="order farming", actor=None,
        starts_at=local(2025, 12, 2), ends_at=local(2026, 1, 2),
    )


def rules_that_ask_of_the_member(program):
    """Rules with a minimum amount, a rate and a multiplier per level, a comeback offer by lifecycle
    stage, a paid members' bonus in one shop and a bonus for the members on a list (M0), and for each copy two campaigns (one exclusive
    pair) with a budget and a limit per member; the part paid with points does not earn. The
    members: M0 at V1 and dormant since June, M1 at V2 and a paid member from 15 December to the
    end of January, M2 never placed and never active."""
    rules = [
        ("level-points", "points", {"min_amount": 50, "level_rates": {"V1": 2}, "level_multipliers": {"V2": 3}}),
        ("comeback", "growth", {"stages": ["dormant", "lost"], "rate": 2, "per_order_cap": 3000}),
        ("plus-shop", "points", {"when": "subscribed", "shops": ["S1"], "rate": 0.5}),
        ("guests", "points", {"when": "segment:guests", "rate": 1.5}),
    ]
    guests = Segment.objects.create(program=program, code="guests", name="guests")
    upload = SegmentUpload.objects.create(segment=guests, mode="add", file_name="guests.csv", reason="guests", at=local(2025, 11, 1))
    for prefix in (ONE, BATCH):
        SegmentMember.objects.create(segment=guests, member=Member.objects.get(member_id=f"{prefix}M0"), upload=upload)
    for code, currency, params in rules:
        EarningRule.objects.create(program=program, code=code, name=code, kind="order_amount", currency=currency, params=params)
    program.offset_earns = False
    program.save()
    for prefix in (ONE, BATCH):
        for code, params, fields in (
            ("double", {"rate": 1, "categories": [prefix]}, {"budget": 9000, "member_limit": 4000, "exclusive": True, "priority": 200}),
            ("level", {"rate": 3, "categories": [prefix], "level_multipliers": {"V2": 2}}, {"budget": 12000, "exclusive": True}),
            ("growth", {"rate": 0.5, "categories": [prefix], "min_amount": 100}, {"currency": "growth", "member_limit": 2500}),
        ):
            campaign = campaign_save(campaign=Campaign(
                program=program, code=f"{prefix}{code}", name=code, params=params, starts_at=local(2025, 11, 1), ends_at=local(2027, 12, 1), **fields,
            ), actor=None)
            campaign_submit(campaign=campaign, actor=None)
            campaign_approve(campaign=campaign, actor=None)
    plan = Plan.objects.create(program=program, code="plus", name="PLUS", term_months=1, price=Decimal("19"))
    levels = {level.code: level for level in program.levels.all()}
    for prefix in (ONE, BATCH):
        Member.objects.filter(member_id=f"{prefix}M0").update(level=levels["V1"], joined_at=local(2025, 1, 1), last_active_at=local(2025, 6, 1))
        m1 = Member.objects.get(member_id=f"{prefix}M1")
        Member.objects.filter(pk=m1.pk).update(level=levels["V2"], joined_at=local(2025, 1, 1), last_active_at=local(2025, 11, 20))
        Subscription.objects.create(member=m1, plan=plan, starts_on=date(2025, 12, 15), ends_on=date(2026, 1, 31), status="active")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=imports(), asking=st.booleans())
def test_batches_book_exactly_what_one_by_one_booking_does(program, steps, asking):
    with transaction.atomic():
        for prefix in (ONE, BATCH):
            members_make(prefix)
        if asking:
            rules_that_ask_of_the_member(program)
        one_by_one = run(ONE, steps, batched=False)
        batched = run(BATCH, steps, batched=True)
        assert batched == one_by_one
        assert snapshot(BATCH) == snapshot(ONE)
        assert points_reconcile() == []
        # Re-importing the last file changes nothing.
        last = [step for step in steps if step[0] == "import"]
        if last:
            before = snapshot(BATCH)
            facts = sorted((facts_of(BATCH, s) for s in last[-1][1]), key=lambda f: (f.paid_at, f.order_id))
            assert {o.outcome for o in orders_book_batch(facts=facts, program=program).outcomes} == {"unchanged"}
            assert snapshot(BATCH) == before
        transaction.set_rollback(True)


def test_batch_rejects_what_order_book_refuses_and_books_the_rest(program):
    member = MemberFactory(member_id="R1")
    MemberFactory(member_id="R2")
    order_book(facts=order("RO1", member, local(2026, 3, 1, 9), goods="100"))
    outcomes = orders_book_batch(
        facts=[
            order("RO1", "R2", local(2026, 3, 1, 9), goods="100"),  # another member's order
            order("RO2", "NOBODY", local(2026, 3, 3, 9), goods="100"),  # unknown member
            order("RO3", member, local(2026, 3, 4, 9), goods="-1"),  # negative amount
            order("RO4", member, local(2026, 3, 5, 9), goods="250.75"),
        ],
        program=program,
    ).outcomes
    outcomes += orders_book_batch(facts=[order("RO1", member, local(2026, 3, 2, 9), goods="100")], program=program).outcomes
    assert [(o.field, o.message) for o in outcomes if isinstance(o, Rejection)] == [
        ("member_id", "order RO1 belongs to member R1, not R2"),
        ("member_id", "unknown member 'NOBODY'"),
        ("goods_amount", "goods_amount must not be negative (got -1)"),
        ("paid_at", "order RO1 was booked as paid at 2026-03-01T01:00:00+00:00; paid_at cannot change"),
    ]
    assert outcomes[3].outcome == "created" and outcomes[3].growth == 250 and outcomes[3].points == 250
    assert GrowthEntry.objects.filter(member=member).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_failing_batch_writes_nothing(program):
    member = MemberFactory(member_id="F1")
    GrowthEntry.objects.create(
        member=member, kind="credit", amount=1, effective_at=local(2026, 1, 1), source="order", source_ref="FO2",
        idempotency_key=f"order:FO2:{program.rules.get(currency='growth').pk}:1",
    )
    with pytest.raises(Exception):
        orders_book_batch(
            facts=[order("FO1", member, local(2026, 3, 1, 9), goods="100"), order("FO2", member, local(2026, 3, 2, 9), goods="100")],
            program=program,
        )
    assert not Order.objects.exists()
    assert PointsEntry.objects.count() == 0 and GrowthEntry.objects.count() == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(files=st.lists(st.lists(order_state(), min_size=1, max_size=12), min_size=1, max_size=3), batch=st.integers(1, 5))
def test_importing_files_books_what_booking_their_orders_one_by_one_does(program, tmp_path_factory, files, batch):
    """Random files (unsorted, re-imports with other statuses and refunds, capped days) through
    ``import_orders`` against ``order_book`` on each file's orders in paid_at, order_id order."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    directory = tmp_path_factory.mktemp("files")
    with transaction.atomic():
        for prefix in (ONE, BATCH):
            members_make(prefix)
        for number, states in enumerate(files):
            states = list({s[0]: s for s in states}.values())  # each order once per file
            facts = [facts_of(BATCH, s) for s in states]
            path = orders_csv(directory / f"orders{number}.csv", facts)
            # Rejected rows (if any) show in the ledgers: the one-by-one path refuses them too.
            with contextlib.suppress(CommandError):
                call_command("import_orders", str(path), "--batch-size", str(batch), stdout=io.StringIO(), stderr=io.StringIO())
            for fact in sorted((facts_of(ONE, s) for s in states), key=lambda f: (f.paid_at, f.order_id)):
                order_book(facts=fact)
        assert snapshot(BATCH) == snapshot(ONE)
        transaction.set_rollback(True)
