"""Settlement in the admin: a preview by level before a run, the run on the workers, the history on the member page."""

import pytest
from django.urls import reverse

from config.celery_app import app as celery_app
from membership.models import SettlementRun
from membership.services import growth_adjust
from membership.tests.factories import MemberFactory, local

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_preview_then_run_a_settlement_from_the_admin(admin_client, admin_user, program, eager_celery):
    members = [MemberFactory() for _ in range(3)]
    for member, amount in zip(members, (1200, 6000, 10)):
        growth_adjust(member=member, amount=amount, reason="migration", actor=admin_user, effective_at=local(2026, 9, 10))
    url = reverse("admin:membership_settlementrun_settle")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"month": "2026-09", "preview": "1"})
    preview = response.context["preview"]
    assert (preview["up"], preview["down"], preview["levels_after"]) == (2, 0, {"V0": 1, "V1": 1, "V2": 1, "V3": 0, "V4": 0})
    assert not SettlementRun.objects.exists()

    response = admin_client.post(url, {"month": "2026-09", "run": "1"})
    assert response.status_code == 302
    run = SettlementRun.objects.get()
    assert (run.status, run.members_up, run.trigger) == ("done", 2, "admin:admin")

    page = admin_client.get(reverse("admin:membership_member_change", args=[members[1].pk])).content.decode()
    assert "level history" in page.lower() and "Upgrade" in page and "6000" in page

    response = admin_client.post(url, {"month": "2026-08", "preview": "1"})
    assert "before the latest settled month 2026-09" in response.content.decode()


def test_the_settlement_schedule_follows_the_program(program):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Monthly settlement")
    assert task.task == "membership.settle_due" and task.enabled
    assert (task.crontab.day_of_month, task.crontab.hour, task.crontab.minute, str(task.crontab.timezone)) == ("1", "2", "0", "Asia/Shanghai")
    program.settlement_day, program.settlement_hour = 3, 4
    program.save()
    from membership.services import settlement_schedule_sync

    assert settlement_schedule_sync(program=program) == 1
    task.refresh_from_db()
    assert (task.crontab.day_of_month, task.crontab.hour) == ("3", "4")
    assert settlement_schedule_sync(program=program) == 0


def test_the_due_month_is_the_month_before_once_the_settlement_day_has_come(program):
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from membership.services import settlement_due_month, settlement_run_execute

    tz = ZoneInfo("Asia/Shanghai")
    assert settlement_due_month(now=datetime(2026, 11, 1, 1, 59, tzinfo=tz)) == date(2026, 9, 1)
    assert settlement_due_month(now=datetime(2026, 11, 1, 2, 0, tzinfo=tz)) == date(2026, 10, 1)
    settlement_run_execute(month=date(2026, 10, 1))
    assert settlement_due_month(now=datetime(2026, 11, 20, tzinfo=tz)) is None  # caught up: nothing twice
    assert settlement_due_month(now=datetime(2026, 12, 1, 2, 0, tzinfo=tz)) == date(2026, 11, 1)
