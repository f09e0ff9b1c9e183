"""Cash offset, JD beans style: 100 points a yuan, at most 50% of an order, in thousands, from a balance of 1,000."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from mall.models import CashOffset
from mall.presets import MALL_PRESETS
from mall.selectors import offset_quote
from mall.services import MallRefused, MemberBlocked, cash_offset_policy_sync, offset_apply, offset_reverse
from membership.tests.factories import MemberFactory, local
from points.models import PointsLot
from points.selectors import points_balance_get, points_reconcile
from riskcontrol.services import list_entry_add

from ..factories import earn

pytestmark = pytest.mark.django_db

NOW = local(2026, 6, 15, 12)


@pytest.fixture
def jd_beans(program):
    assert cash_offset_policy_sync(program=program, specs=MALL_PRESETS["jd-beans"]["cash_offset"]) == 3
    assert cash_offset_policy_sync(program=program, specs=MALL_PRESETS["jd-beans"]["cash_offset"]) == 0  # loaded twice: nothing
    return program.cash_offset_policy


def member_with(program, points):
    member = MemberFactory()
    if points:
        earn(program, member, points, local(2026, 1, 1), f"earn-{member.pk}")
    return member


def test_a_100_yuan_order_takes_at_most_5000_points_in_thousands_and_nothing_under_1000(program, jd_beans):
    rich = member_with(program, 20000)
    quote = offset_quote(member=rich, order_amount=Decimal("100"), at=NOW)
    assert (quote.points, quote.yuan) == (5000, Decimal("50.00")) and "at most 50%" in quote.reason
    assert offset_quote(member=rich, order_amount=Decimal("99.99"), at=NOW).points == 4000
    assert offset_quote(member=member_with(program, 3500), order_amount=Decimal("100"), at=NOW).points == 3000
    poor = offset_quote(member=member_with(program, 999), order_amount=Decimal("100"), at=NOW)
    assert poor.points == 0 and "under the minimum balance of 1,000" in poor.reason
    small = offset_quote(member=rich, order_amount=Decimal("19.99"), at=NOW)
    assert small.points == 0 and "less than one step of 1,000" in small.reason
    with pytest.raises(MallRefused, match="at most 5,000 points"):
        offset_apply(member=rich, order_ref="O1", order_amount="100", points=6000, key="o1", at=NOW)
    with pytest.raises(MallRefused, match="multiples of 1,000"):
        offset_apply(member=rich, order_ref="O1", order_amount="100", points=2500, key="o1", at=NOW)
    with pytest.raises(MallRefused, match="under the minimum balance"):
        offset_apply(member=member_with(program, 999), order_ref="O2", order_amount="100", points=1000, key="o2", at=NOW)


def test_category_exceptions_exclude_or_set_their_own_share(program, jd_beans):
    rich = member_with(program, 100000)
    assert offset_quote(member=rich, order_amount=Decimal("200"), category="game-cards", at=NOW).points == 4000  # 20% of 200 yuan
    assert offset_quote(member=rich, order_amount=Decimal("50"), category="game-cards", at=NOW).points == 2000  # not over 50: 50%
    jd_beans.exceptions.create(category="gift-cards", excluded=True)
    excluded = offset_quote(member=rich, order_amount=Decimal("200"), category="gift-cards", at=NOW)
    assert excluded.points == 0 and "cannot pay for gift-cards" in excluded.reason


def test_applying_spends_once_per_key_and_order_and_reversing_gives_the_points_back_once(program, jd_beans):
    member = member_with(program, 8000)
    offset = offset_apply(member=member, order_ref="JD1", order_amount="100", points=5000, key="k", at=NOW)
    assert offset_apply(member=member, order_ref="JD1", order_amount="100", points=5000, key="k", at=NOW).pk == offset.pk
    assert (offset.yuan, offset.points_entry.source, points_balance_get(member=member)) == (Decimal("50.00"), "offset", 3000)
    with pytest.raises(MallRefused, match="already has a cash offset"):
        offset_apply(member=member, order_ref="JD1", order_amount="100", points=1000, key="k2", at=NOW)
    offset_reverse(offset=offset, reason="order refunded", at=NOW)
    offset_reverse(offset=offset, reason="again", at=NOW)
    offset.refresh_from_db()
    assert offset.status == CashOffset.Status.REVERSED and offset.refund_entry.amount == 5000
    assert points_balance_get(member=member) == 8000 and PointsLot.objects.get(member=member).remaining == 8000
    assert points_reconcile() == []


def test_a_blacklisted_member_cannot_offset_and_a_viewer_cannot_reverse(program, jd_beans, django_user_model, admin_user):
    member = member_with(program, 8000)
    entry = list_entry_add(member=member, kind="black", scope="all", reason="fraud", actor=admin_user, starts_at=local(2026, 1, 1))
    with pytest.raises(MemberBlocked) as refused:
        offset_apply(member=member, order_ref="B1", order_amount="100", points=1000, key="b", at=NOW)
    assert (refused.value.record.status, refused.value.record.block_entry) == (CashOffset.Status.BLOCKED, entry)
    assert points_balance_get(member=member) == 8000
    other = member_with(program, 8000)
    offset = offset_apply(member=other, order_ref="V1", order_amount="100", points=1000, key="v", at=NOW)
    viewer = django_user_model.objects.create_user("offsetviewer", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Viewer"))
    with pytest.raises(PermissionDenied):
        offset_reverse(offset=offset, reason="x", actor=django_user_model.objects.get(pk=viewer.pk))
    operator = django_user_model.objects.create_user("offsetop", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    assert offset_reverse(offset=offset, reason="refund", actor=django_user_model.objects.get(pk=operator.pk)).status == "reversed"


def test_without_a_policy_nothing_can_be_offset(program):
    quote = offset_quote(member=member_with(program, 8000), order_amount=Decimal("100"), at=NOW)
    assert quote.points == 0 and "no cash offset" in quote.reason
