"""Member lists: uploaded as CSV (bad rows named, the same file twice changes nothing, every upload
kept with who and why), named by rules and campaigns as ``segment:CODE`` on both booking paths,
and protected while named."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import campaign_approve, campaign_save, campaign_submit
from membership.models import EarningRule, Order
from membership.rules import OrderFacts
from membership.services import order_book, orders_book_batch
from membership.tests.factories import MemberFactory, local
from points.models import PointsEntry
from segments.models import Segment, SegmentMember, SegmentUpload
from segments.selectors import member_segments
from segments.services import segment_delete, segment_members_import, segment_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    def make(name, *roles):
        user = django_user_model.objects.create_user(name, is_staff=True)
        user.groups.add(*Group.objects.filter(name__in=roles))
        return django_user_model.objects.get(pk=user.pk)

    return {"admin": make("admin", "Program admin"), "approver": make("approver", "Approver"), "viewer": make("viewer", "Viewer")}


@pytest.fixture
def vip(program, staff):
    return segment_save(segment=Segment(program=program, code="vip618", name="618 VIP guests"), actor=staff["admin"])


def csv_file(tmp_path, text, encoding="utf-8", name="list.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def on_list(segment):
    return set(SegmentMember.objects.filter(segment=segment).values_list("member__member_id", flat=True))


def test_an_upload_adds_the_files_members_names_every_bad_row_and_keeps_who_and_why(program, staff, vip, tmp_path):
    for n in range(3):
        MemberFactory(member_id=f"M{n}")
    path = csv_file(tmp_path, "member_id,name\nM0,张三\nM1,李四\nNOBODY,王五\n,空\nM0,again\nM2\n")
    report = segment_members_import(segment=vip, path=path, name="vip.csv", actor=staff["admin"], mode="add", reason="CRM export of 1 June")
    assert report.counts == {"read": 6, "added": 3, "removed": 0, "unchanged": 1, "rejected": 2}
    assert report.errors == [
        "vip.csv: row 5, column member_id: member_id is required",
        "vip.csv: row 4, column member_id: unknown member 'NOBODY'",
    ]
    assert on_list(vip) == {"M0", "M1", "M2"}
    upload = SegmentUpload.objects.get()
    assert (upload.actor, upload.reason, upload.file_name, upload.added, upload.rejected) == (staff["admin"], "CRM export of 1 June", "vip.csv", 3, 2)

    again = segment_members_import(segment=vip, path=path, name="vip.csv", actor=staff["admin"], mode="add", reason="the same file")
    assert (again.counts["added"], again.counts["unchanged"]) == (0, 4)
    assert on_list(vip) == {"M0", "M1", "M2"}


def test_replace_makes_the_list_the_files_members_and_remove_takes_only_them_off(program, staff, vip, tmp_path):
    for n in range(4):
        MemberFactory(member_id=f"M{n}")
    segment_members_import(segment=vip, path=csv_file(tmp_path, "member_id\nM0\nM1\nM2\n"), actor=staff["admin"], mode="add", reason="first")
    report = segment_members_import(segment=vip, path=csv_file(tmp_path, "member_id\nM1\nM3\n"), actor=staff["admin"], mode="replace", reason="new list")
    assert (report.counts["added"], report.counts["removed"], report.counts["unchanged"]) == (1, 2, 1)
    assert on_list(vip) == {"M1", "M3"}
    report = segment_members_import(segment=vip, path=csv_file(tmp_path, "member_id\nM3\nM0\n"), actor=staff["admin"], mode="remove", reason="opted out")
    assert (report.counts["removed"], report.counts["unchanged"]) == (1, 1)
    assert on_list(vip) == {"M1"}


def test_a_gb18030_file_from_excel_reads_and_a_bad_file_is_refused_whole(program, staff, vip, tmp_path):
    MemberFactory(member_id="会员001")
    path = csv_file(tmp_path, "member_id,姓名\n会员001,张三\n", encoding="gb18030")
    report = segment_members_import(segment=vip, path=path, actor=staff["admin"], mode="add", reason="门店名单", encoding="gb18030")
    assert report.counts["added"] == 1 and on_list(vip) == {"会员001"}
    from common.csvio import FileError

    with pytest.raises(FileError, match="missing required column member_id"):
        segment_members_import(segment=vip, path=csv_file(tmp_path, "phone\n138\n"), actor=staff["admin"], mode="replace", reason="wrong file")
    assert on_list(vip) == {"会员001"}  # a refused file takes no one off


def test_an_upload_says_why_and_may_be_made_only_by_whom_the_role_allows(program, staff, vip, tmp_path):
    path = csv_file(tmp_path, "member_id\n")
    with pytest.raises(ValidationError, match="reason is required"):
        segment_members_import(segment=vip, path=path, actor=staff["admin"], mode="add", reason=" ")
    with pytest.raises(ValidationError, match="mode 'merge' is not one of add, remove, replace"):
        segment_members_import(segment=vip, path=path, actor=staff["admin"], mode="merge", reason="x")
    with pytest.raises(PermissionDenied):
        segment_members_import(segment=vip, path=path, actor=staff["viewer"], mode="add", reason="x")
    assert not SegmentUpload.objects.exists()


def order(order_id, member, goods="100", at=None):
    return OrderFacts(order_id=order_id, member_id=member.member_id, paid_at=at or local(2026, 6, 10, 12), status="completed", goods_amount=Decimal(goods))


def test_a_rule_limited_to_a_list_credits_its_members_alone_on_both_paths_as_they_were_when_first_booked(program, staff, vip, tmp_path):
    on, off, later = MemberFactory(member_id="ON"), MemberFactory(member_id="OFF"), MemberFactory(member_id="LATER")
    segment_members_import(segment=vip, path=csv_file(tmp_path, "member_id\nON\nLATER\n"), actor=staff["admin"], mode="add", reason="guests")
    rule = EarningRule.objects.create(program=program, code="vip-bonus", name="VIP bonus", kind="order_amount", currency="points", params={"rate": 2, "when": "segment:vip618"})
    order_book(facts=order("S-ON", on))
    order_book(facts=order("S-OFF", off))
    orders_book_batch(facts=[order("B-ON", on), order("B-OFF", off)], program=program)

    def bonus(member):
        return PointsEntry.objects.filter(rule=rule, member=member).aggregate(s=Sum("amount"))["s"] or 0

    assert (bonus(on), bonus(off)) == (400, 0)
    assert Order.objects.get(order_id="S-ON").member_conditions == "segment:vip618"
    assert Order.objects.get(order_id="B-OFF").member_conditions == "!segment:vip618"

    # taken off the list: a refund of an order booked while on it is weighed as it was booked
    segment_members_import(segment=vip, path=csv_file(tmp_path, "member_id\nON\n"), actor=staff["admin"], mode="remove", reason="left")
    order_book(facts=OrderFacts(**{**order("S-ON", on).__dict__, "refunded_amount": Decimal("50")}))
    assert bonus(on) == 300
    order_book(facts=order("S-LATER", later))
    assert bonus(later) == 200


def test_rules_and_campaigns_name_only_lists_that_exist_and_a_named_list_stays(program, staff, vip, tmp_path):
    with pytest.raises(ValidationError, match="when: unknown condition 'segment:nobody'"):
        EarningRule(program=program, code="x", name="x", kind="order_amount", currency="points", params={"when": "segment:nobody"}).full_clean()
    window = (local(2027, 6, 1), local(2027, 6, 19))
    campaign = campaign_save(
        campaign=Campaign(program=program, code="vip618", name="618 VIP double", params={"rate": 1, "when": "segment:vip618"}, starts_at=window[0], ends_at=window[1]),
        actor=staff["admin"],
    )
    campaign_submit(campaign=campaign, actor=staff["admin"])
    campaign_approve(campaign=campaign, actor=staff["approver"])
    with pytest.raises(ValidationError, match="named by rule campaign-vip618: it cannot be deleted"):
        segment_delete(segment=vip, actor=staff["admin"])
    vip.code = "renamed"
    with pytest.raises(ValidationError, match="its code cannot change"):
        segment_save(segment=vip, actor=staff["admin"])
    unused = segment_save(segment=Segment(program=program, code="spare", name="spare"), actor=staff["admin"])
    path = tmp_path / "spare.csv"
    path.write_text("member_id\nM9\n")
    MemberFactory(member_id="M9")
    segment_members_import(segment=unused, path=str(path), actor=staff["admin"], mode="add", reason="spare")
    segment_delete(segment=unused, actor=staff["admin"])  # with its members and its uploads
    assert not Segment.objects.filter(code="spare").exists()


def test_a_deleted_list_holds_for_no_one(program, staff, vip, tmp_path):
    member = MemberFactory(member_id="ON")
    segment_members_import(segment=vip, path=csv_file(tmp_path, "member_id\nON\n"), actor=staff["admin"], mode="add", reason="guests")
    rule = EarningRule.objects.create(program=program, code="vip-bonus", name="VIP bonus", kind="order_amount", currency="points", params={"when": "segment:vip618"})
    EarningRule.objects.filter(pk=rule.pk).update(params={"when": "segment:gone"})  # as a list deleted behind the rule's back
    order_book(facts=order("S-1", member))
    assert not PointsEntry.objects.filter(rule=rule).exists()
    assert member_segments(member=member) == [vip]


def test_the_console_uploads_a_list_and_shows_it_on_the_member_page(program, staff, vip, client):
    member = MemberFactory(member_id="ON")
    client.force_login(staff["admin"])
    page = client.get(f"/admin/segments/segment/{vip.pk}/change/")
    assert page.status_code == 200 and "Upload members" in page.content.decode() and "segment:vip618" in page.content.decode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    answer = client.post(
        f"/admin/segments/segment/{vip.pk}/upload/",
        {"file": SimpleUploadedFile("guests.csv", b"member_id\nON\nNOBODY\n"), "mode": "add", "reason": "guests"},
        follow=True,
    )
    text = answer.content.decode()
    assert "uests.csv: row 3, column member_id: unknown member" in text and "added 1, taken off 0" in text
    assert on_list(vip) == {"ON"}
    page = client.get(f"/admin/membership/member/{member.pk}/change/").content.decode()
    assert "618 VIP guests" in page
    client.force_login(staff["viewer"])
    assert client.get(f"/admin/segments/segment/{vip.pk}/upload/").status_code == 403


def test_a_daily_rule_can_give_to_a_list(program, staff, vip, tmp_path):
    from membership.services.daily import daily_rules_run

    on, off = MemberFactory(member_id="ON", joined_at=timezone.now() - timedelta(days=30)), MemberFactory(member_id="OFF", joined_at=timezone.now() - timedelta(days=30))
    segment_members_import(segment=vip, path=csv_file(tmp_path, "member_id\nON\n"), actor=staff["admin"], mode="add", reason="guests")
    rule = EarningRule.objects.create(program=program, code="vip-daily", name="VIP daily", kind="daily", currency="points", params={"amount": 5, "when": "segment:vip618"})
    daily_rules_run(program=program, day=timezone.localdate() - timedelta(days=1))
    assert list(PointsEntry.objects.filter(rule=rule).values_list("member__member_id", "amount")) == [("ON", 5)]
    assert off.pk


def test_a_campaigns_forecast_reaches_only_the_members_on_its_list(program, staff, vip, tmp_path):
    from campaigns.forecast import campaign_forecast

    on, off = MemberFactory(member_id="ON"), MemberFactory(member_id="OFF")
    segment_members_import(segment=vip, path=csv_file(tmp_path, "member_id\nON\n"), actor=staff["admin"], mode="add", reason="guests")
    order_book(facts=order("H1", on, "100", at=local(2026, 11, 2, 10)))
    order_book(facts=order("H2", off, "300", at=local(2026, 11, 3, 10)))
    campaign = Campaign(program=program, code="f", name="f", params={"rate": 1, "when": "segment:vip618"}, starts_at=local(2027, 6, 1), ends_at=local(2027, 6, 19))
    forecast = campaign_forecast(campaign=campaign, months=1, now=local(2026, 11, 30))
    assert (forecast["wanted"], forecast["members"], forecast["orders"]) == (100, 1, 1)


def test_the_members_list_adds_what_its_filter_found_to_a_list_naming_the_filter(program, staff, vip, client):
    from membership.models import Level, Member

    v3 = Level.objects.get(program=program, code="V3")
    chosen = [MemberFactory(member_id=f"V3-{n}") for n in range(3)]
    Member.objects.filter(pk__in=[m.pk for m in chosen]).update(level=v3)
    MemberFactory(member_id="OTHER")
    client.force_login(staff["admin"])
    url = f"/admin/membership/member/?level__id__exact={v3.pk}"
    asked = client.post(url, {"action": "add_to_member_list", "_selected_action": [chosen[0].pk], "select_across": "1"})
    assert asked.status_code == 200 and "Add these 3 members to a member list?" in asked.content.decode()
    client.post(url, {"action": "add_to_member_list", "_selected_action": [chosen[0].pk], "select_across": "1", "apply": "1", "segment": vip.pk, "reason": "V3 guests"})
    assert on_list(vip) == {"V3-0", "V3-1", "V3-2"}
    upload = SegmentUpload.objects.get()
    assert (upload.reason, upload.added, upload.actor) == ("V3 guests", 3, staff["admin"]) and f"level__id__exact={v3.pk}" in upload.file_name
