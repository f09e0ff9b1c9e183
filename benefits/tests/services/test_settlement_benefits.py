"""Monthly level benefits and upgrade gifts issued by the settlement, set-based, once per member and period."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from benefits.models import Benefit, BenefitGrant
from benefits.services import _blocking_entry, benefit_grant, benefit_granted_data, benefits_issue, benefits_settlement_issue
from benefits.tests.factories import at_level, blacklist
from membership.models import Member, OutboxEvent, SettlementRun
from membership.services import growth_adjust, settlement_run_execute
from membership.tests.factories import MemberFactory, local
from points.selectors import points_balance_get, points_reconcile
from riskcontrol.models import ListEntry
from riskcontrol.selectors import member_block_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", password="pw")


def grow(member, amount, when, staff):
    growth_adjust(member=member, amount=amount, reason="test", actor=staff, effective_at=when)


def settle(month, **options):
    return settlement_run_execute(month=date.fromisoformat(month + "-01"), **options).run


def monthly(member):
    return BenefitGrant.objects.get(member=member, benefit__code="monthly-coupon")


def test_the_month_s_coupons_follow_the_members_new_level(program, staff):
    silver, platinum, regular = MemberFactory(), MemberFactory(), MemberFactory()
    grow(silver, 1000, local(2026, 3, 5), staff)
    grow(platinum, 20000, local(2026, 3, 5), staff)
    run = settle("2026-03")
    assert (monthly(silver).quantity, monthly(platinum).quantity) == (1, 3)
    assert not BenefitGrant.objects.filter(member=regular).exists()
    grant = monthly(platinum)
    assert (grant.period, grant.run, grant.status) == ("2026-03", run, "granted")
    assert grant.valid_until - grant.granted_at == timedelta(days=30)
    assert run.benefits_issued == 2
    assert Benefit.objects.get(code="monthly-coupon").issued == 4


def test_each_month_issues_once_and_a_settled_month_issues_nothing_more(program, staff):
    m = MemberFactory()
    grow(m, 5000, local(2026, 3, 5), staff)
    settle("2026-03")
    settle("2026-03")
    settle("2026-04")
    assert sorted(BenefitGrant.objects.filter(member=m).values_list("period", flat=True)) == ["2026-03", "2026-04"]


def test_a_chunk_settled_again_issues_nothing_twice(program, staff):
    """What running a killed settlement again does to a chunk whose benefits were already issued."""
    members = [MemberFactory() for _ in range(5)]
    for m in members:
        grow(m, 5000, local(2026, 3, 5), staff)
    run = settle("2026-03", chunk_size=2)
    assert run.benefits_issued == 5 and run.chunks.count() == 3
    assert benefits_settlement_issue(run=run, program=program, span=(0, None)) == 0
    assert BenefitGrant.objects.count() == 5


def test_the_settle_command_reports_the_benefits_issued(program, staff):
    grow(MemberFactory(), 5000, local(2026, 3, 5), staff)
    out = StringIO()
    call_command("settle", "2026-03", stdout=out)
    assert out.getvalue().strip().splitlines()[-1].endswith("benefits issued 1")


def test_blacklisted_members_get_no_monthly_benefits_and_the_block_is_recorded(program, staff):
    blocked, everything, earning_only = MemberFactory(), MemberFactory(), MemberFactory()
    for m in (blocked, everything, earning_only):
        grow(m, 5000, local(2026, 3, 5), staff)
    entry = blacklist(blocked, scope=ListEntry.Scope.BENEFITS)
    entry_all = blacklist(everything, scope=ListEntry.Scope.ALL)
    blacklist(earning_only, scope=ListEntry.Scope.EARNING)
    run = settle("2026-03")
    assert (monthly(blocked).status, monthly(blocked).list_entry) == ("blocked", entry)
    assert (monthly(everything).status, monthly(everything).list_entry) == ("blocked", entry_all)
    assert monthly(earning_only).status == "granted"
    assert run.benefits_issued == 1 and Benefit.objects.get(code="monthly-coupon").issued == 2


def test_the_set_based_block_is_the_one_member_block_get_finds(program):
    now = timezone.now()
    members = [MemberFactory() for _ in range(6)]
    blacklist(members[0], scope=ListEntry.Scope.BENEFITS)
    blacklist(members[1], scope=ListEntry.Scope.ALL, ends_at=now - timedelta(hours=1), starts_at=now - timedelta(days=2))
    blacklist(members[2], scope=ListEntry.Scope.REDEMPTION)
    blacklist(members[3], scope=ListEntry.Scope.BENEFITS, starts_at=now + timedelta(hours=1))
    blacklist(members[4], scope=ListEntry.Scope.BENEFITS, starts_at=now - timedelta(days=3))
    blacklist(members[4], scope=ListEntry.Scope.ALL, starts_at=now - timedelta(days=1))
    ListEntry.objects.create(member=members[5], kind="white", scope="benefits", reason="vip", starts_at=now - timedelta(days=1))
    set_based = dict(Member.objects.annotate(b=_blocking_entry(now)).values_list("pk", "b"))
    single = {m.pk: getattr(member_block_get(member_id=m.pk, scope="benefits", at=now), "pk", None) for m in members}
    assert set_based == single and sum(v is not None for v in single.values()) == 2


def test_the_stock_of_a_monthly_benefit_serves_members_in_order_while_it_lasts(program, levels, make_benefit):
    benefit = make_benefit("scarce", trigger="monthly", stock=5, quantities={"V2": 2})
    members = [at_level(MemberFactory(), levels["V2"]) for _ in range(4)]
    blacklist(members[0])
    issued = benefits_issue(benefit=benefit, period="2026-03", members=Member.objects.all(), at=timezone.now())
    statuses = dict(BenefitGrant.objects.filter(benefit=benefit).values_list("member_id", "status"))
    assert statuses == {members[0].pk: "blocked", members[1].pk: "granted", members[2].pk: "granted"}
    assert (issued.granted, issued.blocked, issued.units) == (2, 1, 4)
    benefit.refresh_from_db()
    assert benefit.issued == 4
    benefits_issue(benefit=benefit, period="2026-03", members=Member.objects.all(), at=timezone.now())
    benefit.refresh_from_db()
    assert benefit.issued == 4 and BenefitGrant.objects.filter(benefit=benefit).count() == 3


def test_an_upgrade_gift_credits_points_once_per_level_reached(program, levels, make_benefit, staff):
    make_benefit("upgrade-gift", trigger="upgrade", points=500, quantities={"V2": 1, "V3": 2})
    m = MemberFactory()
    grow(m, 5000, local(2026, 3, 5), staff)
    settle("2026-03")  # V0 → V2
    settle("2026-04")  # V2 renewed: no gift
    grow(m, 15000, local(2026, 5, 5), staff)
    settle("2026-05")  # V2 → V3
    gifts = BenefitGrant.objects.filter(member=m, benefit__code="upgrade-gift").order_by("pk")
    assert [g.period for g in gifts] == ["upgrade:V2:2026-04-01", "upgrade:V3:2026-06-01"]
    assert [g.points_entry.amount for g in gifts] == [500, 1000]
    assert all(g.points_entry.source == "benefit" for g in gifts)
    assert points_balance_get(member=m) == 1500 and points_reconcile() == []


def test_a_blacklisted_member_gets_no_upgrade_gift(program, levels, make_benefit, staff):
    make_benefit("upgrade-gift", trigger="upgrade", points=500, min_level="V1")
    m = MemberFactory()
    entry = blacklist(m)
    grow(m, 5000, local(2026, 3, 5), staff)
    settle("2026-03")
    gift = BenefitGrant.objects.get(member=m, benefit__code="upgrade-gift")
    assert (gift.status, gift.list_entry, gift.points_entry) == ("blocked", entry, None)
    assert points_balance_get(member=m) == 0


def test_closed_members_get_no_monthly_benefits(program, staff):
    m = MemberFactory(status=Member.Status.CLOSED)
    grow(m, 5000, local(2026, 3, 5), staff)
    assert settle("2026-03").benefits_issued == 0
    assert SettlementRun.objects.get().members_up == 1


def told(member):
    return [e.data for e in OutboxEvent.objects.filter(member_ref=member.member_id, type="benefit.granted").order_by("pk")]


@pytest.mark.parametrize("points", [0, 50], ids=["no points", "with points"])
def test_each_grant_of_the_settlement_is_told_once_as_one_grant_alone_would_be(program, levels, make_benefit, staff, points):
    """The settlement's grants (in its statement on PostgreSQL, or with their points) are told with
    the data a grant made one at a time gets, once, and a blocked grant is not told."""
    make_benefit("upgrade-gift", trigger="upgrade", points=points, quantities={"V2": 2}, validity_days=10)
    reached, blocked = MemberFactory(), MemberFactory()
    for m in (reached, blocked):
        grow(m, 5000, local(2026, 3, 5), staff)
    blacklist(blocked)
    run = settle("2026-03", chunk_size=1)
    benefits_settlement_issue(run=run, program=program, span=(0, None))
    settle("2026-03")
    gifts = [monthly(reached), BenefitGrant.objects.get(member=reached, benefit__code="upgrade-gift")]
    assert told(reached) == [
        benefit_granted_data(benefit=g.benefit, period=g.period, quantity=g.quantity, valid_until=g.valid_until) for g in gifts
    ]
    assert told(reached)[1]["points"] == 2 * points and told(reached)[1]["quantity"] == 2
    assert told(blocked) == []
    alone = MemberFactory()
    at_level(alone, levels["V2"])
    grant = benefit_grant(benefit=Benefit.objects.get(code="upgrade-gift"), member=alone, period="x")
    assert told(alone) == [benefit_granted_data(benefit=grant.benefit, period="x", quantity=2, valid_until=grant.valid_until)]
