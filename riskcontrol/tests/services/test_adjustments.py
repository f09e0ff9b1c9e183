"""Manual adjustments: a reason always, booking within the threshold, a second person above it."""

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum
from django.urls import reverse

from membership.models import GrowthEntry
from membership.tests.factories import MemberFactory
from points.models import PointsEntry
from points.selectors import points_balance_get, points_reconcile
from riskcontrol.models import ManualAdjustment
from riskcontrol.services import adjustment_approve, adjustment_reject, adjustment_request

pytestmark = pytest.mark.django_db


def staff(django_user_model, name, *perms):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    for perm in perms:
        user.user_permissions.add(Permission.objects.get(codename=perm))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def operator(django_user_model):
    return staff(django_user_model, "operator", "add_manualadjustment", "view_manualadjustment", "view_member")


@pytest.fixture
def approver(django_user_model):
    return staff(django_user_model, "approver", "add_manualadjustment", "approve_manualadjustment", "view_manualadjustment")


def growth_of(member):
    return GrowthEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0


def test_small_adjustment_books_at_once_with_who_and_why(program, operator):
    m = MemberFactory()
    adj = adjustment_request(member=m, currency="growth", amount=1000, reason_code="compensation", reason="late parcel", actor=operator, reference="T-1")
    assert adj.status == "booked"
    entry = GrowthEntry.objects.get(member=m)
    assert (entry.kind, entry.amount, entry.created_by, entry.source, entry.source_ref) == ("adjustment", 1000, operator, "adjustment", "T-1")
    assert "late parcel" in entry.reason


def test_large_adjustment_waits_for_a_different_approver(program, operator, approver):
    m = MemberFactory()
    adj = adjustment_request(member=m, currency="points", amount=1001, reason_code="goodwill", reason="VIP complaint", actor=operator)
    assert adj.status == "pending" and points_balance_get(member=m) == 0
    with pytest.raises(PermissionDenied):
        adjustment_approve(adjustment=adj, actor=operator)  # no approval permission
    self_request = adjustment_request(member=m, currency="points", amount=5000, reason_code="goodwill", reason="x", actor=approver)
    with pytest.raises(PermissionDenied, match="different staff member"):
        adjustment_approve(adjustment=self_request, actor=approver)
    adjustment_approve(adjustment=adj, actor=approver)
    adj.refresh_from_db()
    assert adj.status == "booked" and adj.decided_by == approver
    assert points_balance_get(member=m) == 1001
    with pytest.raises(ValidationError, match="not waiting for approval"):
        adjustment_approve(adjustment=adj, actor=approver)  # approving twice books nothing twice
    assert PointsEntry.objects.filter(member=m).count() == 1


def test_rejected_requests_are_kept_and_book_nothing(program, operator, approver):
    m = MemberFactory()
    adj = adjustment_request(member=m, currency="growth", amount=-5000, reason_code="abuse", reason="farming", actor=operator)
    with pytest.raises(ValidationError):
        adjustment_reject(adjustment=adj, actor=approver, note=" ")
    adjustment_reject(adjustment=adj, actor=approver, note="not proven")
    adj.refresh_from_db()
    assert (adj.status, adj.decision_note) == ("rejected", "not proven")
    assert growth_of(m) == 0


def test_a_reason_is_required_and_zero_is_refused(program, operator):
    m = MemberFactory()
    with pytest.raises(ValidationError):
        adjustment_request(member=m, currency="growth", amount=10, reason_code="other", reason="", actor=operator)
    with pytest.raises(ValidationError):
        adjustment_request(member=m, currency="growth", amount=0, reason_code="other", reason="x", actor=operator)
    assert ManualAdjustment.objects.count() == 0


def test_points_deduction_cannot_overdraw(program, operator):
    m = MemberFactory()
    adjustment_request(member=m, currency="points", amount=300, reason_code="goodwill", reason="gift", actor=operator)
    with pytest.raises(ValidationError, match="300 points available"):
        adjustment_request(member=m, currency="points", amount=-301, reason_code="correction", reason="typo", actor=operator)
    adjustment_request(member=m, currency="points", amount=-300, reason_code="correction", reason="typo", actor=operator)
    assert points_balance_get(member=m) == 0 and points_reconcile() == []


def test_viewer_without_permission_cannot_request(program, django_user_model):
    viewer = staff(django_user_model, "viewer", "view_manualadjustment")
    with pytest.raises(PermissionDenied):
        adjustment_request(member=MemberFactory(), currency="growth", amount=1, reason_code="other", reason="x", actor=viewer)


def test_admin_add_form_books_through_the_service(program, client, operator):
    m = MemberFactory()
    client.force_login(operator)
    response = client.post(
        reverse("admin:riskcontrol_manualadjustment_add"),
        {"member": m.pk, "currency": "growth", "amount": 200, "reason_code": "compensation", "reason": "broken item", "reference": ""},
    )
    assert response.status_code == 302, response.content[:2000]
    assert growth_of(m) == 200
    assert client.get(reverse("admin:riskcontrol_manualadjustment_changelist")).status_code == 200


def test_admin_approve_and_reject_actions(program, client, operator, approver):
    m = MemberFactory()
    a = adjustment_request(member=m, currency="growth", amount=3000, reason_code="goodwill", reason="a", actor=operator)
    b = adjustment_request(member=m, currency="growth", amount=4000, reason_code="goodwill", reason="b", actor=operator)
    client.force_login(approver)
    url = reverse("admin:riskcontrol_manualadjustment_changelist")
    client.post(url, {"action": "approve_adjustments", "_selected_action": [a.pk]})
    page = client.post(url, {"action": "reject_adjustments", "_selected_action": [b.pk]})
    assert page.status_code == 200 and b"Why are they rejected" in page.content
    client.post(url, {"action": "reject_adjustments", "_selected_action": [b.pk], "apply": "1", "note": "duplicate"})
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.status, b.status) == ("booked", "rejected")
    assert growth_of(m) == 3000
