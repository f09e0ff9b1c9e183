"""Reads of the points mall: prices, what a member may redeem, what they redeemed."""

import random
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from common.records import rows
from membership.models import Level, Member
from membership.selectors import member_level_get, program_active_get, program_levels
from points.selectors import points_available_get

from .models import CashOffset, CashOffsetPolicy, LotteryDraw, MallItem, MallPrice, Redemption


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


def member_draws_latest(*, member: Member, limit: int = 10):
    return LotteryDraw.objects.filter(member=member).select_related("lottery", "prize").order_by("-drawn_at", "-pk")[:limit]


def member_offsets_latest(*, member: Member, limit: int = 10):
    return CashOffset.objects.filter(member=member).order_by("-applied_at", "-pk")[:limit]


def lottery_pick(prizes, seed: int):
    """The key drawn from ``prizes`` — (key, weight) pairs, in the order given — with ``random.Random(seed)``;
    None when no prize has a weight. The same prizes and seed always give the same key."""
    pool = [(key, weight) for key, weight in prizes if weight > 0]
    total = sum(weight for _key, weight in pool)
    if total == 0:
        return None
    roll = random.Random(seed).randrange(total)
    for key, weight in pool:
        if roll < weight:
            return key
        roll -= weight
    raise AssertionError("the roll is below the total weight")


def lottery_draw_replay(*, draw: LotteryDraw):
    """The prize (pk) that ``draw``'s seed gives over its recorded pool: equal to ``draw.prize_id`` for an honest draw."""
    return lottery_pick([tuple(pair) for pair in draw.pool], draw.seed)


@dataclass(frozen=True)
class OffsetQuote:
    points: int  # the most points the order can take, a multiple of the step
    yuan: Decimal  # what those points are worth
    reason: str  # what set the limit, or why nothing can be used
    available: int = 0
    max_share_percent: int = 0


def cash_offset_policy_get(*, program) -> CashOffsetPolicy | None:
    return CashOffsetPolicy.objects.filter(program=program, is_active=True).first()


def offset_quote(*, member: Member, order_amount: Decimal, category: str = "", at: datetime | None = None) -> OffsetQuote:
    """The most points ``member`` can use on an order of ``order_amount`` yuan in ``category``, under the
    active program's cash offset policy: within the order's maximum share, the points available, and
    in multiples of the step; nothing under the minimum balance or in an excluded category."""
    at = at or timezone.now()
    order_amount = Decimal(order_amount)
    policy = cash_offset_policy_get(program=program_active_get())
    if policy is None:
        return OffsetQuote(0, Decimal("0.00"), _("the program has no cash offset."))
    if order_amount <= 0:
        return OffsetQuote(0, Decimal("0.00"), _("the order amount must be above 0."))
    share = policy.max_share_percent
    exception = policy.exceptions.filter(category=category).first() if category else None
    if exception is not None and exception.excluded:
        return OffsetQuote(0, Decimal("0.00"), _("points cannot pay for %(category)s.") % {"category": category})
    if exception is not None and exception.max_share_percent is not None and order_amount > exception.min_order_amount:
        share = exception.max_share_percent
    available = points_available_get(member=member, at=at)
    if available < policy.min_balance:
        return OffsetQuote(
            0, Decimal("0.00"),
            _("%(available)s points available, under the minimum balance of %(minimum)s.") % {"available": f"{available:,}", "minimum": f"{policy.min_balance:,}"},
            available, share,
        )
    by_share = int((order_amount * share * policy.points_per_yuan / 100).to_integral_value(rounding=ROUND_FLOOR))
    usable = min(by_share, available)
    points = usable // policy.step * policy.step
    if points == 0:
        reason = _("less than one step of %(step)s points can be used.") % {"step": f"{policy.step:,}"}
    elif by_share <= available:
        reason = _("at most %(share)d%% of the order, in multiples of %(step)s points.") % {"share": share, "step": f"{policy.step:,}"}
    else:
        reason = _("the points available, in multiples of %(step)s points.") % {"step": f"{policy.step:,}"}
    yuan = (Decimal(points) / policy.points_per_yuan).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    return OffsetQuote(points, yuan, reason, available, share)


def member_spending_data(*, member) -> dict:
    """``member``'s redemptions, lottery draws and cash offsets, for their data export."""
    return {
        "redemptions": rows(
            Redemption.objects.filter(member=member).order_by("redeemed_at", "pk"), "item__code", "quantity", "points", "status",
            "redeemed_at", "cancelled_at", "cancel_reason",
        ),
        "lottery_draws": rows(LotteryDraw.objects.filter(member=member).order_by("drawn_at", "pk"), "lottery__code", "status", "prize__name", "cost", "drawn_at"),
        "cash_offsets": rows(
            CashOffset.objects.filter(member=member).order_by("applied_at", "pk"), "order_ref", "order_amount", "points", "yuan", "status",
            "applied_at", "reversed_at",
        ),
    }
