"""Granting and claiming one benefit for one member: level, quantity, stock, period, blacklist."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from benefits.models import Benefit, BenefitGrant
from benefits.services import benefit_claim, benefit_grant
from benefits.tests.factories import at_level, blacklist
from membership.tests.factories import MemberFactory, local
from points.models import PointsEntry
from points.selectors import points_balance_get, points_reconcile
from riskcontrol.models import ListEntry

pytestmark = pytest.mark.django_db


def test_a_grant_takes_the_quantity_of_the_members_level_and_is_made_once(make_benefit, levels):
    benefit = make_benefit("coupons", trigger="monthly", quantities={"V1": 1, "V3": 3})
    member = at_level(MemberFactory(), levels["V3"])
    first = benefit_grant(benefit=benefit, member=member, period="2026-03")
    again = benefit_grant(benefit=benefit, member=member, period="2026-03")
    assert first == again and first.quantity == 3 and first.status == "granted"
    assert BenefitGrant.objects.count() == 1
    benefit.refresh_from_db()
    assert benefit.issued == 3


def test_a_level_without_a_quantity_gets_nothing(make_benefit, levels):
    benefit = make_benefit("coupons", trigger="monthly", quantities={"V3": 3})
    with pytest.raises(ValidationError, match="does not get"):
        benefit_grant(benefit=benefit, member=at_level(MemberFactory(), levels["V2"]), period="2026-03")
    with pytest.raises(ValidationError, match="does not get"):
        benefit_grant(benefit=make_benefit("gold", min_level="V2"), member=MemberFactory(), period="2026-03")


def test_the_stock_runs_out(make_benefit, levels):
    benefit = make_benefit("scarce", min_level="V1", stock=2)
    a, b, c = (at_level(MemberFactory(), levels["V1"]) for _ in range(3))
    benefit_grant(benefit=benefit, member=a, period="2026")
    benefit_grant(benefit=benefit, member=b, period="2026")
    with pytest.raises(ValidationError, match="out of stock"):
        benefit_grant(benefit=benefit, member=c, period="2026")
    benefit.refresh_from_db()
    assert benefit.issued == 2 and BenefitGrant.objects.filter(member=c).count() == 0


def test_outside_its_active_period_a_benefit_is_not_granted(make_benefit, levels):
    now = timezone.now()
    benefit = make_benefit("later", starts_at=now + timedelta(days=1))
    with pytest.raises(ValidationError, match="not available"):
        benefit_grant(benefit=benefit, member=at_level(MemberFactory(), levels["V1"]), period="2026", at=now)
    benefit.starts_at, benefit.ends_at, benefit.is_active = None, None, False
    benefit.save()
    with pytest.raises(ValidationError, match="not available"):
        benefit_grant(benefit=benefit, member=at_level(MemberFactory(), levels["V1"]), period="2026", at=now)


def test_a_member_blacklisted_for_benefits_gets_a_blocked_grant_naming_the_entry(make_benefit, levels):
    benefit = make_benefit("gift", points=100, stock=10)
    member = at_level(MemberFactory(), levels["V2"])
    entry = blacklist(member, scope=ListEntry.Scope.BENEFITS)
    grant = benefit_grant(benefit=benefit, member=member, period="2026")
    assert (grant.status, grant.list_entry) == ("blocked", entry)
    assert points_balance_get(member=member) == 0 and grant.points_entry is None
    benefit.refresh_from_db()
    assert benefit.issued == 0
    assert benefit_grant(benefit=benefit, member=member, period="2026") == grant


def test_a_blacklist_for_earning_only_does_not_block_benefits(make_benefit, levels):
    member = at_level(MemberFactory(), levels["V2"])
    blacklist(member, scope=ListEntry.Scope.EARNING)
    blacklist(member, scope=ListEntry.Scope.BENEFITS, starts_at=timezone.now() + timedelta(days=5))
    assert benefit_grant(benefit=make_benefit("gift"), member=member, period="2026").status == "granted"


def test_points_of_a_benefit_are_credited_with_source_benefit(make_benefit, levels):
    benefit = make_benefit("points-pack", points=50, quantities={"V2": 2})
    member = at_level(MemberFactory(), levels["V2"])
    grant = benefit_grant(benefit=benefit, member=member, period="2026-03", at=local(2026, 3, 2))
    benefit_grant(benefit=benefit, member=member, period="2026-03", at=local(2026, 3, 2))
    assert grant.points_entry.amount == 100 and grant.points_entry.source == "benefit"
    assert PointsEntry.objects.filter(member=member).count() == 1 and points_balance_get(member=member) == 100
    assert points_reconcile() == []


def test_a_claim_is_limited_to_once_a_month(make_benefit, levels):
    benefit = make_benefit("voucher", trigger="claim", claim_limit="month")
    member = at_level(MemberFactory(), levels["V1"])
    grant = benefit_claim(benefit=benefit, member=member, at=local(2026, 3, 2))
    assert (grant.status, grant.period) == ("claimed", "2026-03") and grant.claimed_at == local(2026, 3, 2)
    with pytest.raises(ValidationError, match="already claimed"):
        benefit_claim(benefit=benefit, member=member, at=local(2026, 3, 31, 23, 0))
    assert benefit_claim(benefit=benefit, member=member, at=local(2026, 4, 1, 0, 0)).period == "2026-04"


@pytest.mark.parametrize(("limit", "later", "allowed"), [("once", (2027, 6, 1), False), ("year", (2026, 12, 31), False), ("year", (2027, 1, 1), True)])
def test_claim_limits_once_and_per_year(make_benefit, levels, limit, later, allowed):
    benefit = make_benefit("voucher", trigger="claim", claim_limit=limit)
    member = at_level(MemberFactory(), levels["V1"])
    benefit_claim(benefit=benefit, member=member, at=local(2026, 3, 2))
    if allowed:
        assert benefit_claim(benefit=benefit, member=member, at=local(*later)).status == "claimed"
    else:
        with pytest.raises(ValidationError, match="already claimed"):
            benefit_claim(benefit=benefit, member=member, at=local(*later))


def test_a_blacklisted_members_claim_is_recorded_as_blocked(make_benefit, levels):
    benefit = make_benefit("voucher", trigger="claim")
    member = at_level(MemberFactory(), levels["V1"])
    entry = blacklist(member, scope=ListEntry.Scope.ALL)
    grant = benefit_claim(benefit=benefit, member=member)
    assert (grant.status, grant.list_entry) == ("blocked", entry)
    assert benefit_claim(benefit=benefit, member=member) == grant


def test_only_on_claim_benefits_are_claimed(make_benefit, levels):
    with pytest.raises(ValidationError, match="automatically"):
        benefit_claim(benefit=make_benefit("monthly", trigger=Benefit.Trigger.MONTHLY), member=at_level(MemberFactory(), levels["V1"]))


def test_a_grant_needs_the_permission_when_staff_grant_it(make_benefit, levels, django_user_model):
    from django.core.exceptions import PermissionDenied

    viewer = django_user_model.objects.create_user("v", is_staff=True)
    with pytest.raises(PermissionDenied):
        benefit_grant(benefit=make_benefit("gift"), member=at_level(MemberFactory(), levels["V1"]), period="2026", actor=viewer)
