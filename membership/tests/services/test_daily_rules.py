"""Time-based rules: a fixed amount a day while a condition holds, or a decay that stops at a floor;
each day booked once, missed days caught up, a run cut off midway finished by running it again."""

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import Q, Sum
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from membership.services import daily as accrual
from membership.services import daily_rules_catch_up, daily_rules_due, daily_rules_run
from membership.hooks import MEMBER_CONDITIONS, member_condition
from membership.models import DailyRuleRun, EarningRule, GrowthEntry, Member
from membership.tests.factories import MemberFactory, local
from points.selectors import points_balance_get, points_reconcile

pytestmark = pytest.mark.django_db


def growth(member) -> int:
    return GrowthEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0


def daily_rule(program, code, amount, currency="growth", **params):
    rule = EarningRule(program=program, code=code, name=code, kind="daily", currency=currency, params={"amount": amount, **params})
    rule.full_clean()
    rule.save()
    return rule


@pytest.fixture
def vip_condition():
    """A condition for the tests: members whose name starts with VIP."""
    member_condition("test_vip", label="test VIPs")(lambda *, program, day: Q(name__startswith="VIP"))
    yield "test_vip"
    MEMBER_CONDITIONS.pop("test_vip")


def test_a_daily_rule_books_each_matching_member_once_a_day(program, vip_condition):
    daily_rule(program, "vip-daily", 10, when=vip_condition)
    vip, plain = MemberFactory(name="VIP one"), MemberFactory(name="plain")
    run = daily_rules_run(day=date(2026, 5, 1))
    assert run.counts == {"vip-daily": 1}
    assert (growth(vip), growth(plain)) == (10, 0)
    entry = GrowthEntry.objects.get(member=vip)
    assert (entry.source, entry.kind, entry.effective_at) == ("daily", "credit", local(2026, 5, 1))
    assert daily_rules_run(day=date(2026, 5, 1)) == run  # the same day again changes nothing
    daily_rules_run(day=date(2026, 5, 2))
    assert growth(vip) == 20


def test_members_not_yet_joined_or_not_active_earn_nothing(program):
    daily_rule(program, "every-day", 5)
    joined_later = MemberFactory(joined_at=local(2026, 5, 2, 9))
    closed = MemberFactory(status=Member.Status.CLOSED)
    daily_rules_run(day=date(2026, 5, 1))
    assert growth(joined_later) == 0 and growth(closed) == 0
    daily_rules_run(day=date(2026, 5, 2))
    assert growth(joined_later) == 5


def test_daily_points_are_lots_that_expire_by_the_program_policy(program):
    daily_rule(program, "daily-points", 3, currency="points")
    member = MemberFactory()
    daily_rules_run(day=date(2026, 5, 1))
    assert points_balance_get(member=member) == 3
    lot = member.points_lots.get()
    assert lot.expires_at is not None and lot.remaining == 3
    assert points_reconcile() == []


def test_a_decay_never_takes_growth_below_the_floor(program, vip_condition):
    daily_rule(program, "lapsed-decay", -15, when="any")
    member = MemberFactory()
    GrowthEntry.objects.create(member=member, kind="credit", amount=40, effective_at=local(2026, 4, 1), source="adjustment", idempotency_key="seed")
    for day in range(1, 6):
        daily_rules_run(day=date(2026, 5, day))
    assert growth(member) == 0
    kinds = list(GrowthEntry.objects.filter(member=member, source="daily").order_by("effective_at").values_list("amount", "kind"))
    assert kinds == [(-15, "decay"), (-15, "decay"), (-10, "decay")]  # nothing once at the floor


class _Rollback(Exception):
    pass


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, 200), amounts=st.lists(st.sampled_from([-20, -7, 5, 12]), min_size=1, max_size=6), floor=st.integers(0, 30))
def test_decay_and_accrual_keep_growth_at_or_above_the_floor_when_it_starts_there(program, start, amounts, floor):
    try:
        with transaction.atomic():  # each example starts from the same database
            member = MemberFactory()
            start = max(start, floor)
            GrowthEntry.objects.create(member=member, kind="credit", amount=start, effective_at=local(2026, 1, 1), source="adjustment", idempotency_key="seed")
            day, expected = date(2026, 6, 1), start
            for n, amount in enumerate(amounts):
                rule = daily_rule(program, f"r{n}", amount, floor=floor) if amount < 0 else daily_rule(program, f"r{n}", amount)
                daily_rules_run(day=day)
                expected = max(expected + amount, floor) if amount < 0 else expected + amount
                assert growth(member) == expected
                rule.is_active = False
                rule.save()
                day += timedelta(days=1)
            raise _Rollback
    except _Rollback:
        pass


def test_rule_parameters_are_checked(program):
    with pytest.raises(ValidationError, match="decay applies to growth only"):
        daily_rule(program, "bad", -5, currency="points")
    with pytest.raises(ValidationError, match="unknown condition"):
        daily_rule(program, "bad", 5, when="nobody-knows")
    with pytest.raises(ValidationError, match="other than 0"):
        daily_rule(program, "bad", 0)


def test_missed_days_are_caught_up_once(program):
    daily_rule(program, "every-day", 1)
    member = MemberFactory()
    now = local(2026, 5, 10, 8)
    assert daily_rules_due(now=now) == [date(2026, 5, 9)]
    daily_rules_run(day=date(2026, 5, 6))
    assert daily_rules_due(now=now) == [date(2026, 5, 7), date(2026, 5, 8), date(2026, 5, 9)]
    runs = daily_rules_catch_up(now=now)
    assert [r.day for r in runs] == [date(2026, 5, 7), date(2026, 5, 8), date(2026, 5, 9)]
    assert growth(member) == 4
    assert daily_rules_catch_up(now=now) == [] and growth(member) == 4


def test_a_run_cut_off_midway_is_finished_by_running_it_again(program, monkeypatch):
    daily_rule(program, "every-day", 2)
    members = [MemberFactory() for _ in range(5)]
    real = accrual._book_rule_chunk
    calls = []

    def crash_on_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(accrual, "_book_rule_chunk", crash_on_second_chunk)
    with pytest.raises(RuntimeError):
        daily_rules_run(day=date(2026, 5, 1), chunk_size=2)
    assert [growth(m) for m in members] == [2, 2, 0, 0, 0] and not DailyRuleRun.objects.exists()
    monkeypatch.setattr(accrual, "_book_rule_chunk", real)
    run = daily_rules_run(day=date(2026, 5, 1), chunk_size=2)
    assert run.counts == {"every-day": 3}
    assert [growth(m) for m in members] == [2] * 5


def test_the_command_books_a_day_and_says_what(program, capsys):
    daily_rule(program, "every-day", 1)
    MemberFactory()
    call_command("daily_rules", "2026-05-01")
    assert "daily rules 2026-05-01: every-day 1" in capsys.readouterr().out


def test_activating_a_program_schedules_the_daily_rules(program):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Daily rules")
    assert task.task == "membership.daily_rules" and task.crontab.hour == "0" and task.crontab.timezone.key == "Asia/Shanghai"
