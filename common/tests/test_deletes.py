"""What history refers to is refused deletion at once, in one sentence; what can never be deleted
offers no delete."""

import time

import pytest
from django.urls import reverse
from django.utils import timezone

from membership.models import Level, Member, Program
from membership.services import order_book
from membership.tests.factories import MemberFactory, order

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(program):
    level = Level.objects.get(program=program, code="V1")
    for n in range(300):
        MemberFactory(member_id=f"D{n:03d}", level=level)
    order_book(facts=order("DO1", Member.objects.get(member_id="D000"), timezone.now(), goods="100"))
    return level


def test_deleting_a_program_with_history_is_refused_at_once_in_one_sentence(admin_client, program, history):
    started = time.monotonic()
    page = admin_client.get(reverse("admin:membership_program_delete", args=[program.pk])).content.decode()
    assert time.monotonic() - started < 5
    assert "Default membership program cannot be deleted: members, " in page and "order credits" in page and "history is kept" in page
    assert page.count("<li>") < 30  # not every member by name
    assert admin_client.post(reverse("admin:membership_program_delete", args=[program.pk]), {"post": "yes"}).status_code == 200
    assert Program.objects.filter(pk=program.pk).exists()


def test_deleting_a_level_that_members_hold_is_refused_in_one_sentence(admin_client, program, history):
    url = reverse("admin:membership_program_change", args=[program.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    for formset in admin_client.get(url).context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data.update({f"{management.prefix}-{k}": v for k, v in management.initial.items()})
        for inline_form in formset.formset.forms:
            for name, field in inline_form.fields.items():
                value = inline_form.initial.get(name, field.initial)
                if value is not None:
                    data[inline_form.add_prefix(name)] = value.pk if hasattr(value, "pk") else value
            if inline_form.instance.pk == history.pk:
                data[inline_form.add_prefix("DELETE")] = "on"
    response = admin_client.post(url, data)
    page = response.content.decode()
    assert response.status_code == 200 and "V1" in page and "cannot be deleted: members" in page
    assert "D001" not in page  # no list of the members
    assert Level.objects.filter(pk=history.pk).exists()


def test_members_offer_no_delete(admin_client, program, history):
    member = Member.objects.get(member_id="D000")
    page = admin_client.get(reverse("admin:membership_member_change", args=[member.pk])).content.decode()
    assert reverse("admin:membership_member_delete", args=[member.pk]) not in page
    assert admin_client.get(reverse("admin:membership_member_delete", args=[member.pk])).status_code == 403
    actions = admin_client.get(reverse("admin:membership_member_changelist")).content.decode()
    assert 'value="delete_selected"' not in actions
