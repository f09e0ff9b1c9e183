"""Reads of the points mall: prices, what a member may redeem, what they redeemed."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Q, Sum
from django.utils import timezone

from membership.models import Level, Member
from membership.selectors import member_level_get, program_levels

from .models import MallItem, MallPrice, Redemption


def member_mall_level_get(*, member: Member, program) -> Level:
    """The member's level under ``program`` (the lowest when no settlement has placed them)."""
    return member_level_get(member=member, levels=program_levels(program=program))


def mall_price_get(*, item: MallItem, level: Level) -> int | None:
    """Points one unit of ``item`` costs at ``level``; None when the item is not offered to that level."""
    return MallPrice.objects.filter(item=item, level=level).values_list("points", flat=True).first()


def period_start(*, period: str, at: datetime, time_zone: str) -> datetime | None:
    """Where a per-member limit's period that contains ``at`` begins (None: ever)."""
    local = at.astimezone(ZoneInfo(time_zone))
    if period == MallItem.LimitPeriod.MONTH:
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == MallItem.LimitPeriod.YEAR:
        return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


def member_redeemed_count(*, member: Member, item: MallItem, at: datetime) -> int:
    """Units of ``item`` the member redeemed (not cancelled) in the limit period containing ``at``."""
    redemptions = Redemption.objects.filter(member=member, item=item, status=Redemption.Status.DONE, redeemed_at__lte=at)
    start = period_start(period=item.limit_period, at=at, time_zone=item.program.time_zone)
    if start is not None:
        redemptions = redemptions.filter(redeemed_at__gte=start)
    return redemptions.aggregate(n=Sum("quantity"))["n"] or 0


def mall_items_available(*, member: Member, program, at: datetime | None = None) -> list[tuple[MallItem, int]]:
    """The active items of ``program`` on offer at ``at`` that have a price for the member's level, with that price."""
    at = at or timezone.now()
    level = member_mall_level_get(member=member, program=program)
    prices = (
        MallPrice.objects.filter(level=level, item__program=program, item__is_active=True)
        .filter(Q(item__available_from__isnull=True) | Q(item__available_from__lte=at))
        .filter(Q(item__available_until__isnull=True) | Q(item__available_until__gt=at))
        .select_related("item")
        .order_by("item__code")
    )
    return [(price.item, price.points) for price in prices]


def member_redemptions_latest(*, member: Member, limit: int = 10):
    return Redemption.objects.filter(member=member).select_related("item").order_by("-redeemed_at", "-pk")[:limit]
