"""The console's lists count with thousands separators, and a list counted only up to its cap says
so ("10,000+"), in English and in Chinese."""

import pytest
from django.urls import reverse

from common.admin import CappedCountPaginator
from membership.models import Member
from membership.services import growth_adjust
from membership.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def paginator_text(page: str) -> str:
    start = page.index('<p class="paginator">')
    return " ".join(page[start : page.index("</p>", start)].replace('<p class="paginator">', "").split())


def test_a_count_has_thousands_separators(admin_client, program):
    Member.objects.bulk_create([Member(member_id=f"M{n:05d}") for n in range(1234)])
    page = admin_client.get(reverse("admin:membership_member_changelist")).content.decode()
    assert paginator_text(page).endswith("1,234 members")


@pytest.mark.parametrize("language, capped, exact", [("en", "3+ growth ledger", "3 growth ledger"), ("zh-hans", "3+ 成长值流水", "3 成长值流水")])
def test_a_list_counted_up_to_its_cap_says_there_are_more(admin_client, program, admin_user, monkeypatch, language, capped, exact):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    admin_client.cookies["django_language"] = language
    member = MemberFactory()
    for _ in range(3):
        growth_adjust(member=member, amount=10, reason="goodwill", actor=admin_user)
    url = reverse("admin:membership_growthentry_changelist")
    assert paginator_text(admin_client.get(url).content.decode()) == exact  # exactly the cap: no "+"
    growth_adjust(member=member, amount=10, reason="goodwill", actor=admin_user)
    assert paginator_text(admin_client.get(url).content.decode()) == capped
