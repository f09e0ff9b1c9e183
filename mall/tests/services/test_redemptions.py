"""Redemption in the points mall: per-level prices, limits, stock, balance, blacklist, cancellation."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError

from mall.models import MallItem, Redemption
from mall.services import MallRefused, MemberBlocked, redemption_cancel, redemption_create
from membership.tests.factories import MemberFactory, local
from points.models import PointsAllocation, PointsEntry, PointsLot
from points.selectors import points_balance_get, points_reconcile
from points.services import points_debit, points_expire_due
from riskcontrol.models import ListEntry
from riskcontrol.services import list_entry_add

from ..factories import at_level, earn, item

pytestmark = pytest.mark.django_db

NOW = local(2026, 6, 15, 12)


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("mallop", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    return django_user_model.objects.get(pk=user.pk)


def test_an_item_costs_what_the_members_level_pays_and_is_refused_below(program):
    youku = item(program)
    gold, platinum, diamond = (at_level(MemberFactory(), code) for code in ("V2", "V3", "V4"))
    for member in (gold, platinum, diamond):
        earn(program, member, 5000, local(2026, 1, 1), f"earn-{member.pk}")
    with pytest.raises(MallRefused, match="not available to members at level V2"):
        redemption_create(member=gold, item=youku, key="gold", at=NOW)
    assert redemption_create(member=platinum, item=youku, key="plat", at=NOW).points == 2250
    assert redemption_create(member=diamond, item=youku, key="dia", at=NOW).points == 1500
    assert [points_balance_get(member=m) for m in (gold, platinum, diamond)] == [5000, 2750, 3500]
    assert Redemption.objects.filter(member=gold).count() == 0
    assert points_reconcile() == []


def test_a_redemption_spends_the_oldest_lots_first_and_the_same_key_twice_spends_once(program):
    member = at_level(MemberFactory(), "V4")
    old = earn(program, member, 1000, local(2025, 3, 1), "old")
    new = earn(program, member, 1000, local(2026, 3, 1), "new")
    first = redemption_create(member=member, item=item(program), quantity=1, key="k1", at=NOW)
    again = redemption_create(member=member, item=item(program), quantity=1, key="k1", at=NOW)
    assert again.pk == first.pk and Redemption.objects.count() == 1
    assert points_balance_get(member=member) == 500
    assert PointsLot.objects.get(entry=old).remaining == 0 and PointsLot.objects.get(entry=new).remaining == 500
    assert first.points_entry.kind == PointsEntry.Kind.SPEND and first.points_entry.source == "redemption"


def test_the_per_member_limit_counts_the_period_and_not_cancelled_redemptions(program, operator):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 10000, local(2026, 1, 1), "earn")
    monthly = item(program, limit_per_member=1, limit_period="month")
    done = redemption_create(member=member, item=monthly, key="m1", at=NOW)
    with pytest.raises(MallRefused, match="has redeemed 1 of the 1"):
        redemption_create(member=member, item=monthly, key="m2", at=local(2026, 6, 30, 23))
    redemption_create(member=member, item=monthly, key="m3", at=local(2026, 7, 1, 0, 1))
    redemption_cancel(redemption=done, actor=operator, reason="wrong account")
    redemption_create(member=member, item=monthly, key="m4", at=local(2026, 6, 20))
    ever = item(program, code="once", limit_per_member=2, limit_period="ever")
    redemption_create(member=member, item=ever, quantity=2, key="e1", at=local(2026, 1, 5))
    with pytest.raises(MallRefused, match="has redeemed 2 of the 2"):
        redemption_create(member=member, item=ever, key="e2", at=local(2026, 12, 5))


def test_stock_is_taken_and_never_oversold_and_the_balance_never_overdrawn(program):
    rich, poor = at_level(MemberFactory(), "V4"), at_level(MemberFactory(), "V4")
    earn(program, rich, 10000, local(2026, 1, 1), "rich")
    earn(program, poor, 1499, local(2026, 1, 1), "poor")
    limited = item(program, stock=2)
    with pytest.raises(MallRefused, match="out of stock"):
        redemption_create(member=rich, item=limited, quantity=3, key="r0", at=NOW)
    redemption_create(member=rich, item=limited, quantity=2, key="r1", at=NOW)
    limited.refresh_from_db()
    assert limited.stock == 0
    with pytest.raises(MallRefused, match="out of stock"):
        redemption_create(member=rich, item=limited, key="r2", at=NOW)
    with pytest.raises(MallRefused, match="has 1499 points available"):
        redemption_create(member=poor, item=item(program, code="unlimited"), key="p1", at=NOW)
    assert points_balance_get(member=poor) == 1499 and not Redemption.objects.filter(member=poor).exists()


def test_an_item_off_offer_or_a_frozen_member_is_refused(program):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 10000, local(2026, 1, 1), "earn")
    with pytest.raises(MallRefused, match="not on offer"):
        redemption_create(member=member, item=item(program, code="off", is_active=False), key="a", at=NOW)
    with pytest.raises(MallRefused, match="on offer from 2026-07-01"):
        redemption_create(member=member, item=item(program, code="later", available_from=local(2026, 7, 1)), key="b", at=NOW)
    with pytest.raises(MallRefused, match="on offer until 2026-06-01"):
        redemption_create(member=member, item=item(program, code="gone", available_until=local(2026, 6, 1)), key="c", at=NOW)
    member.status = member.Status.FROZEN
    member.save()
    with pytest.raises(MallRefused, match="is frozen"):
        redemption_create(member=member, item=item(program), key="d", at=NOW)


@pytest.mark.parametrize("scope", [ListEntry.Scope.REDEMPTION, ListEntry.Scope.ALL])
def test_a_blacklisted_member_redeems_nothing_and_the_refusal_is_recorded(program, operator, scope):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 10000, local(2026, 1, 1), "earn")
    entry = list_entry_add(member=member, kind=ListEntry.Kind.BLACK, scope=scope, reason="resells coupons", actor=operator, starts_at=local(2026, 1, 1))
    limited = item(program, stock=5)
    with pytest.raises(MemberBlocked, match="blacklisted .*resells coupons.* nothing was spent") as refused:
        redemption_create(member=member, item=limited, key="x", at=NOW)
    record = refused.value.record
    assert (record.status, record.block_entry, record.points_entry) == (Redemption.Status.BLOCKED, entry, None)
    with pytest.raises(MemberBlocked):
        redemption_create(member=member, item=limited, key="x", at=NOW)
    assert Redemption.objects.filter(member=member).count() == 1  # the same refusal recorded once
    assert points_balance_get(member=member) == 10000 and MallItem.objects.get(pk=limited.pk).stock == 5


def test_an_earning_blacklist_does_not_stop_redemption(program, operator):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 10000, local(2026, 1, 1), "earn")
    list_entry_add(member=member, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.EARNING, reason="x", actor=operator, starts_at=local(2026, 1, 1))
    assert redemption_create(member=member, item=item(program), key="ok", at=NOW).status == Redemption.Status.DONE


def test_cancelling_returns_the_points_to_their_lots_and_the_units_to_stock_once(program, operator):
    member = at_level(MemberFactory(), "V4")
    old = earn(program, member, 1000, local(2025, 3, 1), "old")
    new = earn(program, member, 2000, local(2026, 3, 1), "new")
    limited = item(program, stock=3)
    redemption = redemption_create(member=member, item=limited, quantity=1, key="k", at=NOW)
    spend_rows = PointsEntry.objects.count()
    cancelled = redemption_cancel(redemption=redemption, actor=operator, reason="parcel lost")
    assert cancelled.status == Redemption.Status.CANCELLED and cancelled.cancelled_by == operator
    refund = cancelled.refund_entry
    assert (refund.kind, refund.amount, refund.corrects_id) == (PointsEntry.Kind.REFUND, 1500, redemption.points_entry_id)
    assert sorted(PointsAllocation.objects.filter(entry=refund).values_list("lot__entry_id", "amount")) == sorted([(old.pk, 1000), (new.pk, 500)])
    assert PointsLot.objects.get(entry=old).remaining == 1000 and PointsLot.objects.get(entry=new).remaining == 2000
    assert MallItem.objects.get(pk=limited.pk).stock == 3
    redemption_cancel(redemption=redemption, actor=operator, reason="again")
    assert PointsEntry.objects.count() == spend_rows + 1 and MallItem.objects.get(pk=limited.pk).stock == 3
    assert points_balance_get(member=member) == 3000 and points_reconcile() == []


def test_points_returned_to_a_lot_that_has_ended_expire_at_once(program, operator):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 1000, local(2025, 3, 1), "old")  # ends 2026-12-31 24:00
    earn(program, member, 2000, local(2026, 3, 1), "new")
    redemption = redemption_create(member=member, item=item(program), key="k", at=NOW)
    points_expire_due(until=local(2027, 1, 1))
    assert points_balance_get(member=member) == 1500
    redemption_cancel(redemption=redemption, actor=operator, reason="late", at=local(2027, 1, 10))
    # 1,000 came from the lot that ended: they come back and expire at once; 500 come back to spend.
    assert points_balance_get(member=member) == 2000
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.EXPIRY, amount=-1000, corrects__isnull=False).count() == 1
    assert points_reconcile() == []
    points_expire_due(until=local(2027, 1, 11))
    assert points_reconcile() == []


def test_a_refund_pays_a_negative_balance_first(program, operator):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 1500, local(2026, 3, 1), "earn")
    redemption = redemption_create(member=member, item=item(program), key="k", at=NOW)
    points_debit(member=member, amount=400, kind=PointsEntry.Kind.REVERSAL, effective_at=NOW, source="order",
                 idempotency_key="refund-order", allow_negative=True)
    assert points_balance_get(member=member) == -400
    redemption_cancel(redemption=redemption, actor=operator, reason="x", at=NOW)
    assert points_balance_get(member=member) == 1100 and points_reconcile() == []


def test_a_viewer_cannot_cancel_and_a_blocked_redemption_has_nothing_to_cancel(program, operator, django_user_model):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 5000, local(2026, 1, 1), "earn")
    redemption = redemption_create(member=member, item=item(program), key="k", at=NOW)
    viewer = django_user_model.objects.create_user("mallviewer", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    with pytest.raises(PermissionDenied):
        redemption_cancel(redemption=redemption, actor=django_user_model.objects.get(pk=viewer.pk), reason="x")
    with pytest.raises(ValidationError, match="say why"):
        redemption_cancel(redemption=redemption, actor=operator, reason=" ")
    list_entry_add(member=member, kind="black", scope="redemption", reason="x", actor=operator, starts_at=local(2026, 1, 1))
    with pytest.raises(MemberBlocked) as refused:
        redemption_create(member=member, item=item(program), key="k2", at=NOW)
    with pytest.raises(MallRefused, match="nothing to cancel"):
        redemption_cancel(redemption=refused.value.record, actor=operator, reason="x")
