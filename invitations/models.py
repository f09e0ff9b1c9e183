"""Invitations: each member's invite code and link, who invited whom, and the rewards (DOMAIN §8).

Invariants:
- A member is attributed to one inviter, once (``Invitation.invitee`` is unique).
- An invitation is rewarded at most once; one beyond the inviter's monthly limit is recorded
  unrewarded with the reason.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from membership.models import Member, Program


class InvitationPolicy(models.Model):
    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="invitation_policy", verbose_name=_("program"))
    inviter_points = models.PositiveIntegerField(_("points for the inviter"), default=0)
    invitee_points = models.PositiveIntegerField(_("points for the new member"), default=0)
    inviter_benefit = models.ForeignKey(
        "benefits.Benefit", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("benefit for the inviter")
    )
    invitee_benefit = models.ForeignKey(
        "benefits.Benefit", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("benefit for the new member")
    )
    invitee_trial_plan = models.ForeignKey(
        "subscriptions.Plan", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("free trial for the new member"), help_text=_("Given only if the new member never had a trial."),
    )
    monthly_limit = models.PositiveIntegerField(
        _("rewarded invitations per inviter per month"), null=True, blank=True, help_text=_("Empty = no limit.")
    )
    link_base = models.CharField(_("invite link address"), max_length=200, default="https://example.com/invite/", help_text=_("The code is added at the end."))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("invitation policy")
        verbose_name_plural = _("invitation policies")

    def __str__(self):
        return str(self.program)


class InviteCode(models.Model):
    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="invite_code", verbose_name=_("member"))
    code = models.CharField(_("code"), max_length=16, unique=True)
    link = models.CharField(_("link"), max_length=220)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("invite code")
        verbose_name_plural = _("invite codes")

    def __str__(self):
        return self.code


class Invitation(models.Model):
    inviter = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="invitations_sent", verbose_name=_("inviter"))
    invitee = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="invited_by", verbose_name=_("new member"))
    code = models.ForeignKey(InviteCode, on_delete=models.PROTECT, related_name="invitations", verbose_name=_("code"))
    accepted_at = models.DateTimeField(_("accepted at"))
    rewarded = models.BooleanField(_("rewarded"), default=False)
    note = models.CharField(_("note"), max_length=255, blank=True, help_text=_("Why a reward was not given, in full or in part."))
    inviter_points_entry = models.OneToOneField(
        "points.PointsEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("inviter's points")
    )
    invitee_points_entry = models.OneToOneField(
        "points.PointsEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("new member's points")
    )
    inviter_grant = models.ForeignKey(
        "benefits.BenefitGrant", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("inviter's benefit")
    )
    invitee_grant = models.ForeignKey(
        "benefits.BenefitGrant", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("new member's benefit")
    )
    invitee_subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("new member's trial")
    )

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-accepted_at"]
        indexes = [models.Index(fields=["inviter", "accepted_at"], name="invitation_inviter_idx")]

    def __str__(self):
        return f"{self.inviter_id} → {self.invitee_id}"
