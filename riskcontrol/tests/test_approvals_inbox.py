"""The approvals inbox: what waits for an approver in every page's header and on the front page,
approve and reject on the request's page with a note, and the requester reading the outcome."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from membership.tests.factories import MemberFactory
from riskcontrol.models import ManualAdjustment
from riskcontrol.services import adjustment_request

pytestmark = pytest.mark.django_db


def staff(django_user_model, name, *roles):
    user = django_user_model.objects.create_user(name, is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=roles))
    return django_user_model.objects.get(pk=user.pk)


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def people(program, django_user_model):
    program.adjustment_approval_threshold = 100
    program.save()
    return staff(django_user_model, "li", "Operator"), staff(django_user_model, "wang", "Approver", "Viewer"), staff(django_user_model, "zhao", "Viewer")


def large(member, requester, amount=500):
    return adjustment_request(member=member, currency="points", amount=amount, reason_code="compensation", reason="lost parcel", actor=requester)


def test_the_header_and_the_front_page_count_what_waits_for_the_approver_only(people):
    operator, approver, viewer = people
    member = MemberFactory()
    large(member, operator), large(member, operator, 300)
    adjustment_request(member=member, currency="points", amount=20, reason_code="goodwill", reason="small", actor=operator)  # booked at once

    page = signed_in(approver).get(reverse("admin:membership_member_changelist")).content.decode()
    assert 'id="approvals-waiting"' in page and "2 wait for your approval" in page
    assert reverse("admin:riskcontrol_manualadjustment_changelist") + "?approval=waiting" in page
    front = signed_in(approver).get(reverse("admin:index")).content.decode()
    assert 'id="approvals"' in front and "Waiting for your approval" in front

    for nobody in (operator, viewer):  # the requester waits; a viewer cannot decide
        assert 'id="approvals-waiting"' not in signed_in(nobody).get(reverse("admin:index")).content.decode()

    inbox = signed_in(approver).get(reverse("admin:riskcontrol_manualadjustment_changelist"), {"approval": "waiting"})
    assert inbox.context["cl"].result_count == 2


def test_an_approver_approves_on_the_requests_page_and_is_taken_to_the_next(people):
    operator, approver, _ = people
    member = MemberFactory()
    first, second = large(member, operator), large(member, operator, 300)
    client = signed_in(approver)
    page = client.get(reverse("admin:riskcontrol_manualadjustment_change", args=[first.pk])).content.decode()
    assert 'id="decision"' in page and "Approve and book" in page and "li asks to adjust" in page

    response = client.post(reverse("admin:riskcontrol_manualadjustment_decide", args=[first.pk]), {"approve": "1", "note": "parcel confirmed lost"})
    assert response.status_code == 302 and response.url == reverse("admin:riskcontrol_manualadjustment_change", args=[second.pk])
    first.refresh_from_db()
    assert first.status == "booked" and first.decided_by == approver and first.decision_note == "parcel confirmed lost"
    assert first.points_entry.amount == 500

    response = client.post(reverse("admin:riskcontrol_manualadjustment_decide", args=[second.pk]), {"reject": "1", "note": "duplicate of #%d" % first.pk})
    assert response.url == reverse("admin:riskcontrol_manualadjustment_changelist") + "?approval=waiting"
    second.refresh_from_db()
    assert second.status == "rejected" and second.points_entry is None
    assert 'id="approvals-waiting"' not in client.get(reverse("admin:index")).content.decode()


def test_a_rejection_needs_a_note_and_a_decided_request_cannot_be_decided_again(people):
    operator, approver, _ = people
    adjustment = large(MemberFactory(), operator)
    client = signed_in(approver)
    url = reverse("admin:riskcontrol_manualadjustment_decide", args=[adjustment.pk])
    response = client.post(url, {"reject": "1", "note": " "}, follow=True)
    assert "Say why the adjustment is rejected" in response.content.decode()
    adjustment.refresh_from_db()
    assert adjustment.status == "pending"
    client.post(url, {"approve": "1"})
    response = client.post(url, {"reject": "1", "note": "too late"}, follow=True)
    assert f"Adjustment #{adjustment.pk} is booked, not waiting for approval" in response.content.decode()
    assert ManualAdjustment.objects.get(pk=adjustment.pk).status == "booked"


def test_the_requester_cannot_decide_their_own_request_and_reads_the_outcome(people):
    operator, approver, viewer = people
    adjustment = large(MemberFactory(), operator)
    client = signed_in(operator)
    page = client.get(reverse("admin:riskcontrol_manualadjustment_change", args=[adjustment.pk])).content.decode()
    assert "Approve and book" not in page and "it waits for another staff member's approval" in page
    assert client.post(reverse("admin:riskcontrol_manualadjustment_decide", args=[adjustment.pk]), {"approve": "1"}).status_code == 403
    assert signed_in(viewer).post(reverse("admin:riskcontrol_manualadjustment_decide", args=[adjustment.pk]), {"approve": "1"}).status_code == 403

    signed_in(approver).post(reverse("admin:riskcontrol_manualadjustment_decide", args=[adjustment.pk]), {"reject": "1", "note": "no ticket attached"})
    front = client.get(reverse("admin:index")).content.decode()
    assert 'id="decided"' in front and "rejected by wang" in front and "no ticket attached" in front
    mine = client.get(reverse("admin:riskcontrol_manualadjustment_changelist"), {"approval": "mine"})
    assert [a.pk for a in mine.context["cl"].result_list] == [adjustment.pk]


def test_the_inbox_in_chinese(people):
    operator, approver, _ = people
    large(MemberFactory(), operator)
    client = signed_in(approver)
    client.cookies["django_language"] = "zh-hans"
    page = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "1 项等待您审批" in page and "等待您审批" in page
