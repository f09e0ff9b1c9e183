"""Risk control's admin pages: alerts with their workflow actions, anomaly rules with checked
parameters, blocked credits with the release action, and the open-alert count on the front page."""

import pytest
from django.urls import reverse

from membership.services import order_book
from membership.tests.factories import MemberFactory, local, order
from riskcontrol.models import Alert, AnomalyRule, BlockedCredit, ListEntry
from riskcontrol.services import anomaly_scan, list_entry_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def risk(program):
    AnomalyRule.objects.create(code="phones", name="Shared phones", kind="shared_phone", params={"min_members": 2})
    first, second = MemberFactory(phone="13900001111"), MemberFactory(phone="13900001111")
    anomaly_scan(since=local(2026, 3, 1), until=local(2026, 3, 2))
    list_entry_add(member=first, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.EARNING, reason="farming", actor=None, starts_at=local(2026, 1, 1))
    order_book(facts=order("O1", first, local(2026, 3, 1), goods="100"))
    return first, second


def test_risk_pages_open_and_the_front_page_counts_open_alerts(admin_client, risk):
    for name in ("alert", "anomalyrule", "blockedcredit"):
        assert admin_client.get(reverse(f"admin:riskcontrol_{name}_changelist")).status_code == 200
    alert = Alert.objects.first()
    assert admin_client.get(reverse("admin:riskcontrol_alert_change", args=[alert.pk])).status_code == 200
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboard-alerts" data-value="2"' in page


def test_alert_actions_move_alerts_and_ask_for_a_note_before_closing(admin_client, risk):
    url = reverse("admin:riskcontrol_alert_changelist")
    alert = Alert.objects.first()
    admin_client.post(url, {"action": "alerts_investigate", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.status == "investigating"
    page = admin_client.post(url, {"action": "alerts_resolve", "_selected_action": [alert.pk]})
    assert page.status_code == 200 and "id_note" in page.content.decode()
    admin_client.post(url, {"action": "alerts_resolve", "_selected_action": [alert.pk], "apply": "1", "note": "confirmed farm"})
    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert list(alert.events.values_list("to_status", flat=True)) == ["open", "investigating", "resolved"]


def test_anomaly_rule_form_refuses_bad_parameters(admin_client, db):
    response = admin_client.post(
        reverse("admin:riskcontrol_anomalyrule_add"),
        {"code": "fast", "name": "Fast", "kind": "earning_velocity", "params": '{"threshold": -5}', "severity": "medium", "is_active": "on"},
    )
    assert response.status_code == 200
    assert "threshold must be a whole number of at least 1" in response.content.decode()
    assert not AnomalyRule.objects.exists()


def test_release_action_credits_blocked_credits_once(admin_client, risk):
    url = reverse("admin:riskcontrol_blockedcredit_changelist")
    pks = list(BlockedCredit.objects.values_list("pk", flat=True))
    assert len(pks) == 2
    assert "id_reason" in admin_client.post(url, {"action": "release_blocked_credits", "_selected_action": pks}).content.decode()
    for _ in range(2):
        admin_client.post(url, {"action": "release_blocked_credits", "_selected_action": pks, "apply": "1", "reason": "cleared"})
    assert BlockedCredit.objects.filter(released_at__isnull=False).count() == 2
    first, _ = risk
    assert first.growth_entries.count() == 1 and first.points_entries.count() == 1
