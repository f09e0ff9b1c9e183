"""Paid membership: plans, subscriptions and their terms, and cashback on orders.

Invariants:
- A member has at most one free trial, ever (a partial unique constraint on trial subscriptions).
- A member has at most one live subscription (trial or active) at a time.
- Every purchase, renewal and extension of a subscription is a ``SubscriptionTerm`` row with a
  unique reference, so a payment booked twice extends the subscription once.
- An order earns cashback once (``Cashback`` is unique per order); its points are a points lot,
  frozen while the subscription is a trial, then released or cleared.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from common.names import NamedInTwoLanguages
from membership.models import Member, Order, Program


class Plan(NamedInTwoLanguages, models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="plans", verbose_name=_("program"))
    code = models.SlugField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    term_months = models.PositiveSmallIntegerField(_("term (months)"))
    price = models.DecimalField(_("price (yuan)"), max_digits=10, decimal_places=2)
    points_price = models.PositiveIntegerField(
        _("price in points"), null=True, blank=True, help_text=_("Points that extend a subscription by one term; empty = not possible.")
    )
    cashback_rate = models.DecimalField(
        _("cashback rate (%)"), max_digits=5, decimal_places=2, default=0,
        help_text=_("A share of the amount paid for completed orders, paid in points at the program's points per yuan (5 = 5%)."),
    )
    yearly_cashback_cap = models.PositiveIntegerField(
        _("cashback cap per year (points)"), null=True, blank=True, help_text=_("Per member and calendar year; empty = none.")
    )
    term_cashback_cap = models.PositiveIntegerField(
        _("cashback cap per subscription (points)"), null=True, blank=True,
        help_text=_("Over the whole subscription, renewals included; empty = none."),
    )
    trial_days = models.PositiveSmallIntegerField(_("free trial (days)"), default=0, help_text=_("0 = no trial."))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("paid membership plan")
        verbose_name_plural = _("paid membership plans")
        ordering = ["program", "code"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="plan_code_unique_per_program"),
            models.CheckConstraint(condition=Q(term_months__gte=1), name="plan_term_at_least_a_month", violation_error_message=_("A term is at least 1 month.")),
            models.CheckConstraint(condition=Q(cashback_rate__gte=0, cashback_rate__lte=100), name="plan_cashback_rate_0_100", violation_error_message=_("The cashback rate is between 0 and 100%.")),
        ]

    def __str__(self):
        return self.display_name


class Subscription(models.Model):
    class Status(models.TextChoices):
        TRIAL = "trial", _("Free trial")
        ACTIVE = "active", _("Active")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    LIVE = (Status.TRIAL, Status.ACTIVE)

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("member"))
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("plan"))
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), help_text=_("The last day of membership."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    is_trial = models.BooleanField(_("trial"), default=False)
    renewals = models.PositiveIntegerField(_("renewals"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=255, blank=True)
    trial_settled = models.BooleanField(
        _("trial cashback settled"), default=False, help_text=_("A trial's frozen cashback was released or cleared.")
    )

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-starts_on", "-pk"]
        indexes = [models.Index(fields=["member", "starts_on"], name="subscription_member_idx")]
        constraints = [
            models.UniqueConstraint(fields=["member"], condition=Q(is_trial=True), name="one_trial_per_member"),
            models.UniqueConstraint(fields=["member"], condition=Q(status__in=["trial", "active"]), name="one_live_subscription"),
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="subscription_ends_after_start", violation_error_message=_("A subscription cannot end before it starts.")),
        ]

    def __str__(self):
        return f"{self.member.member_id} {self.plan.code} {self.starts_on}–{self.ends_on}"


class SubscriptionTerm(models.Model):
    """One purchase, renewal or extension: what was paid, how, and the days it added."""

    class Kind(models.TextChoices):
        TRIAL = "trial", _("Free trial")
        PURCHASE = "purchase", _("Purchase")
        RENEWAL = "renewal", _("Renewal")
        POINTS = "points", _("Extension with points")

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="terms", verbose_name=_("subscription"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    reference = models.CharField(_("reference"), max_length=100, unique=True, help_text=_("The payment or request id: booked once."))
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    amount = models.DecimalField(_("amount paid (yuan)"), max_digits=10, decimal_places=2, default=0)
    points_entry = models.OneToOneField(
        "points.PointsEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("points entry")
    )
    created_at = models.DateTimeField(_("booked at"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("subscription term")
        verbose_name_plural = _("subscription terms")
        ordering = ["subscription", "starts_on"]

    def __str__(self):
        return _("%(subscription)s: %(kind)s %(from)s–%(until)s") % {"subscription": self.subscription, "kind": self.get_kind_display(), "from": self.starts_on, "until": self.ends_on}


class Cashback(models.Model):
    class Status(models.TextChoices):
        CREDITED = "credited", _("Credited")
        FROZEN = "frozen", _("Frozen (trial)")
        RELEASED = "released", _("Released")
        CLEARED = "cleared", _("Cleared")
        BLOCKED = "blocked", _("Blocked by the blacklist")

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="cashbacks", verbose_name=_("subscription"))
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="cashback", verbose_name=_("order"))
    points = models.PositiveIntegerField(_("points"))
    capped = models.PositiveIntegerField(_("capped"), default=0, help_text=_("Withheld by the yearly or subscription cap."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    points_entry = models.OneToOneField(
        "points.PointsEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("points entry")
    )
    list_entry = models.ForeignKey(
        "riskcontrol.ListEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("blocked by")
    )
    created_at = models.DateTimeField(_("booked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("cashback")
        verbose_name_plural = _("cashback")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.order.order_id}: {self.points}"
