"""A member's data rights: an export of everything held on them, and the erasure of their personal
data (name, phone, birthday, invite link, the phone in alerts, and the audit trail's record of
them), recorded and irreversible, with the ledgers, levels and history untouched."""

import json
from datetime import date, timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from api.services import api_key_create
from api.tests.conftest import ApiClient
from invitations.services import invitation_accept, invite_code_get_or_create
from membership.models import Member, PersonalDataErasure
from membership.services import member_data_erase, member_data_export, order_book
from membership.tests.factories import MemberFactory, order
from points.selectors import points_balance_get, points_reconcile
from riskcontrol.models import Alert, AnomalyRule
from riskcontrol.services import anomaly_scan

pytestmark = pytest.mark.django_db

PHONE = "+86 139 0000 1234"


@pytest.fixture
def program_admin(django_user_model):
    user = django_user_model.objects.create_user("padmin", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Program admin"))
    return user


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("op", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    return user


@pytest.fixture
def person(program, admin_client):
    """A member with a profile edited in the console (so the audit trail holds its values), an
    order, points, an invite code that brought someone in, and an alert naming their phone."""
    member = MemberFactory(member_id="P1", name="王小明", phone="13900000000", birthday=date(1990, 5, 17))
    page = reverse("admin:membership_member_change", args=[member.pk])
    form = admin_client.get(page).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("base_score",)}
    data.update(name="王小明", phone=PHONE, birthday="1990-05-17", status="active", joined_at_0=f"{timezone.localtime(member.joined_at):%Y-%m-%d}",
                joined_at_1=f"{timezone.localtime(member.joined_at):%H:%M:%S}", base_score=0)
    data.update({"level_changes-TOTAL_FORMS": 0, "level_changes-INITIAL_FORMS": 0})
    assert admin_client.post(page, data).status_code == 302
    order_book(facts=order("PO1", member, timezone.now() - timedelta(days=3), goods="120"))
    code = invite_code_get_or_create(member=member)
    invitation_accept(code=code.code, invitee=MemberFactory(member_id="P2"))
    for n in range(3):
        MemberFactory(member_id=f"S{n}", phone=PHONE)
    AnomalyRule.objects.create(code="farm", name="Shared phone", kind="shared_phone", params={"min_members": 3})
    anomaly_scan(since=timezone.now() - timedelta(days=1), until=timezone.now())
    member.refresh_from_db()
    return member


def test_the_export_holds_everything_held_on_the_member(person, program_admin):
    data = json.loads(json.dumps(member_data_export(member=person, actor=program_admin), default=str))
    assert data["member"]["member_id"] == "P1" and data["member"]["name"] == "王小明" and data["member"]["phone"] == PHONE
    assert data["member"]["birthday"] == "1990-05-17"
    assert [o["order_id"] for o in data["orders"]] == ["PO1"]
    assert [e["amount"] for e in data["growth_entries"]] == [120]
    assert data["points"]["balance"] == 120 and [e["amount"] for e in data["points"]["entries"]][0] == 120
    assert data["invitations"]["invite_code"] and data["invitations"]["invited"][0]["invitee__member_id"] == "P2"
    assert data["risk_control"]["alerts"][0]["details"]["phone"] == PHONE
    assert {"benefits", "mall", "subscriptions", "level_changes", "behaviour_events", "events_told_to_the_platform"} <= set(data)


def test_only_a_role_with_the_right_exports_or_erases(person, operator):
    with pytest.raises(PermissionDenied):
        member_data_export(member=person, actor=operator)
    with pytest.raises(PermissionDenied):
        member_data_erase(member=person, actor=operator, reason="ticket 1")
    assert not PersonalDataErasure.objects.exists()


def test_erasure_removes_the_personal_data_everywhere_and_keeps_the_ledgers(person, program_admin):
    balance, code = points_balance_get(member=person), person.invite_code.code
    audit_before = LogEntry.objects.count()
    assert any(PHONE in json.dumps(e.changes, ensure_ascii=False) for e in LogEntry.objects.all())

    erasure = member_data_erase(member=person, actor=program_admin, reason="ticket 4711")

    person.refresh_from_db()
    assert (person.member_id, person.name, person.phone, person.birthday) == ("P1", "", "", None)
    assert erasure.erased_by == program_admin and erasure.reason == "ticket 4711" and erasure.rows_changed["member"] == 1
    alerts = [str(pk) for pk in Alert.objects.filter(member=person).values_list("pk", flat=True)]
    theirs = LogEntry.objects.filter(
        Q(content_type__model="member", object_pk=str(person.pk)) | Q(content_type__model="alert", object_pk__in=alerts)
    )
    assert theirs.filter(content_type__model="member").count() >= 2  # created, then edited in the console
    everything = json.dumps([[e.changes, e.serialized_data, e.object_repr, e.changes_text] for e in theirs], ensure_ascii=False)
    assert PHONE not in everything and "王小明" not in everything and "1990-05-17" not in everything
    assert LogEntry.objects.count() == audit_before  # who changed what and when stays
    alert = Alert.objects.get(member=person)
    assert alert.details["phone"] == "[erased]" and PHONE not in alert.incident_key
    assert Alert.objects.filter(member__member_id="S0", details__phone=PHONE).exists()  # another person's alert is theirs
    person.invite_code.refresh_from_db()
    assert person.invite_code.link == "" and person.invite_code.code != code
    with pytest.raises(ValidationError):
        invitation_accept(code=code, invitee=MemberFactory(member_id="P3"))
    assert points_balance_get(member=person) == balance and points_reconcile() == []
    assert person.level_id == Member.objects.get(pk=person.pk).level_id

    exported = member_data_export(member=person, actor=program_admin)
    assert exported["member"]["personal_data_erased_at"] == erasure.erased_at and exported["member"]["phone"] == ""
    with pytest.raises(ValidationError, match="was erased already, on "):
        member_data_erase(member=person, actor=program_admin, reason="again")
    with pytest.raises(ValidationError, match="say which request"):
        member_data_erase(member=MemberFactory(), actor=program_admin, reason=" ")


def test_the_console_exports_and_erases_from_the_members_list(person, program_admin, operator, client):
    url = reverse("admin:membership_member_changelist")
    client.force_login(operator)
    assert "erase_personal_data" not in client.get(url).content.decode()
    client.force_login(program_admin)
    response = client.post(url, {"action": "export_personal_data", "_selected_action": [person.pk]})
    assert response["Content-Type"].startswith("application/json")
    assert 'filename="member-p1-data-' in response["Content-Disposition"]
    assert json.loads(response.content)["member"]["name"] == "王小明"

    confirm = client.post(url, {"action": "erase_personal_data", "_selected_action": [person.pk]})
    assert confirm.status_code == 200 and "This cannot be undone." in confirm.content.decode()
    assert Member.objects.get(pk=person.pk).name == "王小明"
    done = client.post(url, {"action": "erase_personal_data", "_selected_action": [person.pk], "apply": "1", "reason": "ticket 9"}, follow=True)
    assert "was erased" in done.content.decode()
    assert Member.objects.get(pk=person.pk).name == "" and PersonalDataErasure.objects.get().reason == "ticket 9"


def test_the_api_exports_and_erases_with_the_privacy_scope(person):
    def make_key(scopes):
        return api_key_create(name=f"system-{'-'.join(scopes)}", scopes=list(scopes), actor=None)

    _, reader = make_key(scopes=("read",))
    assert ApiClient(reader).call("GET", "members/P1/personal-data").status_code == 403
    _, key = make_key(scopes=("privacy",))
    api = ApiClient(key)
    response = api.call("GET", "members/P1/personal-data")
    assert response.status_code == 200 and response.json()["member"]["phone"] == PHONE
    assert api.call("POST", "members/P1/erasure", {}).status_code == 400
    response = api.call("POST", "members/P1/erasure", {"reason": "ticket 12"})
    assert response.status_code == 201 and response.json()["rows_changed"]["member"] == 1
    assert Member.objects.get(pk=person.pk).phone == ""
    again = api.call("POST", "members/P1/erasure", {"reason": "ticket 12"})
    assert again.status_code == 422 and "was erased already" in again.json()["detail"]
    assert PersonalDataErasure.objects.get().erased_by.username.startswith("api:")
