"""Invite codes and the attribution of new members to their inviter, with rewards for both sides.

``invitation_accept`` attributes an invitee once (calling it again returns the same invitation),
rewards inviter and invitee by the active program's policy (points with source ``invitation``, a
benefit, a free trial for the invitee) and refuses the rewards beyond the inviter's monthly limit,
recording the invitation with the reason. A member blacklisted for benefits gets no reward; the
benefit grant records the block.
"""

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from benefits.services import benefit_grant
from common.records import rows
from common.timeutil import local_month_bounds
from membership.models import Member, Program, Source
from membership.selectors import program_active_get
from membership.services.outbox import outbox_publish
from points.services import points_credit
from riskcontrol.models import ListEntry
from riskcontrol.selectors import member_block_get
from subscriptions.services import subscription_start

from .models import Invitation, InvitationPolicy, InviteCode

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


def _policy(program: Program | None) -> InvitationPolicy | None:
    program = program or program_active_get()
    return InvitationPolicy.objects.filter(program=program, is_active=True).select_related(
        "program", "inviter_benefit__program", "invitee_benefit__program", "invitee_trial_plan__program"
    ).first()


@transaction.atomic
def invite_code_get_or_create(*, member: Member) -> InviteCode:
    """The member's invite code and link, made the first time (a second call returns the same)."""
    if existing := InviteCode.objects.filter(member=member).first():
        return existing
    policy = _policy(None)
    base = policy.link_base if policy else InvitationPolicy._meta.get_field("link_base").default
    for _attempt in range(10):
        code = "".join(secrets.choice(ALPHABET) for _ in range(8))
        try:
            with transaction.atomic():
                return InviteCode.objects.create(member=member, code=code, link=f"{base}{code}")
        except IntegrityError:
            if existing := InviteCode.objects.filter(member=member).first():
                return existing
    raise RuntimeError("no free invite code after 10 attempts")


@transaction.atomic
def invitation_accept(*, code: str, invitee: Member, at: datetime | None = None, program: Program | None = None) -> Invitation:
    """Attribute ``invitee`` to the owner of ``code`` and reward both sides by the policy."""
    at = at or timezone.now()
    invite = InviteCode.objects.select_related("member").filter(code=(code or "").strip().upper()).first()
    if invite is None:
        raise ValidationError({"code": _("Unknown invite code %(code)r.") % {"code": code}})
    # Lock both members in pk order: the inviter's monthly count and the invitee's attribution.
    locked = {m.pk: m for m in Member.objects.select_for_update().filter(pk__in=[invite.member_id, invitee.pk]).order_by("pk")}
    if existing := Invitation.objects.filter(invitee=invitee).first():
        return existing
    if invite.member_id == invitee.pk:
        raise ValidationError({"code": _("A member cannot invite themselves.")})
    inviter, invitee = locked[invite.member_id], locked[invitee.pk]
    invitation = Invitation.objects.create(inviter=inviter, invitee=invitee, code=invite, accepted_at=at)
    policy = _policy(program)
    if policy is None:
        invitation.note = _("No invitation policy is active: no rewards.")
        invitation.save(update_fields=["note"])
        return invitation
    if policy.monthly_limit is not None:
        start, end = local_month_bounds(at, ZoneInfo(policy.program.time_zone))
        rewarded = Invitation.objects.filter(inviter=inviter, rewarded=True, accepted_at__gte=start, accepted_at__lt=end).count()
        if rewarded >= policy.monthly_limit:
            invitation.note = _("The inviter reached the limit of %(n)s rewarded invitations this month.") % {"n": policy.monthly_limit}
            invitation.save(update_fields=["note"])
            return invitation
    notes = []
    for side, member, points, benefit in (
        ("inviter", inviter, policy.inviter_points, policy.inviter_benefit),
        ("invitee", invitee, policy.invitee_points, policy.invitee_benefit),
    ):
        notes += _reward(invitation, policy, side, member, points, benefit, at)
    invitation.rewarded = True
    invitation.note = " ".join(notes)[:255]
    invitation.save()
    for member in (inviter, invitee):
        outbox_publish(
            type="invitation.rewarded", member_ref=member.member_id, occurred_at=at,
            data={"invitation": invitation.pk, "inviter": inviter.member_id, "invitee": invitee.member_id},
        )
    return invitation


def _reward(invitation: Invitation, policy: InvitationPolicy, side: str, member: Member, points: int, benefit, at: datetime) -> list[str]:
    notes = []
    label = _("inviter") if side == "inviter" else _("new member")
    if benefit is not None:
        try:
            with transaction.atomic():
                grant = benefit_grant(benefit=benefit, member=member, period=f"invitation:{invitation.pk}", at=at)
            setattr(invitation, f"{side}_grant", grant)
        except ValidationError as exc:
            notes.append(_("%(side)s: %(reason)s") % {"side": label, "reason": " ".join(exc.messages)})
    block = member_block_get(member_id=member.pk, scope=ListEntry.Scope.BENEFITS, at=at)
    if block is not None:
        notes.append(_("%(side)s is blacklisted (%(reason)s): no reward.") % {"side": label, "reason": block.reason})
        return notes
    if points:
        setattr(invitation, f"{side}_points_entry", points_credit(
            program=policy.program, member=member, amount=points, effective_at=at, source=Source.INVITATION,
            source_ref=f"invitation:{invitation.pk}", idempotency_key=f"invitation:{invitation.pk}:{side}",
            reason=f"invitation reward ({side})",
        ))
    if side == "invitee" and policy.invitee_trial_plan is not None:
        try:
            with transaction.atomic():
                invitation.invitee_subscription = subscription_start(
                    member=member, plan=policy.invitee_trial_plan, reference=f"invitation:{invitation.pk}", trial=True, at=at
                )
        except ValidationError as exc:
            notes.append(_("%(side)s: %(reason)s") % {"side": label, "reason": " ".join(exc.messages)})
    return notes


def member_invitations_data(*, member: Member) -> dict:
    """``member``'s invite code and link, whom they invited and who invited them, for their data export."""
    code = InviteCode.objects.filter(member=member).first()
    return {
        "invite_code": code.code if code else None,
        "invite_link": code.link if code else None,
        "invited": rows(Invitation.objects.filter(inviter=member).order_by("accepted_at", "pk"), "invitee__member_id", "accepted_at", "rewarded"),
        "invited_by": rows(Invitation.objects.filter(invitee=member), "inviter__member_id", "accepted_at"),
    }


def member_invite_erase(*, member: Member) -> int:
    """Erase ``member``'s invite link for good: its code becomes one no one can type (codes are read
    in capitals), so the link stops working; the invitations it brought stay, as the ledgers do."""
    return InviteCode.objects.filter(member=member).update(code=f"erased-{member.pk}"[:16], link="")
