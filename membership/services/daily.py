"""Time-based rules: what a member earns (or loses, for a decay) for each day a condition holds.

``daily_rules_run`` books one day for every daily rule of a program, set-based: the members a
rule applies to are selected by its condition in one query per chunk, and written with the batch
booking (``batch.BatchBook``). Each (rule, day, member) is booked once (its idempotency key), and
each day is recorded as a ``DailyRuleRun``, so the daily task catches up days the schedule missed
and a run cut off midway is finished by running it again.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from common.schedules import daily_at, periodic_task_sync
from common.timeutil import local_midnight

from .. import hooks
from ..models import DailyRuleRun, GrowthEntry, Member, Program, Source
from ..rules import strategy_for
from ..selectors import program_active_get, rules_for
from .batch import BatchBook
from .posting import ledger_for

DAILY_CHUNK = 5000
CATCH_UP_DAYS = 31
DAILY_TASK_NAME = gettext_noop("Daily rules")  # the schedule's key; the console shows its translation


def daily_key(rule_pk: int, day: date, member_pk: int) -> str:
    return f"daily:{rule_pk}:{day.isoformat()}:{member_pk}"


def _book_rule_chunk(*, program, rule, strategy, day, at, member_pks) -> int:
    ledger = ledger_for(rule.currency)
    ref = f"{rule.code}:{day.isoformat()}"
    done = set(ledger.objects.filter(source=Source.DAILY, source_ref=ref, member_id__in=member_pks).values_list("member_id", flat=True))
    todo = [pk for pk in member_pks if pk not in done]
    if not todo:
        return 0
    amounts = {pk: strategy.amount for pk in todo}
    if strategy.amount < 0:
        # A decay never takes the member's growth below the floor.
        totals = dict(
            GrowthEntry.objects.filter(member_id__in=todo).values("member_id").annotate(total=Sum("amount")).values_list("member_id", "total")
        )
        amounts = {pk: max(strategy.amount, strategy.floor - totals.get(pk, 0)) for pk in todo}
        amounts = {pk: amount for pk, amount in amounts.items() if amount < 0}
    guard = None
    if strategy.amount > 0:
        # Members the earning guard stops earn nothing: what they would have earned is kept by
        # the guard, once per member, rule and day, however often the day is run.
        guard = hooks.earning_guard_session(member_pks=list(amounts), since=at, until=at, known=[(Source.DAILY, ref)])
        for pk in list(amounts):
            block = guard.block_at(member_pk=pk, at=at)
            if block is not None:
                guard.withhold_once(
                    member_pk=pk, currency=rule.currency, amount=amounts.pop(pk), source=Source.DAILY, source_ref=ref, rule=rule,
                    effective_at=at, block=block,
                )
    members = list(Member.objects.filter(pk__in=list(amounts)).order_by("pk").only("pk"))
    book = BatchBook(program=program, members=members, orders=[], guard=guard)
    for member in members:
        amount = amounts[member.pk]
        book.post(
            member=member, currency=rule.currency, amount=amount, capped=0, effective_at=at, source=Source.DAILY,
            source_ref=ref, rule=rule, key=daily_key(rule.pk, day, member.pk),
            kind=GrowthEntry.Kind.CREDIT if amount > 0 else GrowthEntry.Kind.DECAY, reason=rule.name,
        )
    book.flush()
    return len(members)


def daily_rules_run(*, day: date, program: Program | None = None, trigger: str = "command", chunk_size: int = DAILY_CHUNK) -> DailyRuleRun:
    """Book ``day`` for every daily rule of the program (the active one); a day already booked is
    returned as it was. Each chunk of members commits on its own: a run cut off midway books the
    rest when run again, and nothing twice."""
    program = program or program_active_get()
    existing = DailyRuleRun.objects.filter(program=program, day=day).first()
    if existing:
        return existing
    tz = ZoneInfo(program.time_zone)
    at, day_end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    counts: dict[str, int] = {}
    for rule in rules_for(program=program, fact="day", at=at):
        strategy = strategy_for(rule)
        members = Member.objects.filter(
            hooks.member_condition_q(strategy.when, program=program, day=day),
            Q(joined_at__isnull=True) | Q(joined_at__lt=day_end),
            status=Member.Status.ACTIVE,
        )
        booked, last = 0, 0
        while True:
            chunk = list(members.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:chunk_size])
            if not chunk:
                break
            with transaction.atomic():
                booked += _book_rule_chunk(program=program, rule=rule, strategy=strategy, day=day, at=at, member_pks=chunk)
            last = chunk[-1]
        counts[rule.code] = booked
    run, _ = DailyRuleRun.objects.get_or_create(program=program, day=day, defaults={"trigger": trigger, "counts": counts})
    return run


def daily_rules_due(*, program: Program | None = None, now=None) -> list[date]:
    """The days up to yesterday (local) not booked yet: from the day after the latest booked one,
    at most ``CATCH_UP_DAYS`` back; just yesterday when nothing was ever booked."""
    program = program or program_active_get()
    yesterday = (now or timezone.now()).astimezone(ZoneInfo(program.time_zone)).date() - timedelta(days=1)
    latest = DailyRuleRun.objects.filter(program=program).order_by("-day").values_list("day", flat=True).first()
    first = yesterday if latest is None else max(latest + timedelta(days=1), yesterday - timedelta(days=CATCH_UP_DAYS - 1))
    return [first + timedelta(days=n) for n in range((yesterday - first).days + 1)]


def daily_rules_catch_up(*, program: Program | None = None, trigger: str = "schedule", now=None) -> list[DailyRuleRun]:
    """What the daily schedule runs: every due day, oldest first."""
    program = program or program_active_get()
    return [daily_rules_run(day=day, program=program, trigger=trigger) for day in daily_rules_due(program=program, now=now)]


def daily_schedule_sync(*, program: Program) -> int:
    """Make the beat schedule run ``membership.daily_rules`` at 00:30 in the program's time zone;
    returns 1 if the schedule changed."""
    return periodic_task_sync(
        name=DAILY_TASK_NAME, task="membership.daily_rules", crontab=daily_at(hour=0, minute=30, time_zone=program.time_zone),
        description=f"Books the day before for the program's daily rules at 00:30 ({program.time_zone}), catching up missed days.",
    )
