"""The audit log: staff changes are recorded with who, when, before and after, and can be searched."""

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse

from membership.models import Program
from membership.tests.factories import MemberFactory
from riskcontrol.services import adjustment_request

pytestmark = pytest.mark.django_db


def test_a_program_change_in_the_admin_is_logged_with_who_and_before_and_after(admin_client, admin_user, program):
    from membership.tests.test_admin_pages import program_form_data

    url = reverse("admin:membership_program_change", args=[program.pk])
    data, _ = program_form_data(admin_client, program)
    data["daily_growth_cap"] = 30000
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    entry = LogEntry.objects.get_for_object(Program.objects.get(pk=program.pk)).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert entry.actor == admin_user
    assert entry.changes_dict["daily_growth_cap"] == ["20000", "30000"]


def test_role_changes_and_adjustments_are_logged_and_searchable(admin_client, admin_user, django_user_model, program):
    user = django_user_model.objects.create_user("newop", is_staff=True)
    from auditlog.context import set_actor

    with set_actor(admin_user):
        user.groups.add(Group.objects.get(name="Operator"))
        adjustment_request(member=MemberFactory(member_id="AU1"), currency="points", amount=50, reason_code="goodwill", reason="late parcel", actor=admin_user)
    assert LogEntry.objects.filter(object_repr__icontains="newop", actor=admin_user).exists()
    created = LogEntry.objects.get(content_type__model="manualadjustment", action=LogEntry.Action.CREATE)
    assert created.actor == admin_user and created.changes_dict["reason"][1] == "late parcel"
    booked = LogEntry.objects.get(content_type__model="manualadjustment", action=LogEntry.Action.UPDATE)
    assert booked.changes_dict["status"] == ["pending", "booked"]
    page = admin_client.get(reverse("admin:auditlog_logentry_changelist"), {"q": "newop"})
    assert page.status_code == 200 and "newop" in page.content.decode()
