"""Granting benefits: one at a time (``benefit_grant``, ``benefit_claim``) and set-based for the
settlement's monthly benefits and upgrade gifts and the daily birthday and anniversary benefits
(``benefits_issue``: one statement per benefit over a set of members, not a query per member).

Both paths follow the same rules: the benefit must be active and available, the member's level
must get at least one unit, the stock must cover it, a member blacklisted for benefits gets a
``blocked`` grant naming the list entry, and the (member, benefit, period) constraint makes a
second run grant nothing.
"""

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from common.references import references_hold
from common.roles import permission_require
from common.schedules import daily_at, periodic_task_sync
from common.timeutil import add_months
from membership.models import Level, LevelChange, Member, Program, SettlementRun, Source
from membership.selectors import program_active_get
from membership.models import OutboxEvent
from membership.services.outbox import BENEFIT_GRANTED, event_new, outbox_publish
from points.services import points_credit
from riskcontrol.models import ListEntry
from riskcontrol.selectors import member_block_get

from .models import Benefit, BenefitGrant, BenefitLevel
from .selectors import benefit_quantities, benefits_available, member_level_rank

SCOPE = ListEntry.Scope.BENEFITS


# ---------------------------------------------------------------- catalog


@transaction.atomic
def benefit_catalog_sync(*, program: Program, specs: list[dict]) -> int:
    """Make the program's catalog hold the benefits in ``specs`` (matched by code); returns rows changed.

    A spec may give ``levels`` as {level code: quantity}; without it, one unit from ``min_level`` up.
    """
    levels = {level.code: level for level in program.levels.all()}
    changed = 0
    for spec in specs:
        quantities = spec.get("levels")
        values = {
            **{k: v for k, v in spec.items() if k not in ("code", "min_level", "levels")},
            "min_level_id": levels[spec["min_level"]].pk,
        }
        benefit = Benefit.objects.filter(program=program, code=spec["code"]).first() or Benefit(program=program, code=spec["code"])
        differs = [k for k, v in values.items() if getattr(benefit, k) != v]
        if differs or benefit.pk is None:
            for k, v in values.items():
                setattr(benefit, k, v)
            benefit.full_clean()
            benefit.save()
            changed += 1
        if quantities is not None:
            wanted = {levels[code].pk: quantity for code, quantity in quantities.items()}
            have = dict(benefit.levels.values_list("level_id", "quantity"))
            if have != wanted:
                benefit.levels.exclude(level_id__in=wanted).delete()
                for level_id, quantity in wanted.items():
                    BenefitLevel.objects.update_or_create(benefit=benefit, level_id=level_id, defaults={"quantity": quantity})
                changed += 1
    return changed


# ---------------------------------------------------------------- one member


def _available(benefit: Benefit, at: datetime) -> bool:
    return benefit.is_active and (benefit.starts_at is None or benefit.starts_at <= at) and (benefit.ends_at is None or benefit.ends_at > at)


def _valid_until(benefit: Benefit, at: datetime) -> datetime | None:
    return at + timedelta(days=benefit.validity_days) if benefit.validity_days else None


def _stock_take(benefit: Benefit, quantity: int) -> None:
    """Take ``quantity`` units from the benefit's stock (under a lock of its row) or refuse."""
    locked = Benefit.objects.select_for_update().get(pk=benefit.pk)
    if locked.stock is not None and locked.issued + quantity > locked.stock:
        raise ValidationError(_("%(benefit)s is out of stock.") % {"benefit": benefit.code})
    Benefit.objects.filter(pk=benefit.pk).update(issued=F("issued") + quantity)


@transaction.atomic
def benefit_grant(
    *,
    benefit: Benefit,
    member: Member,
    period: str,
    at: datetime | None = None,
    run: SettlementRun | None = None,
    actor=None,
    claimed: bool = False,
) -> BenefitGrant:
    """Grant ``benefit`` to ``member`` for ``period``, once: a second call returns the first grant.

    The member's level decides the quantity (none: refused); a member blacklisted for benefits at
    ``at`` gets a ``blocked`` grant naming the list entry, and nothing else; points that go with
    the benefit are credited with source ``benefit``.
    """
    if actor is not None:
        permission_require(actor, "benefits.add_benefitgrant", _("grant benefits"))
    at = at or timezone.now()
    Member.objects.select_for_update().filter(pk=member.pk).first()
    existing = BenefitGrant.objects.filter(member=member, benefit=benefit, period=period).first()
    if existing:
        return existing
    if not _available(benefit, at):
        raise ValidationError(_("%(benefit)s is not available now.") % {"benefit": benefit.code})
    member = Member.objects.select_related("level").get(pk=member.pk)
    quantity = benefit_quantities(benefit=benefit).get(member_level_rank(member=member), 0)
    if not quantity:
        raise ValidationError(
            _("Member %(member)s's level does not get %(benefit)s.") % {"member": member.member_id, "benefit": benefit.code}
        )
    references_hold(Benefit, [benefit.pk])
    references_hold(SettlementRun, [run.pk if run else None])
    grant = BenefitGrant(
        member=member, benefit=benefit, period=period, quantity=quantity, granted_at=at, run=run, created_by=actor,
        valid_until=_valid_until(benefit, at),
    )
    block = member_block_get(member_id=member.pk, scope=SCOPE, at=at)
    if block is not None:
        grant.status, grant.list_entry = BenefitGrant.Status.BLOCKED, block
        grant.save()
        return grant
    _stock_take(benefit, quantity)
    grant.status = BenefitGrant.Status.CLAIMED if claimed else BenefitGrant.Status.GRANTED
    grant.claimed_at = at if claimed else None
    grant.save()
    if benefit.points:
        grant.points_entry = _points_credit(grant, benefit, at)
        grant.save(update_fields=["points_entry"])
    outbox_publish(
        type=BENEFIT_GRANTED, member_ref=member.member_id, occurred_at=at,
        data=benefit_granted_data(benefit=benefit, period=period, quantity=quantity, valid_until=grant.valid_until),
    )
    return grant


def benefit_granted_data(*, benefit: Benefit, period: str, quantity: int, valid_until: datetime | None) -> dict:
    """The ``data`` of a ``benefit.granted`` event (``benefits_issue`` builds the same in SQL on
    PostgreSQL; a test holds them equal)."""
    return {
        "benefit": benefit.code, "name": benefit.name, "period": period, "quantity": quantity,
        "valid_until": valid_until.isoformat() if valid_until else None, "points": benefit.points * quantity,
    }


def _points_credit(grant: BenefitGrant, benefit: Benefit, at: datetime):
    return points_credit(
        program=benefit.program,
        member=grant.member,
        amount=benefit.points * grant.quantity,
        effective_at=at,
        source=Source.BENEFIT,
        source_ref=f"{benefit.code}:{grant.period}",
        idempotency_key=f"benefit:{grant.pk}",
        reason=f"benefit {benefit.code} ({grant.period})",
    )


def benefit_claim_period(*, benefit: Benefit, at: datetime) -> str:
    """The period a claim at ``at`` falls in, by the benefit's claim limit (in the program's time zone)."""
    local = at.astimezone(ZoneInfo(benefit.program.time_zone))
    if benefit.claim_limit == Benefit.ClaimLimit.ONCE:
        return "once"
    if benefit.claim_limit == Benefit.ClaimLimit.YEAR:
        return f"{local:%Y}"
    return f"{local:%Y-%m}"


@transaction.atomic
def benefit_claim(*, benefit: Benefit, member: Member, at: datetime | None = None, actor=None) -> BenefitGrant:
    """The member claims a benefit granted on claim, within its claim limit and stock.

    A claim beyond the limit (already claimed in the period) is refused; a blacklisted member's
    claim is recorded as blocked and returned.
    """
    at = at or timezone.now()
    if benefit.trigger != Benefit.Trigger.CLAIM:
        raise ValidationError(_("%(benefit)s is granted automatically, not claimed.") % {"benefit": benefit.code})
    period = benefit_claim_period(benefit=benefit, at=at)
    Member.objects.select_for_update().filter(pk=member.pk).first()
    existing = BenefitGrant.objects.filter(member=member, benefit=benefit, period=period).first()
    if existing and existing.status != BenefitGrant.Status.BLOCKED:
        raise ValidationError(
            _("Member %(member)s already claimed %(benefit)s (%(limit)s).")
            % {"member": member.member_id, "benefit": benefit.code, "limit": benefit.get_claim_limit_display()}
        )
    if existing:
        return existing
    return benefit_grant(benefit=benefit, member=member, period=period, at=at, actor=actor, claimed=True)


# ---------------------------------------------------------------- many members at once


def _blocking_entry(at: datetime) -> Subquery:
    """The blacklist entry blocking benefits for the member at ``at``: the rule of
    ``riskcontrol.selectors.member_block_get`` as a subquery (a test holds them equal)."""
    return Subquery(
        ListEntry.objects.filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=at),
            member_id=OuterRef("pk"), kind=ListEntry.Kind.BLACK, scope__in=[SCOPE, ListEntry.Scope.ALL], starts_at__lte=at,
        )
        .order_by("starts_at", "pk")
        .values("pk")[:1],
        output_field=IntegerField(),
    )


@dataclass
class Issued:
    granted: int = 0  # new grants
    blocked: int = 0  # new blocked grants
    units: int = 0  # units granted (not blocked)


def benefits_issue(
    *,
    benefit: Benefit,
    period: str,
    members: QuerySet[Member],
    at: datetime,
    run: SettlementRun | None = None,
    tally: dict[int, int] | None = None,
) -> Issued:
    """Grant ``benefit`` for ``period`` to every member of ``members`` whose level gets it, in one
    ``INSERT … SELECT … ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite alike); returns how many
    grants were made. Members already granted for the period are skipped;
    blacklisted members get blocked grants; with a stock, members are served in member order while
    it lasts. Points that go with the benefit are credited to each new granted grant, and each is
    told as a ``benefit.granted`` event (in the same statement on PostgreSQL when no points go with it).

    With ``tally``, the units of a benefit without stock are added to ``tally[benefit pk]`` for
    the caller to count last (``benefits_issued_count``), instead of taking the benefit's row lock
    now and holding it while the rest of the caller's transaction runs.
    """
    quantities = benefit_quantities(benefit=benefit)
    if not quantities:
        return Issued()
    references_hold(Benefit, [benefit.pk])
    references_hold(SettlementRun, [run.pk if run else None])
    left = None
    if benefit.stock is not None:
        locked = Benefit.objects.select_for_update().get(pk=benefit.pk)
        left = locked.stock - locked.issued
    whens = [When(level__rank=rank, then=Value(quantity)) for rank, quantity in quantities.items()]
    if 0 in quantities:
        whens.append(When(level__isnull=True, then=Value(quantities[0])))
    candidates = members.annotate(
        member_ref=F("pk"), quantity=Case(*whens, default=Value(0), output_field=IntegerField()), blocked_by=_blocking_entry(at)
    ).values_list("member_ref", "quantity", "blocked_by")
    with timezone.override(ZoneInfo(benefit.program.time_zone)):
        inner, inner_params = candidates.query.sql_with_params()
    valid_until = _valid_until(benefit, at)
    stock_filter = "" if left is None else "AND (x.blocked_by IS NOT NULL OR x.used <= %s)"
    # Members granted for the period already are skipped by the unique (member, benefit, period);
    # with a stock they are left out first, so that the units served count only the new grants.
    granted = (
        "" if left is None else
        "AND NOT EXISTS (SELECT 1 FROM benefits_benefitgrant g WHERE g.member_id = c.member_ref AND g.benefit_id = %s AND g.period = %s)"
    )
    # On PostgreSQL the candidates are kept apart (OFFSET 0), so each member's blacklist entry is
    # looked up once rather than once for each use of it.
    fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
    used = "0" if left is None else "SUM(CASE WHEN c.blocked_by IS NULL THEN c.quantity ELSE 0 END) OVER (ORDER BY c.member_ref)"
    sql = f"""
        INSERT INTO benefits_benefitgrant
            (member_id, benefit_id, period, quantity, status, list_entry_id, valid_until, run_id, granted_at)
        SELECT x.member_id, %s, %s, x.quantity,
               CASE WHEN x.blocked_by IS NULL THEN 'granted' ELSE 'blocked' END, x.blocked_by,
               {'%s' if valid_until else 'NULL'}, {'%s' if run else 'NULL'}, %s
        FROM (
            SELECT c.member_ref AS member_id, c.quantity, c.blocked_by,
                   {used} AS used
            FROM ({inner}{fence}) c
            WHERE c.quantity > 0 {granted}
        ) x
        WHERE TRUE {stock_filter}
        ON CONFLICT DO NOTHING
        RETURNING id, status, quantity, member_id
    """
    # PostgreSQL writes the events and adds the new rows up itself when no points need their ids
    # (SQLite has no INSERT in WITH).
    summed = connection.vendor == "postgresql" and not benefit.points
    stamp = connection.ops.adapt_datetimefield_value
    params = [benefit.pk, period, *([stamp(valid_until)] if valid_until else []), *([run.pk] if run else []), stamp(at), *inner_params]
    if left is not None:
        params += [benefit.pk, period, left]
    told = benefit_granted_data(benefit=benefit, period=period, quantity=0, valid_until=valid_until)
    if summed:
        sql = f"""
            WITH ins AS ({sql}),
            told AS (  -- one event per quantity granted, made once
                SELECT q.quantity, jsonb_build_object('benefit', %s::text, 'name', %s::text, 'period', %s::text, 'quantity', q.quantity,
                                                      'valid_until', %s::text, 'points', %s::bigint * q.quantity) AS data
                FROM (SELECT DISTINCT quantity FROM ins WHERE status = 'granted') q
            ),
            evt AS (
                INSERT INTO membership_outboxevent (type, member_ref, occurred_at, data, created_at)
                SELECT %s, m.member_id, %s, told.data, %s
                FROM ins JOIN told ON told.quantity = ins.quantity JOIN membership_member m ON m.id = ins.member_id
                WHERE ins.status = 'granted'
            )
            SELECT NULL, status, SUM(quantity), COUNT(*) FROM ins GROUP BY status
        """
        params += [told["benefit"], told["name"], period, told["valid_until"], benefit.points, BENEFIT_GRANTED, at, at]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if summed else [(pk, status, quantity, 1) for pk, status, quantity, _member in cursor.fetchall()]
    issued = Issued()
    for _pk, status, quantity, count in rows:
        if status == BenefitGrant.Status.GRANTED:
            issued.granted += count
            issued.units += quantity
        else:
            issued.blocked += count
    if issued.units and tally is not None and benefit.stock is None:
        tally[benefit.pk] = tally.get(benefit.pk, 0) + issued.units
    elif issued.units:
        Benefit.objects.filter(pk=benefit.pk).update(issued=F("issued") + issued.units)
    if not summed and issued.granted:
        ids = [pk for pk, status, _quantity, _count in rows if status == BenefitGrant.Status.GRANTED]
        for start in range(0, len(ids), 5000):
            events = []
            for grant in BenefitGrant.objects.filter(pk__in=ids[start:start + 5000]).select_related("member").order_by("pk"):
                if benefit.points:
                    grant.points_entry = _points_credit(grant, benefit, at)
                    grant.save(update_fields=["points_entry"])
                data = benefit_granted_data(benefit=benefit, period=period, quantity=grant.quantity, valid_until=valid_until)
                events.append(event_new(type=BENEFIT_GRANTED, member_ref=grant.member.member_id, data=data, at=at))
            OutboxEvent.objects.bulk_create(events)
    return issued


# ---------------------------------------------------------------- settlement and daily task


def benefits_settlement_issue(*, run: SettlementRun, program: Program, span: tuple[int, int | None]) -> int:
    """The settlement's step for one chunk (members with pk in ``span``), after their levels are
    settled: the month's benefits for each member's new level (period ``YYYY-MM`` of the settled
    month) and the upgrade gifts of the levels reached (period ``upgrade:LEVEL:validity start``,
    the day the new level takes effect). Returns how many grants were issued (blocked ones not counted)."""
    at = timezone.now()
    members = Member.objects.filter(pk__gte=span[0], status=Member.Status.ACTIVE)
    if span[1] is not None:
        members = members.filter(pk__lte=span[1])
    issued, tally = 0, {}
    for benefit in benefits_available(program=program, trigger=Benefit.Trigger.MONTHLY, at=at):
        issued += benefits_issue(benefit=benefit, period=f"{run.month:%Y-%m}", members=members, at=at, run=run, tally=tally).granted
    upgrade_benefits = list(benefits_available(program=program, trigger=Benefit.Trigger.UPGRADE, at=at))
    if upgrade_benefits:
        takes_effect = add_months(run.month, 1)
        for level in Level.objects.filter(program=program).order_by("rank"):
            reached = LevelChange.objects.filter(run=run, reason=LevelChange.Reason.UPGRADE, to_level=level).values("member_id")
            for benefit in upgrade_benefits:
                period = f"upgrade:{level.code}:{takes_effect:%Y-%m-%d}"
                issued += benefits_issue(
                    benefit=benefit, period=period, members=members.filter(pk__in=reached), at=at, run=run, tally=tally
                ).granted
    benefits_issued_count(tally)
    return issued


def benefits_issued_count(tally: dict[int, int]) -> None:
    """Add ``tally`` ({benefit pk: units}) to the benefits' issued counts, as the last writes of
    the transaction: the chunks of a settlement run in parallel and every one counts the same
    benefits, so each holds a benefit's row for as short a time as it can. On PostgreSQL the
    transaction's deferred foreign-key checks are made first, so they are not made under it."""
    if not tally:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for pk in sorted(tally):
        Benefit.objects.filter(pk=pk).update(issued=F("issued") + tally[pk])


def benefits_daily_issue(*, program: Program | None = None, at: datetime | None = None) -> dict[str, int]:
    """The birthday and membership-anniversary benefits of the day (in the program's time zone),
    once per member per year (period ``YYYY``); a February 29 birthday is kept on February 28 in
    other years. Then grants past their validity are marked expired. Returns the counts."""
    program = program or program_active_get()
    at = at or timezone.now()
    today = at.astimezone(ZoneInfo(program.time_zone)).date()
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    on_day = Q(birthday__month=today.month, birthday__day=today.day)
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        on_day |= Q(birthday__month=2, birthday__day=29)
    joined = Q(joined_at__month=today.month, joined_at__day=today.day)
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        joined |= Q(joined_at__month=2, joined_at__day=29)
    counts = {"birthday": 0, "anniversary": 0, "blocked": 0}
    for trigger, members in (
        (Benefit.Trigger.BIRTHDAY, active.filter(on_day)),
        (Benefit.Trigger.ANNIVERSARY, active.filter(joined, joined_at__year__lt=today.year)),
    ):
        for benefit in benefits_available(program=program, trigger=trigger, at=at):
            with transaction.atomic():
                issued = benefits_issue(benefit=benefit, period=f"{today:%Y}", members=members, at=at)
            counts[trigger] += issued.granted
            counts["blocked"] += issued.blocked
    counts["expired"] = benefit_grants_expire(at=at)
    return counts


def benefit_grants_expire(*, at: datetime | None = None) -> int:
    """Mark granted (unused) grants whose validity ended by ``at`` as expired; returns how many."""
    return BenefitGrant.objects.filter(status=BenefitGrant.Status.GRANTED, valid_until__lte=at or timezone.now()).update(
        status=BenefitGrant.Status.EXPIRED
    )


DAILY_TASK_NAME = gettext_noop("Daily benefits")  # the schedule's key; the console shows its translation


def benefits_schedule_sync(*, program: Program) -> int:
    """Make the beat schedule run ``benefits.daily`` at 00:05 every day in the program's time zone;
    returns 1 if the schedule changed."""
    return periodic_task_sync(
        name=DAILY_TASK_NAME, task="benefits.daily", crontab=daily_at(hour=0, minute=5, time_zone=program.time_zone),
        description=f"Birthday and anniversary benefits of the day, at 00:05 ({program.time_zone}).",
    )