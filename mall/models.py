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
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from common.names import NamedInTwoLanguages
from membership.models import Level, Member, Program
from points.models import PointsEntry
from riskcontrol.models import ListEntry


class MallItem(NamedInTwoLanguages, models.Model):
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
            models.CheckConstraint(condition=Q(stock__isnull=True) | Q(stock__gte=0), name="mall_item_stock_not_negative", violation_error_message=_("Stock cannot be below 0.")),
        ]

    def __str__(self):
        return f"{self.code} {self.display_name}"


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
            models.CheckConstraint(condition=Q(points__gt=0), name="mall_price_positive", violation_error_message=_("A price must be at least 1 point.")),
        ]

    def __str__(self):
        return f"{self.item.code} {self.level.code}: {self.points}"

    def clean(self):
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
        permissions = [
            ("cancel_redemption", gettext_noop("Can cancel redemptions")),
            ("redeem_for_member", gettext_noop("Can redeem items on a member's behalf")),
        ]
        indexes = [models.Index(fields=["member", "item", "redeemed_at"], name="redemption_member_item_idx")]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="redemption_quantity_positive", violation_error_message=_("A redemption is of at least 1."))]

    def __str__(self):
        return f"{self.member.member_id} {self.item.code} ×{self.quantity}"


class Lottery(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="lotteries", verbose_name=_("program"))
    code = models.SlugField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=100)
    cost = models.PositiveIntegerField(_("cost in points"), help_text=_("Points one draw costs; 0 for a free draw."))
    starts_at = models.DateTimeField(_("from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("lottery")
        verbose_name_plural = _("lotteries")
        ordering = ["program", "code"]
        constraints = [models.UniqueConstraint(fields=["program", "code"], name="lottery_code_unique_per_program")]

    def __str__(self):
        return f"{self.code} {self.name}"


class LotteryPrize(models.Model):
    class Kind(models.TextChoices):
        POINTS = "points", _("Points")
        ITEM = "item", _("Mall item")
        NOTHING = "nothing", _("Nothing (thanks for playing)")

    lottery = models.ForeignKey(Lottery, on_delete=models.CASCADE, related_name="prizes", verbose_name=_("lottery"))
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    weight = models.PositiveIntegerField(_("weight"), help_text=_("The odds: this prize's weight over the sum of the weights of the prizes in stock."))
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True, help_text=_("Empty: unlimited."))
    points = models.PositiveIntegerField(_("points won"), null=True, blank=True)
    item = models.ForeignKey(MallItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("mall item won"))

    class Meta:
        verbose_name = _("lottery prize")
        verbose_name_plural = _("lottery prizes")
        ordering = ["lottery", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__isnull=True) | Q(stock__gte=0), name="lottery_prize_stock_not_negative", violation_error_message=_("Stock cannot be below 0.")),
            models.CheckConstraint(
                condition=(Q(kind="points", points__gt=0) | ~Q(kind="points")) & (Q(kind="item", item__isnull=False) | ~Q(kind="item")),
                name="lottery_prize_kind_has_its_value",
                violation_error_message=_("A points prize needs its points, an item prize its item."),
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.kind == self.Kind.POINTS and not self.points:
            raise ValidationError({"points": _("A points prize needs the number of points won.")})
        if self.kind == self.Kind.ITEM and not self.item_id:
            raise ValidationError({"item": _("An item prize needs the mall item won.")})


class LotteryDraw(models.Model):
    """One draw: the seed and the pool it was drawn from, so anyone can replay it and get the same prize."""

    class Status(models.TextChoices):
        DONE = "done", _("Done")
        BLOCKED = "blocked", _("Blocked by the blacklist")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="lottery_draws", verbose_name=_("member"))
    lottery = models.ForeignKey(Lottery, on_delete=models.PROTECT, related_name="draws", verbose_name=_("lottery"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    seed = models.BigIntegerField(_("random seed"), null=True, blank=True)
    pool = models.JSONField(_("prizes drawn from"), default=list, blank=True, help_text=_("[prize id, weight] of each prize in stock at the draw."))
    prize = models.ForeignKey(LotteryPrize, on_delete=models.PROTECT, null=True, blank=True, related_name="draws", verbose_name=_("prize"))
    cost = models.PositiveIntegerField(_("cost in points"), default=0)
    points_entry = models.OneToOneField(
        PointsEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("points entry")
    )
    prize_entry = models.OneToOneField(
        PointsEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("prize entry")
    )
    block_entry = models.ForeignKey(
        ListEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("blocked by")
    )
    drawn_at = models.DateTimeField(_("drawn at"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)

    class Meta:
        verbose_name = _("lottery draw")
        verbose_name_plural = _("lottery draws")
        ordering = ["-drawn_at"]
        indexes = [models.Index(fields=["member", "drawn_at"], name="draw_member_idx")]

    def __str__(self):
        return f"{self.member.member_id} {self.lottery.code} #{self.pk}"


class CashOffsetPolicy(models.Model):
    """How points pay part of an order (JD beans: 100 a yuan, at most 50%, in thousands, from a balance of 1,000)."""

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="cash_offset_policy", verbose_name=_("program"))
    points_per_yuan = models.PositiveIntegerField(_("points per yuan"), default=100)
    max_share_percent = models.PositiveSmallIntegerField(_("maximum share of the order (%)"), default=50)
    step = models.PositiveIntegerField(_("step (points)"), default=1000, help_text=_("Points are used only in multiples of this."))
    min_balance = models.PositiveIntegerField(_("minimum balance (points)"), default=1000, help_text=_("A member with fewer points available cannot offset."))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("cash offset policy")
        verbose_name_plural = _("cash offset policies")
        constraints = [
            models.CheckConstraint(condition=Q(points_per_yuan__gt=0, step__gt=0, max_share_percent__lte=100), name="offset_policy_sane", violation_error_message=_("Points per yuan and the step must be above 0, and the largest share at most 100%.")),
        ]

    def __str__(self):
        return str(self.program)


class CashOffsetException(models.Model):
    """A category with its own rule: excluded from offset, or its own maximum share (over an order amount)."""

    policy = models.ForeignKey(CashOffsetPolicy, on_delete=models.CASCADE, related_name="exceptions", verbose_name=_("policy"))
    category = models.CharField(_("category"), max_length=64)
    excluded = models.BooleanField(_("excluded"), default=False, help_text=_("Points cannot pay for this category at all."))
    max_share_percent = models.PositiveSmallIntegerField(_("maximum share of the order (%)"), null=True, blank=True)
    min_order_amount = models.DecimalField(
        _("for orders over (yuan)"), max_digits=14, decimal_places=2, default=0,
        help_text=_("The exception applies to orders above this amount; smaller orders follow the policy."),
    )

    class Meta:
        verbose_name = _("cash offset exception")
        verbose_name_plural = _("cash offset exceptions")
        constraints = [
            models.UniqueConstraint(fields=["policy", "category"], name="offset_exception_once_per_category"),
            models.CheckConstraint(condition=Q(max_share_percent__isnull=True) | Q(max_share_percent__lte=100), name="offset_exception_share_within_100", violation_error_message=_("The largest share can be at most 100%.")),
        ]

    def __str__(self):
        return self.category


class CashOffset(models.Model):
    class Status(models.TextChoices):
        APPLIED = "applied", _("Applied")
        REVERSED = "reversed", _("Reversed")
        BLOCKED = "blocked", _("Blocked by the blacklist")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="cash_offsets", verbose_name=_("member"))
    order_ref = models.CharField(_("order"), max_length=64, db_index=True)
    order_amount = models.DecimalField(_("order amount (yuan)"), max_digits=14, decimal_places=2)
    category = models.CharField(_("category"), max_length=64, blank=True)
    points = models.PositiveIntegerField(_("points"), default=0)
    yuan = models.DecimalField(_("yuan offset"), max_digits=14, decimal_places=2, default=0)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    applied_at = models.DateTimeField(_("applied at"))
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
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    reverse_reason = models.CharField(_("reason for reversing"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)

    class Meta:
        verbose_name = _("cash offset")
        verbose_name_plural = _("cash offsets")
        ordering = ["-applied_at"]
        permissions = [("reverse_cashoffset", gettext_noop("Can reverse cash offsets"))]
        indexes = [models.Index(fields=["member", "applied_at"], name="offset_member_idx")]

    def __str__(self):
        return f"{self.member.member_id} {self.order_ref}: {self.points}"
