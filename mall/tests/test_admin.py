"""The mall in the admin: import and export of items, cancelling redemptions, the member page section."""

import re

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


@pytest.fixture
def everything(program, redemption):
    from mall.models import Lottery, LotteryPrize
    from mall.presets import MALL_PRESETS
    from mall.services import cash_offset_policy_sync, lottery_draw, offset_apply

    lottery = Lottery.objects.create(program=program, code="spin", name="Spin", cost=10)
    LotteryPrize.objects.create(lottery=lottery, name="Thanks", kind="nothing", weight=1)
    cash_offset_policy_sync(program=program, specs=MALL_PRESETS["jd-beans"]["cash_offset"])
    member = redemption.member
    draw = lottery_draw(member=member, lottery=lottery, key="adm-draw", seed=1, at=local(2026, 6, 2))
    offset = offset_apply(member=member, order_ref="ADM-ORDER", order_amount="100", points=1000, key="adm-offset", at=local(2026, 6, 3))
    return member, draw, offset


def test_every_mall_page_opens_with_data(admin_client, everything):
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "mall":
            continue
        info = model._meta.app_label, model._meta.model_name
        assert admin_client.get(reverse("admin:%s_%s_changelist" % info)).status_code == 200, info
        obj = model._default_manager.first()
        assert admin_client.get(reverse("admin:%s_%s_change" % info, args=[obj.pk])).status_code == 200, info
    member, draw, offset = everything
    page = admin_client.get(reverse("admin:membership_member_change", args=[member.pk])).content.decode()
    assert reverse("admin:mall_lotterydraw_change", args=[draw.pk]) in page and "ADM-ORDER" in page


def test_the_calculator_quotes_and_spends_nothing(admin_client, everything):
    from mall.models import CashOffsetPolicy
    from points.selectors import points_balance_get

    member = everything[0]
    policy = CashOffsetPolicy.objects.get()
    url = reverse("admin:mall_cashoffsetpolicy_calculator", args=[policy.pk])
    assert url in admin_client.get(reverse("admin:mall_cashoffsetpolicy_change", args=[policy.pk])).content.decode()
    before = points_balance_get(member=member)
    response = admin_client.post(url, {"member_id": member.member_id, "order_amount": "100", "category": ""})
    assert response.context["quote"].points == 2000  # 2,490 points left: in steps of 1,000, 2,000
    assert 'id="quote-points">2000<' in response.content.decode()
    assert points_balance_get(member=member) == before
    unknown = admin_client.post(url, {"member_id": "NOBODY", "order_amount": "100"})
    assert "No member has the id NOBODY" in unknown.content.decode()


def test_reversing_an_offset_from_the_list(admin_client, everything):
    offset = everything[2]
    url = reverse("admin:mall_cashoffset_changelist")
    assert admin_client.post(url, {"action": "reverse_offsets", "_selected_action": [offset.pk]}).status_code == 200
    admin_client.post(url, {"action": "reverse_offsets", "_selected_action": [offset.pk], "apply": "1", "reason": "refunded"})
    offset.refresh_from_db()
    assert offset.status == "reversed"


def level_options(page: str, name: str) -> list[str]:
    """The options of the select named ``name`` (the first of a formset's rows)."""
    start = page.index(f'name="{name}"')
    return re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', page[start : page.index("</select>", start)])


def test_an_items_prices_offer_only_the_levels_of_its_program(admin_client, program):
    from membership.services import program_load

    other, _ = program_load(name="jd-growth")
    cup = item(program, code="cup", prices={"V1": 100})
    page = admin_client.get(reverse("admin:mall_mallitem_change", args=[cup.pk])).content.decode()
    options = level_options(page, "prices-0-level")
    assert options == [str(level) for level in program.levels.order_by("rank")]
    assert not set(options) & {str(level) for level in other.levels.all()} - {str(level) for level in program.levels.all()}
    add = admin_client.get(reverse("admin:mall_mallitem_add")).content.decode()  # a new item: the active program's
    assert level_options(add, "prices-__prefix__-level") == options
