"""Blocked bookings: a blacklisted member earns nothing in scope on any earning path; what was
withheld is kept as a blocked credit, released (credited) once after review."""

import threading
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from membership.models import EarningRule, GrowthEntry, OrderCredit
from membership.services import event_record, order_book
from membership.tests.factories import MemberFactory, local, order
from points.models import PointsEntry
from points.selectors import points_reconcile
from riskcontrol.models import BlockedCredit, ListEntry
from riskcontrol.services import blocked_credit_release, list_entry_add

pytestmark = pytest.mark.django_db


def _user(django_user_model, name, group):
    user = django_user_model.objects.create_user(name, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def approver(django_user_model):
    return _user(django_user_model, "approver", "Approver")


@pytest.fixture
def operator(django_user_model):
    return _user(django_user_model, "operator", "Operator")


def blacklist(member, scope=ListEntry.Scope.EARNING, starts_at=None, ends_at=None):
    return list_entry_add(
        member=member, kind=ListEntry.Kind.BLACK, scope=scope, reason="order farming", actor=None,
        starts_at=starts_at or local(2026, 1, 1), ends_at=ends_at,
    )


def total(ledger, member):
    return ledger.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0


def test_a_blacklisted_member_earns_nothing_from_an_order_and_the_block_is_recorded(program):
    member = MemberFactory()
    entry = blacklist(member)
    result = order_book(facts=order("O1", member, local(2026, 3, 1, 10), goods="800"))
    assert (result.growth, result.points, result.blocked) == (0, 0, 1600)
    assert total(GrowthEntry, member) == 0 and total(PointsEntry, member) == 0
    rows = {b.currency: b for b in BlockedCredit.objects.all()}
    assert {c: (b.amount, b.source, b.source_ref, b.list_entry_id, b.effective_at) for c, b in rows.items()} == {
        "growth": (800, "order", "O1", entry.pk, local(2026, 3, 1, 10)),
        "points": (800, "order", "O1", entry.pk, local(2026, 3, 1, 10)),
    }
    assert set(OrderCredit.objects.values_list("entitlement", "credited")) == {(800, 0)}


def test_rebooking_the_same_order_keeps_one_blocked_credit_and_a_refund_takes_nothing_back(program):
    member = MemberFactory()
    blacklist(member)
    order_book(facts=order("O1", member, local(2026, 3, 1, 10), goods="800"))
    assert order_book(facts=order("O1", member, local(2026, 3, 1, 10), goods="800")).outcome == "unchanged"
    assert BlockedCredit.objects.count() == 2
    order_book(facts=order("O1", member, local(2026, 3, 1, 10), goods="800", refunded="300"))
    assert GrowthEntry.objects.count() == 0 and PointsEntry.objects.count() == 0
    assert set(BlockedCredit.objects.values_list("amount", flat=True)) == {500}
    order_book(facts=order("O1", member, local(2026, 3, 1, 10), status="refunded", goods="800", refunded="800"))
    assert set(BlockedCredit.objects.values_list("amount", flat=True)) == {0}
    assert total(PointsEntry, member) == 0


def test_the_block_counts_at_the_orders_time_and_for_scope_earning_or_all_only(program):
    early, late, benefits_only, everything = MemberFactory(), MemberFactory(), MemberFactory(), MemberFactory()
    blacklist(early, starts_at=local(2026, 3, 1), ends_at=local(2026, 3, 2))
    blacklist(late, starts_at=local(2026, 3, 5))
    blacklist(benefits_only, scope=ListEntry.Scope.BENEFITS)
    blacklist(everything, scope=ListEntry.Scope.ALL)
    for n, member in enumerate((early, late, benefits_only, everything)):
        order_book(facts=order(f"A{n}", member, local(2026, 3, 1, 12), goods="100"))
        order_book(facts=order(f"B{n}", member, local(2026, 3, 3, 12), goods="100"))
    assert [total(GrowthEntry, m) for m in (early, late, benefits_only, everything)] == [100, 200, 200, 0]
    assert sorted(BlockedCredit.objects.filter(currency="growth").values_list("source_ref", flat=True)) == ["A0", "A3", "B3"]


def test_a_blacklisted_member_earns_nothing_from_events(program):
    EarningRule.objects.create(
        program=program, code="check-in", name="check-in", kind="event_fixed", currency="growth", params={"event_type": "check_in", "amount": 5}
    )
    member = MemberFactory()
    blacklist(member)
    result = event_record(member_id=member.member_id, event_type="check_in", occurred_at=local(2026, 3, 1), event_id="e1")
    assert (result.growth, result.blocked) == (0, 5)
    assert event_record(member_id=member.member_id, event_type="check_in", occurred_at=local(2026, 3, 1), event_id="e1").outcome == "unchanged"
    assert list(BlockedCredit.objects.values_list("source", "source_ref", "amount")) == [("event", "e1", 5)]
    assert total(GrowthEntry, member) == 0


def test_import_orders_blocks_a_blacklisted_member_and_reimporting_adds_no_second_block(program, tmp_path):
    blocked, free = MemberFactory(member_id="BL"), MemberFactory(member_id="OK")
    blacklist(blocked)
    path = tmp_path / "o.csv"
    path.write_text(
        "order_id,member_id,paid_at,status,goods_amount\n"
        "O1,BL,2026-03-01T10:00:00,completed,300\n"
        "O2,OK,2026-03-01T10:00:00,completed,200\n",
        encoding="utf-8",
    )
    for _ in range(2):
        out = StringIO()
        call_command("import_orders", str(path), stdout=out, stderr=StringIO())
    assert out.getvalue().strip().endswith("read 2, created 0, changed 0, unchanged 2, rejected 0, capped 0")
    assert total(GrowthEntry, blocked) == 0 and total(GrowthEntry, free) == 200
    assert list(BlockedCredit.objects.order_by("currency").values_list("currency", "amount", "source_ref")) == [
        ("growth", 300, "O1"), ("points", 300, "O1"),
    ]
    path.write_text("order_id,member_id,paid_at,status,goods_amount,refunded_amount\nO1,BL,2026-03-01T10:00:00,completed,300,100\n", encoding="utf-8")
    call_command("import_orders", str(path), stdout=StringIO(), stderr=StringIO())
    assert set(BlockedCredit.objects.values_list("amount", flat=True)) == {200}
    assert total(GrowthEntry, blocked) == 0 and total(PointsEntry, blocked) == 0


def test_release_books_the_credit_once_and_a_later_refund_takes_it_back(program, approver):
    member = MemberFactory()
    blacklist(member)
    order_book(facts=order("O1", member, local(2026, 3, 1, 10), goods="800"))
    for blocked in BlockedCredit.objects.all():
        for _ in range(2):
            released = blocked_credit_release(blocked=blocked, actor=approver, reason="cleared after review")
    assert total(GrowthEntry, member) == 800 and total(PointsEntry, member) == 800
    assert set(GrowthEntry.objects.values_list("idempotency_key", flat=True)) == {f"blocked:{BlockedCredit.objects.get(currency='growth').pk}"}
    assert set(BlockedCredit.objects.values_list("released_by", flat=True)) == {approver.pk}
    assert GrowthEntry.objects.get().effective_at == local(2026, 3, 1, 10)
    assert set(OrderCredit.objects.values_list("credited", flat=True)) == {800}
    order_book(facts=order("O1", member, local(2026, 3, 1, 10), goods="800", refunded="200"))
    assert total(GrowthEntry, member) == 600 and total(PointsEntry, member) == 600
    assert points_reconcile() == []
    # Still blacklisted: the refund opens no new blocked credit, and the released rows stay released.
    assert BlockedCredit.objects.filter(released_at__isnull=True).count() == 0


def test_only_an_approver_releases_and_a_reason_is_required(program, approver, operator):
    member = MemberFactory()
    blacklist(member)
    order_book(facts=order("O1", member, local(2026, 3, 1, 10), goods="800"))
    blocked = BlockedCredit.objects.first()
    with pytest.raises(PermissionDenied):
        blocked_credit_release(blocked=blocked, actor=operator, reason="x")
    with pytest.raises(PermissionDenied):
        blocked_credit_release(blocked=blocked, actor=None, reason="x")
    with pytest.raises(ValidationError):
        blocked_credit_release(blocked=blocked, actor=approver, reason=" ")
    assert GrowthEntry.objects.count() == PointsEntry.objects.count() == 0


def test_a_fully_refunded_blocked_order_has_nothing_to_release(program, approver):
    member = MemberFactory()
    blacklist(member)
    order_book(facts=order("O1", member, local(2026, 3, 1, 10), goods="800"))
    order_book(facts=order("O1", member, local(2026, 3, 1, 10), status="refunded", goods="800", refunded="800"))
    with pytest.raises(ValidationError, match="nothing left"):
        blocked_credit_release(blocked=BlockedCredit.objects.first(), actor=approver, reason="ok")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_releases_book_once(program, approver):
    member = MemberFactory()
    blacklist(member)
    order_book(facts=order("O1", member, local(2026, 3, 1, 10), goods="800"))
    blocked = BlockedCredit.objects.get(currency="growth")
    barrier, errors = threading.Barrier(2), []

    def release():
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            blocked_credit_release(blocked=blocked, actor=approver, reason="cleared")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=release) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert GrowthEntry.objects.filter(member=member).count() == 1
    assert total(GrowthEntry, member) == 800


def test_a_blacklisted_member_earns_nothing_from_daily_rules_and_a_rerun_blocks_once(program, approver):
    from datetime import date

    from membership.services import daily as accrual
    from membership.services import daily_rules_run
    from membership.rules import strategy_for

    rule = EarningRule(program=program, code="every-day", name="every day", kind="daily", currency="growth", params={"amount": 5})
    rule.full_clean()
    rule.save()
    blocked, free = MemberFactory(), MemberFactory()
    blacklist(blocked)
    daily_rules_run(day=date(2026, 5, 1))
    assert (total(GrowthEntry, blocked), total(GrowthEntry, free)) == (0, 5)
    # A run cut off midway books its chunk again: the blocked member is recorded once.
    accrual._book_rule_chunk(
        program=program, rule=rule, strategy=strategy_for(rule), day=date(2026, 5, 1), at=local(2026, 5, 1), member_pks=[blocked.pk, free.pk]
    )
    row = BlockedCredit.objects.get()
    assert (row.member_id, row.source, row.source_ref, row.amount) == (blocked.pk, "daily", "every-day:2026-05-01", 5)
    blocked_credit_release(blocked=row, actor=approver, reason="reviewed")
    assert total(GrowthEntry, blocked) == 5


def test_what_a_per_order_cap_withheld_is_recorded_on_the_order_and_shown_on_the_member_page(program, admin_client):
    from django.urls import reverse

    from membership.models import OrderCredit

    member = MemberFactory()
    order_book(facts=order("CAP1", member, local(2026, 3, 1), goods="15000"))  # growth at most 10,000 an order
    growth = OrderCredit.objects.get(order__order_id="CAP1", rule__currency="growth")
    points = OrderCredit.objects.get(order__order_id="CAP1", rule__currency="points")
    assert (growth.entitlement, growth.order_capped, points.order_capped) == (10000, 5000, 0)
    order_book(facts=order("CAP1", member, local(2026, 3, 1), status="refunded", goods="15000", refunded="15000"))
    assert OrderCredit.objects.get(pk=growth.pk).order_capped == 0  # a refunded order earns nothing, so nothing is over the cap
    order_book(facts=order("CAP2", member, local(2026, 3, 2), goods="12000"))
    page = admin_client.get(reverse("admin:membership_member_change", args=[member.pk])).content.decode()
    assert "growth, over the per-order cap" in page and "2,000" in page
