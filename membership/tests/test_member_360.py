"""The member page as customer service's 360 view: buttons that act through the services with the
acting user (adjust, list, suspend, redeem on the member's behalf), links to the member's records,
and a timeline of everything that happened to the member, newest first."""

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mall.models import Redemption
from mall.tests.factories import at_level, earn, item
from membership.services import order_book, settlement_run_execute
from membership.tests.factories import MemberFactory, local, order, staff_signed_in
from riskcontrol.models import ListEntry, ManualAdjustment

pytestmark = pytest.mark.django_db


def tools(page: str) -> list[str]:
    return re.findall(r'<a href="[^"]*" class="member-tool">([^<]+)</a>', page)


def seen(page: str) -> list[str]:
    links = re.search(r'<p id="member-see">(.*?)</p>', page, re.S)
    return re.findall(r">([^<]+)</a>", links.group(1)) if links else []


def test_customer_service_gets_the_buttons_it_may_use_and_a_viewer_only_the_records(program, django_user_model):
    member = MemberFactory()
    url = reverse("admin:membership_member_change", args=[member.pk])
    _, operator = staff_signed_in(django_user_model, "li", "Operator", "Viewer")
    page = operator.get(url).content.decode()
    assert tools(page) == ["Adjust growth", "Adjust points", "Blacklist", "Suspend benefits", "Redeem for the member"]
    assert seen(page) == ["Orders", "Growth ledger", "Points ledger", "Behaviour events", "Benefit grants", "Redemptions", "Alerts", "List entries", "Adjustments"]
    assert f'href="/admin/membership/order/?q={member.member_id}"' in page

    _, viewer = staff_signed_in(django_user_model, "zhao", "Viewer")
    page = viewer.get(url).content.decode()
    assert tools(page) == [] and "Orders" in seen(page)


def test_an_adjustment_from_the_member_page_goes_through_the_threshold_and_comes_back(program, django_user_model):
    program.adjustment_approval_threshold = 100
    program.save()
    member = MemberFactory()
    user, operator = staff_signed_in(django_user_model, "li", "Operator", "Viewer")
    page = operator.get(reverse("admin:membership_member_change", args=[member.pk])).content.decode()
    form_url = re.search(r'<a href="([^"]+)" class="member-tool">Adjust points</a>', page).group(1).replace("&amp;", "&")
    form = operator.get(form_url)
    assert form.context["adminform"].form.initial["member"] == str(member.pk)
    assert form.context["adminform"].form.initial["currency"] == "points"

    response = operator.post(form_url, {"member": member.pk, "currency": "points", "amount": 500, "reason_code": "compensation", "reason": "lost parcel"})
    assert response.status_code == 302 and response.url == reverse("admin:membership_member_change", args=[member.pk])
    adjustment = ManualAdjustment.objects.get()
    assert adjustment.status == "pending" and adjustment.requested_by == user and adjustment.points_entry is None
    page = operator.get(response.url).content.decode()
    assert "waits for another staff member&#x27;s approval" in page
    assert "+500 Points · Waiting for approval · lost parcel" in page  # on the timeline until decided


def test_benefits_are_suspended_from_the_member_page(program, django_user_model):
    member = MemberFactory()
    user, operator = staff_signed_in(django_user_model, "li", "Operator", "Viewer")
    url = reverse("admin:riskcontrol_listentry_suspend", args=[member.pk])
    assert "id_reason" in operator.get(url).content.decode()
    assert operator.post(url, {"reason": ""}).status_code == 200 and not ListEntry.objects.exists()
    response = operator.post(url, {"reason": "reselling coupons", "review_on": (date.today() + timedelta(days=30)).isoformat()})
    assert response.url == reverse("admin:membership_member_change", args=[member.pk])
    entry = ListEntry.objects.get()
    assert (entry.member, entry.kind, entry.scope, entry.added_by) == (member, "black", "benefits", user)
    _, viewer = staff_signed_in(django_user_model, "zhao", "Viewer")
    assert viewer.post(url, {"reason": "x"}).status_code == 403


def test_customer_service_redeems_on_the_members_behalf_once_per_form(program, django_user_model):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 5000, timezone.now() - timedelta(days=1), "earned")
    vip = item(program, code="youku", stock=10)
    user, operator = staff_signed_in(django_user_model, "li", "Operator", "Viewer")
    url = reverse("admin:mall_redemption_redeem", args=[member.pk])
    page = operator.get(url)
    assert "5,000 points available" in page.content.decode() and "youku: 1,500 points (10 in stock)" in page.content.decode()
    token = page.context["form"].initial["token"]
    data = {"item": vip.pk, "quantity": 2, "token": token}
    response = operator.post(url, data)
    assert response.url == reverse("admin:membership_member_change", args=[member.pk])
    assert operator.post(url, data).status_code == 302  # the same form again: the same redemption
    redemption = Redemption.objects.get()
    assert (redemption.quantity, redemption.points, redemption.created_by) == (2, 3000, user)

    refused = operator.post(url, {"item": vip.pk, "quantity": 2, "token": "another"})
    assert refused.status_code == 200 and "points" in refused.content.decode() and Redemption.objects.count() == 1
    _, viewer = staff_signed_in(django_user_model, "zhao", "Viewer")
    assert viewer.get(url).status_code == 403


def test_the_timeline_lists_what_happened_newest_first(program, admin_client, admin_user):
    member = MemberFactory(joined_at=local(2026, 1, 1))
    order_book(facts=order("O-1", member, local(2026, 2, 3), goods="3000"))
    settlement_run_execute(month=date(2026, 2, 1))
    order_book(facts=order("O-2", member, local(2026, 3, 5), goods="200"))
    from riskcontrol.services import list_entry_add

    list_entry_add(member=member, kind="black", scope="redemption", reason="chargeback", actor=admin_user, starts_at=local(2026, 3, 6))
    page = admin_client.get(reverse("admin:membership_member_change", args=[member.pk])).content.decode()
    timeline = re.search(r'<table id="member-timeline">.*?</table>', page, re.S).group(0)
    kinds = re.findall(r"<tr><td>[^<]*</td><td>([^<]+)</td>", timeline)
    assert kinds == ["Benefit", "Blacklist", "Order", "Growth entry", "Points entry", "Level", "Order", "Growth entry", "Points entry"]
    assert "O-2: 200.00 yuan, Completed" in timeline and "O-1: 3,000.00 yuan" in timeline and "V0 → V1 at the settlement of 2026-02" in timeline
    whens = re.findall(r"<tr><td>([^<]*)</td>", timeline)
    assert whens == sorted(whens, reverse=True) and whens[1] == "2026-03-06 00:00"  # the month's coupon, granted by the run today, first
