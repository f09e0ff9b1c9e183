"""Manual adjustments of growth and points, with a second person's approval above a threshold."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from membership.models import Currency, GrowthEntry, Member
from points.models import PointsEntry

from .anomalies import ANOMALY_STRATEGIES


class ManualAdjustment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        BOOKED = "booked", _("Booked")
        REJECTED = "rejected", _("Rejected")

    class ReasonCode(models.TextChoices):
        COMPENSATION = "compensation", _("Service compensation")
        CORRECTION = "correction", _("Correction of a booking error")
        GOODWILL = "goodwill", _("Goodwill gesture")
        MIGRATION = "migration", _("Migration from a legacy system")
        ABUSE = "abuse", _("Abuse or fraud clawback")
        OTHER = "other", _("Other")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("member"))
    currency = models.CharField(_("currency"), max_length=10, choices=Currency.choices)
    amount = models.IntegerField(_("amount"), help_text=_("Positive adds, negative deducts."))
    reason_code = models.CharField(_("reason"), max_length=20, choices=ReasonCode.choices)
    batch_key = models.CharField(
        _("batch row"), max_length=200, null=True, blank=True, unique=True,
        help_text=_("For adjustments from a batch file: the batch and the row, so a file imported twice books once."),
    )
    reason = models.CharField(_("explanation"), max_length=255)
    reference = models.CharField(_("reference"), max_length=100, blank=True, help_text=_("Ticket, order or case number."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("decided by")
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True)
    growth_entry = models.OneToOneField(GrowthEntry, verbose_name=_("growth entry"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    points_entry = models.OneToOneField(PointsEntry, verbose_name=_("points entry"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("manual adjustment")
        verbose_name_plural = _("manual adjustments")
        ordering = ["-requested_at"]
        permissions = [("approve_manualadjustment", gettext_noop("Can approve or reject manual adjustments"))]
        indexes = [
            # What waits for a decision (the approvers' count in every page's header), and what
            # a requester asked for.
            models.Index(fields=["requested_at"], condition=Q(status="pending"), name="adjustment_pending_idx"),
            models.Index(fields=["requested_by", "decided_at"], name="adjustment_requester_idx"),
        ]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="adjustment_amount_not_zero", violation_error_message=_("An adjustment of 0 changes nothing: give an amount above or below 0."))]

    def __str__(self):
        return f"{self.member.member_id} {self.amount:+,} {self.get_currency_display()}"


class ListEntry(models.Model):
    """A member on the black or white list, for a scope, for a period.

    A blacklisted member gets nothing in scope while the entry is in force (``starts_at`` ≤ t and
    ``ends_at`` empty or after t); what the list blocked is recorded with the entry that blocked it.
    A whitelisted member skips the anomaly rules (not the caps). Entries are never deleted: taking a
    member off a list ends the entry, so the history of who was listed when is kept.
    """

    class Kind(models.TextChoices):
        BLACK = "black", _("Blacklist")
        WHITE = "white", _("Whitelist")

    class Scope(models.TextChoices):
        EARNING = "earning", _("Earning (growth and points)")
        BENEFITS = "benefits", _("Benefits")
        REDEMPTION = "redemption", _("Redemption")
        ALL = "all", _("Everything")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="list_entries", verbose_name=_("member"))
    kind = models.CharField(_("list"), max_length=5, choices=Kind.choices)
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices, default=Scope.ALL)
    reason = models.CharField(_("reason"), max_length=255)
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"), null=True, blank=True, help_text=_("Empty: until taken off the list."))
    review_on = models.DateField(
        _("review on"), null=True, blank=True, help_text=_("When someone should look at the entry again (e.g. a benefits suspension).")
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("added by")
    )
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("taken off by")
    )
    end_reason = models.CharField(_("reason for taking off"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("list entry")
        verbose_name_plural = _("black and white lists")
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["member", "kind", "starts_at"], name="list_member_kind_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")), name="list_entry_ends_after_start", violation_error_message=_("The end must come after the start.")
            ),
        ]

    def __str__(self):
        return f"{self.member.member_id} {self.get_kind_display()} ({self.get_scope_display()})"


class BlockedCredit(models.Model):
    """Growth or points that a booking would have credited but a blacklist entry withheld.

    One open row per (member, source, reference, rule, currency): booking the same order again updates the
    open row's amount (a refund lowers it, never below 0) instead of adding a second one. Releasing
    books the amount once, as a ledger entry keyed by this row (``blocked:<pk>``), dated at the
    original effective time; a released row is kept with who released it, when and why.
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="blocked_credits", verbose_name=_("member"))
    currency = models.CharField(_("currency"), max_length=10, choices=Currency.choices)
    amount = models.PositiveIntegerField(_("amount withheld"))
    source = models.CharField(_("source"), max_length=12)
    source_ref = models.CharField(_("source reference"), max_length=100, blank=True)
    rule = models.ForeignKey(
        "membership.EarningRule", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("rule")
    )
    effective_at = models.DateTimeField(_("effective at"))
    list_entry = models.ForeignKey(ListEntry, on_delete=models.PROTECT, related_name="blocked_credits", verbose_name=_("blocked by"))
    created_at = models.DateTimeField(_("blocked at"), auto_now_add=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("released by")
    )
    release_reason = models.CharField(_("reason for release"), max_length=255, blank=True)
    growth_entry = models.OneToOneField(GrowthEntry, verbose_name=_("growth entry"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    points_entry = models.OneToOneField(PointsEntry, verbose_name=_("points entry"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("blocked credit")
        verbose_name_plural = _("blocked credits")
        ordering = ["-effective_at", "-pk"]
        permissions = [("release_blockedcredit", gettext_noop("Can release blocked credits"))]
        indexes = [models.Index(fields=["member", "effective_at"], name="blocked_member_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "source", "source_ref", "rule", "currency"],
                condition=Q(released_at__isnull=True),
                name="blocked_credit_one_open_per_member_source",
            ),
        ]

    def __str__(self):
        return f"{self.member.member_id} {self.amount} {self.currency} ({self.source} {self.source_ref})"


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class AnomalyRule(models.Model):
    """A configurable anomaly check: ``kind`` names a strategy of ``riskcontrol.anomalies`` that
    reads ``params`` and finds, in one query over all members, who behaved abnormally in a period."""

    class Kind(models.TextChoices):
        EARNING_VELOCITY = "earning_velocity", _("Earning velocity: growth or points earned in an hour")
        REFUND_RATE = "refund_rate", _("Refund rate over a period")
        SHARED_PHONE = "shared_phone", _("Many members sharing one phone")
        REDEMPTION_BURST = "redemption_burst", _("Redemption burst: points spent in an hour")
        LEVEL_JUMP = "level_jump", _("Level jump of several levels at once")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("type"), max_length=30, choices=Kind.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    is_active = models.BooleanField(_("active"), default=True)
    auto_suspend = models.BooleanField(
        _("suspend earning automatically"), default=False,
        help_text=_("High severity only: each new alert puts the member on the blacklist for earning."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("anomaly rule")
        verbose_name_plural = _("anomaly rules")
        ordering = ["code"]

    def __str__(self):
        return self.name

    def clean(self):
        strategy = ANOMALY_STRATEGIES.get(self.kind)
        if strategy is None:
            raise ValidationError({"kind": _("unknown anomaly type %(kind)r") % {"kind": self.kind}})
        strategy.validate_params(self.params or {})
        if self.auto_suspend and self.severity != Severity.HIGH:
            raise ValidationError({"auto_suspend": _("only a high-severity rule may suspend members automatically")})


class Alert(models.Model):
    """One incident an anomaly rule found for a member: raised once per (rule, member, incident key),
    then worked through its statuses by ``alert_transition``, each step kept as an ``AlertEvent``."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        INVESTIGATING = "investigating", _("Investigating")
        RESOLVED = "resolved", _("Resolved")
        FALSE_POSITIVE = "false_positive", _("False positive")

    rule = models.ForeignKey(AnomalyRule, on_delete=models.PROTECT, related_name="alerts", verbose_name=_("rule"))
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="alerts", verbose_name=_("member"))
    incident_key = models.CharField(_("incident"), max_length=100)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    status = models.CharField(_("status"), max_length=15, choices=Status.choices, default=Status.OPEN)
    details = models.JSONField(_("details"), default=dict, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"))
    last_seen_at = models.DateTimeField(_("last seen"))
    list_entry = models.ForeignKey(
        ListEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("suspension")
    )

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-first_seen_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "first_seen_at"], name="alert_status_idx"),
            models.Index(fields=["member", "first_seen_at"], name="alert_member_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["rule", "member", "incident_key"], name="alert_once_per_incident"),
        ]

    def __str__(self):
        return f"{self.rule} — {self.member.member_id} ({self.incident_key})"


class AlertEvent(models.Model):
    """A step of an alert's history: raised (from empty) or moved from one status to another."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="events", verbose_name=_("alert"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("by")
    )
    from_status = models.CharField(_("from"), max_length=15, blank=True)
    to_status = models.CharField(_("to"), max_length=15)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("alert event")
        verbose_name_plural = _("alert events")
        ordering = ["created_at", "pk"]

    def __str__(self):
        return _("%(alert)s: %(from)s → %(to)s") % {"alert": self.alert, "from": self.from_status or "-", "to": self.to_status}
