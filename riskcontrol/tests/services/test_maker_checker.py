"""Maker-checker holds whatever the page, file or API: adjustments split into small ones count
together, the base score (which counts toward the level) is set only by a Program admin, and a
member's id is set once."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from membership.imports import members_import
from membership.models import Member
from membership.tests.factories import MemberFactory
from riskcontrol.models import ManualAdjustment
from riskcontrol.services import adjustment_request

pytestmark = pytest.mark.django_db


def staff(django_user_model, name, *roles):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=roles))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def operator(django_user_model):
    return staff(django_user_model, "op1", "Operator")


def test_small_adjustments_of_one_member_count_together_against_the_threshold(program, operator, django_user_model):
    member = MemberFactory()
    other = staff(django_user_model, "op2", "Operator")
    statuses = [adjustment_request(member=member, currency="growth", amount=1000, reason_code="goodwill", reason="split", actor=operator).status for _ in range(25)]
    assert statuses == ["booked"] + ["pending"] * 24
    assert adjustment_request(member=member, currency="growth", amount=-10, reason_code="goodwill", reason="another hand", actor=other).status == "pending"
    assert adjustment_request(member=member, currency="points", amount=500, reason_code="goodwill", reason="points", actor=operator).status == "booked"
    assert adjustment_request(member=MemberFactory(), currency="growth", amount=1000, reason_code="goodwill", reason="another member", actor=operator).status == "booked"
    assert ManualAdjustment.objects.filter(status="booked", currency="growth", member=member).count() == 1


def test_an_operator_can_neither_set_a_base_score_nor_rename_a_member_on_the_member_page(client, program, operator):
    member = MemberFactory(member_id="KEEP")
    client.force_login(operator)
    page = client.get(reverse("admin:membership_member_change", args=[member.pk]))
    form = page.context["adminform"].form
    assert "base_score" not in form.fields and "member_id" not in form.fields
    data = {name: (value if value is not None else "") for name, value in form.initial.items() if name in form.fields}
    data.update({"base_score": "60000", "member_id": "RENAMED", "name": "new name", "level_changes-TOTAL_FORMS": "0", "level_changes-INITIAL_FORMS": "0"})
    client.post(reverse("admin:membership_member_change", args=[member.pk]), data)
    member.refresh_from_db()
    assert (member.member_id, member.base_score) == ("KEEP", 0)


def test_a_program_admin_sets_a_base_score_on_the_member_page(client, program, django_user_model):
    admin = staff(django_user_model, "pa", "Operator", "Program admin")  # roles add up
    member = MemberFactory()
    client.force_login(admin)
    form = client.get(reverse("admin:membership_member_change", args=[member.pk])).context["adminform"].form
    assert "base_score" in form.fields and "member_id" not in form.fields


def test_a_member_import_takes_base_scores_only_from_a_program_admin(program, operator, django_user_model, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text("member_id,name,base_score\nB1,甲,60000\nB2,乙,\n", encoding="utf-8")
    errors = []
    report = members_import(path=str(path), actor=operator, on_error=errors.append)
    assert report.counts["rejected"] == 1 and "only a Program admin may set it" in errors[0]
    assert not Member.objects.filter(member_id="B1").exists() and Member.objects.filter(member_id="B2").exists()
    admin = staff(django_user_model, "pa", "Operator", "Program admin")
    assert members_import(path=str(path), actor=admin).counts["rejected"] == 0
    assert Member.objects.get(member_id="B1").base_score == 60000
    call_command("import_members", str(path))  # the system (a command) may too


@pytest.mark.parametrize("amount", [9_223_372_036_854_775_807, 2_147_483_648, -1_000_001])
def test_an_adjustment_over_the_programs_largest_is_refused_in_a_sentence(program, operator, amount):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="larger than the program allows \\(1,000,000\\)"):
        adjustment_request(member=MemberFactory(), currency="points", amount=amount, reason_code="goodwill", reason="typo", actor=operator)
    assert not ManualAdjustment.objects.exists()


def test_the_admin_refuses_a_huge_adjustment_with_a_sentence(client, program, operator):
    member = MemberFactory()
    client.force_login(operator)
    response = client.post(
        reverse("admin:riskcontrol_manualadjustment_add"),
        {"member": member.pk, "currency": "points", "amount": "9223372036854775807", "reason_code": "goodwill", "reason": "typo", "reference": ""},
        follow=True,
    )
    assert response.status_code == 200 and not ManualAdjustment.objects.exists()
    text = response.content.decode()
    assert "larger than the program allows" in text or "less than or equal to" in text
