"""An alert's page as a case: the evidence its rule found (the phone's other members, the orders
behind a refund rate, the entries of the hour), the member's latest entries, how long it has been
open, and the workflow's moves as buttons with a note."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from membership.services import order_book
from membership.tests.factories import MemberFactory, local, order
from riskcontrol.models import Alert, AnomalyRule
from riskcontrol.services import anomaly_scan

pytestmark = pytest.mark.django_db
DAY = (local(2026, 3, 1), local(2026, 3, 2))


def rule(code, kind, params):
    row = AnomalyRule(code=code, name=code, kind=kind, params=params, severity="medium")
    row.full_clean()
    row.save()
    return row


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("alertop", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=["Operator", "Viewer"]))
    client = Client()
    client.force_login(user)
    return client


def test_a_shared_phone_alert_shows_the_other_members_and_is_worked_from_its_page(program, operator):
    rule("phones", "shared_phone", {"min_members": 3})
    first, second, third = (MemberFactory(member_id=f"FARM{n}", phone="13900009999") for n in range(3))
    MemberFactory(member_id="ALONE", phone="13900001234")
    anomaly_scan(since=DAY[0], until=DAY[1])
    alert = Alert.objects.get(member=first)
    url = reverse("admin:riskcontrol_alert_change", args=[alert.pk])
    page = operator.get(url).content.decode()
    assert "Other members with phone 13900009999" in page
    assert "FARM1" in page and "FARM2" in page and "ALONE" not in page
    assert 'id="alert-age"' in page and "Open for" in page
    moves = page.split('id="alert-moves"')[1].split("</form>")[0]
    assert [m for m in ("investigating", "resolved", "false_positive", "open") if f'value="{m}"' in moves] == ["investigating", "resolved", "false_positive"]

    move = reverse("admin:riskcontrol_alert_transition", args=[alert.pk])
    assert operator.post(move, {"to": "investigating"}).url == url
    alert.refresh_from_db()
    assert alert.status == "investigating"
    page = operator.post(move, {"to": "resolved", "note": ""}, follow=True).content.decode()
    assert "Say what was found before closing the alert" in page
    operator.post(move, {"to": "resolved", "note": "one household, three children"})
    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert list(alert.events.order_by("pk").values_list("to_status", "note"))[-2:] == [("investigating", ""), ("resolved", "one household, three children")]
    listed = operator.get(reverse("admin:riskcontrol_alert_changelist")).content.decode()
    assert "open for" in listed.lower()


def test_a_refund_rate_alert_shows_the_orders_behind_it(program, operator):
    rule("refunds", "refund_rate", {"rate": 0.5, "days": 30, "min_orders": 4})
    serial = MemberFactory(member_id="SERIAL")
    for n in range(4):
        refunded = n < 2
        order_book(facts=order(f"S{n}", serial, local(2026, 2, 20 + n), "refunded" if refunded else "completed", goods="100", refunded="100" if refunded else "0"))
    anomaly_scan(since=DAY[0], until=DAY[1])
    page = operator.get(reverse("admin:riskcontrol_alert_change", args=[Alert.objects.get().pk])).content.decode()
    assert "The orders behind the refund rate" in page
    assert all(f">S{n}<" in page for n in range(4))
    assert "The member&#x27;s latest entries" in page


def test_an_earning_velocity_alert_shows_the_entries_of_the_hour(program, operator):
    rule("velocity", "earning_velocity", {"threshold": 500})
    fast = MemberFactory(member_id="FAST")
    order_book(facts=order("V1", fast, local(2026, 3, 1, 10, 5), goods="400"))
    order_book(facts=order("V2", fast, local(2026, 3, 1, 10, 40), goods="400"))
    order_book(facts=order("LATER", fast, local(2026, 3, 1, 13, 0), goods="10"))
    anomaly_scan(since=DAY[0], until=DAY[1])
    page = operator.get(reverse("admin:riskcontrol_alert_change", args=[Alert.objects.get().pk])).content.decode()
    hour = page.split("The entries of that hour")[1].split("<h3>")[0]
    assert "V1" in hour and "V2" in hour and "LATER" not in hour


def test_a_viewer_reads_the_case_without_the_moves(program, django_user_model):
    rule("phones", "shared_phone", {"min_members": 2})
    MemberFactory(phone="13900007777"), MemberFactory(phone="13900007777")
    anomaly_scan(since=DAY[0], until=DAY[1])
    user = django_user_model.objects.create_user("zhao", is_staff=True)
    user.groups.add(Group.objects.get(name="Viewer"))
    client = Client()
    client.force_login(user)
    alert = Alert.objects.first()
    page = client.get(reverse("admin:riskcontrol_alert_change", args=[alert.pk])).content.decode()
    assert 'id="alert-case"' in page and 'id="alert-moves"' not in page
    assert client.post(reverse("admin:riskcontrol_alert_transition", args=[alert.pk]), {"to": "investigating"}).status_code == 403
