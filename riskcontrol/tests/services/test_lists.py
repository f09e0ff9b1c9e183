"""Black and white lists: who is listed when, for which scope; entries end, never vanish."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from membership.tests.factories import MemberFactory
from riskcontrol.models import ListEntry
from riskcontrol.selectors import member_block_get, member_whitelisted, members_blocked
from riskcontrol.services import list_entry_add, list_entry_end

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("listop", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    return django_user_model.objects.get(pk=user.pk)


def test_a_blacklist_entry_blocks_its_scope_and_all_only_while_in_force(program, operator):
    member, other = MemberFactory(), MemberFactory()
    now = timezone.now()
    entry = list_entry_add(
        member=member, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.EARNING, reason="order farming",
        actor=operator, starts_at=now, ends_at=now + timedelta(days=30),
    )
    assert member_block_get(member_id=member.pk, scope=ListEntry.Scope.EARNING, at=now) == entry
    assert member_block_get(member_id=member.pk, scope=ListEntry.Scope.REDEMPTION, at=now) is None
    assert member_block_get(member_id=member.pk, scope=ListEntry.Scope.EARNING, at=now - timedelta(seconds=1)) is None
    assert member_block_get(member_id=member.pk, scope=ListEntry.Scope.EARNING, at=now + timedelta(days=30)) is None
    everything = list_entry_add(
        member=other, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.ALL, reason="reseller", actor=operator, starts_at=now
    )
    assert members_blocked(member_ids=[member.pk, other.pk], scope=ListEntry.Scope.BENEFITS, at=now) == {other.pk: everything.pk}
    assert members_blocked(member_ids=None, scope=ListEntry.Scope.EARNING, at=now) == {member.pk: entry.pk, other.pk: everything.pk}


def test_taking_a_member_off_ends_the_entry_and_keeps_it(program, operator):
    member = MemberFactory()
    entry = list_entry_add(member=member, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.ALL, reason="x", actor=operator)
    list_entry_end(entry=entry, actor=operator, reason="a mistake")
    assert member_block_get(member_id=member.pk, scope=ListEntry.Scope.EARNING) is None
    entry.refresh_from_db()
    assert (entry.ended_by, entry.end_reason) == (operator, "a mistake")
    assert ListEntry.objects.count() == 1


def test_a_whitelist_entry_is_seen_whatever_its_scope_and_a_viewer_cannot_list(program, operator, django_user_model):
    member = MemberFactory()
    list_entry_add(member=member, kind=ListEntry.Kind.WHITE, scope=ListEntry.Scope.EARNING, reason="vetted", actor=operator)
    assert member_whitelisted(member_id=member.pk)
    assert member_block_get(member_id=member.pk, scope=ListEntry.Scope.EARNING) is None
    viewer = django_user_model.objects.create_user("listviewer", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    viewer = django_user_model.objects.get(pk=viewer.pk)
    with pytest.raises(PermissionDenied):
        list_entry_add(member=member, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.ALL, reason="x", actor=viewer)
