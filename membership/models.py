"""Members, the program configuration, orders and the growth ledger.

Invariants:
- Exactly one ``Program`` is active (a partial unique constraint).
- ``GrowthEntry`` is insert-only (see ``common.ledger``); a member's growth in any window is
  the sum of the entries whose ``effective_at`` falls in it.
- ``OrderCredit.credited`` equals the sum of the ledger entries booked for that order and rule.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Func, Q
from django.db.models.functions import Replace, Reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from common.ledger import LedgerEntryBase, Source, ledger_indexes
from common.names import NamedInTwoLanguages

from . import hooks
from .rules import STRATEGIES


class Currency(models.TextChoices):
    GROWTH = "growth", _("Growth")
    POINTS = "points", _("Points")


class Program(models.Model):
    class PointsExpiry(models.TextChoices):
        NEVER = "never", _("Never expire")
        YEAR_END = "year_end", _("At the end of a calendar year after earning")
        MONTHS = "months", _("A number of months after earning")
        DAYS = "days", _("A number of days after earning")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=False)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    growth_window_months = models.PositiveSmallIntegerField(
        _("growth window (months)"),
        null=True,
        blank=True,
        help_text=_("Rolling window of calendar months ending with the settled month; empty = lifetime growth."),
    )
    settlement_day = models.PositiveSmallIntegerField(_("settlement day of month"), default=1)
    settlement_hour = models.PositiveSmallIntegerField(_("settlement hour (local)"), default=2)
    points_expiry = models.CharField(
        _("points expiry"), max_length=20, choices=PointsExpiry.choices, default=PointsExpiry.YEAR_END
    )
    points_expiry_years = models.PositiveSmallIntegerField(
        _("years after the earning year"),
        default=1,
        help_text=_("For year-end expiry: 0 clears points at the end of the year they were earned, 1 a year later."),
    )
    points_expiry_months = models.PositiveSmallIntegerField(
        _("months after earning"), null=True, blank=True, help_text=_("For expiry a number of months after earning.")
    )
    points_expiry_days = models.PositiveSmallIntegerField(
        _("days after earning"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("For expiry a number of days after earning: points earned on the 1st with 30 days end at the same time on the 31st."),
    )
    offset_earns = models.BooleanField(
        _("the part paid with points earns"), default=True,
        help_text=_("Whether the part of an order paid with points (a cash offset, the order's offset_amount) counts toward what order rules give."),
    )
    daily_growth_cap = models.PositiveIntegerField(
        _("daily growth cap per member"), null=True, blank=True, help_text=_("All capped sources together.")
    )
    monthly_growth_cap = models.PositiveIntegerField(_("monthly growth cap per member"), null=True, blank=True)
    daily_points_cap = models.PositiveIntegerField(_("daily points cap per member"), null=True, blank=True)
    monthly_points_cap = models.PositiveIntegerField(_("monthly points cap per member"), null=True, blank=True)
    adjustment_approval_threshold = models.PositiveIntegerField(
        _("adjustments needing approval above"),
        default=1000,
        help_text=_("A manual adjustment of more growth or points than this waits for a second staff member's approval."),
    )
    adjustment_max_amount = models.PositiveIntegerField(
        _("largest manual adjustment"), default=1_000_000,
        validators=[MaxValueValidator(1_000_000_000)],
        help_text=_("No manual adjustment of growth or points may be larger than this, approved or not (at most 1,000,000,000)."),
    )
    lifecycle_new_days = models.PositiveSmallIntegerField(
        _("new for (days)"), default=30, help_text=_("A member who joined within this many days is new.")
    )
    lifecycle_dormant_days = models.PositiveSmallIntegerField(
        _("dormant after (days)"), default=90, help_text=_("A member with no order or behaviour for this many days is dormant.")
    )
    lifecycle_lost_days = models.PositiveSmallIntegerField(
        _("lost after (days)"), default=365, help_text=_("A member with no order or behaviour for this many days is lost.")
    )
    lifecycle_loyal_rank = models.PositiveSmallIntegerField(
        _("loyal from level rank"), default=2, help_text=_("An active member at this level rank or above is loyal; below it, growing.")
    )
    points_expiry_notice_days = models.PositiveSmallIntegerField(
        _("tell of expiring points (days before)"), default=30,
        help_text=_("A points.expiring event is sent this many days before a member's points end."),
    )
    level_risk_notice_days = models.PositiveSmallIntegerField(
        _("tell of a level at risk (days before the settlement)"), default=7,
        help_text=_("A member.level_at_risk event is sent this many days before a settlement that would drop the member."),
    )
    points_per_yuan = models.PositiveIntegerField(
        _("points per yuan"),
        default=100,
        help_text=_("What points are worth in cash (100 = 100 points for 1 yuan): the liability of outstanding points."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("program")
        verbose_name_plural = _("programs")
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_program"),
            models.CheckConstraint(
                condition=Q(settlement_day__gte=1, settlement_day__lte=28), name="program_settlement_day_1_28", violation_error_message=_("The settlement day is between 1 and 28, so that every month has it.")
            ),
            models.CheckConstraint(condition=Q(settlement_hour__lte=23), name="program_settlement_hour_0_23", violation_error_message=_("The settlement hour is between 0 and 23.")),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        needs = {self.PointsExpiry.MONTHS: "points_expiry_months", self.PointsExpiry.DAYS: "points_expiry_days"}.get(self.points_expiry)
        if needs and not getattr(self, needs):
            raise ValidationError({needs: _("Give the number for the chosen points expiry.")})

    def cap_for(self, currency: str, period: str):
        return getattr(self, f"{'daily' if period == 'day' else 'monthly'}_{currency}_cap")


class Level(NamedInTwoLanguages, models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="levels", verbose_name=_("program"))
    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=50)
    name_en = models.CharField(_("English name"), max_length=50, blank=True)
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("0 is the lowest level."))
    threshold = models.PositiveIntegerField(_("growth threshold"))
    validity_months = models.PositiveSmallIntegerField(
        _("validity (months)"),
        null=True,
        blank=True,
        default=12,
        help_text=_("A level reached or confirmed at a settlement stays valid this many months after it."),
    )

    class Meta:
        verbose_name = _("level")
        verbose_name_plural = _("levels")
        ordering = ["program", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="level_code_unique_per_program"),
            models.UniqueConstraint(fields=["program", "rank"], name="level_rank_unique_per_program"),
        ]

    def __str__(self):
        return f"{self.code} {self.display_name}"


class EarningRule(models.Model):
    """One row of the rule engine: ``kind`` names the strategy in ``membership.rules``."""

    class Kind(models.TextChoices):
        ORDER_AMOUNT = "order_amount", _("Order: rate on the qualified amount")
        EVENT_FIXED = "event_fixed", _("Behaviour: fixed amount per event")
        DAILY = "daily", _("Time: fixed amount per day while a condition holds")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="rules", verbose_name=_("program"))
    code = models.SlugField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("type"), max_length=30, choices=Kind.choices)
    currency = models.CharField(_("currency"), max_length=10, choices=Currency.choices)
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher priorities apply first."))
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    stack_group = models.CharField(
        _("does not stack within"), max_length=30, blank=True,
        help_text=_("Of the rules of one group that apply to a fact, only the one of the highest priority gives (exclusive campaigns); empty: the rule adds up with the others."),
    )
    limited = models.BooleanField(
        _("limited beyond the caps"), default=False, editable=False,
        help_text=_("What the rule credits is also bounded by a limit of its own (a campaign's budget and its limit per member)."),
    )

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        ordering = ["program", "-priority", "code"]
        constraints = [models.UniqueConstraint(fields=["program", "code"], name="rule_code_unique_per_program")]

    def __str__(self):
        return f"{self.code} ({self.get_currency_display()})"

    def clean(self):
        if self.kind in STRATEGIES:
            STRATEGIES[self.kind].validate_params(self.params or {}, currency=self.currency, program=self.program if self.program_id else None)


# A phone number as people write it: digits, an optional leading +, spaces, hyphens or brackets
# between them; 5 to 20 digits in all (a mainland mobile has 11).
phone_validator = RegexValidator(
    r"^\+?(?:[ ()-]*\d){5,20}[ ()-]*$", _("%(value)s is not a phone number: digits, with an optional + in front, 5 to 20 of them.")
)


def phone_key():
    """The phone's digits, last first: the key that the search by a phone's last digits (the
    four a caller gives customer service) reads through an index, as a range of its first
    characters, on both databases."""
    digits = models.F("phone")
    for character in " ()-+":
        digits = Replace(digits, models.Value(character), models.Value(""))
    return Reverse(digits)


def birthday_validate(value):
    """A birthday is a day that has been, since 1900."""
    if value.year < 1900 or value > timezone.localdate():
        raise ValidationError(_("%(value)s is not a birthday: it must be a day between 1900-01-01 and today."), params={"value": value})


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        CLOSED = "closed", _("Closed")

    member_id = models.CharField(_("member id"), max_length=64)
    name = models.CharField(_("name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, validators=[phone_validator])
    birthday = models.DateField(_("birthday"), null=True, blank=True, validators=[birthday_validate])
    joined_at = models.DateTimeField(_("joined at"), null=True, blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    level = models.ForeignKey(
        Level,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,  # checked once per settlement chunk: common/references.py
        related_name="+",
        verbose_name=_("level"),
        help_text=_("Set by the settlement; empty = the program's lowest level."),
    )
    level_valid_until = models.DateField(_("level valid until"), null=True, blank=True)
    base_score = models.PositiveIntegerField(
        _("base score"),
        default=0,
        help_text=_(
            "Added to the window growth when the level is decided: a score from outside the program, "
            "such as the member's credit or account standing (Taobao's base score)."
        ),
    )
    last_active_at = models.DateTimeField(
        _("last active"), null=True, blank=True, db_index=True, help_text=_("When the member last paid an order or did a rewarded behaviour.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        # What the console searches by: the id (exactly, or its beginning: on PostgreSQL a pattern
        # index, see the migration), the phone (exactly, or its last digits) and the name; none on
        # the level, which the settlement rewrites for most members at once (filters by level scan
        # in id order and stop at a page). The table leaves room in its pages (see the migration)
        # so that those rewrites stay on their page and touch no index.
        indexes = [
            models.Index(fields=["name"], name="member_name_idx"),
            models.Index(fields=["phone"], name="member_phone_idx"),
            models.Index(phone_key(), name="member_phone_suffix_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["member_id"], name="member_id_unique")]
        # The base score counts toward the level as growth does: only a role that may decide
        # levels (Program admin) sets it, by hand or in a member import.
        permissions = [
            ("change_base_score", gettext_noop("Can set a member's base score")),
            ("export_personal_data", gettext_noop("Can export everything held on a member")),
            ("erase_personal_data", gettext_noop("Can erase a member's personal data")),
        ]

    def __str__(self):
        return f"{self.member_id} {self.name}".strip()


class PersonalDataErasure(models.Model):
    """The record that a member's personal data was erased on request (PIPL Art. 47, GDPR Art. 17):
    who erased it (a staff user, or an API key's user) and why. It cannot be undone; the member's
    id, ledgers and history stay, so balances and levels remain consistent."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="erasure", verbose_name=_("member"))
    reason = models.CharField(_("reason"), max_length=255, help_text=_("The request it answers, e.g. its ticket number."))
    erased_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("erased by"))
    erased_at = models.DateTimeField(_("erased at"), auto_now_add=True)
    rows_changed = models.JSONField(_("rows changed"), default=dict, help_text=_("What was erased, per kind of data."))

    class Meta:
        verbose_name = _("personal data erasure")
        verbose_name_plural = _("personal data erasures")
        ordering = ["-erased_at"]

    def __str__(self):
        return _("%(member)s: personal data erased %(at)s") % {"member": self.member.member_id, "at": f"{timezone.localtime(self.erased_at):%Y-%m-%d %H:%M}"}


class Order(models.Model):
    class Status(models.TextChoices):
        PAID = "paid", _("Paid")
        COMPLETED = "completed", _("Completed")
        REFUNDED = "refunded", _("Refunded")
        CANCELLED = "cancelled", _("Cancelled")

    order_id = models.CharField(_("order id"), max_length=64)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, db_index=False, related_name="orders", verbose_name=_("member")
    )
    paid_at = models.DateTimeField(_("paid at"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    goods_amount = models.DecimalField(_("goods amount"), max_digits=14, decimal_places=2)
    discount_amount = models.DecimalField(_("discount amount"), max_digits=14, decimal_places=2, default=0)
    shipping_amount = models.DecimalField(_("shipping amount"), max_digits=14, decimal_places=2, default=0)
    refunded_amount = models.DecimalField(_("refunded amount"), max_digits=14, decimal_places=2, default=0)
    category = models.CharField(_("category"), max_length=64, blank=True)
    shop_id = models.CharField(_("shop id"), max_length=64, blank=True)
    offset_amount = models.DecimalField(
        _("paid with points"), max_digits=14, decimal_places=2, default=0,
        help_text=_("The part of the order the member paid with points (a cash offset), in yuan."),
    )
    special_invoice = models.BooleanField(
        _("special invoice"), default=False, help_text=_("The order asked for a VAT special invoice: it earns no paid-membership cashback.")
    )
    revision = models.PositiveIntegerField(
        _("revision"), default=1, help_text=_("Raised by every booked change; part of the ledger idempotency keys.")
    )
    member_level = models.CharField(
        _("member's level"), max_length=20, blank=True,
        help_text=_("The member's level code when a rule first asked for it: rules with a rate per level read it, also when the order changes later."),
    )
    member_stage = models.CharField(_("member's lifecycle stage"), max_length=10, blank=True, help_text=_("The member's lifecycle stage before this order, kept as the member's level is."))
    member_conditions = models.CharField(
        _("member's conditions"), max_length=255, blank=True,
        help_text=_("The member conditions that held (a name) or did not (!name) on the order's day, kept as the member's level is."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, db_index=False, related_name="+",
        verbose_name=_("booked by"), help_text=_("Who booked the order first: an API key's user, a staff member; empty for the system (imports)."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        # An import writes orders by the million: a member's orders by date, the unique order id
        # (without a pattern index), nothing else.
        indexes = [models.Index(fields=["member", "paid_at"], name="order_member_paid_idx")]
        constraints = [
            models.UniqueConstraint(fields=["order_id"], name="order_id_unique"),
            models.CheckConstraint(
                condition=Q(goods_amount__gte=0, discount_amount__gte=0, shipping_amount__gte=0, refunded_amount__gte=0, offset_amount__gte=0),
                name="order_amounts_not_negative", violation_error_message=_("An order's amounts cannot be below 0."),
            )
        ]

    def __str__(self):
        return self.order_id


class OrderCredit(models.Model):
    """What one rule entitles an order to, and how much of it was credited (the rest was capped)."""

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT, db_index=False, related_name="credits")  # the unique (order, rule) serves it
    # Checked once per booking, not by a foreign key per row (common/references.py).
    rule = models.ForeignKey(EarningRule, verbose_name=_("rule"), on_delete=models.PROTECT, related_name="+", db_constraint=False)
    entitlement = models.PositiveIntegerField(_("entitlement"), default=0)
    credited = models.IntegerField(_("credited"), default=0)
    order_capped = models.PositiveIntegerField(
        _("over the per-order cap"), default=0, help_text=_("What the rule's per-order cap kept this order from earning.")
    )

    class Meta:
        verbose_name = _("order credit")
        verbose_name_plural = _("order credits")
        constraints = [models.UniqueConstraint(fields=["order", "rule"], name="order_credit_unique")]

    def __str__(self):
        return _("order %(order)s, %(rule)s: %(credited)s credited") % {"order": self.order.order_id, "rule": self.rule, "credited": f"{self.credited:,d}"}


class MemberEvent(models.Model):
    """A behaviour (check-in, review, first transfer…) reported for a member, once per ``event_id``."""

    event_id = models.CharField(_("event id"), max_length=100, unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="events", verbose_name=_("member"))
    event_type = models.CharField(_("event type"), max_length=50, db_index=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, db_index=False, related_name="+",
        verbose_name=_("recorded by"), help_text=_("An API key's user or a staff member; empty for the system."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member event")
        verbose_name_plural = _("member events")
        indexes = [models.Index(fields=["member", "event_type", "occurred_at"], name="event_member_type_idx")]

    def __str__(self):
        return _("%(type)s %(id)s of %(member)s") % {"type": self.event_type, "id": self.event_id, "member": self.member.member_id}


# Sources whose credits count toward, and are limited by, the per-member caps.
CAPPED_SOURCES = (Source.ORDER, Source.EVENT)


class GrowthEntry(LedgerEntryBase):
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, db_index=False, related_name="growth_entries", verbose_name=_("member")
    )
    rule = models.ForeignKey(  # checked once per booking, not by a foreign key per row (common/references.py)
        EarningRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("rule"), db_constraint=False
    )
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, db_index=False, related_name="+", verbose_name=_("corrects")
    )

    class Meta:
        verbose_name = _("growth entry")
        verbose_name_plural = _("growth ledger")
        indexes, constraints = ledger_indexes("growth")

    def __str__(self):
        return _("%(member)s: %(kind)s %(amount)s") % {"member": self.member.member_id, "kind": self.get_kind_display(), "amount": f"{self.amount:+,d}"}


class LedgerTotalsMark(models.Model):
    """How far ``LedgerMonthTotal`` has summed a ledger: every entry up to ``last_pk``.

    Ledgers are insert-only, so the totals are kept exact by adding the entries after the mark;
    the dashboard adds the few entries after it live. Entries are summed once they are
    ``TOTALS_SETTLE`` old, so that a booking transaction still open (a lower id not yet visible)
    is not passed over.
    """

    ledger = models.CharField(_("ledger"), max_length=10)
    time_zone = models.CharField(_("time zone"), max_length=64)
    last_pk = models.BigIntegerField(_("summed up to entry"), default=0)
    refreshed_at = models.DateTimeField(_("refreshed at"), auto_now=True)

    class Meta:
        verbose_name = _("ledger totals mark")
        verbose_name_plural = _("ledger totals marks")
        constraints = [models.UniqueConstraint(fields=["ledger", "time_zone"], name="ledger_totals_mark_unique")]

    def __str__(self):
        return _("%(ledger)s totals (%(zone)s) up to entry %(pk)s") % {"ledger": self.ledger, "zone": self.time_zone, "pk": self.last_pk}


class LedgerMonthTotal(models.Model):
    """A dashboard series' total for a local month, over the ledger's entries up to its mark."""

    series = models.CharField(_("series"), max_length=20)
    time_zone = models.CharField(_("time zone"), max_length=64)
    month = models.DateField(_("month"))
    amount = models.BigIntegerField(_("amount"), default=0)

    class Meta:
        verbose_name = _("ledger month total")
        verbose_name_plural = _("ledger month totals")
        constraints = [models.UniqueConstraint(fields=["series", "time_zone", "month"], name="ledger_month_total_unique")]

    def __str__(self):
        return _("%(series)s in %(month)s (%(zone)s): %(amount)s") % {"series": self.series, "month": f"{self.month:%Y-%m}", "zone": self.time_zone, "amount": f"{self.amount:,d}"}


class DailyRuleRun(models.Model):
    """A day booked by the program's time-based rules: each day once, caught up if the schedule missed it."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", verbose_name=_("program"))
    day = models.DateField(_("day"))
    finished_at = models.DateTimeField(_("finished at"), auto_now_add=True)
    trigger = models.CharField(_("started through"), max_length=50, default="command")
    counts = models.JSONField(_("entries by rule"), default=dict)

    class Meta:
        verbose_name = _("daily rule run")
        verbose_name_plural = _("daily rule runs")
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["program", "day"], name="daily_rule_run_once_per_day")]

    def __str__(self):
        return f"{self.program.code} {self.day:%Y-%m-%d}"


class SettlementRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+", verbose_name=_("program"))
    month = models.DateField(_("month"), unique=True, help_text=_("The first day of the settled month."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    trigger = models.CharField(_("started through"), max_length=50, default="command")
    error = models.TextField(_("error"), blank=True)
    members_evaluated = models.PositiveIntegerField(_("members evaluated"), default=0)
    members_up = models.PositiveIntegerField(_("upgraded"), default=0)
    members_down = models.PositiveIntegerField(_("downgraded"), default=0)
    members_kept = models.PositiveIntegerField(_("kept"), default=0)
    members_renewed = models.PositiveIntegerField(_("renewed"), default=0)
    points_expired = models.PositiveBigIntegerField(_("points expired"), default=0)
    lots_expired = models.PositiveIntegerField(_("lots expired"), default=0)
    benefits_issued = models.PositiveIntegerField(_("benefits issued"), default=0)

    class Meta:
        verbose_name = _("settlement run")
        verbose_name_plural = _("settlement runs")
        ordering = ["-month"]

    def __str__(self):
        return self.month.strftime("%Y-%m")


class LevelChange(models.Model):
    """The history of a member's level: one row per settlement that changed or renewed it."""

    class Reason(models.TextChoices):
        UPGRADE = "upgrade", _("Upgrade")
        RENEWAL = "renewal", _("Confirmed and renewed")
        DOWNGRADE = "downgrade", _("Soft downgrade")
        SWITCH = "switch", _("Same rank under the newly active program")

    # A settlement writes a row for most members at once: the unique (member, run) serves a
    # member's history and (run, to_level) a run's changes by level; no other index. The run and
    # the levels are checked once per chunk, not by a foreign key per row (common/references.py).
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, db_index=False, related_name="level_changes")
    run = models.ForeignKey(
        SettlementRun, verbose_name=_("settlement run"), on_delete=models.PROTECT, db_index=False, db_constraint=False, related_name="level_changes"
    )
    from_level = models.ForeignKey(
        Level, verbose_name=_("from level"), on_delete=models.PROTECT, null=True, db_index=False, db_constraint=False, related_name="+"
    )
    to_level = models.ForeignKey(
        Level, verbose_name=_("to level"), on_delete=models.PROTECT, null=True, db_index=False, db_constraint=False, related_name="+"
    )
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    window_growth = models.BigIntegerField(_("window growth"))
    reason = models.CharField(_("reason"), max_length=10, choices=Reason.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("level change")
        verbose_name_plural = _("level changes")
        indexes = [models.Index(fields=["run", "to_level"], name="level_change_run_level_idx")]
        constraints = [models.UniqueConstraint(fields=["member", "run"], name="level_change_once_per_run")]

    def __str__(self):
        return _("%(member)s: %(from)s → %(to)s, settlement of %(month)s (%(reason)s)") % {
            "member": self.member.member_id, "from": self.from_level.code if self.from_level_id else "-",
            "to": self.to_level.code if self.to_level_id else "-", "month": self.run, "reason": self.get_reason_display(),
        }


class ImportJob(models.Model):
    """An import file too large for a web request, run by a Celery worker; its result is kept."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=20)  # one of hooks.IMPORT_KINDS
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    book_points = models.BooleanField(
        _("book points"), default=True, help_text=_("Orders only: off credits growth only (the previous system paid the points).")
    )
    options = models.JSONField(_("options"), default=dict, blank=True, help_text=_("What the upload asked besides the file."))
    language = models.CharField(
        _("language"), max_length=10, blank=True, editable=False,
        help_text=_("The language of who started the job: the worker writes the rows' reasons and the job's error in it."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(_("rows to book"), default=0)
    rows_done = models.PositiveIntegerField(_("rows booked"), default=0)
    counts = models.JSONField(_("result"), default=dict, blank=True)
    rejected_file = models.FileField(_("rejected rows"), upload_to="imports/%Y/%m/", blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-created_at"]
        permissions = [("import_opening_balances", gettext_noop("Can import opening balances from a previous system"))]

    def __str__(self):
        return f"{self.kind_label}: {self.original_name}"

    @property
    def kind_label(self) -> str:
        spec = hooks.IMPORT_KINDS.get(self.kind)
        return str(spec.label) if spec else self.kind


class SettlementChunk(models.Model):
    """A range of members of a settlement run, settled in one transaction by one worker.

    ``first_member`` and ``last_member`` are member primary keys, inclusive; the last chunk of a
    run has no ``last_member`` (members who joined while the run was planned are in it).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")

    run = models.ForeignKey(SettlementRun, verbose_name=_("settlement run"), on_delete=models.PROTECT, related_name="chunks")
    first_member = models.BigIntegerField(_("first member"))
    last_member = models.BigIntegerField(_("last member"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    members_evaluated = models.PositiveIntegerField(_("members evaluated"), default=0)
    members_up = models.PositiveIntegerField(_("upgraded"), default=0)
    members_down = models.PositiveIntegerField(_("downgraded"), default=0)
    members_renewed = models.PositiveIntegerField(_("renewed"), default=0)
    lots_expired = models.PositiveIntegerField(_("lots expired"), default=0)
    points_expired = models.PositiveBigIntegerField(_("points expired"), default=0)
    benefits_issued = models.PositiveIntegerField(_("benefits issued"), default=0)
    worker = models.CharField(_("worker"), max_length=200, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("settlement chunk")
        verbose_name_plural = _("settlement chunks")
        ordering = ["run", "first_member"]
        constraints = [models.UniqueConstraint(fields=["run", "first_member"], name="settlement_chunk_once")]

    def __str__(self):
        return _("settlement of %(month)s, members from #%(first)s (%(status)s)") % {"month": self.run, "first": self.first_member, "status": self.get_status_display()}


class CurrentTransactionId(Func):
    """The id of the transaction that writes the row (PostgreSQL's ``pg_current_xact_id()``); 0 on
    SQLite, whose single writer commits transactions in the order it numbers rows."""

    output_field = models.BigIntegerField()
    arity = 0

    def as_sql(self, compiler, connection, **extra_context):
        return "0", []

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


class OutboxEvent(models.Model):
    """Something the product decided that the platform must hear of (a level changed, points
    expiring…): the event feed (``GET /api/v1/events``) and the webhooks read these rows.

    Invariant: an event is written in the same transaction as the change it reports, so it exists
    if and only if the change was committed. ``xid`` is the writing transaction's id: the feed pages
    by (xid, id) up to the oldest transaction still running, so a reader following its cursor sees
    every event once, and never one whose transaction could still commit behind it.
    """

    type = models.CharField(_("type"), max_length=50)
    member_ref = models.CharField(_("member id"), max_length=64, blank=True, help_text=_("The member's id on the platform."))
    key = models.CharField(_("key"), 
        max_length=200, null=True, blank=True, editable=False,
        help_text=_("For an event told once (a reminder of a date): the same key is never written twice."),
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    data = models.JSONField(_("data"), default=dict)
    xid = models.BigIntegerField(_("transaction id"), db_default=CurrentTransactionId(), editable=False)
    created_at = models.DateTimeField(_("written at"), auto_now_add=True)

    class Meta:
        verbose_name = _("outbound event")
        verbose_name_plural = _("outbound events")
        # Written by the settlement for most members at once: the feed's order, and the keys of
        # the few events told once (a partial index: the settlement's events have none).
        indexes = [models.Index(fields=["xid", "id"], name="outbox_feed_idx")]
        constraints = [models.UniqueConstraint(fields=["key"], condition=Q(key__isnull=False), name="outbox_event_once_per_key")]

    def __str__(self):
        return f"{self.type} {self.member_ref}"
