"""A campaign's forecast: the last months of real orders replayed through it, set-based.

What each order would have earned is one SQL expression over the order and its member (the
scope, the minimum amount, the rate of the member's level, the cap per order); the database sums
it by day and level — by member and day first when the campaign has a limit per member, which a
running sum per member applies —, and the budget is spent day by day over those sums. The
audience is read as it stands today: the member's level, lifecycle stage and conditions now.
The forecast of a behaviour campaign is not made (its events are counted by type in the report).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Case, Count, DecimalField, F, IntegerField, Q, Sum, Value, When, Window
from django.db.models.functions import Cast, Floor, Greatest, Least, RowNumber, TruncDate, TruncMonth
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from common.timeutil import add_months
from membership.hooks import member_condition_q
from membership.lifecycle import lifecycle_q
from membership.models import Member, MemberEvent, Order
from membership.rules import STRATEGIES, EventFixedStrategy, OrderAmountStrategy, strategy_for
from membership.selectors import levels_by_id, program_levels

from .models import Campaign

MONEY = DecimalField(max_digits=20, decimal_places=4)


def _level_codes(program) -> tuple[list, dict[str, list[int]], str]:
    """The program's levels, the level pks that stand for each code, and the lowest code (members never placed)."""
    levels = program_levels(program=program)
    by_code: dict[str, list[int]] = {}
    for pk, level in levels_by_id(levels=levels).items():
        by_code.setdefault(level.code, []).append(pk)
    return levels, by_code, levels[0].code if levels else ""


def _orders(campaign: Campaign, strategy: OrderAmountStrategy, since: datetime, until: datetime):
    """The orders the campaign would have reached, each with ``level`` (its member's level code now)
    and ``points`` (what it would have earned), as a queryset."""
    program = campaign.program
    _, by_code, lowest = _level_codes(program)
    level = Case(
        *[When(member__level_id__in=pks, then=Value(code)) for code, pks in by_code.items()],
        default=Value(lowest),
    )
    qualified = F("goods_amount") - F("discount_amount") - F("refunded_amount")
    if strategy.include_shipping:
        qualified = qualified + F("shipping_amount")
    if not program.offset_earns:
        qualified = qualified - F("offset_amount")
    qualified = Greatest(qualified, Value(Decimal(0)), output_field=MONEY)
    rates = {code: strategy.rate_for(code) for code in by_code}
    rate = Case(
        *[When(member__level_id__in=by_code[code], then=Value(r, output_field=MONEY)) for code, r in rates.items() if r != strategy.rate_for(lowest)],
        default=Value(strategy.rate_for(lowest), output_field=MONEY), output_field=MONEY,
    )
    points = Cast(Floor(qualified * rate, output_field=MONEY), IntegerField())
    if strategy.fixed:
        points = points + Case(When(GreaterThan(qualified, Value(Decimal(0))), then=Value(strategy.fixed)), default=Value(0), output_field=IntegerField())
    if strategy.per_order_cap is not None:
        points = Least(points, Value(int(strategy.per_order_cap)), output_field=IntegerField())
    orders = Order.objects.filter(paid_at__gte=since, paid_at__lt=until, status__in=sorted(strategy.statuses))
    if strategy.categories:
        orders = orders.filter(category__in=sorted(strategy.categories))
    if strategy.exclude_categories:
        orders = orders.exclude(category__in=sorted(strategy.exclude_categories))
    if strategy.shops:
        orders = orders.filter(shop_id__in=sorted(strategy.shops))
    if strategy.exclude_shops:
        orders = orders.exclude(shop_id__in=sorted(strategy.exclude_shops))
    audience = Q()
    now = timezone.now()
    if strategy.stages:
        stages = Q()
        for stage in sorted(strategy.stages):
            stages |= lifecycle_q(program=program, stage=stage, now=now)
        audience &= stages
    if strategy.when:
        audience &= member_condition_q(strategy.when, program=program, day=now.astimezone(ZoneInfo(program.time_zone)).date())
    if audience:
        orders = orders.filter(member__in=Member.objects.filter(audience).values("pk"))
    tz = ZoneInfo(program.time_zone)
    orders = orders.annotate(q=qualified, points=points, level=level, day=TruncDate("paid_at", tzinfo=tz))
    if strategy.min_amount is not None:
        orders = orders.filter(q__gte=strategy.min_amount)
    return orders.filter(points__gt=0)


def _events_sql(campaign: Campaign, strategy: EventFixedStrategy, since: datetime, until: datetime) -> tuple[str, list]:
    """The events the campaign would have paid, as SQL of rows (member_id, day, level, points):
    those of its type, each its amount, within its once / a day / a month limits."""
    program = campaign.program
    _, by_code, lowest = _level_codes(program)
    tz = ZoneInfo(program.time_zone)
    events = MemberEvent.objects.filter(event_type=strategy.event_type, occurred_at__gte=since, occurred_at__lt=until).annotate(
        day=TruncDate("occurred_at", tzinfo=tz), month=TruncMonth("occurred_at", tzinfo=tz),
        level=Case(*[When(member__level_id__in=pks, then=Value(code)) for code, pks in by_code.items()], default=Value(lowest)),
    )
    order = [F("occurred_at").asc(), F("pk").asc()]
    limits = {}
    if strategy.once:
        limits["rn_once"] = (Window(RowNumber(), partition_by=[F("member_id")], order_by=order), 1)
    if strategy.per_day:
        limits["rn_day"] = (Window(RowNumber(), partition_by=[F("member_id"), F("day")], order_by=order), int(strategy.per_day))
    if strategy.per_month:
        limits["rn_month"] = (Window(RowNumber(), partition_by=[F("member_id"), F("month")], order_by=order), int(strategy.per_month))
    events = events.annotate(**{name: window for name, (window, _most) in limits.items()})
    sql, params = events.values("member_id", "day", "level", *limits).query.sql_with_params()
    where = " AND ".join(f"e.{name} <= %s" for name in limits) or "1 = 1"
    return (
        f"SELECT e.member_id, e.day, e.level, %s AS points FROM ({sql}) e WHERE {where}",
        [strategy.amount, *params, *(most for _window, most in limits.values())],
    )


def _rows(query: str, params: list) -> list:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _with_member_limit(orders, limit: int) -> list[tuple]:
    """(day, level, points given, orders reached, members reached first that day) under a limit per
    member: a running sum per member over the days gives each day what the limit still allows.
    ``orders``: a queryset of orders, or the SQL and parameters of rows (member_id, day, level, points)."""
    if isinstance(orders, tuple):
        base, params = orders
        sql = f"SELECT b.member_id, b.day, b.level, SUM(b.points) AS p, COUNT(*) AS n FROM ({base}) b GROUP BY b.member_id, b.day, b.level"
    else:
        inner = orders.values("member_id", "day", "level").annotate(p=Sum("points"), n=Count("pk")).order_by()
        sql, params = inner.query.sql_with_params()
    most, least = ("GREATEST", "LEAST") if connection.vendor == "postgresql" else ("MAX", "MIN")
    query = (
        f"SELECT day, level, SUM(given), SUM(CASE WHEN given > 0 THEN n ELSE 0 END), SUM(CASE WHEN first = 1 AND given > 0 THEN 1 ELSE 0 END) "
        f"FROM (SELECT day, level, n, first, {most}(0, {least}(p, %s - (running - p))) AS given "
        f"FROM (SELECT md.day, md.level, md.n, md.p, SUM(md.p) OVER (PARTITION BY md.member_id ORDER BY md.day) AS running, "
        f"ROW_NUMBER() OVER (PARTITION BY md.member_id ORDER BY md.day) AS first FROM ({sql}) md) w) g GROUP BY day, level"
    )
    return [(_day(day), level, int(given or 0), int(n or 0), int(m or 0)) for day, level, given, n, m in _rows(query, [limit, *params])]


def campaign_forecast(*, campaign: Campaign, months: int = 12, now: datetime | None = None) -> dict:
    """What the campaign would have cost over the last ``months`` months of orders (or of events, for
    a behaviour campaign): points, their cash value, orders (events) and members reached, by level,
    and the budget spent day by day."""
    strategy = strategy_for(campaign.rule) if campaign.rule_id else None
    strategy = strategy or STRATEGIES[campaign.kind](campaign.params or {})
    if not isinstance(strategy, (OrderAmountStrategy, EventFixedStrategy)):
        raise ValueError("only order and behaviour campaigns are forecast")
    program = campaign.program
    tz = ZoneInfo(program.time_zone)
    now = now or timezone.now()
    today = now.astimezone(tz).date()
    first = add_months(today, -months)
    since, until = datetime.combine(first, datetime.min.time(), tzinfo=tz), datetime.combine(today, datetime.min.time(), tzinfo=tz)
    events = isinstance(strategy, EventFixedStrategy)
    orders = _events_sql(campaign, strategy, since, until) if events else _orders(campaign, strategy, since, until)
    if campaign.member_limit is not None:
        rows = _with_member_limit(orders, campaign.member_limit)
        members_by_level: dict[str, int] = {}
        for _, level, _, _, reached in rows:
            members_by_level[level] = members_by_level.get(level, 0) + reached
    elif events:
        base, params = orders
        rows = [(_day(day), level, int(p), int(n), 0) for day, level, p, n in _rows(
            f"SELECT b.day, b.level, SUM(b.points), COUNT(*) FROM ({base}) b GROUP BY b.day, b.level", params
        )]
        members_by_level = dict(_rows(f"SELECT b.level, COUNT(DISTINCT b.member_id) FROM ({base}) b GROUP BY b.level", params))
    else:
        rows = [
            (r["day"], r["level"], int(r["p"]), r["n"], 0)
            for r in orders.values("day", "level").annotate(p=Sum("points"), n=Count("pk")).order_by()
        ]
        members_by_level = dict(orders.values("level").annotate(m=Count("member_id", distinct=True)).order_by().values_list("level", "m"))
    levels, _, _ = _level_codes(program)
    by_level = {level.code: {"level": level.code, "points": 0, "orders": 0, "members": members_by_level.get(level.code, 0)} for level in levels}
    by_day: dict[date, int] = {}
    for day, level, given, reached, _ in rows:
        row = by_level.setdefault(level, {"level": level, "points": 0, "orders": 0, "members": members_by_level.get(level, 0)})
        row["points"] += given
        row["orders"] += reached
        by_day[day] = by_day.get(day, 0) + given
    budget_left = campaign.budget
    days, runs_out, paid = [], None, 0
    for day in sorted(by_day):
        wanted = by_day[day]
        given = wanted if budget_left is None else min(wanted, budget_left)
        if budget_left is not None:
            budget_left -= given
            if budget_left == 0 and runs_out is None and wanted:
                runs_out = day.isoformat()
        paid += given
        days.append({"day": day.isoformat(), "points": given, "wanted": wanted, "budget_left": budget_left})
    wanted = sum(by_day.values())
    value = lambda points: float(Decimal(points) / program.points_per_yuan) if campaign.currency == "points" else None  # noqa: E731
    return {
        "months": months, "since": first.isoformat(), "until": today.isoformat(), "made_at": now.isoformat(), "facts": "events" if events else "orders",
        "points": paid, "wanted": wanted, "over_budget": wanted - paid, "cash": value(paid),
        "orders": sum(row["orders"] for row in by_level.values()), "members": sum(row["members"] for row in by_level.values()),
        "by_level": list(by_level.values()), "days": days, "budget_runs_out": runs_out,
    }
