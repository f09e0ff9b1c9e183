"""Reminders as outbound events: points about to end and levels the next settlement would drop,
found set-based, each told once however often the day is run; points expired by a settlement."""

import json
from datetime import date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from membership.models import Level, Member, OutboxEvent
from membership.selectors import settlement_next_get
from membership.services import growth_adjust, reminders_run, settlement_run_execute
from membership.tests.factories import MemberFactory, local
from points.services import points_credit

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def told(type_):
    return [(e.member_ref, e.data) for e in OutboxEvent.objects.filter(type=type_).order_by("pk")]


def test_points_ending_within_the_notice_days_are_told_once_per_member_and_end(program):
    now = datetime(2026, 12, 5, 8, tzinfo=SHANGHAI)
    soon, later_member = MemberFactory(member_id="SOON"), MemberFactory(member_id="LATER")
    for n, member in enumerate((soon, later_member)):
        points_credit(program=program, member=member, amount=300, effective_at=local(2025, 3, 1), source="event", idempotency_key=f"a{n}")
        points_credit(program=program, member=member, amount=200, effective_at=local(2025, 8, 1), source="event", idempotency_key=f"b{n}")
    points_credit(program=program, member=later_member, amount=50, effective_at=local(2026, 3, 1), source="event", idempotency_key="c")
    assert reminders_run(now=now)["points.expiring"] == 2  # 2025's points end at 2026-12-31 24:00, within 30 days
    assert told("points.expiring") == [
        ("SOON", {"amount": 500, "expires_at": "2027-01-01T00:00:00+08:00"}),
        ("LATER", {"amount": 500, "expires_at": "2027-01-01T00:00:00+08:00"}),
    ]
    assert reminders_run(now=now)["points.expiring"] == 0  # the same day again
    assert reminders_run(now=now + timedelta(days=3))["points.expiring"] == 0  # a later day: told already
    assert len(told("points.expiring")) == 2


def test_the_next_settlement_is_the_month_before_until_it_is_settled(program, admin_user):
    now = datetime(2026, 11, 1, 1, tzinfo=SHANGHAI)
    assert settlement_next_get(program=program, now=now) == (date(2026, 10, 1), datetime(2026, 11, 1, 2, tzinfo=SHANGHAI))
    settlement_run_execute(month=date(2026, 10, 1))
    assert settlement_next_get(program=program, now=now) == (date(2026, 11, 1), datetime(2026, 12, 1, 2, tzinfo=SHANGHAI))


def test_a_level_the_next_settlement_would_drop_is_told_within_the_notice_days_once(program, admin_user):
    settlement_run_execute(month=date(2025, 10, 1))
    at_risk, safe = MemberFactory(member_id="RISK"), MemberFactory(member_id="SAFE")
    v2 = Level.objects.get(code="V2")
    Member.objects.filter(pk__in=[at_risk.pk, safe.pk]).update(level=v2, level_valid_until=date(2026, 10, 31))
    growth_adjust(member=at_risk, amount=1200, reason="orders", actor=admin_user, effective_at=local(2026, 5, 1))
    growth_adjust(member=safe, amount=6000, reason="orders", actor=admin_user, effective_at=local(2026, 5, 1))
    for month in range(11, 13):
        settlement_run_execute(month=date(2025, month, 1))
    for month in range(1, 10):
        settlement_run_execute(month=date(2026, month, 1))
    OutboxEvent.objects.all().delete()
    early = datetime(2026, 10, 20, 8, tzinfo=SHANGHAI)  # the settlement of 2026-10 is due 2026-11-01 02:00
    assert reminders_run(now=early)["member.level_at_risk"] == 0
    on_time = datetime(2026, 10, 26, 8, tzinfo=SHANGHAI)
    assert reminders_run(now=on_time)["member.level_at_risk"] == 1
    assert told("member.level_at_risk") == [
        ("RISK", {"level": "V2", "drops_to": "V1", "growth_needed": 3800, "month": "2026-10", "settles_at": "2026-11-01T02:00:00+08:00"})
    ]
    assert reminders_run(now=on_time + timedelta(days=2))["member.level_at_risk"] == 0


def test_a_settlement_tells_each_member_how_many_points_it_expired(program):
    member = MemberFactory(member_id="EXP")
    points_credit(program=program, member=member, amount=300, effective_at=local(2024, 3, 1), source="event", idempotency_key="old")
    points_credit(program=program, member=member, amount=100, effective_at=local(2024, 9, 1), source="event", idempotency_key="older")
    settlement_run_execute(month=date(2025, 12, 1))
    assert told("points.expired") == [("EXP", {"amount": 400, "month": "2025-12"})]


def test_export_events_writes_a_period_as_json_lines(program, tmp_path):
    member = MemberFactory(member_id="EXP")
    points_credit(program=program, member=member, amount=300, effective_at=local(2024, 3, 1), source="event", idempotency_key="old")
    settlement_run_execute(month=date(2025, 12, 1))
    out = StringIO()
    call_command("export_events", str(tmp_path / "events.jsonl"), "--type", "points.expired", stdout=out)
    lines = [json.loads(line) for line in open(tmp_path / "events.jsonl", encoding="utf-8")]
    assert "exported 1 events" in out.getvalue() and lines[0]["type"] == "points.expired" and lines[0]["member_id"] == "EXP"
    call_command("export_events", str(tmp_path / "none.jsonl"), "--until", (timezone.now() - timedelta(days=1)).isoformat(), stdout=StringIO())
    assert open(tmp_path / "none.jsonl", encoding="utf-8").read() == ""
