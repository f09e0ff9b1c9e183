"""The points mall, lotteries and cash offset: where members spend their points.

Invariants:
- ``MallItem.stock`` (when limited) and ``LotteryPrize.stock`` never go below 0: they are
  decremented by guarded ``F()`` updates and the database refuses a negative value.
- A ``Redemption``, ``LotteryDraw`` or ``CashOffset`` that spent points points to the points
  entry that spent them; a cancellation or reversal points to the refund entry that gave them
  back. The points ledger itself is the record of the balance (see ``points.models``).
- A refusal because the member is blacklisted is recorded (status ``blocked``, with the list
  entry) and spends nothing.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from membership.models import Level, Member, Program
from points.models import PointsEntry
from riskcontrol.models import ListEntry


class MallItem(models.Model):
    class Kind(models.TextChoices):
        COUPON = "coupon", _("Coupon")
        GOODS = "goods", _("Goods")
        PRIVILEGE = "privilege", _("Privilege")

    class LimitPeriod(models.TextChoices):
        MONTH = "month", _("Per calendar month")
        YEAR = "year", _("Per calendar year")
        EVER = "ever", _("Ever")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="mall_items", verbose_name=_("program"))
    code = models.SlugField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    description = models.TextField(_("description"), blank=True)
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True, help_text=_("Empty: unlimited."))
    limit_per_member = models.PositiveIntegerField(
        _("limit per member"), null=True, blank=True, help_text=_("How many one member may redeem in the period; empty: no limit.")
    )
    limit_period = models.CharField(_("limit period"), max_length=5, choices=LimitPeriod.choices, default=LimitPeriod.MONTH)
    available_from = models.DateTimeField(_("available from"), null=True, blank=True)
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("mall item")
        verbose_name_plural = _("mall items")
        ordering = ["program", "code"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="mall_item_code_unique_per_program"),
            models.CheckConstraint(condition=Q(stock__isnull=True) | Q(stock__gte=0), name="mall_item_stock_not_negative"),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class MallPrice(models.Model):
    """What an item costs a member at ``level``; an item without a price for a level is not available to it."""

    item = models.ForeignKey(MallItem, on_delete=models.CASCADE, related_name="prices", verbose_name=_("item"))
    level = models.ForeignKey(Level, on_delete=models.CASCADE, related_name="+", verbose_name=_("level"))
    points = models.PositiveIntegerField(_("points"))

    class Meta:
        verbose_name = _("mall price")
        verbose_name_plural = _("mall prices")
        ordering = ["item", "level__rank"]
        constraints = [
            models.UniqueConstraint(fields=["item", "level"], name="mall_price_once_per_level"),
            models.CheckConstraint(condition=Q(points__gt=0), name="mall_price_positive"),
        ]

    def __str__(self):
        return f"{self.item.code} {self.level.code}: {self.points}"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.item_id and self.level_id and self.level.program_id != self.item.program_id:
            raise ValidationError({"level": _("The level must belong to the item's program.")})


class Redemption(models.Model):
    class Status(models.TextChoices):
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        BLOCKED = "blocked", _("Blocked by the blacklist")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("member"))
    item = models.ForeignKey(MallItem, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("item"))
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    points = models.PositiveIntegerField(_("points"), default=0, help_text=_("The points spent, all units together."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    redeemed_at = models.DateTimeField(_("redeemed at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("created by")
    )
    points_entry = models.OneToOneField(
        PointsEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("points entry")
    )
    refund_entry = models.OneToOneField(
        PointsEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("refund entry")
    )
    block_entry = models.ForeignKey(
        ListEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("blocked by")
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("cancelled by")
    )
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-redeemed_at"]
        permissions = [("cancel_redemption", "Can cancel redemptions")]
        indexes = [models.Index(fields=["member", "item", "redeemed_at"], name="redemption_member_item_idx")]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="redemption_quantity_positive")]

    def __str__(self):
        return f"{self.member.member_id} {self.item.code} ×{self.quantity}"
