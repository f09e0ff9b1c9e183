"""The audit log: staff changes are recorded with who, when, before and after, and can be searched."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

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


@pytest.mark.parametrize("page", ["member", "mall item", "lottery", "benefit", "program"])
def test_a_page_saved_unchanged_changes_nothing_and_an_edit_changes_only_what_was_edited(admin_client, program, page):
    """Times are shown to the second; saved back they keep their microseconds, and no change is
    recorded that nobody made."""
    from benefits.models import Benefit
    from mall.models import Lottery, MallItem

    from common.tests.browser import form_as_posted

    moment = timezone.now().replace(microsecond=123456)
    obj, edited = {
        "member": lambda: (MemberFactory(member_id="UNCHANGED", joined_at=moment), "name"),
        "mall item": lambda: (MallItem.objects.create(program=program, code="cup", name="cup", kind="goods", stock=5, available_from=moment), "name"),
        "lottery": lambda: (Lottery.objects.create(program=program, code="l1", name="spin", cost=10, starts_at=moment, ends_at=moment + timedelta(days=7)), "name"),
        "benefit": lambda: (Benefit.objects.create(program=program, code="b1", name="coupon", kind="coupon", trigger="monthly", min_level=program.levels.first(), starts_at=moment), "name"),
        "program": lambda: (program.rules.update(valid_from=moment) and program, "rules-0-name"),  # its rules are on its page
    }[page]()
    before = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.name != "updated_at"}
    rules_before = list(program.rules.values())
    logged = LogEntry.objects.count()
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    posted = form_as_posted(admin_client.get(url).content.decode())
    response = admin_client.post(url, posted)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    obj.refresh_from_db()
    assert {name: getattr(obj, name) for name in before} == before
    assert list(program.rules.values()) == rules_before
    assert LogEntry.objects.count() == logged, list(LogEntry.objects.values_list("content_type__model", "changes")[logged:])

    response = admin_client.post(url, {**posted, edited: "renamed"})
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    changes = [entry.changes_dict for entry in LogEntry.objects.order_by("pk")[logged:]]
    assert [list(c) for c in changes] == [["name"]], changes


def test_every_change_page_saved_back_unchanged_changes_nothing(admin_client, one_of_each):
    from django.contrib import admin

    from common.tests.browser import form_as_posted

    saved, wrong = set(), []
    for model, model_admin in admin.site._registry.items():
        changelist = admin_client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
        obj = model_admin.get_queryset(changelist.wsgi_request).order_by("pk").last()
        if obj is None:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
        page = admin_client.get(url).content.decode()
        if 'name="_save"' not in page:
            continue  # shown, not edited
        label = model._meta.label
        kept = [f.attname for f in model._meta.concrete_fields if not getattr(f, "auto_now", False) and f.name != "last_login"]
        before = {name: getattr(obj, name) for name in kept}
        logged = LogEntry.objects.count()
        response = admin_client.post(url, form_as_posted(page))
        if response.status_code != 302:
            wrong.append((label, "not saved", response.context and response.context["adminform"].form.errors))
            continue
        obj.refresh_from_db()
        after = {name: getattr(obj, name) for name in before}
        if after != before:
            wrong.append((label, "changed", {name: (before[name], after[name]) for name in before if after[name] != before[name]}))
        if LogEntry.objects.count() != logged:
            wrong.append((label, "logged", list(LogEntry.objects.order_by("pk").values_list("content_type__model", "changes")[logged:])))
        saved.add(label)
    assert not wrong, "\n".join(map(str, wrong))
    assert saved >= {
        "membership.Program", "membership.Member", "mall.MallItem", "mall.Lottery", "mall.CashOffsetPolicy", "benefits.Benefit",
        "invitations.InvitationPolicy", "riskcontrol.AnomalyRule", "subscriptions.Plan",
    }, saved
