"""Ledger rows cannot be updated or deleted: not through the ORM, not through the admin, not through SQL on PostgreSQL."""

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from common.ledger import LedgerImmutableError
from membership.models import GrowthEntry
from membership.services import order_book
from membership.tests.factories import MemberFactory, local, order
from points.models import PointsAllocation, PointsEntry
from points.services import points_debit

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(program):
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1, 10), goods="500"))
    return GrowthEntry.objects.get(), PointsEntry.objects.get()


@pytest.fixture
def spent(entries):
    points_debit(member=entries[0].member, amount=100, kind="spend", effective_at=local(2026, 3, 2), source="redemption", idempotency_key="s1")
    return entries


@pytest.mark.parametrize("index", [0, 1])
def test_orm_refuses_update_and_delete(entries, index):
    entry = entries[index]
    model = type(entry)
    entry.amount = 1
    with pytest.raises(LedgerImmutableError):
        entry.save()
    with pytest.raises(LedgerImmutableError):
        entry.delete()
    with pytest.raises(LedgerImmutableError):
        model.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(LedgerImmutableError):
        model.objects.filter(pk=entry.pk).delete()
    with pytest.raises(LedgerImmutableError):
        model.objects.bulk_update([entry], ["amount"])
    assert model.objects.get(pk=entry.pk).amount == 500


@pytest.mark.parametrize("name", ["growthentry", "pointsentry"])
def test_admin_shows_ledgers_read_only_even_to_superusers(entries, client, name):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    app = "membership" if name == "growthentry" else "points"
    pk = entries[0 if name == "growthentry" else 1].pk
    assert client.get(reverse(f"admin:{app}_{name}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:{app}_{name}_add")).status_code == 403
    assert client.post(reverse(f"admin:{app}_{name}_delete", args=[pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse(f"admin:{app}_{name}_change", args=[pk])).status_code == 200  # a read-only view
    assert client.post(reverse(f"admin:{app}_{name}_change", args=[pk]), {"amount": 1}).status_code == 403


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQL-level protection is a PostgreSQL trigger")
@pytest.mark.parametrize("table", ["membership_growthentry", "points_pointsentry", "points_pointsallocation"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET amount = 0", "DELETE FROM {t}"])
def test_postgresql_refuses_update_and_delete_through_sql(spent, table, statement):
    with pytest.raises(DatabaseError, match="insert-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement.format(t=table))
    assert GrowthEntry.objects.count() == 1 and PointsEntry.objects.count() == 2
    assert PointsAllocation.objects.get().amount == -100
