"""Frozen points: counted in the balance, never spent or expired while frozen; released or cleared once."""

import pytest
from django.core.exceptions import ValidationError

from membership.models import Source
from membership.tests.factories import MemberFactory, local
from points.models import PointsEntry, PointsLot
from points.selectors import points_available_get, points_balance_get, points_frozen_get, points_reconcile
from points.services import InsufficientPoints, points_credit, points_debit, points_expire_due, points_lot_clear, points_lot_release

pytestmark = pytest.mark.django_db


def earn(program, member, amount, key, when=None, frozen=False, source=Source.ORDER):
    return points_credit(
        program=program, member=member, amount=amount, effective_at=when or local(2026, 3, 1), source=source,
        idempotency_key=key, frozen=frozen,
    ).lot


def spend(member, amount, key, when=None):
    return points_debit(member=member, amount=amount, kind=PointsEntry.Kind.SPEND, effective_at=when or local(2026, 3, 2),
                        source=Source.REDEMPTION, idempotency_key=key)


def test_frozen_points_count_in_the_balance_but_cannot_be_spent(program):
    m = MemberFactory()
    earn(program, m, 100, "a")
    earn(program, m, 300, "b", frozen=True, source=Source.CASHBACK)
    assert points_balance_get(member=m) == 400
    assert points_available_get(member=m, at=local(2026, 3, 2)) == 100 and points_frozen_get(member=m) == 300
    with pytest.raises(InsufficientPoints):
        spend(m, 101, "s1")
    spend(m, 100, "s2")
    assert PointsLot.objects.get(entry__idempotency_key="b").remaining == 300
    assert points_reconcile() == []


def test_a_released_lot_is_spent_like_any_other(program):
    m = MemberFactory()
    lot = earn(program, m, 300, "b", frozen=True)
    released = points_lot_release(lot=lot)
    assert points_lot_release(lot=lot) == released and not released.frozen and released.released_at
    spend(m, 250, "s")
    assert points_balance_get(member=m) == 50 and points_reconcile() == []


def test_a_cleared_lot_is_taken_back_by_one_cleared_entry(program):
    m = MemberFactory()
    earn(program, m, 40, "a")
    lot = earn(program, m, 300, "b", frozen=True, source=Source.CASHBACK)
    entry = points_lot_clear(lot=lot, effective_at=local(2026, 5, 1), reason="trial ended without a purchase")
    assert points_lot_clear(lot=lot, effective_at=local(2026, 5, 1), reason="again") == entry
    assert (entry.kind, entry.amount, entry.source, entry.corrects) == ("cleared", -300, "cashback", lot.entry)
    assert points_balance_get(member=m) == 40 and points_frozen_get(member=m) == 0
    with pytest.raises(ValidationError):
        points_lot_release(lot=lot)
    assert points_reconcile() == []


def test_only_frozen_lots_are_cleared(program):
    m = MemberFactory()
    lot = earn(program, m, 300, "b", frozen=True)
    points_lot_release(lot=lot)
    with pytest.raises(ValidationError, match="not frozen"):
        points_lot_clear(lot=lot, effective_at=local(2026, 5, 1), reason="x")


def test_frozen_lots_do_not_expire_until_released(program):
    m = MemberFactory()
    lot = earn(program, m, 300, "b", when=local(2025, 3, 1), frozen=True)
    assert points_expire_due(until=local(2027, 1, 1)) == (0, 0)
    points_lot_release(lot=lot)
    assert points_expire_due(until=local(2027, 1, 1)) == (1, 300)
    assert points_reconcile() == []


def test_reconcile_finds_a_spend_taken_from_a_frozen_lot(program):
    m = MemberFactory()
    lot = earn(program, m, 100, "a")
    spend(m, 60, "s")
    PointsLot.objects.filter(pk=lot.pk).update(frozen=True)  # as if the spend had taken a frozen lot
    assert any("while the lot was frozen" in problem for problem in points_reconcile())


def test_the_member_export_and_page_show_frozen_points_apart(program, admin_client):
    from django.urls import reverse

    from membership.selectors import member_export_rows

    m = MemberFactory()
    earn(program, m, 100, "a", when=local(2026, 11, 1))
    earn(program, m, 300, "b", frozen=True, when=local(2026, 11, 1))
    assert next(r for r in member_export_rows() if r["member_id"] == m.member_id)["points_balance"] == 100
    page = admin_client.get(reverse("admin:membership_member_change", args=[m.pk])).content.decode()
    assert "Frozen" in page and "300" in page
