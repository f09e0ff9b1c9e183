"""Campaigns: an earning rule with a window, an audience, a budget and a maker-checker lifecycle.

A campaign says what it gives as an earning rule does (a rule type of ``membership.rules`` and its
parameters: the scope of orders — categories, shops, statuses —, the audience — levels, lifecycle
stages, paid members —, and the effect — a rate, per level if wanted, or a fixed amount per
event). Until it is approved it gives nothing: the approval (by an Approver other than who made or
submitted it) writes its earning rule, valid over the window, marked ``limited`` so that every
booking asks the campaign's budget and its limit per member (``limits``) and ``exclusive`` in
the rules' stack group. Every transition is recorded with who and why.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from membership.models import Currency, EarningRule, Member, Program
from membership.rules import STRATEGIES

KINDS = (EarningRule.Kind.ORDER_AMOUNT, EarningRule.Kind.EVENT_FIXED)
STACK_GROUP = "campaigns"


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        ENDED = "ended", _("Ended")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="campaigns", verbose_name=_("program"))
    code = models.SlugField(_("code"), max_length=40, help_text=_("Its earning rule is named campaign-CODE."))
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("type"), max_length=30, choices=[(k.value, k.label) for k in KINDS], default=EarningRule.Kind.ORDER_AMOUNT)
    currency = models.CharField(_("currency"), max_length=10, choices=Currency.choices, default=Currency.POINTS)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    priority = models.IntegerField(_("priority"), default=100, help_text=_("Higher priorities apply first; of exclusive campaigns, only the highest that gives an order something gives."))
    exclusive = models.BooleanField(_("exclusive"), default=False, help_text=_("Does not stack with other exclusive campaigns."))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"), help_text=_("Orders and events from this moment on earn nothing from it."))
    budget = models.PositiveIntegerField(
        _("budget"), null=True, blank=True,
        help_text=_("The most it may credit in all, in its currency; what the budget cannot pay is recorded as refused. Empty: no budget."),
    )
    member_limit = models.PositiveIntegerField(_("at most a member"), null=True, blank=True, help_text=_("The most one member may receive from it (empty: no limit)."))
    credited = models.IntegerField(_("credited"), default=0, editable=False, help_text=_("What it has credited, less what refunds took back."))
    refused = models.PositiveIntegerField(_("refused by its limits"), default=0, editable=False, help_text=_("What its budget or its limit per member did not pay."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False)
    rule = models.OneToOneField(
        EarningRule, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="campaign", verbose_name=_("earning rule"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+", verbose_name=_("created by"),
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    previous = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="next_version", verbose_name=_("previous version"),
        help_text=_("The approved campaign this version changes: approving this one ends that one."),
    )
    forecast = models.JSONField(_("forecast"), null=True, blank=True, editable=False, help_text=_("The latest forecast: the last months of orders replayed through the campaign."))
    forecast_asked_at = models.DateTimeField(_("forecast asked at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-starts_at", "code"]
        permissions = [("approve_campaign", gettext_noop("Can approve or reject campaigns"))]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="campaign_code_unique_per_program"),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="campaign_ends_after_it_starts", violation_error_message=_("A campaign ends after it starts.")),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def rule_code(self) -> str:
        return f"campaign-{self.code}"

    def cash_value(self, amount: int | None) -> Decimal | None:
        """What ``amount`` of the campaign's points is worth in yuan, at the program's points per
        yuan (None for growth, which buys nothing, or no amount)."""
        if amount is None or self.currency != Currency.POINTS or not self.program_id or not self.program.points_per_yuan:
            return None
        return (Decimal(amount) / self.program.points_per_yuan).quantize(Decimal("0.01"))

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("A campaign ends after it starts.")})
        if self.kind in STRATEGIES:
            STRATEGIES[self.kind].validate_params(self.params or {}, currency=self.currency, program=self.program if self.program_id else None)


class CampaignTransition(models.Model):
    """One step of a campaign's lifecycle: who moved it from what to what, when, and why."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="transitions", verbose_name=_("campaign"))
    from_status = models.CharField(_("from"), max_length=10, choices=Campaign.Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=10, choices=Campaign.Status.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("by"))
    at = models.DateTimeField(_("at"))
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("campaign transition")
        verbose_name_plural = _("campaign transitions")
        ordering = ["campaign", "at", "pk"]


class CampaignMember(models.Model):
    """What one campaign credited one member (its limit per member reads it) and what its limits refused them."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members", verbose_name=_("campaign"))
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+", verbose_name=_("member"))
    credited = models.IntegerField(_("credited"), default=0)
    refused = models.PositiveIntegerField(_("refused by its limits"), default=0)

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        constraints = [models.UniqueConstraint(fields=["campaign", "member"], name="campaign_member_once")]
