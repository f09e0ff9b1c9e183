"""What the database itself refuses, whatever code writes the row: an entry whose sign disagrees
with its kind (both databases), and a lot whose remaining points do not equal what it was earned
with less what its allocations took (PostgreSQL, checked at commit)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from membership.services import order_book
from membership.tests.factories import MemberFactory, order
from points.models import PointsLot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("table", ["membership_growthentry", "points_pointsentry"])
@pytest.mark.parametrize("kind, amount", [("credit", -5), ("spend", 5), ("expiry", 1), ("refund", -1)])
def test_an_entry_whose_sign_disagrees_with_its_kind_is_refused(program, table, kind, amount):
    member = MemberFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (member_id, kind, amount, capped, effective_at, booked_at, source, source_ref, idempotency_key, reason) "
            "VALUES (%s, %s, %s, 0, %s, %s, 'adjustment', '', %s, '')",
            [member.pk, kind, amount, timezone.now(), timezone.now(), f"bad:{table}:{kind}"],
        )


@pytest.mark.parametrize("kind, amount", [("adjustment", -5), ("adjustment", 5), ("credit", 0)])
def test_entries_whose_sign_agrees_are_taken(program, kind, amount):
    member = MemberFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO membership_growthentry (member_id, kind, amount, capped, effective_at, booked_at, source, source_ref, idempotency_key, reason) "
            "VALUES (%s, %s, %s, 0, %s, %s, 'adjustment', '', %s, '')",
            [member.pk, kind, amount, timezone.now(), timezone.now(), f"good:{kind}:{amount}"],
        )


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a constraint trigger of PostgreSQL")
def test_a_lot_that_does_not_match_its_allocations_is_refused_at_commit(program):
    member = MemberFactory()
    order_book(facts=order("IL1", member, timezone.now() - timedelta(days=1), goods="100"))
    lot = PointsLot.objects.get()
    with pytest.raises(IntegrityError, match=f"points lot {lot.pk} keeps 99 of 100, but its allocations leave 100"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE points_pointslot SET remaining = remaining - 1 WHERE id = %s", [lot.pk])
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    lot.refresh_from_db()
    assert lot.remaining == 100
