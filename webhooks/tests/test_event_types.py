"""The outbound events of the features: each written in the transaction of the change it reports,
with its member and a data of the type's version 1."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from invitations.models import InvitationPolicy
from invitations.services import invitation_accept, invite_code_get_or_create
from mall.services import redemption_cancel, redemption_create
from mall.tests.factories import at_level, earn, item
from membership.models import OutboxEvent
from membership.services import order_book
from membership.services.outbox import EVENT_TYPES, outbox_publish
from membership.tests.factories import MemberFactory, local, order
from riskcontrol.models import AnomalyRule
from riskcontrol.services import adjustment_approve, adjustment_request, anomaly_scan
from subscriptions.presets import SUBSCRIPTION_PRESETS
from subscriptions.services import (
    plan_catalog_sync,
    subscription_cancel,
    subscription_extend_with_points,
    subscription_renew,
    subscription_start,
    subscriptions_daily_run,
)

pytestmark = pytest.mark.django_db


def events(member) -> list[tuple[str, dict]]:
    return [(e.type, e.data) for e in OutboxEvent.objects.filter(member_ref=member.member_id).order_by("pk")]


def staff(django_user_model, name, *roles):
    user = django_user_model.objects.create_user(name, is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=roles))
    return django_user_model.objects.get(pk=user.pk)


def test_a_redemption_and_its_cancellation_are_told(program, django_user_model):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 5000, timezone.now() - timedelta(days=1), "earned")
    phone = item(program, code="phone", prices={"V4": 1500})
    redemption = redemption_create(member=member, item=phone, key="r1")
    redemption_cancel(redemption=redemption, actor=staff(django_user_model, "op", "Operator"), reason="mistake")
    assert events(member) == [
        ("redemption.created", {"redemption": redemption.pk, "item": "phone", "quantity": 1, "points": 1500}),
        ("redemption.cancelled", {"redemption": redemption.pk, "item": "phone", "quantity": 1, "points": 1500, "reason": "mistake"}),
    ]


def test_a_subscription_started_renewed_and_ended_is_told(program):
    plan_catalog_sync(program=program, specs=SUBSCRIPTION_PRESETS["edu-paid"])
    member = MemberFactory()
    earn(program, member, 5000, timezone.now() - timedelta(days=1), "earned")
    plan = program.plans.get()
    subscription = subscription_start(member=member, plan=plan, reference="p1")
    subscription_renew(subscription=subscription, reference="p2")
    subscription_extend_with_points(subscription=subscription, reference="p3")
    subscription_cancel(subscription=subscription, reason="moved")
    told = events(member)
    assert [t for t, _ in told] == ["subscription.started", "subscription.renewed", "subscription.renewed", "subscription.ended"]
    assert [d.get("paid_with") for _, d in told[1:3]] == ["money", "points"] and told[3][1]["reason"] == "moved"
    assert told[0][1]["plan"] == "edu-month" and told[0][1]["trial"] is False


def test_an_approved_adjustment_is_told_and_one_within_the_threshold_is_not(program, django_user_model):
    member = MemberFactory()
    operator, approver = staff(django_user_model, "op", "Operator"), staff(django_user_model, "ap", "Approver", "Operator")
    adjustment_request(member=member, currency="growth", amount=10, reason_code="goodwill", reason="small", actor=operator)
    large = adjustment_request(member=member, currency="points", amount=5000, reason_code="goodwill", reason="big", actor=operator)
    adjustment_approve(adjustment=large, actor=approver)
    assert events(member) == [
        ("adjustment.approved", {"adjustment": large.pk, "currency": "points", "amount": 5000, "reason_code": "goodwill", "approved_by": "ap"})
    ]


def test_a_rewarded_invitation_is_told_to_both_sides(program):
    InvitationPolicy.objects.create(program=program, inviter_points=500, invitee_points=200, monthly_limit=5, link_base="https://m.example.com/i/")
    inviter, invitee = MemberFactory(), MemberFactory()
    invitation = invitation_accept(code=invite_code_get_or_create(member=inviter).code, invitee=invitee)
    data = {"invitation": invitation.pk, "inviter": inviter.member_id, "invitee": invitee.member_id}
    assert events(inviter) == [("invitation.rewarded", data)] and events(invitee) == [("invitation.rewarded", data)]


def test_an_unknown_event_type_is_refused():
    with pytest.raises(ValueError, match="unknown event type"):
        outbox_publish(type="member.teleported", member_ref="x", data={})
    assert "benefit.granted" in EVENT_TYPES


def test_a_trials_cashback_released_or_cleared_and_an_expired_subscription_are_told(program):

    plan_catalog_sync(program=program, specs=SUBSCRIPTION_PRESETS["jd-plus"])
    plan = program.plans.get()
    buyer, leaver = MemberFactory(), MemberFactory()
    for member in (buyer, leaver):
        subscription_start(member=member, plan=plan, reference=f"t-{member.pk}", trial=True, at=local(2026, 3, 1))
        order_book(facts=order(f"O{member.pk}", member, local(2026, 3, 2), goods="1000"))
    subscription_start(member=buyer, plan=plan, reference="p", at=local(2026, 4, 20))
    subscriptions_daily_run(at=local(2026, 4, 30))
    assert [(t, d["points"]) for t, d in events(buyer) if t.startswith("trial.")] == [("trial.cashback_released", 2000)]
    assert [(t, d["points"]) for t, d in events(leaver) if t.startswith("trial.")] == [("trial.cashback_cleared", 2000)]
    assert ("subscription.ended", "expired") in [(t, d.get("reason")) for t, d in events(leaver)]


def test_a_raised_alert_is_told_once(program):

    rule = AnomalyRule(code="velocity", name="velocity", kind="earning_velocity", params={"threshold": 100}, severity="high")
    rule.full_clean()
    rule.save()
    member = MemberFactory()
    order_book(facts=order("V1", member, local(2026, 3, 1, 10), goods="500"))
    anomaly_scan(since=local(2026, 3, 1), until=local(2026, 3, 2))
    anomaly_scan(since=local(2026, 3, 1), until=local(2026, 3, 2))
    raised = [(t, d["rule"], d["severity"]) for t, d in events(member) if t == "alert.raised"]
    assert raised == [("alert.raised", "velocity", "high")]
