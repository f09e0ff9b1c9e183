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


def test_anomaly_rule_parameters_are_typed_fields_checked_by_the_rule_type(admin_client, db):
    url = reverse("admin:riskcontrol_anomalyrule_add")
    rule = {"code": "fast", "name": "Fast", "kind": "earning_velocity", "severity": "medium", "is_active": "on"}
    page = admin_client.get(url).content.decode()
    assert 'name="earning_velocity__threshold"' in page and 'name="refund_rate__rate"' in page and 'name="params"' not in page
    assert "An alert when a member is credited more than this in one clock hour." in page  # help text
    refused = admin_client.post(url, {**rule, "earning_velocity__threshold": "-5"})
    assert refused.status_code == 200 and "Ensure this value is greater than or equal to 1." in refused.content.decode()
    missing = admin_client.post(url, rule)  # the type's own rule: the threshold is required
    assert "threshold is required" in missing.content.decode()
    too_high = admin_client.post(url, {**rule, "kind": "refund_rate", "refund_rate__rate": "2"})
    assert "Ensure this value is less than or equal to 1." in too_high.content.decode()
    assert not AnomalyRule.objects.exists()

    # Another type's fields are ignored; empty fields keep the type's defaults.
    admin_client.post(url, {**rule, "earning_velocity__threshold": "5000", "earning_velocity__currency": "points", "refund_rate__rate": "0.5"})
    saved = AnomalyRule.objects.get()
    assert saved.params == {"threshold": 5000, "currency": "points"}
    change = reverse("admin:riskcontrol_anomalyrule_change", args=[saved.pk])
    assert 'name="earning_velocity__threshold" value="5000"' in admin_client.get(change).content.decode()
    admin_client.post(change, {**rule, "kind": "refund_rate", "refund_rate__rate": "0.5", "refund_rate__days": "14"})
    saved.refresh_from_db()
    assert (saved.kind, saved.params) == ("refund_rate", {"rate": 0.5, "days": 14})


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


def test_list_upload_page_adds_entries_and_reports_bad_rows(admin_client, program):
    from django.core.files.uploadedfile import SimpleUploadedFile

    MemberFactory(member_id="UP1")
    upload = SimpleUploadedFile("lists.csv", b"member_id,kind,scope,reason\nUP1,black,earning,farming\nNOPE,black,earning,x\n")
    response = admin_client.post(reverse("admin:riskcontrol_listentry_upload"), {"file": upload}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "lists.csv: row 3, column member_id: unknown member 'NOPE'", "read 2, added 1, unchanged 0, rejected 1",
    ]
    assert ListEntry.objects.filter(member__member_id="UP1", kind="black").exists()


def test_due_for_review_filter_and_the_suspend_benefits_action_on_members(admin_client, program):
    from datetime import date

    member, other = MemberFactory(member_id="SUS1"), MemberFactory(member_id="SUS2")
    members_url = reverse("admin:membership_member_changelist")
    form = admin_client.post(members_url, {"action": "suspend_benefits", "_selected_action": [member.pk, other.pk]})
    assert form.status_code == 200 and "id_review_on" in form.content.decode()
    admin_client.post(
        members_url,
        {"action": "suspend_benefits", "_selected_action": [member.pk, other.pk], "apply": "1", "reason": "reselling", "review_on": "2020-01-01"},
    )
    assert ListEntry.objects.filter(scope="benefits", review_on=date(2020, 1, 1)).count() == 2
    entries_url = reverse("admin:riskcontrol_listentry_changelist")
    due = admin_client.get(entries_url, {"review": "due"}).content.decode()
    assert "SUS1" in due and "SUS2" in due
    ListEntry.objects.filter(member=other).update(review_on=date(2999, 1, 1))
    due = admin_client.get(entries_url, {"review": "due"}).content.decode()
    assert "SUS1" in due and "SUS2" not in due


def test_member_page_shows_lists_alerts_blocked_credits_and_what_was_capped(admin_client, risk):
    first, _ = risk
    capped_member = MemberFactory(member_id="CAPPED")
    for n in range(3):  # 10,000 growth an order at most, 20,000 a day: the third order is capped
        order_book(facts=order(f"BIG{n}", capped_member, local(2026, 3, 1, 10 + n), goods="30000"))
    capped = admin_client.get(reverse("admin:membership_member_change", args=[MemberFactory._meta.model.objects.get(member_id="CAPPED").pk])).content.decode()
    assert "Capped (not credited)" in capped and "<td>2026-03</td><td>growth</td><td>10,000</td>" in capped
    page = admin_client.get(reverse("admin:membership_member_change", args=[first.pk])).content.decode()
    assert "Black and white lists" in page and "farming" in page
    assert "Shared phones" in page  # its open alert
    assert "Blocked credits" in page and "O1" in page
