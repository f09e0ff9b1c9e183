"""Chunks of one settlement run settle at the same time on PostgreSQL: a chunk locks its own rows
(its chunk, its members, their history and grants), never one that every chunk needs, so a
second worker is not kept waiting until the first commits."""

import threading
from datetime import date

import pytest
from django.db import connection, transaction

from benefits.models import Benefit, BenefitGrant
from membership.models import LevelChange, SettlementChunk
from membership.services import growth_adjust, settlement_chunk_execute, settlement_run_finish, settlement_run_start
from membership.tests.factories import MemberFactory, local

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def test_a_chunk_settles_while_another_chunk_of_the_run_is_still_open(program, django_user_model, monkeypatch):
    import benefits.services

    staff = django_user_model.objects.create_user("ops", password="pw")
    members = [MemberFactory() for _ in range(4)]
    for member in members:
        growth_adjust(member=member, amount=20000, reason="test", actor=staff, effective_at=local(2025, 11, 15))
    run = settlement_run_start(month=date(2025, 11, 1), chunk_size=2).run
    first, second = SettlementChunk.objects.filter(run=run).order_by("first_member")

    # The first chunk stops late (its levels, points expiry and grants written, its transaction
    # open, the benefits' issued counts not yet added) until released.
    midway, release = threading.Event(), threading.Event()
    count = benefits.services.benefits_issued_count

    def wait_then_count(tally):
        if threading.current_thread().name == "first":
            midway.set()
            assert release.wait(30)
        count(tally)

    monkeypatch.setattr(benefits.services, "benefits_issued_count", wait_then_count)
    failures = []

    def settle_first():
        from django.db import connection as own

        try:
            settlement_chunk_execute(chunk_id=first.pk)
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            midway.set()
            own.close()

    worker = threading.Thread(target=settle_first, name="first")
    worker.start()
    try:
        assert midway.wait(30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '5s'")
            assert settlement_chunk_execute(chunk_id=second.pk)
        assert SettlementChunk.objects.get(pk=first.pk).status == SettlementChunk.Status.PENDING
    finally:
        release.set()
        worker.join()
    assert failures == []

    run = settlement_run_finish(run_id=run.pk)
    assert (run.status, run.members_up) == ("done", 4)
    assert LevelChange.objects.filter(run=run).count() == 4
    coupon = Benefit.objects.get(program=program, code="monthly-coupon")
    grants = BenefitGrant.objects.filter(benefit=coupon, period="2025-11")
    assert grants.count() == 4
    coupon.refresh_from_db()
    assert coupon.issued == sum(grants.values_list("quantity", flat=True))
