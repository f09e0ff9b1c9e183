"""What the database itself refuses, whatever code writes the row: an entry whose sign disagrees
with its kind, on both databases."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from membership.tests.factories import MemberFactory

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
