"""The mall in the admin: import and export of items, cancelling redemptions, the member page section."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mall.models import MallItem, Redemption
from mall.services import redemption_create
from membership.tests.factories import MemberFactory, local

from .factories import at_level, earn, item

pytestmark = pytest.mark.django_db


@pytest.fixture
def redemption(program):
    member = at_level(MemberFactory(member_id="MALL1"), "V4")
    earn(program, member, 5000, local(2026, 1, 1), "earn")
    return redemption_create(member=member, item=item(program, stock=3), key="adm", at=local(2026, 6, 1))


def test_the_member_page_lists_the_latest_redemptions_with_links(admin_client, redemption):
    page = admin_client.get(reverse("admin:membership_member_change", args=[redemption.member_id])).content.decode()
    assert "Redemptions and draws" in page
    assert reverse("admin:mall_redemption_change", args=[redemption.pk]) in page and "youku-vip" in page
    listed = admin_client.get(reverse("admin:mall_redemption_changelist"), {"q": "MALL1"})
    assert listed.status_code == 200 and listed.context["cl"].result_count == 1


def test_cancelling_from_the_list_asks_why_then_cancels(admin_client, redemption):
    url = reverse("admin:mall_redemption_changelist")
    ask = admin_client.post(url, {"action": "cancel_redemptions", "_selected_action": [redemption.pk]})
    assert ask.status_code == 200 and b"Why are they cancelled?" in ask.content
    done = admin_client.post(url, {"action": "cancel_redemptions", "_selected_action": [redemption.pk], "apply": "1", "reason": "lost parcel"})
    assert done.status_code == 302
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.CANCELLED and redemption.cancel_reason == "lost parcel"
    assert MallItem.objects.get(pk=redemption.item_id).stock == 3


def test_items_import_with_preview_and_confirm_and_export(admin_client, program):
    url = reverse("admin:mall_mallitem_import")
    upload = SimpleUploadedFile("items.csv", "code,name,kind,prices\nyouku-vip,优酷月卡,privilege,V3:2250;V4:1500\n".encode())
    preview = admin_client.post(url, {"resource": 0, "format": 0, "import_file": upload})
    assert preview.status_code == 200 and not MallItem.objects.exists()
    confirm = preview.context["confirm_form"]
    response = admin_client.post(reverse("admin:mall_mallitem_process_import"), {**confirm.initial})
    assert response.status_code == 302
    assert dict(MallItem.objects.get(code="youku-vip").prices.values_list("level__code", "points")) == {"V3": 2250, "V4": 1500}
    export = admin_client.post(reverse("admin:mall_mallitem_export"), {"format": 0, "resource": 0, **{f"mallitemexportresource_{f}": "on" for f in ("code", "name", "kind", "prices")}})
    assert export.status_code == 200 and "V3:2250;V4:1500" in export.content.decode("utf-8-sig")
