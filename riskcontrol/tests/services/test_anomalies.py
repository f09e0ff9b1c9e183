"""Anomaly rules: each strategy finds its incidents in one query; alerts are raised once per
incident (a re-scan raises nothing); whitelisted members are skipped; high-severity rules may
suspend earning; alerts move through their workflow with a history."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from membership.services import order_book, settlement_run_execute
from membership.tests.factories import MemberFactory, local, order
from points.services import points_debit
from riskcontrol.anomalies import ANOMALY_STRATEGIES, anomaly_strategy_for
from riskcontrol.models import Alert, AlertEvent, AnomalyRule, ListEntry
from riskcontrol.selectors import alerts_open_count, member_block_get, members_whitelisted_ids
from riskcontrol.services import alert_transition, anomaly_scan, list_entry_add

pytestmark = pytest.mark.django_db

DAY = (local(2026, 3, 1), local(2026, 3, 2))


def rule(code, kind, params, severity="medium", auto_suspend=False):
    row = AnomalyRule(code=code, name=code, kind=kind, params=params, severity=severity, auto_suspend=auto_suspend)
    row.full_clean()
    row.save()
    return row


def alerts(rule_code=None):
    rows = Alert.objects.all() if rule_code is None else Alert.objects.filter(rule__code=rule_code)
    return sorted(rows.values_list("member__member_id", "incident_key"))


def whitelist(member):
    return list_entry_add(
        member=member, kind=ListEntry.Kind.WHITE, scope=ListEntry.Scope.ALL, reason="key account", actor=None, starts_at=local(2026, 1, 1)
    )


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("alertop", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    return django_user_model.objects.get(pk=user.pk)


def test_earning_velocity_finds_members_earning_over_the_threshold_in_an_hour(program):
    rule("velocity", "earning_velocity", {"threshold": 5000})
    fast, slow, spread, trusted = (MemberFactory(member_id=n) for n in ("FAST", "SLOW", "SPREAD", "TRUSTED"))
    order_book(facts=order("F1", fast, local(2026, 3, 1, 10, 5), goods="3000"))
    order_book(facts=order("F2", fast, local(2026, 3, 1, 10, 40), goods="2500"))
    order_book(facts=order("S1", slow, local(2026, 3, 1, 10, 5), goods="1000"))
    order_book(facts=order("P1", spread, local(2026, 3, 1, 10, 50), goods="3000"))
    order_book(facts=order("P2", spread, local(2026, 3, 1, 11, 10), goods="3000"))
    order_book(facts=order("T1", trusted, local(2026, 3, 1, 10, 5), goods="9000"))
    whitelist(trusted)
    report = anomaly_scan(since=DAY[0], until=DAY[1])
    assert (report.found, report.raised) == (1, 1)
    assert alerts() == [("FAST", "growth:2026-03-01T10:00")]
    alert = Alert.objects.get()
    assert (alert.details["earned"], alert.status, alert.severity, alert.first_seen_at) == (5500, "open", "medium", local(2026, 3, 1, 10))
    assert list(alert.events.values_list("from_status", "to_status")) == [("", "open")]


def test_a_rescan_raises_nothing_new_and_changes_nothing(program):
    rule("velocity", "earning_velocity", {"threshold": 100})
    rule("phones", "shared_phone", {"min_members": 2})
    for n in range(3):
        member = MemberFactory(phone="13900000000")
        order_book(facts=order(f"O{n}", member, local(2026, 3, 1, 10), goods="500"))
    first = anomaly_scan(since=DAY[0], until=DAY[1])
    assert first.raised == 6
    before = list(Alert.objects.order_by("pk").values()), AlertEvent.objects.count()
    again = anomaly_scan(since=DAY[0], until=DAY[1])
    assert (again.found, again.raised) == (6, 0)
    assert (list(Alert.objects.order_by("pk").values()), AlertEvent.objects.count()) == before


def test_refund_rate_over_the_period(program):
    rule("refunds", "refund_rate", {"rate": 0.5, "days": 30, "min_orders": 4})
    serial, normal, few = MemberFactory(member_id="SERIAL"), MemberFactory(member_id="NORMAL"), MemberFactory(member_id="FEW")
    for n in range(4):
        refunded = n < 2
        order_book(facts=order(f"S{n}", serial, local(2026, 2, 20 + n), "refunded" if refunded else "completed", goods="100", refunded="100" if refunded else "0"))
        order_book(facts=order(f"N{n}", normal, local(2026, 2, 20 + n), "refunded" if n == 0 else "completed", goods="100", refunded="100" if n == 0 else "0"))
    for n in range(3):
        order_book(facts=order(f"F{n}", few, local(2026, 2, 20 + n), "refunded", goods="100", refunded="100"))
    # An old refund outside the 30 days does not count.
    order_book(facts=order("OLD", normal, local(2026, 1, 1), "refunded", goods="100", refunded="100"))
    anomaly_scan(since=DAY[0], until=DAY[1])
    assert alerts() == [("SERIAL", "2026-03")]
    assert Alert.objects.get().details == {"orders": 4, "refunded": 2, "rate": 0.5, "days": 30}


def test_shared_phone_raises_each_member_of_a_crowded_phone(program):
    rule("phones", "shared_phone", {"min_members": 3})
    for n in range(3):
        MemberFactory(member_id=f"A{n}", phone="13911112222")
    for n in range(2):
        MemberFactory(member_id=f"B{n}", phone="13933334444")
    MemberFactory(member_id="NOPHONE1"), MemberFactory(member_id="NOPHONE2"), MemberFactory(member_id="NOPHONE3")
    anomaly_scan(since=DAY[0], until=DAY[1])
    assert alerts() == [(f"A{n}", "phone:13911112222") for n in range(3)]
    assert {a.details["members"] for a in Alert.objects.all()} == {3}


def test_redemption_burst_reads_the_points_spends_of_an_hour(program):
    rule("burst", "redemption_burst", {"count": 3})
    rule("big-spend", "redemption_burst", {"points": 2000})
    busy, calm = MemberFactory(member_id="BUSY"), MemberFactory(member_id="CALM")
    for member in (busy, calm):
        order_book(facts=order(f"O{member.member_id}", member, local(2026, 2, 1), goods="5000"))
    for n in range(3):
        points_debit(member=busy, amount=10, kind="spend", effective_at=local(2026, 3, 1, 9, 10 * n), source="redemption", idempotency_key=f"b{n}")
    points_debit(member=calm, amount=10, kind="spend", effective_at=local(2026, 3, 1, 9), source="redemption", idempotency_key="c1")
    points_debit(member=calm, amount=10, kind="spend", effective_at=local(2026, 3, 1, 10), source="redemption", idempotency_key="c2")
    points_debit(member=calm, amount=2500, kind="spend", effective_at=local(2026, 3, 1, 11), source="redemption", idempotency_key="c3")
    anomaly_scan(since=DAY[0], until=DAY[1])
    assert alerts("burst") == [("BUSY", "2026-03-01T09:00")]
    assert alerts("big-spend") == [("CALM", "2026-03-01T11:00")]


def test_level_jump_of_two_levels_at_one_settlement(program):
    rule("jump", "level_jump", {"levels": 2})
    jumper, climber = MemberFactory(member_id="JUMP"), MemberFactory(member_id="CLIMB")
    order_book(facts=order("J1", jumper, local(2026, 3, 1), goods="6000"))  # V0 → V2
    order_book(facts=order("C1", climber, local(2026, 3, 1), goods="1500"))  # V0 → V1
    start = timezone.now()
    settlement_run_execute(month=date(2026, 3, 1))
    anomaly_scan(since=start, until=timezone.now() + timedelta(seconds=1))
    assert [member for member, _ in alerts()] == ["JUMP"]
    assert Alert.objects.get().details["levels"] == 2


def test_whitelisted_members_skip_every_rule(program):
    for kind, params in (("shared_phone", {"min_members": 2}), ("earning_velocity", {"threshold": 10}), ("refund_rate", {"rate": 0.5, "min_orders": 1})):
        rule(kind, kind, params)
    members = [MemberFactory(phone="13955556666") for _ in range(2)]
    for n, member in enumerate(members):
        order_book(facts=order(f"W{n}", member, local(2026, 3, 1, 10), "refunded", goods="100", refunded="100"))
        order_book(facts=order(f"X{n}", member, local(2026, 3, 1, 10), goods="100"))
        whitelist(member)
    assert anomaly_scan(since=DAY[0], until=DAY[1]).found == 0
    assert set(members_whitelisted_ids(at=DAY[1]).values_list("member_id", flat=True)) == {m.pk for m in members}


def test_each_strategy_is_one_query_whatever_the_number_of_members(program):
    for n in range(30):
        member = MemberFactory(phone=f"1390000{n % 3:04d}")
        order_book(facts=order(f"Q{n}", member, local(2026, 3, 1, 10), goods="500"))
    params = {"earning_velocity": {"threshold": 1}, "refund_rate": {"rate": 0.5}, "shared_phone": {}, "redemption_burst": {"count": 1}, "level_jump": {}}
    skip = members_whitelisted_ids(at=DAY[1])
    for kind in ANOMALY_STRATEGIES:
        strategy = anomaly_strategy_for(AnomalyRule(kind=kind, params=params[kind]))
        with CaptureQueriesContext(connection) as queries:
            strategy.find(since=DAY[0], until=DAY[1], skip=skip)
        assert len(queries) == 1, (kind, [q["sql"] for q in queries])


def test_a_high_severity_rule_with_auto_suspend_blacklists_earning_once(program):
    rule("velocity", "earning_velocity", {"threshold": 5000}, severity="high", auto_suspend=True)
    member = MemberFactory(member_id="FARM")
    order_book(facts=order("F1", member, local(2026, 3, 1, 10), goods="6000"))
    order_book(facts=order("F2", member, local(2026, 3, 1, 12), goods="6000"))
    report = anomaly_scan(since=DAY[0], until=DAY[1])
    assert (report.raised, report.suspended) == (2, 1)
    entry = ListEntry.objects.get()
    assert (entry.kind, entry.scope, entry.added_by) == ("black", "earning", None)
    first = Alert.objects.order_by("pk").first()
    assert f"alert #{first.pk}" in entry.reason and first.list_entry == entry
    assert member_block_get(member_id=member.pk, scope="earning") == entry
    assert anomaly_scan(since=DAY[0], until=DAY[1]).suspended == 0
    assert ListEntry.objects.count() == 1
    # From now on the member's bookings are blocked.
    assert order_book(facts=order("F3", member, timezone.now(), goods="100")).blocked == 200


def test_anomaly_rule_params_and_auto_suspend_are_validated():
    for kind, params in (
        ("earning_velocity", {}),
        ("earning_velocity", {"threshold": "many"}),
        ("earning_velocity", {"threshold": 10, "currency": "coins"}),
        ("refund_rate", {"rate": 1.5}),
        ("shared_phone", {"min_members": 1}),
        ("redemption_burst", {}),
        ("level_jump", {"levels": 1}),
        ("level_jump", {"level": 3}),
    ):
        with pytest.raises(ValidationError):
            AnomalyRule(code="x", name="x", kind=kind, params=params).full_clean()
    with pytest.raises(ValidationError, match="high-severity"):
        AnomalyRule(code="x", name="x", kind="level_jump", params={}, severity="medium", auto_suspend=True).full_clean()


def test_alert_workflow_allows_only_its_transitions_and_keeps_the_history(program, operator, django_user_model):
    r = rule("phones", "shared_phone", {"min_members": 2})
    MemberFactory(phone="1"), MemberFactory(phone="1")
    anomaly_scan(since=DAY[0], until=DAY[1])
    alert = Alert.objects.first()
    assert alerts_open_count() == 2
    alert_transition(alert=alert, to="investigating", actor=operator, note="calling the member")
    with pytest.raises(ValidationError, match="say what was found"):
        alert_transition(alert=alert, to="resolved", actor=operator)
    alert_transition(alert=alert, to="false_positive", actor=operator, note="a family sharing a phone")
    with pytest.raises(ValidationError, match="cannot become"):
        alert_transition(alert=alert, to="investigating", actor=operator)
    alert_transition(alert=alert, to="open", actor=operator, note="reopened")
    assert list(alert.events.values_list("from_status", "to_status", "actor__username")) == [
        ("", "open", None), ("open", "investigating", "alertop"), ("investigating", "false_positive", "alertop"),
        ("false_positive", "open", "alertop"),
    ]
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    with pytest.raises(PermissionDenied):
        alert_transition(alert=alert, to="investigating", actor=django_user_model.objects.get(pk=viewer.pk))
    assert r.alerts.count() == 2


def test_risk_scan_command_scans_the_period_and_says_what_it_raised(program):
    rule("phones", "shared_phone", {"min_members": 2})
    MemberFactory(phone="1"), MemberFactory(phone="1")
    out = StringIO()
    call_command("risk_scan", "--since", "2026-03-01", "--until", "2026-03-02", stdout=out)
    assert out.getvalue().strip().endswith("rules 1, incidents found 2, alerts raised 2, members suspended 0")
    with pytest.raises(CommandError, match="--since 'yesterday' is not an ISO 8601"):
        call_command("risk_scan", "--since", "yesterday", stdout=StringIO())
    with pytest.raises(CommandError, match="must end after it starts"):
        call_command("risk_scan", "--since", "2026-03-02", "--until", "2026-03-01", stdout=StringIO())


def test_the_hourly_schedule_is_created_once_and_edits_are_kept(db):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from riskcontrol.services import SCAN_TASK_NAME, anomaly_scan_schedule_ensure
    from riskcontrol.tasks import scan

    PeriodicTask.objects.filter(name=SCAN_TASK_NAME).delete()
    assert anomaly_scan_schedule_ensure() == 1
    task = PeriodicTask.objects.get(name=SCAN_TASK_NAME)
    assert (task.task, task.interval.every, task.interval.period, task.enabled) == ("riskcontrol.scan", 1, "hours", True)
    task.interval, _ = IntervalSchedule.objects.get_or_create(every=30, period="minutes")
    task.save()
    assert anomaly_scan_schedule_ensure() == 0
    assert PeriodicTask.objects.get(name=SCAN_TASK_NAME).interval.every == 30
    assert scan() == {"rules": 0, "found": 0, "raised": 0, "suspended": 0}


def test_risk_control_changes_are_in_the_audit_log(program):
    from auditlog.models import LogEntry

    row = rule("phones", "shared_phone", {"min_members": 2})
    member = MemberFactory()
    entry = list_entry_add(member=member, kind="black", scope="benefits", reason="reselling", actor=None)
    for obj in (row, entry):
        assert LogEntry.objects.get_for_object(obj).filter(action=LogEntry.Action.CREATE).exists()


def test_a_booking_checks_its_member_against_the_cheap_rules_once_committed(program, django_capture_on_commit_callbacks):
    from membership.services import order_book
    from membership.tests.factories import local, order
    from riskcontrol.models import Alert, AnomalyRule

    AnomalyRule.objects.create(code="fast", name="fast", kind="earning_velocity", params={"threshold": 1000, "currency": "growth"}, severity="high")
    AnomalyRule.objects.create(code="jump", name="jump", kind="level_jump", params={"levels": 2}, severity="low")
    member, other = MemberFactory(), MemberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        order_book(facts=order("V1", member, local(2026, 3, 1, 10, 5), goods="800"))
    assert not Alert.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        order_book(facts=order("V2", member, local(2026, 3, 1, 10, 40), goods="800"))  # 1,600 in the hour
    alert = Alert.objects.get()
    assert (alert.member, alert.rule.code) == (member, "fast")
    with django_capture_on_commit_callbacks(execute=True):
        order_book(facts=order("V3", other, local(2026, 3, 1, 10, 45), goods="100"))
    assert Alert.objects.count() == 1  # the other member's booking looks at that member only
    from riskcontrol.services import anomaly_scan

    assert anomaly_scan(since=local(2026, 3, 1, 10), until=local(2026, 3, 1, 11)).raised == 0  # the hourly scan raises it no second time
