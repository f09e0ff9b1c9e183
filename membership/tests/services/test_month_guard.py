"""A month that has not ended in the program's time zone is not settled, nor previewed as a
settlement: by the command (dry run included), the admin and the Celery task (CONTRACT.md)."""

from datetime import UTC, date, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from common.timeutil import add_months
from membership.models import LevelChange, SettlementRun
from membership.services import SettlementRefused, growth_adjust, settlement_month_parse
from membership.services import settlement as settlement_services
from membership.tasks import settle_month
from membership.tests.factories import MemberFactory, local
from points.models import PointsEntry

pytestmark = pytest.mark.django_db


def this_month() -> date:
    return timezone.now().astimezone(ZoneInfo("Asia/Shanghai")).date().replace(day=1)


def settle(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command("settle", *args, stdout=out, stderr=err)
        return 0, out.getvalue()
    except CommandError as exc:
        return exc.returncode, str(exc)


@pytest.fixture
def history(program, admin_user):
    member = MemberFactory()
    last = add_months(this_month(), -1)
    growth_adjust(member=member, amount=6000, reason="migration", actor=admin_user, effective_at=local(last.year, last.month, 10))
    return member


@pytest.mark.parametrize("ahead", [0, 1, 14])
@pytest.mark.parametrize("dry_run", [False, True])
def test_the_command_refuses_a_month_that_has_not_ended(history, ahead, dry_run):
    month = add_months(this_month(), ahead)
    code, text = settle(f"{month:%Y-%m}", *(["--dry-run"] if dry_run else []))
    assert code == 1
    assert f"{month:%Y-%m} has not ended yet in Asia/Shanghai" in text
    assert f"the latest month that can be settled now is {add_months(this_month(), -1):%Y-%m}" in text
    assert not SettlementRun.objects.exists() and not LevelChange.objects.exists() and not PointsEntry.objects.filter(kind="expiry").exists()


def test_the_month_before_can_be_settled(history):
    code, text = settle(f"{add_months(this_month(), -1):%Y-%m}")
    assert code == 0 and "up 1" in text


def test_a_month_ends_at_midnight_in_the_program_time_zone(program):
    november = date(2026, 11, 1)
    before = datetime(2026, 11, 30, 15, 59, tzinfo=UTC)  # 23:59 on 30 November in Shanghai
    after = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # midnight, 1 December in Shanghai
    with pytest.raises(SettlementRefused, match="2026-11 has not ended yet"):
        settlement_services._settleable(program=program, month=november, now=before)
    settlement_services._settleable(program=program, month=november, now=after)


def test_the_admin_refuses_to_preview_or_run_a_month_that_has_not_ended(admin_client, history):
    url = reverse("admin:membership_settlementrun_settle")
    for action in ("preview", "run"):
        response = admin_client.post(url, {"month": f"{this_month():%Y-%m}", action: "1"})
        assert response.status_code == 200
        assert "has not ended yet" in response.content.decode()
    assert not SettlementRun.objects.exists()


def test_the_task_refuses_a_month_that_has_not_ended_and_changes_nothing(history):
    month = f"{this_month():%Y-%m}"
    result = settle_month.apply(args=[month]).get()
    assert result["month"] == month and "has not ended yet" in result["refused"]
    assert not SettlementRun.objects.exists()


@pytest.mark.parametrize("text", ["0001-01", "1969-12"])
def test_a_month_before_1970_is_refused_in_a_sentence(text):
    with pytest.raises(Exception, match="before 1970"):
        settlement_month_parse(text)


def test_a_dry_run_of_a_settled_month_says_it_is_settled(history):
    month = f"{add_months(this_month(), -1):%Y-%m}"
    assert settle(month)[0] == 0
    code, text = settle(month, "--dry-run")
    assert code == 0 and "is already settled" in text


def test_the_admin_preview_of_a_settled_month_says_so(admin_client, history):
    month = f"{add_months(this_month(), -1):%Y-%m}"
    settle(month)
    response = admin_client.post(reverse("admin:membership_settlementrun_settle"), {"month": month, "preview": "1"})
    assert "is already settled" in response.content.decode() and response.context["preview"] is None


def test_the_member_page_forecasts_the_settlement_that_comes_next(admin_client, history):
    from membership.selectors import member_level_progress_get

    previous = add_months(this_month(), -1)
    assert member_level_progress_get(member=history)["next_settlement"] == previous  # not settled yet
    settle(f"{previous:%Y-%m}")
    assert member_level_progress_get(member=history)["next_settlement"] == this_month()
