"""Invitations: codes and links, attribution once per new member, rewards for both sides, the monthly limit."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from benefits.models import Benefit
from membership.tests.factories import MemberFactory, local
from invitations.models import Invitation, InvitationPolicy
from invitations.services import invitation_accept, invite_code_get_or_create
from points.selectors import points_balance_get, points_reconcile
from riskcontrol.models import ListEntry
from subscriptions.presets import SUBSCRIPTION_PRESETS
from subscriptions.services import plan_catalog_sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy(program):
    plan_catalog_sync(program=program, specs=SUBSCRIPTION_PRESETS["edu-paid"])
    welcome = Benefit.objects.create(program=program, code="welcome", name="welcome", kind="coupon", trigger="claim",
                                     min_level=program.levels.get(rank=0))
    return InvitationPolicy.objects.create(
        program=program, inviter_points=500, invitee_points=200, inviter_benefit=welcome, invitee_benefit=welcome,
        invitee_trial_plan=program.plans.get(), monthly_limit=2, link_base="https://m.example.com/i/",
    )


def test_a_member_has_one_code_and_link(policy):
    m = MemberFactory()
    code = invite_code_get_or_create(member=m)
    assert invite_code_get_or_create(member=m) == code
    assert len(code.code) == 8 and code.link == f"https://m.example.com/i/{code.code}"


def test_accepting_rewards_both_sides_once(policy):
    inviter, invitee = MemberFactory(), MemberFactory()
    code = invite_code_get_or_create(member=inviter).code
    invitation = invitation_accept(code=code.lower(), invitee=invitee, at=local(2026, 3, 5))
    assert invitation_accept(code=code, invitee=invitee, at=local(2026, 3, 6)) == invitation
    assert invitation.rewarded and invitation.note == ""
    assert (points_balance_get(member=inviter), points_balance_get(member=invitee)) == (500, 200)
    assert invitation.inviter_points_entry.source == "invitation"
    assert invitation.inviter_grant.member == inviter and invitation.invitee_grant.member == invitee
    assert (invitation.invitee_subscription.status, invitation.invitee_subscription.is_trial) == ("trial", True)
    assert points_reconcile() == []


def test_a_new_member_is_attributed_to_the_first_inviter_only(policy):
    first, second, invitee = MemberFactory(), MemberFactory(), MemberFactory()
    invitation = invitation_accept(code=invite_code_get_or_create(member=first).code, invitee=invitee)
    assert invitation_accept(code=invite_code_get_or_create(member=second).code, invitee=invitee) == invitation
    assert Invitation.objects.get().inviter == first and points_balance_get(member=second) == 0


def test_beyond_the_monthly_limit_the_invitation_is_recorded_without_reward(policy):
    inviter = MemberFactory()
    code = invite_code_get_or_create(member=inviter).code
    for day in (1, 2):
        assert invitation_accept(code=code, invitee=MemberFactory(), at=local(2026, 3, day)).rewarded
    third = invitation_accept(code=code, invitee=MemberFactory(), at=local(2026, 3, 31, 23))
    assert not third.rewarded and "limit of 2" in third.note and third.invitee_points_entry is None
    assert points_balance_get(member=inviter) == 1000
    assert invitation_accept(code=code, invitee=MemberFactory(), at=local(2026, 4, 1)).rewarded


def test_unknown_codes_and_self_invitations_are_refused(policy):
    m = MemberFactory()
    with pytest.raises(ValidationError, match="Unknown invite code"):
        invitation_accept(code="NOPE2345", invitee=m)
    with pytest.raises(ValidationError, match="themselves"):
        invitation_accept(code=invite_code_get_or_create(member=m).code, invitee=m)


def test_a_blacklisted_inviter_gets_no_reward_and_the_block_is_recorded(policy):
    inviter, invitee = MemberFactory(), MemberFactory()
    entry = ListEntry.objects.create(member=inviter, kind="black", scope="benefits", reason="fake accounts", starts_at=local(2026, 1, 1))
    invitation = invitation_accept(code=invite_code_get_or_create(member=inviter).code, invitee=invitee, at=local(2026, 3, 5))
    assert points_balance_get(member=inviter) == 0 and points_balance_get(member=invitee) == 200
    assert (invitation.inviter_grant.status, invitation.inviter_grant.list_entry) == ("blocked", entry)
    assert "fake accounts" in invitation.note


def test_a_new_member_who_had_a_trial_gets_the_rest(policy):
    from subscriptions.services import subscription_start

    invitee = MemberFactory()
    subscription_start(member=invitee, plan=policy.invitee_trial_plan, reference="t", trial=True, at=local(2026, 1, 1))
    invitation = invitation_accept(code=invite_code_get_or_create(member=MemberFactory()).code, invitee=invitee, at=local(2026, 3, 5))
    assert invitation.rewarded and invitation.invitee_subscription is None and "free trial" in invitation.note
    assert points_balance_get(member=invitee) == 200


def test_without_a_policy_the_attribution_is_kept_without_rewards(program):
    inviter, invitee = MemberFactory(), MemberFactory()
    invitation = invitation_accept(code=invite_code_get_or_create(member=inviter).code, invitee=invitee)
    assert not invitation.rewarded and "No invitation policy" in invitation.note


def test_the_member_page_and_lists_show_invitations(admin_client, policy):
    inviter, invitee = MemberFactory(), MemberFactory()
    code = invite_code_get_or_create(member=inviter)
    invitation_accept(code=code.code, invitee=invitee)
    page = admin_client.get(reverse("admin:membership_member_change", args=[inviter.pk])).content.decode()
    assert code.link in page and invitee.member_id in page
    for name in ("invitation", "invitecode", "invitationpolicy"):
        assert admin_client.get(reverse(f"admin:invitations_{name}_changelist"), {"q": inviter.member_id}).status_code == 200
    assert admin_client.get(reverse("admin:invitations_invitation_change", args=[Invitation.objects.get().pk])).status_code == 200
