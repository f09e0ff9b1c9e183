"""Benefit suspensions (a blacklist entry of scope benefits with a review date) and black and
white lists added and removed from a CSV file, row by row through the services."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from membership.tests.factories import MemberFactory
from riskcontrol.models import ListEntry
from riskcontrol.selectors import member_block_get, members_blocked
from riskcontrol.services import benefits_suspend, list_entries_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("listfileop", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    return django_user_model.objects.get(pk=user.pk)


def test_a_suspension_blocks_benefits_not_earning_and_suspending_twice_adds_nothing(program, operator):
    member, other = MemberFactory(), MemberFactory()
    entry = benefits_suspend(member=member, reason="reselling coupons", review_on=date(2026, 12, 31), actor=operator)
    assert (entry.kind, entry.scope, entry.review_on, entry.added_by) == ("black", "benefits", date(2026, 12, 31), operator)
    assert members_blocked(member_ids=[member.pk, other.pk], scope="benefits") == {member.pk: entry.pk}
    assert member_block_get(member_id=member.pk, scope="earning") is None
    again = benefits_suspend(member=member, reason="reselling coupons", review_on=date(2026, 12, 1), actor=operator)
    assert again.pk == entry.pk and ListEntry.objects.count() == 1
    assert ListEntry.objects.get().review_on == date(2026, 12, 1)


def test_a_suspension_needs_a_reason_and_the_permission(program, django_user_model):
    from django.core.exceptions import ValidationError

    member = MemberFactory()
    viewer = django_user_model.objects.create_user("viewer2", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    with pytest.raises(ValidationError):
        benefits_suspend(member=member, reason=" ", actor=None)
    with pytest.raises(PermissionDenied):
        benefits_suspend(member=member, reason="reselling", actor=django_user_model.objects.get(pk=viewer.pk))


def test_list_file_adds_rows_names_bad_ones_and_a_second_upload_changes_nothing(program, operator, tmp_path):
    MemberFactory(member_id="A"), MemberFactory(member_id="B"), MemberFactory(member_id="C")
    future = (timezone.localdate() + timedelta(days=30)).isoformat()
    path = tmp_path / "lists.csv"
    path.write_text(
        "member_id,kind,scope,reason,until,review_on\n"
        f"A,black,earning,order farming,{future},\n"
        "B,WHITE,all,key account,,\n"
        "C,black,benefits,reselling,,2026-12-31\n"
        "Z,black,earning,unknown,,\n"
        "A,grey,earning,x,,\n"
        "B,black,everywhere,x,,\n"
        "C,black,earning,,,\n"
        "C,black,earning,late,2020-01-01,\n"
        "C,black,earning,bad date,,31/12/2026\n",
        encoding="utf-8",
    )
    report = list_entries_import(path=str(path), name="lists.csv", actor=operator)
    assert report.counts == {"read": 9, "added": 3, "unchanged": 0, "rejected": 6}
    assert report.errors == [
        "lists.csv: row 5, column member_id: unknown member 'Z'",
        "lists.csv: row 6, column kind: kind 'grey' is not one of black, white",
        "lists.csv: row 7, column scope: scope 'everywhere' is not one of earning, benefits, redemption, all",
        "lists.csv: row 8, column reason: reason is required: say why",
        "lists.csv: row 9, column until: until '2020-01-01' is not in the future",
        "lists.csv: row 10, column review_on: review_on '31/12/2026' is not an ISO 8601 date (e.g. 1990-05-17)",
    ]
    assert sorted(ListEntry.objects.values_list("member__member_id", "kind", "scope", "review_on")) == [
        ("A", "black", "earning", None), ("B", "white", "all", None), ("C", "black", "benefits", date(2026, 12, 31)),
    ]
    assert list_entries_import(path=str(path), actor=operator).counts == {"read": 9, "added": 0, "unchanged": 3, "rejected": 6}
    assert ListEntry.objects.count() == 3


def test_list_file_removes_entries_in_force_and_keeps_them_ended(program, operator, tmp_path):
    MemberFactory(member_id="A"), MemberFactory(member_id="B")
    add = tmp_path / "add.csv"
    add.write_text("member_id,kind,scope,reason\nA,black,earning,farming\nB,black,earning,farming\n", encoding="utf-8")
    list_entries_import(path=str(add), actor=operator)
    remove = tmp_path / "remove.csv"
    remove.write_text("member_id,kind,scope,reason\nA,black,earning,cleared after review\nB,white,all,never listed\n", encoding="utf-8")
    assert list_entries_import(path=str(remove), actor=operator, remove=True).counts == {"read": 2, "ended": 1, "unchanged": 1, "rejected": 0}
    ended = ListEntry.objects.get(member__member_id="A")
    assert (ended.end_reason, ended.ended_by) == ("cleared after review", operator)
    assert member_block_get(member_id=ended.member_id, scope="earning") is None
    assert list_entries_import(path=str(remove), actor=operator, remove=True).counts["ended"] == 0
    assert ListEntry.objects.count() == 2
