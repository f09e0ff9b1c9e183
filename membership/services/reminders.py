"""Reminders the platform sends its members, as outbound events: points about to end, and a level
that the next settlement would drop. The daily schedule looks for them set-based; each is told
once (its key), so running the day twice, or a missed day later, tells nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from common.schedules import daily_at, periodic_task_sync
from points.models import PointsLot

from ..levels import settlement_decide
from ..models import Member, Program
from ..selectors import growth_window_sums, levels_by_id, program_active_get, program_levels, settlement_next_get
from .outbox import LEVEL_AT_RISK, POINTS_EXPIRING, event_new, events_write_once

REMINDERS_TASK_NAME = gettext_noop("Member reminders")  # the schedule's key; the console shows its translation
CHUNK = 20_000


def points_expiring_tell(*, program: Program, now: datetime) -> int:
    """A ``points.expiring`` for each member and end date within the program's notice days."""
    horizon = now + timedelta(days=program.points_expiry_notice_days)
    rows = (
        PointsLot.objects.filter(remaining__gt=0, frozen=False, expires_at__gt=now, expires_at__lte=horizon)
        .values("member_id", "member__member_id", "expires_at")
        .annotate(amount=Sum("remaining"))
        .order_by("member_id", "expires_at")
    )
    tz = ZoneInfo(program.time_zone)
    told, events = 0, []
    for row in rows.iterator(chunk_size=CHUNK):
        ends = row["expires_at"].astimezone(tz).isoformat()
        events.append(
            event_new(
                type=POINTS_EXPIRING, member_ref=row["member__member_id"], at=now, data={"amount": row["amount"], "expires_at": ends},
                key=f"{POINTS_EXPIRING}:{row['member_id']}:{ends}",
            )
        )
        if len(events) >= CHUNK:
            told += events_write_once(events)
            events = []
    return told + events_write_once(events)


def levels_at_risk_tell(*, program: Program, now: datetime) -> int:
    """A ``member.level_at_risk`` for each member whom the next settlement would drop, once the
    program's notice days before it have come (the same decision the settlement makes)."""
    month, settles_at = settlement_next_get(program=program, now=now)
    if not settles_at - timedelta(days=program.level_risk_notice_days) <= now < settles_at:
        return 0
    levels = program_levels(program=program)
    by_id = levels_by_id(levels=levels)
    sums = growth_window_sums(program=program, month=month)
    told, events = 0, []
    rows = Member.objects.order_by("pk").values_list("pk", "member_id", "level_id", "level_valid_until", "base_score")
    for pk, member_ref, level_id, valid_until, base_score in rows.iterator(chunk_size=CHUNK):
        current = by_id.get(level_id, levels[0])
        growth = sums.get(pk, 0) + base_score
        decision = settlement_decide(levels=levels, current=current, valid_until=valid_until, growth=growth, month=month)
        if decision is None or decision[2] != "downgrade":
            continue
        events.append(
            event_new(
                type=LEVEL_AT_RISK, member_ref=member_ref, at=now, key=f"{LEVEL_AT_RISK}:{month:%Y-%m}:{pk}",
                data={"level": current.code, "drops_to": decision[0].code, "growth_needed": max(0, current.threshold - growth),
                      "month": f"{month:%Y-%m}", "settles_at": settles_at.isoformat()},
            )
        )
        if len(events) >= CHUNK:
            told += events_write_once(events)
            events = []
    return told + events_write_once(events)


def reminders_run(*, program: Program | None = None, now: datetime | None = None) -> dict[str, int]:
    """What the daily schedule runs: both reminders, each in one transaction; returns how many
    events were new."""
    program = program or program_active_get()
    now = now or timezone.now()
    with transaction.atomic():
        expiring = points_expiring_tell(program=program, now=now)
    with transaction.atomic():
        at_risk = levels_at_risk_tell(program=program, now=now)
    return {POINTS_EXPIRING: expiring, LEVEL_AT_RISK: at_risk}


def reminders_schedule_sync(*, program: Program) -> int:
    """Make the beat schedule run the reminders at 08:00 in the program's time zone; 1 if it changed."""
    return periodic_task_sync(
        name=REMINDERS_TASK_NAME, task="membership.reminders", crontab=daily_at(hour=8, minute=0, time_zone=program.time_zone),
        description="Tells of points about to end and of levels the next settlement would drop (outbound events), each once.",
    )
