"""The anomaly rule engine.

Each ``AnomalyRule`` row names a strategy by its ``kind``; the strategy reads the row's parameters
and finds, with ONE set-based query over all members, the incidents of a period: who earned too
much in an hour, refunded too often, shares a phone with many others, spent points in a burst, or
jumped several levels at once. Strategies only read; raising alerts once per incident, skipping
whitelisted members and suspending is ``services.anomaly_scan``'s business.

An incident is named by a key that stays the same however often the period is scanned (the hour,
the month, the phone, the level change), so a re-scan finds the same incidents and raises nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Abs, TruncHour
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from membership.models import Currency, GrowthEntry, LevelChange, Member, Order
from points.models import PointsEntry


@dataclass(frozen=True)
class Finding:
    member_id: int  # the member's pk
    incident_key: str
    seen_at: datetime  # when the incident happened (the hour, the change) or was seen (the scan's end)
    details: dict = field(default_factory=dict, compare=False)


def _positive_int(params: dict, key: str, *, required: bool = False, minimum: int = 1):
    value = params.get(key)
    if value is None:
        if required:
            raise ValidationError({"params": _("%(param)s is required") % {"param": key}})
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValidationError({"params": _("%(param)s must be a whole number of at least %(min)s, not %(value)s") % {"param": key, "min": minimum, "value": repr(value)}})
    return value


def _unknown(params: dict, known: set[str]) -> None:
    extra = set(params) - known
    if extra:
        raise ValidationError({"params": _("unknown parameters: %(unknown)s (expected %(known)s)") % {"unknown": ", ".join(sorted(extra)), "known": ", ".join(sorted(known))}})


def _only(members, *, field: str = "member_id") -> Q:
    """Every member, or only ``members`` (pks) when a booking checks its own member."""
    return Q() if members is None else Q(**{f"{field}__in": list(members)})


def _hour_key(hour: datetime) -> str:
    return hour.astimezone(timezone.get_current_timezone()).strftime("%Y-%m-%dT%H:00")


class EarningVelocityStrategy:
    """More than ``threshold`` growth (or points, ``currency``) credited in one clock hour.

    params: threshold (required), currency ("growth", the default, or "points").
    Counts credits by their effective time; one incident per member and hour."""

    kind = "earning_velocity"

    @staticmethod
    def param_fields() -> dict:
        return {
            "threshold": forms.IntegerField(label=gettext_lazy("threshold"), min_value=1, help_text=gettext_lazy("An alert when a member is credited more than this in one clock hour.")),
            "currency": forms.ChoiceField(label=gettext_lazy("currency"), choices=[("", gettext_lazy("growth (default)")), *Currency.choices], help_text=gettext_lazy("Which ledger to watch.")),
        }

    def __init__(self, params: dict):
        self.threshold = params["threshold"]
        self.currency = params.get("currency", Currency.GROWTH)

    @classmethod
    def validate_params(cls, params: dict) -> None:
        _unknown(params, {"threshold", "currency"})
        _positive_int(params, "threshold", required=True)
        if params.get("currency", Currency.GROWTH) not in Currency.values:
            raise ValidationError({"params": _("currency must be one of %(known)s") % {"known": ", ".join(Currency.values)}})

    def find(self, *, since: datetime, until: datetime, skip: QuerySet, members=None) -> list[Finding]:
        ledger = GrowthEntry if self.currency == Currency.GROWTH else PointsEntry
        rows = (
            ledger.objects.filter(effective_at__gte=since, effective_at__lt=until, kind=GrowthEntry.Kind.CREDIT, amount__gt=0)
            .exclude(member_id__in=skip)
            .filter(_only(members))
            .annotate(hour=TruncHour("effective_at"))
            .values("member_id", "hour")
            .annotate(total=Sum("amount"))
            .filter(total__gt=self.threshold)
            .values_list("member_id", "hour", "total")
        )
        return [
            Finding(member_id, f"{self.currency}:{_hour_key(hour)}", hour,
                    {"currency": self.currency, "hour": _hour_key(hour), "earned": total, "threshold": self.threshold})
            for member_id, hour, total in rows
        ]


class RefundRateStrategy:
    """At least ``rate`` of a member's orders paid in the last ``days`` (before the scan's end)
    refunded (status refunded or a refunded amount), counting members with ``min_orders`` or more.

    params: rate (0 < rate ≤ 1, required), days (30), min_orders (5). One incident per member and
    month of the scan, so the rolling period does not raise the same member every hour."""

    kind = "refund_rate"

    @staticmethod
    def param_fields() -> dict:
        return {
            "rate": forms.FloatField(label=gettext_lazy("rate"), min_value=0.01, max_value=1, help_text=gettext_lazy("The share of a member's orders refunded that raises an alert, e.g. 0.5 for half.")),
            "days": forms.IntegerField(label=gettext_lazy("days"), min_value=1, help_text=gettext_lazy("The period counted back from the scan (default 30).")),
            "min_orders": forms.IntegerField(label=gettext_lazy("at least orders"), min_value=1, help_text=gettext_lazy("Members with fewer orders in the period are not judged (default 5).")),
        }

    def __init__(self, params: dict):
        self.rate = float(params["rate"])
        self.days = params.get("days", 30)
        self.min_orders = params.get("min_orders", 5)

    @classmethod
    def validate_params(cls, params: dict) -> None:
        _unknown(params, {"rate", "days", "min_orders"})
        rate = params.get("rate")
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1:
            raise ValidationError({"params": _("rate must be a number above 0 and at most 1 (e.g. 0.5), not %(value)s") % {"value": repr(rate)}})
        _positive_int(params, "days")
        _positive_int(params, "min_orders")

    def find(self, *, since: datetime, until: datetime, skip: QuerySet, members=None) -> list[Finding]:
        start = until - timedelta(days=self.days)
        rows = (
            Order.objects.filter(paid_at__gte=start, paid_at__lt=until)
            .exclude(member_id__in=skip)
            .filter(_only(members))
            .values("member_id")
            .annotate(orders=Count("pk"), refunded=Count("pk", filter=Q(status=Order.Status.REFUNDED) | Q(refunded_amount__gt=0)))
            .filter(orders__gte=self.min_orders, refunded__gte=F("orders") * self.rate)
            .values_list("member_id", "orders", "refunded")
        )
        month = until.astimezone(timezone.get_current_timezone()).strftime("%Y-%m")
        return [
            Finding(member_id, month, until,
                    {"orders": orders, "refunded": refunded, "rate": round(refunded / orders, 3), "days": self.days})
            for member_id, orders, refunded in rows
        ]


class SharedPhoneStrategy:
    """``min_members`` or more members with the same phone number (account farms).

    params: min_members (3, at least 2). One incident per member and phone, whenever it is scanned."""

    kind = "shared_phone"

    @staticmethod
    def param_fields() -> dict:
        return {
            "min_members": forms.IntegerField(label=gettext_lazy("members"), min_value=2, help_text=gettext_lazy("An alert when this many members or more share one phone (default 3)."))
        }

    def __init__(self, params: dict):
        self.min_members = params.get("min_members", 3)

    @classmethod
    def validate_params(cls, params: dict) -> None:
        _unknown(params, {"min_members"})
        _positive_int(params, "min_members", minimum=2)

    def find(self, *, since: datetime, until: datetime, skip: QuerySet, members=None) -> list[Finding]:
        shared = Member.objects.exclude(phone="").values("phone").annotate(n=Count("pk")).filter(n__gte=self.min_members).values("phone")
        sharers = Member.objects.filter(phone=OuterRef("phone")).values("phone").annotate(n=Count("pk")).values("n")
        rows = (
            Member.objects.filter(phone__in=Subquery(shared))
            .exclude(pk__in=skip)
            .filter(_only(members, field="pk"))
            .annotate(sharers=Subquery(sharers))
            .values_list("pk", "phone", "sharers")
        )
        return [Finding(pk, f"phone:{phone}", until, {"phone": phone, "members": n}) for pk, phone, n in rows]


class RedemptionBurstStrategy:
    """Points spent in a burst: at least ``count`` spends or ``points`` points in one clock hour.

    params: count and/or points (at least one). Reads the points ledger's spends (every
    redemption, whatever spends the points, is a spend entry). One incident per member and hour."""

    kind = "redemption_burst"

    @staticmethod
    def param_fields() -> dict:
        return {
            "count": forms.IntegerField(label=gettext_lazy("spends an hour"), min_value=1, help_text=gettext_lazy("An alert at this many spends in one clock hour.")),
            "points": forms.IntegerField(label=gettext_lazy("points an hour"), min_value=1, help_text=gettext_lazy("An alert at this many points spent in one clock hour. Give either or both.")),
        }

    def __init__(self, params: dict):
        self.count = params.get("count")
        self.points = params.get("points")

    @classmethod
    def validate_params(cls, params: dict) -> None:
        _unknown(params, {"count", "points"})
        count, points = _positive_int(params, "count"), _positive_int(params, "points")
        if count is None and points is None:
            raise ValidationError({"params": _("give count (spends an hour) or points (points spent an hour), or both")})

    def find(self, *, since: datetime, until: datetime, skip: QuerySet, members=None) -> list[Finding]:
        burst = Q()
        if self.count is not None:
            burst |= Q(spends__gte=self.count)
        if self.points is not None:
            burst |= Q(spent__gte=self.points)
        rows = (
            PointsEntry.objects.filter(effective_at__gte=since, effective_at__lt=until, kind=PointsEntry.Kind.SPEND)
            .exclude(member_id__in=skip)
            .filter(_only(members))
            .annotate(hour=TruncHour("effective_at"))
            .values("member_id", "hour")
            .annotate(spends=Count("pk"), spent=Sum(Abs("amount")))
            .filter(burst)
            .values_list("member_id", "hour", "spends", "spent")
        )
        return [
            Finding(member_id, _hour_key(hour), hour, {"hour": _hour_key(hour), "spends": spends, "points": spent})
            for member_id, hour, spends, spent in rows
        ]


class LevelJumpStrategy:
    """A settlement that moved a member up ``levels`` or more levels at once.

    params: levels (2, at least 2). Program switches are not jumps. One incident per level change."""

    kind = "level_jump"

    @staticmethod
    def param_fields() -> dict:
        return {
            "levels": forms.IntegerField(label=gettext_lazy("levels"), min_value=2, help_text=gettext_lazy("An alert when a settlement moves a member up this many levels or more at once (default 2)."))
        }

    def __init__(self, params: dict):
        self.levels = params.get("levels", 2)

    @classmethod
    def validate_params(cls, params: dict) -> None:
        _unknown(params, {"levels"})
        _positive_int(params, "levels", minimum=2)

    def find(self, *, since: datetime, until: datetime, skip: QuerySet, members=None) -> list[Finding]:
        rows = (
            LevelChange.objects.filter(created_at__gte=since, created_at__lt=until)
            .exclude(reason=LevelChange.Reason.SWITCH)
            .exclude(member_id__in=skip)
            .filter(_only(members))
            .annotate(jump=F("to_level__rank") - F("from_level__rank"))
            .filter(jump__gte=self.levels)
            .values_list("pk", "member_id", "created_at", "jump", "from_level__code", "to_level__code", "window_growth")
        )
        return [
            Finding(member_id, f"levelchange:{pk}", at, {"from": old, "to": new, "levels": jump, "window_growth": growth})
            for pk, member_id, at, jump, old, new, growth in rows
        ]


ANOMALY_STRATEGIES = {
    cls.kind: cls
    for cls in (EarningVelocityStrategy, RefundRateStrategy, SharedPhoneStrategy, RedemptionBurstStrategy, LevelJumpStrategy)
}


def anomaly_strategy_for(rule):
    return ANOMALY_STRATEGIES[rule.kind](rule.params or {})
