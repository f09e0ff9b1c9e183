"""The core's ports: the features plug into the single and the batch booking alike, the core books
without any of them, and the console's pages pass the acting user and sync every schedule."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from config.celery_app import app as celery_app
from membership import hooks
from membership.models import GrowthEntry, SettlementRun
from membership.services import growth_adjust, order_book, orders_book_batch
from membership.tests.factories import MemberFactory, local, order
from membership.tests.test_admin_pages import program_form_data
from riskcontrol.models import BlockedCredit, ListEntry
from riskcontrol.services import list_entry_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(monkeypatch):
    """What an ``orders booked`` receiver is told, registered for the test only."""
    calls = []
    monkeypatch.setitem(hooks.ORDERS_BOOKED, "test", lambda *, orders, program: calls.append(([o.order_id for o in orders], [o.pk for o in orders], program.code)))
    return calls


def test_the_single_and_the_batch_path_tell_the_receivers_which_orders_they_booked(program, booked):
    member = MemberFactory()
    order_book(facts=order("S1", member, local(2026, 3, 1)))
    orders_book_batch(facts=[order("B1", member, local(2026, 3, 2)), order("B2", member, local(2026, 3, 3))], program=program)
    assert [(ids, program) for ids, _, program in booked] == [(["S1"], "default"), (["B1", "B2"], "default")]
    assert all(pk is not None for _, pks, _ in booked for pk in pks)
    order_book(facts=order("S1", member, local(2026, 3, 1)))  # unchanged: nothing booked, nothing told
    assert len(booked) == 2


def test_receivers_of_a_committed_booking_run_after_the_commit_and_a_failing_one_undoes_nothing(program, monkeypatch, django_capture_on_commit_callbacks):
    member = MemberFactory()
    told = []

    def failing(*, member, at):
        raise RuntimeError("the receiver is down")

    monkeypatch.setitem(hooks.BOOKING_COMMITTED, "failing", failing)
    monkeypatch.setitem(hooks.BOOKING_COMMITTED, "test", lambda *, member, at: told.append((member.member_id, at)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_book(facts=order("C1", member, local(2026, 3, 1), goods="100"))
        assert told == []
    for callback in callbacks:
        callback()
    assert told == [(member.member_id, local(2026, 3, 1))]
    assert GrowthEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] == 100


def test_without_an_earning_guard_every_member_earns(program, monkeypatch, admin_user):
    member = MemberFactory()
    list_entry_add(member=member, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.EARNING, reason="abuse", actor=admin_user, starts_at=local(2026, 1, 1))
    assert order_book(facts=order("G1", member, local(2026, 3, 1), goods="100")).blocked == 200
    monkeypatch.setattr(hooks, "_GUARD", [])
    assert order_book(facts=order("G2", member, local(2026, 3, 2), goods="100")).growth == 100
    assert BlockedCredit.objects.filter(member=member, amount__gt=0).count() == 2  # growth and points of G1 only


def test_there_is_one_earning_guard():
    with pytest.raises(ImproperlyConfigured):
        hooks.earning_guard(object())


def test_a_settlement_started_in_the_admin_is_started_by_its_user(admin_client, admin_user, program):
    growth_adjust(member=MemberFactory(), amount=1200, reason="migration", actor=admin_user, effective_at=local(2026, 9, 10))
    celery_app.conf.task_always_eager = True
    try:
        response = admin_client.post(reverse("admin:membership_settlementrun_settle"), {"month": "2026-09", "run": "1"})
    finally:
        celery_app.conf.task_always_eager = False
    assert response.status_code == 302
    run = SettlementRun.objects.get()
    assert (run.status, run.started_by, run.trigger) == ("done", admin_user, "admin:admin")


def test_saving_the_active_program_in_the_admin_keeps_every_schedule(admin_client, program):
    PeriodicTask.objects.all().delete()
    data, _ = program_form_data(admin_client, program)
    response = admin_client.post(reverse("admin:membership_program_change", args=[program.pk]), data)
    assert response.status_code == 302
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {"Monthly settlement", "Daily rules", "Dashboard ledger totals"} <= names and len(names) >= 5
