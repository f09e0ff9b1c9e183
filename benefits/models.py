"""The benefit catalog and what was granted from it.

Invariants:
- A member gets a benefit at most once per period (``BenefitGrant`` is unique on member, benefit
  and period: ``2026-03`` for a month, ``2026`` for a year, ``once``, ``upgrade:V3:2026-04-01``),
  so every way of granting (the settlement, the daily task, a claim) may run twice.
- ``Benefit.issued`` is the quantity granted (not blocked) so far; with a ``stock`` it never exceeds it.
- A grant refused by the blacklist is kept, with status ``blocked`` and the list entry that blocked it.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from common.names import NamedInTwoLanguages
from membership.models import Level, Member, Program, SettlementRun


class Benefit(NamedInTwoLanguages, models.Model):
    class Kind(models.TextChoices):
        COUPON = "coupon", _("Coupon")
        PRIVILEGE = "privilege", _("Privilege or service")
        GIFT = "gift", _("Gift")
        BADGE = "badge", _("Badge")

    class Trigger(models.TextChoices):
        LEVEL = "level", _("Enjoyed while at the level (nothing to grant)")
        MONTHLY = "monthly", _("Every month, by the settlement")
        UPGRADE = "upgrade", _("On reaching a level")
        BIRTHDAY = "birthday", _("On the member's birthday")
        ANNIVERSARY = "anniversary", _("On the membership anniversary")
        CLAIM = "claim", _("When the member claims it")

    class ClaimLimit(models.TextChoices):
        ONCE = "once", _("Once")
        MONTH = "month", _("Once a month")
        YEAR = "year", _("Once a year")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="benefits", verbose_name=_("program"))
    code = models.SlugField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    kind = models.CharField(_("type"), max_length=12, choices=Kind.choices)
    description = models.TextField(_("description"), blank=True)
    min_level = models.ForeignKey(
        Level, on_delete=models.PROTECT, related_name="+", verbose_name=_("from level"),
        help_text=_("Members at this level and above enjoy the benefit (one each), unless quantities per level are given."),
    )
    trigger = models.CharField(_("granted"), max_length=12, choices=Trigger.choices, default=Trigger.LEVEL)
    claim_limit = models.CharField(
        _("claim limit"), max_length=6, choices=ClaimLimit.choices, default=ClaimLimit.MONTH,
        help_text=_("For benefits the member claims: how often."),
    )
    points = models.PositiveIntegerField(
        _("points"), default=0, help_text=_("Points credited with each unit granted (upgrade gifts, points benefits).")
    )
    validity_days = models.PositiveIntegerField(
        _("valid for (days)"), null=True, blank=True, help_text=_("How long a grant can be used; empty = no end.")
    )
    stock = models.PositiveIntegerField(
        _("stock"), null=True, blank=True, help_text=_("How many units may be granted in all; empty = unlimited.")
    )
    issued = models.PositiveIntegerField(_("issued"), default=0, editable=False)
    starts_at = models.DateTimeField(_("available from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("available until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["program", "min_level__rank", "code"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="benefit_code_unique_per_program"),
            models.CheckConstraint(condition=Q(stock__isnull=True) | Q(issued__lte=F("stock")), name="benefit_issued_within_stock", violation_error_message=_("The stock cannot be below what has already been issued.")),
        ]

    def __str__(self):
        return self.display_name

    def clean(self):
        if self.min_level_id and self.program_id and self.min_level.program_id != self.program_id:
            raise ValidationError({"min_level": _("The level must belong to the benefit's program.")})
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The end of the availability must be after its start.")})


class BenefitLevel(models.Model):
    """How many units of a benefit a member at ``level`` gets; when a benefit has such rows, only
    the levels listed get it."""

    benefit = models.ForeignKey(Benefit, on_delete=models.CASCADE, related_name="levels", verbose_name=_("benefit"))
    level = models.ForeignKey(Level, on_delete=models.CASCADE, related_name="+", verbose_name=_("level"))
    quantity = models.PositiveIntegerField(_("quantity"), default=1)

    class Meta:
        verbose_name = _("quantity per level")
        verbose_name_plural = _("quantities per level")
        constraints = [models.UniqueConstraint(fields=["benefit", "level"], name="benefit_level_once")]

    def __str__(self):
        return f"{self.benefit.code} {self.level.code} ×{self.quantity}"

    def clean(self):
        if self.level_id and self.benefit_id and self.level.program_id != self.benefit.program_id:
            raise ValidationError({"level": _("The level must belong to the benefit's program.")})


class BenefitGrant(models.Model):
    class Status(models.TextChoices):
        GRANTED = "granted", _("Granted")
        CLAIMED = "claimed", _("Claimed")
        EXPIRED = "expired", _("Expired")
        BLOCKED = "blocked", _("Blocked by the blacklist")

    # A settlement grants the month's benefits to most members at once, so the table keeps few
    # indexes: the unique (member, benefit, period) serves a member's grants, (benefit, period)
    # a benefit's, and the few blocked, manual and points-carrying grants have partial indexes.
    # The benefit and the run are checked once per statement that grants, not by a foreign key
    # per row (common/references.py).
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, db_index=False, related_name="benefit_grants", verbose_name=_("member")
    )
    benefit = models.ForeignKey(
        Benefit, on_delete=models.PROTECT, db_index=False, db_constraint=False, related_name="grants", verbose_name=_("benefit")
    )
    period = models.CharField(_("period"), max_length=60)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    list_entry = models.ForeignKey(
        "riskcontrol.ListEntry", on_delete=models.PROTECT, null=True, blank=True, db_index=False, related_name="+",
        verbose_name=_("blocked by"),
    )
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    run = models.ForeignKey(
        SettlementRun, on_delete=models.PROTECT, null=True, blank=True, db_index=False, db_constraint=False, related_name="+",
        verbose_name=_("settlement run"),
    )
    points_entry = models.ForeignKey(
        "points.PointsEntry", on_delete=models.PROTECT, null=True, blank=True, db_index=False, related_name="+",
        verbose_name=_("points entry"),
    )
    granted_at = models.DateTimeField(_("granted at"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, db_index=False, related_name="+",
        verbose_name=_("granted by"),
    )

    class Meta:
        verbose_name = _("benefit grant")
        verbose_name_plural = _("benefit grants")
        ordering = ["-granted_at"]
        indexes = [
            models.Index(fields=["benefit", "period"], name="grant_benefit_period_idx"),
            models.Index(fields=["list_entry"], condition=Q(list_entry__isnull=False), name="grant_list_entry_idx"),
            models.Index(fields=["created_by"], condition=Q(created_by__isnull=False), name="grant_created_by_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["member", "benefit", "period"], name="grant_once_per_period"),
            models.UniqueConstraint(
                fields=["points_entry"], condition=Q(points_entry__isnull=False), name="grant_points_entry_once"
            ),
            models.CheckConstraint(
                condition=Q(status="blocked", list_entry__isnull=False) | (~Q(status="blocked") & Q(list_entry__isnull=True)),
                name="grant_blocked_names_its_entry", violation_error_message=_("A blocked grant names the list entry that blocked it, and only a blocked one does."),
            ),
        ]

    def __str__(self):
        return _("%(benefit)s for %(member)s, %(period)s") % {"benefit": self.benefit.code, "member": self.member.member_id, "period": self.period}
