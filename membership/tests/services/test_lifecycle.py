"""Lifecycle stages: new, growing, loyal, dormant, lost, from the join date, the latest activity and the level."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from membership.models import Level, Member
from membership.selectors import member_lifecycle_counts, member_lifecycle_get
from membership.services import event_record, order_book
from membership.tests.factories import MemberFactory, order

pytestmark = pytest.mark.django_db


def test_members_fall_into_one_stage_each_by_the_programs_days(program, admin_client, settings):
    settings.DASHBOARD_CACHE_SECONDS = 0
    now = timezone.now()
    old = now - timedelta(days=800)
    new = MemberFactory(joined_at=now - timedelta(days=3))
    lost = MemberFactory(joined_at=old)
    dormant = MemberFactory(joined_at=old)
    growing = MemberFactory(joined_at=old)
    loyal = MemberFactory(joined_at=old)
    order_book(facts=order("LC1", dormant, now - timedelta(days=120), goods="10"))
    order_book(facts=order("LC2", growing, now - timedelta(days=10), goods="10"))
    event_record(member_id=loyal.member_id, event_type="check_in", occurred_at=now - timedelta(days=1), event_id="lc-e1")
    Member.objects.filter(pk=loyal.pk).update(level=Level.objects.get(program=program, code="V2"))
    order_book(facts=order("LC3", lost, now - timedelta(days=400), goods="10"))

    stages = {m.member_id: member_lifecycle_get(member=Member.objects.get(pk=m.pk)) for m in (new, lost, dormant, growing, loyal)}
    assert stages == {new.member_id: "new", lost.member_id: "lost", dormant.member_id: "dormant", growing.member_id: "growing", loyal.member_id: "loyal"}
    assert member_lifecycle_counts(program=program) == {"new": 1, "growing": 1, "loyal": 1, "dormant": 1, "lost": 1}

    # An older order booked later does not move the latest activity back.
    order_book(facts=order("LC4", growing, now - timedelta(days=200), goods="10"))
    assert member_lifecycle_get(member=Member.objects.get(pk=growing.pk)) == "growing"

    page = admin_client.get(reverse("admin:membership_member_changelist"), {"lifecycle": "dormant"})
    assert list(page.context["cl"].result_list) == [Member.objects.get(pk=dormant.pk)]
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboard-lifecycle"' in index
