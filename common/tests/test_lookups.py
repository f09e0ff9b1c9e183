"""``field__any``: the same rows as ``field__in``, with the values as one array on PostgreSQL."""

import pytest

from membership.models import Member, OrderCredit
from membership.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_any_finds_what_in_finds():
    members = [MemberFactory(member_id=f"ANY{n}") for n in range(5)]
    wanted = ["ANY1", "ANY3", "NOBODY", None]
    assert sorted(Member.objects.filter(member_id__any=wanted).values_list("member_id", flat=True)) == ["ANY1", "ANY3"]
    assert sorted(Member.objects.filter(member_id__any=wanted).values_list("pk", flat=True)) == sorted(
        Member.objects.filter(member_id__in=wanted).values_list("pk", flat=True)
    )
    assert Member.objects.filter(pk__any={members[0].pk, members[4].pk}).count() == 2
    assert not Member.objects.filter(member_id__any=[]).exists()
    assert not OrderCredit.objects.filter(order_id__any=[members[0].pk]).exists()


def test_any_does_not_cut_values_to_the_column_length():
    MemberFactory(member_id="L" * 64)
    assert not Member.objects.filter(member_id__any=["L" * 65]).exists()
    assert Member.objects.filter(member_id__any=["L" * 64]).exists()
