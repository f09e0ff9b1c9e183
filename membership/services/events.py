"""Behaviour events (check-in, review, first transfer…): recorded once and credited by the event rules."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction

from common.timeutil import local_day_bounds, local_month_bounds

from .. import hooks
from ..models import Currency, GrowthEntry, Member, MemberEvent, Program, Source
from ..rules import strategy_for
from ..selectors import cap_room_get, program_active_get, rules_for
from .members import members_active_record, unknown_member
from .orders import credit_change, min_room
from .posting import ledger_for, ledger_post
from .results import BookingResult


def _count_within(entries, bounds) -> int:
    start, end = bounds
    return entries.filter(effective_at__gte=start, effective_at__lt=end).count()


@transaction.atomic
def event_record(
    *, member_id: str, event_type: str, occurred_at: datetime, event_id: str, program: Program | None = None, actor=None
) -> BookingResult:
    """Record a behaviour once per ``event_id`` and credit what the event rules give for it.

    A one-time rule pays the first event only; per-day and per-month limits count the events
    that earned under the rule in the local day or month; caps then apply as for orders.
    ``actor`` (an API key's user, a staff member; None for the system) is kept on the event.
    """
    program = program or program_active_get()
    member = Member.objects.select_for_update().filter(member_id=member_id).first()
    if member is None:
        raise ValidationError({"member_id": unknown_member(member_id)})
    if MemberEvent.objects.filter(event_id=event_id).exists():
        return BookingResult("unchanged")
    MemberEvent.objects.create(event_id=event_id, member=member, event_type=event_type, occurred_at=occurred_at, created_by=actor)
    members_active_record([(member, occurred_at)])
    result = BookingResult("created")
    tz = ZoneInfo(program.time_zone)
    guard = hooks.earning_guard_session(member_pks=[member.pk], since=occurred_at, until=occurred_at)
    block = guard.block_at(member_pk=member.pk, at=occurred_at)
    rules = rules_for(program=program, fact="event", at=occurred_at)
    limits = hooks.Limits(rules=[rule for rule in rules if strategy_for(rule).matches(event_type)], member_pks=[member.pk], locked=True)
    for rule in rules:
        strategy = strategy_for(rule)
        if not strategy.matches(event_type):
            continue
        ledger = ledger_for(rule.currency)
        earned = ledger.objects.filter(member=member, rule=rule, kind=GrowthEntry.Kind.CREDIT)
        if strategy.once and earned.exists():
            continue
        if strategy.per_day and _count_within(earned, local_day_bounds(occurred_at, tz)) >= strategy.per_day:
            continue
        if strategy.per_month and _count_within(earned, local_month_bounds(occurred_at, tz)) >= strategy.per_month:
            continue
        limit_room = limits.room(rule=rule, member_pk=member.pk)
        room = min_room(cap_room_get(program=program, ledger_model=ledger, currency=rule.currency, member=member, at=occurred_at), limit_room)
        amount, capped = credit_change(old_entitlement=0, new_entitlement=strategy.amount, credited=0, room=room)
        if block is not None and amount > 0:
            guard.withhold_once(
                member_pk=member.pk, currency=rule.currency, amount=amount, source=Source.EVENT, source_ref=event_id,
                rule=rule, effective_at=occurred_at, block=block,
            )
            result.blocked += amount
            continue
        limits.use(rule=rule, member_pk=member.pk, amount=amount, refused=capped if limit_room is not None and limit_room == room else 0)
        ledger_post(
            program=program,
            member=member,
            currency=rule.currency,
            amount=amount,
            capped=capped,
            effective_at=occurred_at,
            source=Source.EVENT,
            source_ref=event_id,
            rule=rule,
            key=f"event:{event_id}:{rule.pk}",
            member_locked=True,
            key_is_new=True,  # the event was recorded above, in this transaction
        )
        if rule.currency == Currency.GROWTH:
            result.growth += amount
        else:
            result.points += amount
        result.capped += capped
    guard.flush()
    limits.flush()
    hooks.booking_committed(member=member, at=occurred_at)
    return result
