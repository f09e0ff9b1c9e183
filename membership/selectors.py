"""Reads of the membership core: the active program, cap usage, growth windows, a member's level
progress, the export rows, the dashboard and the lifecycle stages."""

import math
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from common.timeutil import add_months, local_day_bounds, local_midnight, local_month_bounds
from points.models import PointsAccount, PointsEntry, PointsLot

from .levels import settlement_decide
from .lifecycle import LIFECYCLE_STAGES, lifecycle_q
from .models import (
    CAPPED_SOURCES,
    EarningRule,
    GrowthEntry,
    LedgerMonthTotal,
    LedgerTotalsMark,
    Level,
    LevelChange,
    Member,
    OrderCredit,
    OutboxEvent,
    Program,
    SettlementRun,
)
from .models import phone_key
from .rules import rules_applicable
from .totals import ledger_month_sums, ledger_series


class NoActiveProgram(Exception):
    pass


def program_active_get() -> Program:
    program = Program.objects.filter(is_active=True).first()
    if program is None:
        raise NoActiveProgram(_("No membership program is active: run `python manage.py load_program default` first."))
    return program


def program_levels(*, program: Program) -> list[Level]:
    return list(program.levels.order_by("rank"))


def rules_for(*, program: Program, fact: str, at: datetime, include_ids=()) -> list[EarningRule]:
    """The program's active rules for a kind of fact, valid at ``at``, highest priority first;
    plus the rules given by id (rules that already credited the fact keep governing it)."""
    rules = list(EarningRule.objects.filter(Q(program=program) | Q(pk__in=list(include_ids))))
    return rules_applicable(rules=rules, program=program, fact=fact, at=at, include_ids=include_ids)


def levels_by_id(*, levels: list[Level]) -> dict[int, Level]:
    """Every level row's pk → the level of ``levels`` (one program's, lowest first) that stands for it.

    A program's own levels stand for themselves. A level of another program (a member placed by the
    program that was active before a switch) stands for the highest of ``levels`` whose rank does not
    exceed its own: the member keeps their rank, and its validity, under the new program until a
    settlement decides otherwise. Members and ledgers are never rewritten by a switch.
    """
    mapped = {}
    for pk, rank in Level.objects.values_list("pk", "rank"):
        mapped[pk] = next((level for level in reversed(levels) if level.rank <= rank), levels[0])
    mapped.update({level.pk: level for level in levels})
    return mapped


def levels_shown() -> dict[int | None, Level]:
    """Every level row's pk (and ``None``, a member no settlement has placed) → the active program's
    level that the member holds now: what the console, the exports and the dashboard show."""
    program = program_active_get()
    levels = program_levels(program=program)
    if not levels:
        raise NoActiveProgram(_("The active program %(program)s has no levels: add its levels, or load a preset, first.") % {"program": program.code})
    return {**levels_by_id(levels=levels), None: levels[0]}


def level_members_q(*, level: Level) -> Q:
    """The members who hold ``level`` of the active program now: those placed on it, those placed
    on another program's level that stands for it, and, for the lowest level, those never placed."""
    shown = levels_shown()
    pks = [pk for pk, stands_for in shown.items() if pk is not None and stands_for.pk == level.pk]
    q = Q(level_id__in=pks)
    return q | Q(level__isnull=True) if shown[None].pk == level.pk else q


def member_level_get(*, member: Member, levels: list[Level]) -> Level:
    """The member's level under the program of ``levels``; a member no settlement has placed is at the lowest level."""
    if member.level_id is None:
        return levels[0]
    own = next((level for level in levels if level.pk == member.level_id), None)
    return own or levels_by_id(levels=levels).get(member.level_id, levels[0])


def ledger_used(*, ledger_model, member: Member, start: datetime, end: datetime) -> int:
    """Net amount credited to ``member`` from the capped sources between ``start`` and ``end``."""
    return (
        ledger_model.objects.filter(
            member=member, source__in=CAPPED_SOURCES, effective_at__gte=start, effective_at__lt=end
        ).aggregate(s=Sum("amount"))["s"]
        or 0
    )


def cap_room_get(*, program: Program, ledger_model, currency: str, member: Member, at: datetime) -> int | None:
    """How much more ``member`` may be credited for ``at`` under the program's day and month caps (None = no cap)."""
    tz = ZoneInfo(program.time_zone)
    room = None
    for period, bounds in (("day", local_day_bounds), ("month", local_month_bounds)):
        cap = program.cap_for(currency, period)
        if cap is None:
            continue
        start, end = bounds(at, tz)
        left = max(0, cap - ledger_used(ledger_model=ledger_model, member=member, start=start, end=end))
        room = left if room is None else min(room, left)
    return room


def growth_window_bounds(*, program: Program, month: date) -> tuple[datetime | None, datetime]:
    """The growth window that the settlement of ``month`` counts: [start, end) in local time; start None = lifetime."""
    tz = ZoneInfo(program.time_zone)
    first = month.replace(day=1)
    end = local_midnight(add_months(first, 1), tz)
    if program.growth_window_months is None:
        return None, end
    return local_midnight(add_months(first, 1 - program.growth_window_months), tz), end


def growth_window_sums(*, program: Program, month: date, members: tuple[int, int | None] | None = None) -> dict[int, int]:
    """Every member's growth in the window of ``month``, as {member pk: sum} (members with entries only);
    with ``members`` (first pk, last pk or None), only the members in that range."""
    start, end = growth_window_bounds(program=program, month=month)
    entries = GrowthEntry.objects.filter(effective_at__lt=end)
    if start is not None:
        entries = entries.filter(effective_at__gte=start)
    if members is not None:
        entries = entries.filter(member_id__gte=members[0])
        if members[1] is not None:
            entries = entries.filter(member_id__lte=members[1])
    return dict(entries.order_by().values_list("member_id").annotate(s=Sum("amount")).values_list("member_id", "s"))


def growth_total_get(*, member: Member) -> int:
    """The member's lifetime net growth: the sum of their growth entries."""
    return GrowthEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0


def growth_window_total(*, program: Program, member: Member, month: date) -> int:
    start, end = growth_window_bounds(program=program, month=month)
    entries = GrowthEntry.objects.filter(member=member, effective_at__lt=end)
    if start is not None:
        entries = entries.filter(effective_at__gte=start)
    return entries.aggregate(s=Sum("amount"))["s"] or 0


def settlement_latest_month() -> date | None:
    return SettlementRun.objects.order_by("-month").values_list("month", flat=True).first()


def settlement_next_get(*, program: Program, now: datetime | None = None) -> tuple[date, datetime]:
    """The month the next scheduled settlement will settle, and when it is due: the month before
    (on the settlement day and hour of this month) until it is settled, then this month (on the
    settlement day of the next)."""
    tz = ZoneInfo(program.time_zone)
    this_month = (now or timezone.now()).astimezone(tz).date().replace(day=1)
    before = add_months(this_month, -1)
    settled = SettlementRun.objects.filter(month=before, status=SettlementRun.Status.DONE).exists() or (
        (settlement_latest_month() or date.min) > before
    )
    month = this_month if settled else before
    following = add_months(month, 1)
    return month, datetime(following.year, following.month, program.settlement_day, program.settlement_hour, tzinfo=tz)


def members_with_totals(queryset, *, now: datetime | None = None):
    """``queryset`` of members annotated, in the same query, with ``growth_total`` (lifetime net
    growth), ``booked_points`` (the account's balance) and ``lapsed_points`` (what of it cannot be
    spent now: frozen lots and lots past their end whose expiry the settlement has not booked yet)."""
    now = now or timezone.now()
    growth = GrowthEntry.objects.filter(member=OuterRef("pk")).order_by().values("member").annotate(s=Sum("amount")).values("s")
    lapsed = (
        PointsLot.objects.filter(Q(expires_at__lte=now) | Q(frozen=True), member=OuterRef("pk"), remaining__gt=0)
        .order_by()
        .values("member")
        .annotate(s=Sum("remaining"))
        .values("s")
    )
    balance = PointsAccount.objects.filter(member=OuterRef("pk")).values("balance")
    return queryset.annotate(
        growth_total=Coalesce(Subquery(growth, output_field=IntegerField()), Value(0)),
        booked_points=Coalesce(Subquery(balance, output_field=IntegerField()), Value(0)),
        lapsed_points=Coalesce(Subquery(lapsed, output_field=IntegerField()), Value(0)),
    )


def points_spendable(booked: int, lapsed: int) -> int:
    """Points available now from a booked balance and what of it has lapsed (a debt stays whole)."""
    return booked - lapsed if booked > 0 else booked


def member_export_rows():
    """Rows of the ``export_members`` file, in member id order, computed in one query.

    ``level`` is the level the member holds under the active program (a level another program
    gave stands for the active program's level of its rank until the next settlement);
    ``points_balance`` is what the member can spend now (``members_with_totals``).
    """
    codes = {pk: level.code for pk, level in levels_shown().items()}
    rows = members_with_totals(Member.objects.order_by("member_id")).values_list(
        "member_id", "level_id", "level_valid_until", "growth_total", "booked_points", "lapsed_points"
    )
    for member_id, level_id, valid_until, growth_total, booked, lapsed in rows.iterator(chunk_size=5000):
        yield {
            "member_id": member_id,
            "level": codes.get(level_id, codes[None]),
            "level_valid_until": valid_until.isoformat() if valid_until else "",
            "growth_total": growth_total,
            "points_balance": points_spendable(booked, lapsed),
        }


def member_search(*, query: str):
    query = query.strip()
    return Member.objects.filter(Q(member_id=query) | Q(phone=query) | Q(name__icontains=query))


def order_credits_reconcile() -> list[str]:
    """Order credits whose ``credited`` differs from the ledger entries booked for that order and rule."""
    problems = []
    for ledger in (GrowthEntry, PointsEntry):
        booked = {
            (ref, rule): total
            for ref, rule, total in ledger.objects.filter(source="order")
            .values_list("source_ref", "rule_id")
            .annotate(s=Sum("amount"))
            .values_list("source_ref", "rule_id", "s")
        }
        currency = "growth" if ledger is GrowthEntry else "points"
        credits = OrderCredit.objects.filter(rule__currency=currency).values_list("order__order_id", "rule_id", "credited")
        for order_id, rule_id, credited in credits.iterator(chunk_size=5000):
            if booked.get((order_id, rule_id), 0) != credited:
                problems.append(
                    f"order {order_id}, rule #{rule_id}: credited {credited} but the {currency} ledger holds {booked.get((order_id, rule_id), 0)}"
                )
    return problems


def member_level_progress_get(*, member: Member, at: datetime | None = None) -> dict:
    """Why the member has their level and how far they are from the next one.

    Growth is counted over the window that the next settlement (``settlement_next_get``) will
    count; the pace is the growth of the last three full months.
    """
    program = program_active_get()
    levels = program_levels(program=program)
    tz = ZoneInfo(program.time_zone)
    this_month = (at or timezone.now()).astimezone(tz).date().replace(day=1)
    month, _settles_at = settlement_next_get(program=program, now=at)
    window_growth = growth_window_total(program=program, member=member, month=month) + member.base_score
    current = member_level_get(member=member, levels=levels)
    higher = [level for level in levels if level.rank > current.rank]
    nxt = higher[0] if higher else None
    to_next = max(0, nxt.threshold - window_growth) if nxt else 0
    # The pace: growth over the last three full months, a month.
    recent = GrowthEntry.objects.filter(
        member=member, effective_at__gte=local_midnight(add_months(this_month, -3), tz), effective_at__lt=local_midnight(this_month, tz)
    ).aggregate(s=Sum("amount"))["s"] or 0
    pace = recent / 3
    decision = settlement_decide(levels=levels, current=current, valid_until=member.level_valid_until, growth=window_growth, month=month)
    drops_to = decision[0] if decision and decision[2] == LevelChange.Reason.DOWNGRADE else None
    return {
        "level": current,
        "valid_until": member.level_valid_until,
        "window_growth": window_growth,
        "window": growth_window_bounds(program=program, month=month),
        "next_level": nxt,
        "to_next": to_next,
        "to_keep": max(0, current.threshold - window_growth),
        "monthly_pace": round(pace),
        "months_to_next": math.ceil(to_next / pace) if nxt and to_next and pace > 0 else None,
        "next_settlement": month,
        "drops_to": drops_to,
    }


# The dashboard shows at most this many months at once.
DASHBOARD_MAX_MONTHS = 36


def dashboard_range(*, since: str = "", until: str = "", tz: ZoneInfo | None = None) -> tuple[date, date]:
    """The months the dashboard shows: ``since``–``until`` as YYYY-MM (each optional), by default
    the last 12 months to this one; refused in a sentence naming the field."""
    tz = tz or ZoneInfo(program_active_get().time_zone)
    this_month = timezone.now().astimezone(tz).date().replace(day=1)

    def month(value: str, field: str) -> date | None:
        if not value:
            return None
        try:
            return datetime.strptime(value, "%Y-%m").date()
        except ValueError:
            raise ValidationError({field: _("%(value)s is not a month: write it as YYYY-MM, e.g. 2026-06.") % {"value": repr(value)}}) from None

    last = min(month(until, "until") or this_month, this_month)
    first = month(since, "since") or add_months(last, -11)
    if first > last:
        raise ValidationError({"since": _("the first month (%(since)s) comes after the last (%(until)s)") % {"since": f"{first:%Y-%m}", "until": f"{last:%Y-%m}"}})
    if (last.year - first.year) * 12 + last.month - first.month >= DASHBOARD_MAX_MONTHS:
        raise ValidationError({"since": _("the dashboard shows at most %(n)s months at once") % {"n": DASHBOARD_MAX_MONTHS}})
    return first, last


def dashboard_get(*, first: date | None = None, last: date | None = None) -> dict:
    """The figures of the console's front page, each from one aggregate query.

    Members by level (the pyramid) and by lifecycle stage; growth credited and points issued,
    spent, expired and taken back per local month from ``first`` to ``last`` (the monthly totals
    kept by ``totals.ledger_totals_refresh``, plus the entries booked since); the outstanding points
    at each month's end (the liability trend, back from today's balances by each month's net
    change), the redemption and breakage rates per month (points spent and expired over points
    issued); outstanding points and their cash value at the program's rate; the level movements of
    the last settlements. ``computed_at`` says when.
    """
    program = program_active_get()
    tz = ZoneInfo(program.time_zone)
    if first is None or last is None:
        first, last = dashboard_range(tz=tz)
    levels = program_levels(program=program)
    # Members placed on another program's level count at the level that stands for it.
    shown = levels_shown()
    by_level = {level.pk: 0 for level in levels}
    for level_id, n in Member.objects.order_by().values_list("level_id").annotate(n=Count("pk")).values_list("level_id", "n"):
        by_level[shown.get(level_id, shown[None]).pk] += n
    pyramid = [{"pk": level.pk, "code": level.code, "name": level.display_name, "members": by_level[level.pk]} for level in levels]
    # The series run to this month, so that the liability can be walked back from today's balances.
    this_month = timezone.now().astimezone(tz).date().replace(day=1)
    months = (this_month.year - first.year) * 12 + this_month.month - first.month + 1
    labels = [add_months(first, n) for n in range(months)]
    series = {name: [0] * months for name in ("growth", "points_issued", "points_spent", "points_expired", "points_reversed", "points_net")}
    index = {month: n for n, month in enumerate(labels)}
    since = local_midnight(first, tz)

    # The monthly totals up to each ledger's mark, plus the entries booked after it.
    marks = dict(LedgerTotalsMark.objects.filter(time_zone=program.time_zone).values_list("ledger", "last_pk"))
    for ledger, (model, kinds) in ledger_series().items():
        for month, sums in ledger_month_sums(
            model.objects.filter(pk__gt=marks.get(ledger, 0), effective_at__gte=since), series=kinds, tz=tz
        ):
            n = index.get(month)
            if n is not None:
                for name, total in sums.items():
                    series[name][n] += total or 0
    for name, month, total in LedgerMonthTotal.objects.filter(time_zone=program.time_zone, month__gte=first).values_list("series", "month", "amount"):
        n = index.get(month)
        if n is not None and name in series:
            series[name][n] += total
    outstanding = PointsAccount.objects.filter(balance__gt=0).aggregate(s=Sum("balance"))["s"] or 0
    # Outstanding at the end of each month: today's, less the net change of every later month.
    liability, later = [0] * months, 0
    for n in range(months - 1, -1, -1):
        liability[n] = outstanding - later
        later += series["points_net"][n]
    net = series.pop("points_net")
    series = {name: values if name == "growth" else [abs(value) for value in values] for name, values in series.items()}
    shown_months = (last.year - first.year) * 12 + last.month - first.month + 1

    def rate(part, whole):
        return [round(100 * p / w, 1) if w else None for p, w in zip(part[:shown_months], whole[:shown_months])]

    runs = list(SettlementRun.objects.order_by("-month")[:12])
    return {
        "program": program,
        "computed_at": timezone.now(),
        "first": first,
        "last": last,
        "members": sum(level["members"] for level in pyramid),
        "pyramid": pyramid,
        "months": [f"{month:%Y-%m}" for month in labels[:shown_months]],
        # Each month's start and end as the ledgers' date filter takes them (local times, with their offset).
        "month_bounds": [(str(local_midnight(m, tz)), str(local_midnight(add_months(m, 1), tz))) for m in labels[:shown_months]],
        "series": {name: values[:shown_months] for name, values in series.items()},
        "points_net": net[:shown_months],
        "liability": liability[:shown_months],
        "redemption_rate": rate(series["points_spent"], series["points_issued"]),
        "breakage_rate": rate(series["points_expired"], series["points_issued"]),
        "points_outstanding": outstanding,
        "points_liability": (Decimal(outstanding) / Decimal(program.points_per_yuan or 1)).quantize(Decimal("0.01")),
        "runs": runs[:5],
        "movements": [
            {"pk": r.pk, "month": f"{r.month:%Y-%m}", "up": r.members_up, "down": r.members_down, "kept": r.members_kept, "renewed": r.members_renewed}
            for r in reversed(runs)
        ],
        "lifecycle": member_lifecycle_counts(program=program),
    }


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def member_lifecycle_q(*, program: Program, stage: str, now: datetime | None = None) -> Q:
    """The members at a lifecycle stage (``membership.lifecycle``), now unless ``now`` is given."""
    return lifecycle_q(program=program, stage=stage, now=now or timezone.now())


def member_lifecycle_get(*, member: Member, program: Program | None = None, now: datetime | None = None) -> str:
    program = program or program_active_get()
    for stage in LIFECYCLE_STAGES:
        if Member.objects.filter(member_lifecycle_q(program=program, stage=stage, now=now), pk=member.pk).exists():
            return stage
    return "growing"


def member_lifecycle_counts(*, program: Program, now: datetime | None = None) -> dict[str, int]:
    return {stage: Member.objects.filter(member_lifecycle_q(program=program, stage=stage, now=now)).count() for stage in LIFECYCLE_STAGES}


class BadCursor(ValueError):
    pass


def outbox_cursor_parse(text: str | None) -> tuple[int, int]:
    """(xid, id) of a feed cursor ("XID-ID", as ``outbox_events_after`` gives it); the start when empty."""
    if not text:
        return (-1, 0)
    try:
        xid, pk = (int(part) for part in text.split("-"))
    except ValueError:
        raise BadCursor(_("%(cursor)s is not a cursor of the event feed: pass the ``next`` of an earlier page, or nothing to start") % {"cursor": repr(text)}) from None
    if xid < -1 or pk < 0 or max(xid, pk) > 2**63 - 1:
        raise BadCursor(_("%(cursor)s is not a cursor of the event feed: pass the ``next`` of an earlier page, or nothing to start") % {"cursor": repr(text)})
    return xid, pk


def _outbox_horizon() -> int | None:
    """The id of the oldest transaction still running (PostgreSQL): events of transactions below it
    can no longer appear; None on SQLite, where every committed event is final."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as c:
        c.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return c.fetchone()[0]


def outbox_feed_end() -> tuple[int, int]:
    """The cursor after the last event a reader can see now (the start when there is none)."""
    events = OutboxEvent.objects.all()
    horizon = _outbox_horizon()
    if horizon is not None:
        events = events.filter(xid__lt=horizon)
    last = events.order_by("-xid", "-pk").values_list("xid", "pk").first()
    return last or (-1, 0)


def outbox_event_body(event: OutboxEvent) -> dict:
    """An event as the platform is told it: in the feed, an export line and a webhook's body."""
    return {"id": event.pk, "type": event.type, "member_id": event.member_ref, "occurred_at": event.occurred_at.isoformat(), "data": event.data}


def outbox_events_after(*, cursor: tuple[int, int], limit: int, types=None, member_ref: str | None = None) -> tuple[list[OutboxEvent], str]:
    """Up to ``limit`` events after ``cursor``, in the order their transactions committed as far as
    a reader can know it, and the cursor after them (the same cursor when there is nothing new).

    On PostgreSQL only events whose transaction is older than every transaction still running
    are returned (``OutboxEvent.xid`` below the snapshot's xmin): none can commit behind them
    later, so following the cursor returns every event exactly once. SQLite commits one writer at
    a time, so its events are in id order.
    """
    xid, pk = cursor
    events = OutboxEvent.objects.filter(Q(xid__gt=xid) | Q(xid=xid, pk__gt=pk))
    horizon = _outbox_horizon()
    if horizon is not None:
        events = events.filter(xid__lt=horizon)
    if types:
        events = events.filter(type__in=list(types))
    if member_ref:
        events = events.filter(member_ref=member_ref)
    page = list(events.order_by("xid", "pk")[:limit])
    if page:
        xid, pk = page[-1].xid, page[-1].pk
    return page, f"{xid}-{pk}"


def members_sharing_phone_count(*, member: Member) -> int:
    """How many other members have the member's phone (the phone index; 0 without a phone)."""
    if not member.phone:
        return 0
    return Member.objects.filter(phone=member.phone).exclude(pk=member.pk).count()


# A search of at least this many digits also finds members whose phone ends with them.
PHONE_SUFFIX_MIN_DIGITS = 4
_PHONE_FORMATTING = str.maketrans("", "", " ()-+")


def members_search(queryset, term: str):
    """The members a customer-service search finds, each part through an index: a member id or a
    phone given whole; otherwise the ids that begin with the term, the phones that end with its
    digits (four or more, formatting ignored: the ``phone_key`` index, as a range of its first
    characters) and the names that contain it (a scan, only for a term that is not all digits)."""
    term = term.strip()
    if not term:
        return queryset
    exact = queryset.filter(Q(member_id=term) | Q(phone=term))
    if exact.exists():
        return exact
    found = Q(member_id__startswith=term)
    digits = term.translate(_PHONE_FORMATTING)
    if digits.isdigit() and digits.isascii():
        if len(digits) >= PHONE_SUFFIX_MIN_DIGITS:
            # Every key is digits only: those beginning with the reversed digits lie between them
            # and them followed by a letter, which sorts after every digit in any collation.
            key = digits[::-1]
            queryset = queryset.alias(phone_key=phone_key())
            found |= Q(phone_key__gte=key, phone_key__lt=key + "A")
    else:
        found |= Q(name__icontains=term)
    return queryset.filter(found)
