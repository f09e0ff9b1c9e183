"""The console shows dates and times in the active program's time zone: the member page and its
sections, and the names of export files."""

import re
from datetime import datetime, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from import_export.forms import SelectableFieldsExportForm

from mall.services import redemption_create
from mall.tests.factories import earn, item
from membership.models import Program
from membership.resources import MemberExportResource
from membership.tests.factories import MemberFactory, local

pytestmark = pytest.mark.django_db


def test_the_member_page_shows_times_in_the_programs_time_zone(admin_client, program):
    member = MemberFactory(member_id="TZ1")
    earn(program, member, 500, local(2026, 3, 1), "tz-earn")  # a lot that ends 2027-12-31 24:00 in Shanghai
    mall_item = item(program, code="tz-item", prices={code: 10 for code in ("V0", "V1", "V2", "V3", "V4")})
    redemption_create(member=member, item=mall_item, key="tz-1", at=datetime(2026, 3, 1, 2, 30, tzinfo=dt_timezone.utc))
    url = reverse("admin:membership_member_change", args=[member.pk])

    page = admin_client.get(url).content.decode()
    assert "2026-03-01 10:30" in page  # the redemption, 02:30 UTC, in Shanghai
    assert "2028-01-01 00:00" in page and "2027-12-31 16:00" not in page  # the points' end, not in UTC

    Program.objects.filter(pk=program.pk).update(time_zone="America/Los_Angeles")
    Program.objects.get(pk=program.pk).save()  # as the admin saves it: the console's clock follows
    page = admin_client.get(url).content.decode()
    assert "2026-02-28 18:30" in page  # the same redemption, in Los Angeles


def test_an_export_is_named_by_the_day_in_the_programs_time_zone(admin_client, program):
    # A zone whose day is not UTC's day right now: UTC-11 in UTC's morning, UTC+14 in its afternoon.
    zone = "Pacific/Pago_Pago" if datetime.now(dt_timezone.utc).hour < 10 else "Pacific/Kiritimati"
    assert f"{datetime.now(ZoneInfo(zone)):%Y-%m-%d}" != f"{datetime.now(dt_timezone.utc):%Y-%m-%d}"
    Program.objects.filter(pk=program.pk).update(time_zone=zone)
    Program.objects.get(pk=program.pk).save()
    selected = {SelectableFieldsExportForm.create_boolean_field_name(MemberExportResource, f): "on" for f in MemberExportResource().get_export_order()}
    response = admin_client.post(reverse("admin:membership_member_export"), {"format": 0, "resource": 0, **selected})
    name = re.search(r'filename="([^"]+)"', response["Content-Disposition"]).group(1)
    assert name == f"Member-{datetime.now(ZoneInfo(zone)):%Y-%m-%d}.{name.rsplit('.', 1)[1]}"
