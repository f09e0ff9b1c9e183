"""Birthday and anniversary benefits by the daily task, once per member per year, in the program's time zone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from benefits.models import BenefitGrant
from benefits.services import benefits_daily_issue
from benefits.tasks import benefits_daily
from benefits.tests.factories import at_level, blacklist
from membership.tests.factories import MemberFactory, local

pytestmark = pytest.mark.django_db


def birthday_grants(member):
    return list(BenefitGrant.objects.filter(member=member, benefit__code="birthday-coupon").values_list("period", "status"))


def test_a_birthday_coupon_on_the_local_birthday_once_a_year(program, levels):
    today = at_level(MemberFactory(birthday=date(1990, 5, 17)), levels["V1"])
    tomorrow = at_level(MemberFactory(birthday=date(1990, 5, 18)), levels["V1"])
    regular = MemberFactory(birthday=date(1990, 5, 17))
    # 2026-05-16 17:00 UTC is already May 17 in Shanghai.
    counts = benefits_daily_issue(at=datetime(2026, 5, 16, 17, 0, tzinfo=ZoneInfo("UTC")))
    benefits_daily_issue(at=local(2026, 5, 17, 20, 0))
    assert counts["birthday"] == 1
    assert birthday_grants(today) == [("2026", "granted")]
    assert birthday_grants(tomorrow) == [] and birthday_grants(regular) == []
    benefits_daily_issue(at=local(2027, 5, 17, 9, 0))
    assert sorted(period for period, _ in birthday_grants(today)) == ["2026", "2027"]


def test_a_february_29_birthday_is_kept_on_february_28_in_other_years(program, levels):
    m = at_level(MemberFactory(birthday=date(2000, 2, 29)), levels["V2"])
    benefits_daily_issue(at=local(2027, 2, 28, 9))
    benefits_daily_issue(at=local(2028, 2, 28, 9))
    benefits_daily_issue(at=local(2028, 2, 29, 9))
    assert sorted(period for period, _ in birthday_grants(m)) == ["2027", "2028"]


def test_an_anniversary_benefit_from_the_first_anniversary_on(program, levels, make_benefit):
    make_benefit("anniversary-gift", trigger="anniversary", min_level="V0", points=88)
    # Joined 2025-03-09 23:30 in Shanghai (15:30 UTC): the anniversary is March 9, local.
    m = MemberFactory(joined_at=local(2025, 3, 9, 23, 30))
    benefits_daily_issue(at=local(2025, 3, 9, 23, 50))
    benefits_daily_issue(at=local(2026, 3, 8, 12))
    counts = benefits_daily_issue(at=local(2026, 3, 9, 0, 10))
    benefits_daily_issue(at=local(2026, 3, 9, 0, 10))
    grants = list(BenefitGrant.objects.filter(member=m).values_list("period", "points_entry__amount"))
    assert grants == [("2026", 88)] and counts["anniversary"] == 1


def test_a_blacklisted_member_s_birthday_benefit_is_blocked(program, levels):
    m = at_level(MemberFactory(birthday=date(1990, 5, 17)), levels["V1"])
    blacklist(m, starts_at=local(2026, 1, 1))
    counts = benefits_daily_issue(at=local(2026, 5, 17, 9))
    assert birthday_grants(m) == [("2026", "blocked")] and counts["blocked"] == 1


def test_grants_past_their_validity_expire(program, levels):
    m = at_level(MemberFactory(birthday=date(1990, 5, 17)), levels["V1"])
    benefits_daily_issue(at=local(2026, 5, 17, 9))
    assert benefits_daily_issue(at=local(2026, 6, 16, 8))["expired"] == 0
    assert benefits_daily_issue(at=local(2026, 6, 16, 10))["expired"] == 1
    assert birthday_grants(m) == [("2026", "expired")]


def test_the_daily_task_runs_the_service(program):
    assert set(benefits_daily()) == {"birthday", "anniversary", "blocked", "expired"}
