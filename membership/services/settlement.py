"""The monthly settlement: levels from the growth window, points expiry, and the steps the other
apps register (the month's benefits), in chunks of members that workers settle in parallel.

``settlement_run_start`` opens the run of a month and splits the members into chunks by primary
key; ``settlement_chunk_execute`` settles one chunk in one transaction (locked first, so a chunk
handed to two workers is settled once); ``settlement_run_finish`` closes a run whose chunks are
all done. The command runs the three in a row; Celery runs the chunks as tasks. The level rules
themselves are ``levels.settlement_decide`` (and the same decisions in SQL on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_noop

from common.bulk import new_row, rows_insert, rows_update
from common.conflicts import ConflictsExhausted, conflicts_retry, first_line
from common.queueing import task_send
from common.references import references_hold
from common.roles import permission_require
from common.schedules import periodic_task_sync
from common.timeutil import add_months, local_midnight, month_last_day
from points.models import PointsLot
from points.services import points_expire_due

from .. import hooks
from ..levels import level_renewal, levels_validate, settlement_decide
from ..models import Level, LevelChange, Member, OutboxEvent, Program, SettlementChunk, SettlementRun
from ..selectors import (
    growth_window_bounds,
    growth_window_sums,
    levels_by_id,
    program_active_get,
    program_levels,
    settlement_latest_month,
    settlement_next_get,
)
from .outbox import LEVEL_CHANGED, POINTS_EXPIRED, event_new, level_changed_event


class SettlementRefused(Exception):
    pass


def settlement_month_parse(text: str) -> date:
    try:
        month = datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise ValidationError(_("month %(month)s is not of the form YYYY-MM (e.g. 2026-11)") % {"month": repr(text)}) from None
    if month.year < 1970:
        raise ValidationError(_("month %(month)s is before 1970: give the month to settle, such as 2026-11") % {"month": repr(text)})
    return month


def _settleable(*, program: Program, month: date, now: datetime | None = None) -> None:
    """Refuse to settle (or preview the settlement of) ``month`` unless it is over in the program's
    time zone, it is not before the latest settled month, and the program has levels."""
    current = (now or timezone.now()).astimezone(ZoneInfo(program.time_zone)).date().replace(day=1)
    if month >= current:
        raise SettlementRefused(_(
            "%(month)s has not ended yet in %(zone)s: a month is settled once it is over; "
            "the latest month that can be settled now is %(latest)s."
        ) % {"month": f"{month:%Y-%m}", "zone": program.time_zone, "latest": f"{add_months(current, -1):%Y-%m}"})
    latest = settlement_latest_month()
    if latest and month < latest:
        raise SettlementRefused(_("%(month)s is before the latest settled month %(latest)s: months are settled in order.") % {
            "month": f"{month:%Y-%m}", "latest": f"{latest:%Y-%m}",
        })
    if not program_levels(program=program):
        raise SettlementRefused(_("program %(program)s has no levels to settle.") % {"program": program.code})


@dataclass
class SettlementOutcome:
    run: SettlementRun | None
    already_done: bool = False
    preview: dict | None = None


SETTLEMENT_CHUNK = 50_000

def settlement_run_execute(
    *, month: date, actor=None, trigger: str = "command", dry_run: bool = False, chunk_size: int = SETTLEMENT_CHUNK
) -> SettlementOutcome:
    """Settle ``month`` here and now: plan the run (``settlement_run_start``), settle its chunks
    one after another (``settlement_chunk_execute``) and close it (``settlement_run_finish``).

    A settled month is not settled again; a run that stopped midway is finished by running it
    again (its done chunks are skipped). Celery runs the same three steps, the chunks in parallel.
    """
    if dry_run:
        return settlement_preview(month=month)
    outcome = settlement_run_start(month=month, actor=actor, trigger=trigger, chunk_size=chunk_size)
    if outcome.already_done:
        return outcome
    for chunk_id in SettlementChunk.objects.filter(run=outcome.run, status=SettlementChunk.Status.PENDING).values_list("pk", flat=True):
        settlement_chunk_execute(chunk_id=chunk_id)
    return SettlementOutcome(settlement_run_finish(run_id=outcome.run.pk))


def settlement_run_start(*, month: date, actor=None, trigger: str = "command", chunk_size: int = SETTLEMENT_CHUNK) -> SettlementOutcome:
    """Open the run of ``month`` (or reopen one that stopped) and split the members into chunks."""
    permission_require(actor, "membership.add_settlementrun", _("run settlements"))
    if chunk_size < 1:
        raise ValidationError({"chunk_size": _("a chunk of %(n)s members settles nobody: give 1 or more") % {"n": chunk_size}})
    program = program_active_get()
    month = month.replace(day=1)
    with transaction.atomic():
        _settleable(program=program, month=month)
        run = SettlementRun.objects.select_for_update().filter(month=month).first()
        if run and run.status == SettlementRun.Status.DONE:
            return SettlementOutcome(run, already_done=True)
        if run is None:
            run = SettlementRun.objects.create(program=program, month=month, started_by=actor, trigger=trigger)
            bounds = _chunk_bounds(chunk_size)
            SettlementChunk.objects.bulk_create(
                SettlementChunk(run=run, first_member=first, last_member=last) for first, last in bounds
            )
        elif run.status == SettlementRun.Status.FAILED:
            run.status, run.error = SettlementRun.Status.RUNNING, ""
            run.save(update_fields=["status", "error"])
    return SettlementOutcome(run)


def _chunk_bounds(size: int) -> list[tuple[int, int | None]]:
    """(first pk, last pk) of consecutive ranges of ``size`` members; the last range is open-ended."""
    firsts = []
    for index, pk in enumerate(Member.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=20000)):
        if index % size == 0:
            firsts.append(pk)
    if not firsts:
        return [(0, None)]
    return [(first, nxt - 1) for first, nxt in zip(firsts, firsts[1:])] + [(firsts[-1], None)]


class SettlementFailed(Exception):
    """A chunk of a settlement could not be settled; the run is marked failed, its done chunks stay
    done, and running the month again settles the rest. ``str()`` is a sentence."""


def settlement_chunk_execute(*, chunk_id: int, worker: str = "") -> bool:
    """Settle the members of one chunk in one transaction: their levels from the growth window,
    then their points that end by the month's end. Returns False if the chunk was already done.

    The chunk row is locked first, so a chunk handed to two workers is settled once; then its
    members, in the order of their keys, as every booking locks its members, so a settlement and
    an import of the same members wait for each other instead of deadlocking. A chunk that still
    loses to another transaction (a deadlock, a serialization failure) is rolled back and run
    again; if it keeps losing, or the database fails, the run is marked failed and
    ``SettlementFailed`` says so in a sentence.
    """
    try:
        return conflicts_retry(lambda: _chunk_settle(chunk_id, worker), what=_("chunk %(chunk)s of the settlement") % {"chunk": chunk_id})
    except DatabaseError as exc:
        run = SettlementChunk.objects.filter(pk=chunk_id).values_list("run__month", flat=True)
        text = str(exc) if isinstance(exc, ConflictsExhausted) else f"chunk {chunk_id} of the settlement failed on the database ({first_line(exc)})"
        try:
            month = run.first()
            text = f"{text}; the chunks settled so far stay settled: running the settlement of {month:%Y-%m} again settles the rest."
            SettlementRun.objects.filter(month=month).exclude(status=SettlementRun.Status.DONE).update(
                status=SettlementRun.Status.FAILED, error=text
            )
        except DatabaseError:
            text = f"{text}; the chunks settled so far stay settled: running the settlement of the month again settles the rest."
        raise SettlementFailed(text) from exc


def _chunk_settle(chunk_id: int, worker: str) -> bool:
    with transaction.atomic():
        chunk = SettlementChunk.objects.select_for_update(of=("self",)).select_related("run__program").get(pk=chunk_id)
        if chunk.status == SettlementChunk.Status.DONE:
            return False
        run, program = chunk.run, chunk.run.program
        levels = program_levels(program=program)
        span = (chunk.first_member, chunk.last_member)
        # The rows the chunk's writes name, held once (their columns carry no foreign key).
        references_hold(Level, [level.pk for level in levels])
        references_hold(SettlementRun, [run.pk])
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # The chunk's statements are costed high enough for PostgreSQL to compile them,
                # which cost a fifth of a second per chunk of 50,000 members and saved nothing.
                cursor.execute("SET LOCAL jit = off")
            _members_lock(span)
        settle = _settle_members_sql if connection.vendor == "postgresql" else _settle_members
        evaluated, counts = settle(program=program, run=run, levels=levels, span=span)
        until = local_midnight(add_months(run.month, 1), ZoneInfo(program.time_zone))
        expired: dict[int, int] = {}
        lots, points = points_expire_due(until=until, members=span, expired=expired)
        if expired:
            month, now = f"{run.month:%Y-%m}", timezone.now()
            refs = dict(Member.objects.filter(pk__any=list(expired)).values_list("pk", "member_id"))
            rows_insert(
                OutboxEvent,
                [event_new(type=POINTS_EXPIRED, member_ref=refs[pk], data={"amount": amount, "month": month}, at=now) for pk, amount in expired.items()],
            )
        chunk.benefits_issued = sum(step(run=run, program=program, span=span) for step in hooks.SETTLEMENT_CHUNK_STEPS.values())
        chunk.members_evaluated = evaluated
        chunk.members_up = counts[LevelChange.Reason.UPGRADE]
        chunk.members_down = counts[LevelChange.Reason.DOWNGRADE]
        chunk.members_renewed = counts[LevelChange.Reason.RENEWAL]
        chunk.lots_expired, chunk.points_expired = lots, points
        chunk.status, chunk.worker, chunk.finished_at = SettlementChunk.Status.DONE, worker[:200], timezone.now()
        chunk.save()
    return True


def _members_lock(span: tuple[int, int | None]) -> None:
    """Lock the members of ``span`` in the order of their keys, as bookings do (``FOR NO KEY
    UPDATE``: the foreign keys pointing at them are still checked without waiting)."""
    last = "AND id <= %s" if span[1] is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM membership_member WHERE id >= %s {last} ORDER BY id FOR NO KEY UPDATE) locked",
            [span[0]] + ([span[1]] if span[1] is not None else []),
        )


def _settle_members(*, program, run, levels, span) -> tuple[int, dict]:
    """Settle the members in ``span`` one decision at a time (``settlement_decide``), writing in bulk:
    the members, their level history and a ``member.level_changed`` event per changed level code."""
    month = run.month
    by_id = levels_by_id(levels=levels)
    codes = dict(Level.objects.values_list("pk", "code"))
    sums = growth_window_sums(program=program, month=month, members=span)
    members = Member.objects.filter(pk__gte=span[0])
    if span[1] is not None:
        members = members.filter(pk__lte=span[1])
    updates, history, events = [], [], []
    counts = dict.fromkeys(LevelChange.Reason.values, 0)
    now = timezone.now()
    evaluated = 0
    rows = members.order_by("pk").values_list("pk", "member_id", "level_id", "level_valid_until", "base_score").iterator(chunk_size=20000)
    for pk, member_ref, level_id, valid_until, base_score in rows:
        evaluated += 1
        current = by_id.get(level_id, levels[0])
        growth = sums.get(pk, 0) + base_score
        decision = settlement_decide(levels=levels, current=current, valid_until=valid_until, growth=growth, month=month)
        if decision is None:
            if level_id is None or level_id == current.pk:
                continue
            decision = (current, valid_until, LevelChange.Reason.SWITCH)
        new_level, new_valid, reason = decision
        counts[reason] += 1
        updates.append(SimpleNamespace(pk=pk, level_id=new_level.pk, level_valid_until=new_valid, updated_at=now))
        history.append(
            new_row(
                LevelChange,
                member_id=pk,
                run_id=run.pk,
                from_level_id=level_id or current.pk,
                to_level_id=new_level.pk,
                valid_until=new_valid,
                window_growth=growth,
                reason=reason,
                created_at=now,
            )
        )
        from_code = codes[level_id] if level_id else current.code
        if from_code != new_level.code:
            events.append(
                level_changed_event(
                    member_ref=member_ref, from_code=from_code, to_code=new_level.code, valid_until=new_valid, month=month, reason=reason, at=now
                )
            )
    rows_update(Member, updates, ["level", "level_valid_until", "updated_at"])
    rows_insert(LevelChange, history)
    rows_insert(OutboxEvent, events)
    return evaluated, counts


def _settle_members_sql(*, program, run, levels, span) -> tuple[int, dict]:
    """``_settle_members`` as one statement on PostgreSQL: the same decisions as ``settlement_decide``
    (the settlement tests and the property test run on both paths), made by the database next to
    the data, so no member row travels to Python and back."""
    month = run.month
    start, end = growth_window_bounds(program=program, month=month)
    table = ", ".join(
        f"(%(i{n})s, %(id{n})s::bigint, %(rk{n})s::int, %(th{n})s::bigint, %(rn{n})s::date, %(cd{n})s::text)" for n in range(len(levels))
    )
    window = "AND e.effective_at >= %(start)s" if start is not None else ""
    last = "AND m.id <= %(last)s" if span[1] is not None else ""
    last_entry = "AND e.member_id <= %(last)s" if span[1] is not None else ""
    # The highest level whose threshold the growth reaches (the levels by rank, the lowest at 0).
    reached = " ".join(
        f"WHEN COALESCE(s.g, 0) + m.base_score >= %(th{n})s THEN {n}" for n in reversed(range(len(levels))) if n
    ) or "WHEN FALSE THEN 0"
    sql = f"""
        WITH lv(idx, id, rank, threshold, renewal, code) AS (VALUES {table}),
        sums AS (
            SELECT e.member_id, SUM(e.amount) AS g FROM membership_growthentry e
            WHERE e.member_id >= %(first)s {last_entry} AND e.effective_at < %(end)s {window}
            GROUP BY e.member_id
        ),
        cur AS (
            SELECT m.id, m.member_id AS ref, m.level_id, (l.idx IS NULL AND m.level_id IS NOT NULL) AS foreign_level,
                   CASE WHEN m.level_id IS NULL THEN 0 WHEN l.idx IS NOT NULL THEN l.idx
                        ELSE COALESCE((SELECT max(t.idx) FROM lv t JOIN membership_level o ON t.rank <= o.rank WHERE o.id = m.level_id), 0)
                   END AS cur_idx,
                   m.level_valid_until AS valid, COALESCE(s.g, 0) + m.base_score AS g,
                   CASE {reached} ELSE 0 END AS target
            FROM membership_member m
            LEFT JOIN lv l ON l.id = m.level_id
            LEFT JOIN sums s ON s.member_id = m.id
            WHERE m.id >= %(first)s {last}
        ),
        decided AS (
            SELECT id, ref, level_id, foreign_level, valid, cur_idx, g, target,
                   CASE WHEN target >= cur_idx THEN NULLIF(target, 0)
                        WHEN valid IS NOT NULL AND valid > %(month_end)s THEN NULL
                        ELSE cur_idx - 1 END AS new_idx
            FROM cur
        ),
        dec AS (
            SELECT id, ref, level_id, valid, cur_idx, g, target,
                   COALESCE(new_idx, CASE WHEN foreign_level THEN cur_idx END) AS new_idx,
                   CASE WHEN new_idx IS NULL THEN 'switch' WHEN target > cur_idx THEN 'upgrade'
                        WHEN target = cur_idx THEN 'renewal' ELSE 'downgrade' END AS reason
            FROM decided
        ),
        chg AS (
            SELECT d.id, d.ref, d.g, d.reason, COALESCE(d.level_id, cl.id) AS from_id, nl.id AS to_id,
                   COALESCE(ol.code, cl.code) AS from_code, nl.code AS to_code,
                   CASE WHEN d.reason = 'switch' THEN d.valid WHEN d.target < d.new_idx THEN NULL ELSE nl.renewal END AS new_valid
            FROM dec d JOIN lv nl ON nl.idx = d.new_idx JOIN lv cl ON cl.idx = d.cur_idx
            LEFT JOIN membership_level ol ON ol.id = d.level_id
        ),
        upd AS (
            UPDATE membership_member m SET level_id = chg.to_id, level_valid_until = chg.new_valid, updated_at = %(now)s
            FROM chg WHERE m.id = chg.id
        ),
        ins AS (
            INSERT INTO membership_levelchange (member_id, run_id, from_level_id, to_level_id, valid_until, window_growth, reason, created_at)
            SELECT id, %(run)s, from_id, to_id, new_valid, g, reason, %(now)s FROM chg
        ),
        told AS (  -- the few different events, each made once
            SELECT from_code, to_code, new_valid, reason,
                   jsonb_build_object('from', from_code, 'to', to_code, 'valid_until', to_char(new_valid, 'YYYY-MM-DD'),
                                      'month', %(month)s, 'reason', reason) AS data
            FROM (SELECT DISTINCT from_code, to_code, new_valid, reason FROM chg WHERE from_code <> to_code) d
        ),
        evt AS (
            INSERT INTO membership_outboxevent (type, member_ref, occurred_at, data, created_at)
            SELECT %(event)s, chg.ref, %(now)s, told.data, %(now)s
            FROM chg JOIN told ON told.from_code = chg.from_code AND told.to_code = chg.to_code
                 AND told.new_valid IS NOT DISTINCT FROM chg.new_valid AND told.reason = chg.reason
        )
        SELECT (SELECT count(*) FROM cur), reason, count(*) FROM chg GROUP BY reason
    """
    params = {
        "first": span[0], "last": span[1], "start": start, "end": end, "month_end": month_last_day(month), "now": timezone.now(), "run": run.pk,
        "event": LEVEL_CHANGED, "month": f"{month:%Y-%m}",
    }
    for n, level in enumerate(levels):
        params.update({
            f"i{n}": n, f"id{n}": level.pk, f"rk{n}": level.rank, f"th{n}": level.threshold, f"rn{n}": level_renewal(month, level),
            f"cd{n}": level.code,
        })
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    counts = dict.fromkeys(LevelChange.Reason.values, 0)
    evaluated = 0
    for total, reason, n in rows:
        counts[reason] = n
        evaluated = total
    if not rows:
        evaluated = Member.objects.filter(pk__gte=span[0], **({"pk__lte": span[1]} if span[1] is not None else {})).count()
    return evaluated, counts


def settlement_run_finish(*, run_id: int) -> SettlementRun:
    """Close a run whose chunks are all done, adding up their counts; a run with chunks left stays open."""
    with transaction.atomic():
        run = SettlementRun.objects.select_for_update().get(pk=run_id)
        chunks = SettlementChunk.objects.filter(run=run)
        if run.status == SettlementRun.Status.DONE or chunks.exclude(status=SettlementChunk.Status.DONE).exists():
            return run
        totals = chunks.aggregate(
            evaluated=Sum("members_evaluated"), up=Sum("members_up"), down=Sum("members_down"),
            renewed=Sum("members_renewed"), lots=Sum("lots_expired"), points=Sum("points_expired"),
            benefits=Sum("benefits_issued"),
        )
        run.members_evaluated = totals["evaluated"] or 0
        run.members_up = totals["up"] or 0
        run.members_down = totals["down"] or 0
        run.members_renewed = totals["renewed"] or 0
        run.members_kept = run.members_evaluated - run.members_up - run.members_down
        run.lots_expired = totals["lots"] or 0
        run.points_expired = totals["points"] or 0
        run.benefits_issued = totals["benefits"] or 0
        run.status, run.finished_at = SettlementRun.Status.DONE, timezone.now()
        run.save()
    return run


def settlement_preview(*, month: date) -> SettlementOutcome:
    """What settling ``month`` would do, changing nothing; a month already settled comes back as
    ``already_done`` with its run (settling it again would change nothing)."""
    program = program_active_get()
    month = month.replace(day=1)
    _settleable(program=program, month=month)
    if done := SettlementRun.objects.filter(month=month, status=SettlementRun.Status.DONE).first():
        return SettlementOutcome(done, already_done=True)
    levels = program_levels(program=program)
    sums = growth_window_sums(program=program, month=month)
    until = local_midnight(add_months(month, 1), ZoneInfo(program.time_zone))
    return SettlementOutcome(None, preview=_settlement_preview(levels, levels_by_id(levels=levels), sums, month, until))


def settlement_whatif(*, thresholds: dict[str, int], month: date | None = None) -> dict:
    """How the next settlement would come out with other level thresholds, changing nothing:
    the preview with the thresholds as they are and with ``thresholds`` ({level code: threshold})."""
    program = program_active_get()
    month = (month or settlement_default_month_next()).replace(day=1)
    levels = program_levels(program=program)
    proposed = []
    for level in levels:
        copy = Level(**{f.attname: getattr(level, f.attname) for f in Level._meta.concrete_fields})
        copy.threshold = thresholds.get(level.code, level.threshold)
        proposed.append(copy)
    levels_validate([(level.code, level.rank, level.threshold) for level in proposed])
    sums = growth_window_sums(program=program, month=month)
    until = local_midnight(add_months(month, 1), ZoneInfo(program.time_zone))
    return {
        "month": month,
        "now": _settlement_preview(levels, levels_by_id(levels=levels), sums, month, until),
        "proposed": _settlement_preview(proposed, {pk: proposed[levels.index(level)] for pk, level in levels_by_id(levels=levels).items()}, sums, month, until),
    }


def settlement_default_month_next(*, now: datetime | None = None) -> date:
    """The month the next scheduled settlement will settle (``selectors.settlement_next_get``)."""
    return settlement_next_get(program=program_active_get(), now=now)[0]


def _settlement_preview(levels, by_id, sums, month, until) -> dict:
    counts = {"up": 0, "down": 0, "renewed": 0, "kept": 0}
    after = {level.code: 0 for level in levels}
    for pk, level_id, valid_until, base_score in Member.objects.values_list("pk", "level_id", "level_valid_until", "base_score").iterator(5000):
        current = by_id.get(level_id, levels[0])
        decision = settlement_decide(
            levels=levels, current=current, valid_until=valid_until, growth=sums.get(pk, 0) + base_score, month=month
        )
        if decision is None:
            counts["kept"] += 1
            after[current.code] += 1
            continue
        new_level, _, reason = decision
        counts[{"upgrade": "up", "downgrade": "down", "renewal": "renewed"}[reason]] += 1
        if reason == LevelChange.Reason.RENEWAL:
            counts["kept"] += 1
        after[new_level.code] += 1
    lapsing = PointsLot.objects.filter(remaining__gt=0, expires_at__lte=until)
    counts["points_to_expire"] = sum(lapsing.values_list("remaining", flat=True))
    counts["levels_after"] = after
    return counts


def program_switch_preview(*, program: Program, month: date | None = None) -> dict:
    """The next settlement under the active program and under ``program``, changing nothing:
    how many members each level would hold, and how many would move up and down."""
    active = program_active_get()
    month = (month or settlement_default_month_next()).replace(day=1)

    def preview(of: Program) -> tuple[list[Level], dict]:
        levels = program_levels(program=of)
        sums = growth_window_sums(program=of, month=month)
        until = local_midnight(add_months(month, 1), ZoneInfo(of.time_zone))
        return levels, _settlement_preview(levels, levels_by_id(levels=levels), sums, month, until)

    levels_now, now = preview(active)
    levels_then, then = preview(program)
    return {"month": month, "active": active, "program": program, "now": now, "proposed": then,
            "levels_now": levels_now, "levels_proposed": levels_then}


SETTLEMENT_TASK_NAME = gettext_noop("Monthly settlement")  # the schedule's key; the console shows its translation


def settlement_schedule_sync(*, program: Program) -> int:
    """Make the beat schedule run ``membership.settle_due`` on the program's settlement day and hour
    (local time); returns 1 if the schedule changed. The program's fields are the source of truth."""
    return periodic_task_sync(
        name=SETTLEMENT_TASK_NAME, task="membership.settle_due",
        crontab={"minute": "0", "hour": str(program.settlement_hour), "day_of_month": str(program.settlement_day),
                 "month_of_year": "*", "day_of_week": "*", "timezone": program.time_zone},
        description=f"Settles the month before on day {program.settlement_day} at {program.settlement_hour:02d}:00 ({program.time_zone}).",
    )


def settlement_default_month(*, now: datetime | None = None) -> date:
    """The month a settlement would normally settle now: the month before, in the program's time zone."""
    program = program_active_get()
    local = (now or timezone.now()).astimezone(ZoneInfo(program.time_zone))
    return add_months(local.date().replace(day=1), -1)


def settlement_due_month(*, now: datetime | None = None) -> date | None:
    """The month the schedule should have settled by ``now`` if it is not settled yet, else None.

    Settling month M is due on the program's settlement day and hour of month M+1 (local time).
    """
    program = program_active_get()
    tz = ZoneInfo(program.time_zone)
    local = (now or timezone.now()).astimezone(tz)
    this_month = local.date().replace(day=1)
    due_at = datetime(local.year, local.month, program.settlement_day, program.settlement_hour, tzinfo=tz)
    month = add_months(this_month, -1 if local >= due_at else -2)
    latest = settlement_latest_month()
    if latest and month < latest:
        return None
    if SettlementRun.objects.filter(month=month, status=SettlementRun.Status.DONE).exists():
        return None
    return month


def settlement_queue(*, month: date, actor) -> None:
    """Hand the settlement of ``month`` to the workers (``membership.settle_month``), started by
    ``actor``, whose permission the run checks again when it starts."""
    permission_require(actor, "membership.add_settlementrun", _("run settlements"))
    _settleable(program=program_active_get(), month=month.replace(day=1))
    task_send("membership.settle_month", f"{month:%Y-%m}", trigger=f"admin:{actor.get_username()}", actor_id=actor.pk)
