"""Services that change members, orders, growth and levels.

Booking rules (the default program's are in CONTRACT.md):
- An order's entitlement under each rule is recomputed from its current facts every time it is
  booked. A lower entitlement takes the order's credit down to min(new entitlement, credited);
  a higher one credits the increase within the room the caps leave on the order's day/month.
- Every entry is dated at the order's ``paid_at``; when it was booked is kept apart.
- Each change is keyed by order, rule and revision, so replaying a booking books nothing twice.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from dataclasses import dataclass
import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from common.bulk import new_row, rows_insert, rows_update
from common.roles import permission_require
from common.timeutil import add_months, local_day_bounds, local_midnight, local_month_bounds, month_last_day

from .models import (
    Currency,
    EarningRule,
    GrowthEntry,
    Level,
    LevelChange,
    Member,
    MemberEvent,
    Order,
    OrderCredit,
    Program,
    SettlementChunk,
    SettlementRun,
    Source,
)
from .rules import STRATEGIES, OrderFacts, strategy_for
from .selectors import (
    cap_room_get,
    growth_window_bounds,
    growth_window_sums,
    levels_by_id,
    program_active_get,
    program_levels,
    settlement_latest_month,
)

ORDER_FIELDS = (
    "paid_at",
    "status",
    "goods_amount",
    "discount_amount",
    "shipping_amount",
    "refunded_amount",
    "category",
    "shop_id",
    "special_invoice",
)

logger = logging.getLogger(__name__)


@dataclass
class BookingResult:
    outcome: str  # "created", "changed" or "unchanged"
    growth: int = 0  # net growth booked by this call
    points: int = 0  # net points booked by this call
    capped: int = 0  # growth and points withheld by caps in this call
    blocked: int = 0  # growth and points withheld by the blacklist in this call (kept as blocked credits)


# ---------------------------------------------------------------- members


MEMBER_FIELDS = ("name", "phone", "birthday", "joined_at", "base_score")


@transaction.atomic
def member_upsert(
    *,
    member_id: str,
    name: str | None = None,
    phone: str | None = None,
    birthday: date | None = None,
    joined_at: datetime | None = None,
    base_score: int | None = None,
) -> tuple[Member, str]:
    """Create the member or update the fields given (None leaves a field as it is).

    Returns the member and "created", "changed" or "unchanged".
    """
    member_id = (member_id or "").strip()
    if not member_id:
        raise ValidationError({"member_id": "member_id is required"})
    given = {k: v for k, v in zip(MEMBER_FIELDS, (name, phone, birthday, joined_at, base_score)) if v is not None}
    member = Member.objects.select_for_update().filter(member_id=member_id).first()
    if member is None:
        member = Member(member_id=member_id, **given)
        if member.joined_at is None:
            member.joined_at = timezone.now()
        member.full_clean()
        member.save()
        return member, "created"
    changed = [k for k, v in given.items() if getattr(member, k) != v]
    if not changed:
        return member, "unchanged"
    for k in changed:
        setattr(member, k, given[k])
    member.full_clean()
    member.save(update_fields=[*changed, "updated_at"])
    return member, "changed"


# ---------------------------------------------------------------- rules


def rules_for(*, program: Program, fact: str, at: datetime, include_ids=()) -> list[EarningRule]:
    """The program's active rules for a kind of fact, valid at ``at``, highest priority first;
    plus the rules given by id (rules that already credited the fact keep governing it)."""
    rules = list(EarningRule.objects.filter(Q(program=program) | Q(pk__in=list(include_ids))))
    return rules_applicable(rules=rules, program=program, fact=fact, at=at, include_ids=include_ids)


def rules_applicable(*, rules, program: Program, fact: str, at: datetime, include_ids=()) -> list[EarningRule]:
    """``rules_for`` over rules already in memory: the one place that says which rules govern a fact."""
    kinds = {kind for kind, strategy in STRATEGIES.items() if strategy.fact == fact}
    chosen = [
        rule
        for rule in rules
        if rule.pk in include_ids
        or (
            rule.program_id == program.pk
            and rule.kind in kinds
            and rule.is_active
            and (rule.valid_from is None or rule.valid_from <= at)
            and (rule.valid_until is None or rule.valid_until > at)
        )
    ]
    return sorted(chosen, key=lambda rule: (-rule.priority, rule.code, rule.pk))


def credit_change(*, old_entitlement: int, new_entitlement: int, credited: int, room: int | None) -> tuple[int, int]:
    """(amount to book, amount capped) when an entitlement moves from old to new.

    Lower: the credit comes down to min(new entitlement, credited). Higher: the increase is
    credited within ``room`` (None = no cap) and the rest is recorded as capped.
    """
    if new_entitlement < old_entitlement:
        return min(new_entitlement, credited) - credited, 0
    if new_entitlement > old_entitlement:
        increase = new_entitlement - old_entitlement
        granted = increase if room is None else min(increase, room)
        return granted, increase - granted
    return 0, 0


def _ledger_for(currency: str):
    if currency == Currency.GROWTH:
        return GrowthEntry
    from points.models import PointsEntry

    return PointsEntry


def _post(
    *,
    program: Program,
    member: Member,
    currency: str,
    amount: int,
    capped: int,
    effective_at: datetime,
    source: str,
    source_ref: str,
    rule: EarningRule | None,
    key: str,
    kind: str | None = None,
    actor=None,
    reason: str = "",
    prefer_own_lots: bool = True,
):
    """Write one ledger entry (growth or points) for a credit (amount ≥ 0) or a reversal (< 0)."""
    if currency == Currency.GROWTH:
        if GrowthEntry.objects.filter(idempotency_key=key).exists():
            return
        GrowthEntry.objects.create(
            member=member,
            kind=kind or (GrowthEntry.Kind.CREDIT if amount >= 0 else GrowthEntry.Kind.REVERSAL),
            amount=amount,
            capped=capped,
            effective_at=effective_at,
            source=source,
            source_ref=source_ref,
            rule=rule,
            idempotency_key=key,
            created_by=actor,
            reason=reason,
        )
        return
    from points.services import points_credit, points_debit, points_lots_of

    if amount >= 0:
        points_credit(
            program=program,
            member=member,
            amount=amount,
            capped=capped,
            effective_at=effective_at,
            source=source,
            source_ref=source_ref,
            rule=rule,
            idempotency_key=key,
            kind=kind or GrowthEntry.Kind.CREDIT,
            actor=actor,
            reason=reason,
        )
    else:
        own = points_lots_of(source=source, source_ref=source_ref, rule=rule) if prefer_own_lots else ()
        points_debit(
            member=member,
            amount=-amount,
            kind=kind or GrowthEntry.Kind.REVERSAL,
            effective_at=effective_at,
            source=source,
            source_ref=source_ref,
            rule=rule,
            idempotency_key=key,
            prefer_lots=list(own),
            allow_negative=True,
            actor=actor,
            reason=reason,
        )


# ---------------------------------------------------------------- orders


ORDER_STATUSES = frozenset(Order.Status.values)


def order_validate(facts: OrderFacts) -> None:
    """Reject facts that no rule can book, naming the field."""
    errors = {}
    if not facts.order_id:
        errors["order_id"] = "order_id is required"
    if not facts.member_id:
        errors["member_id"] = "member_id is required"
    if facts.status not in ORDER_STATUSES:
        errors["status"] = f"unknown status {facts.status!r} (expected one of {', '.join(Order.Status.values)})"
    for field in ("goods_amount", "discount_amount", "shipping_amount", "refunded_amount"):
        value = getattr(facts, field)
        if value < 0:
            errors[field] = f"{field} must not be negative (got {value})"
        elif value.as_tuple().exponent < -2:
            errors[field] = f"{field} has more than 2 decimals (got {value})"
    if "refunded_amount" not in errors and facts.refunded_amount > (
        facts.goods_amount - facts.discount_amount + facts.shipping_amount
    ):
        errors["refunded_amount"] = (
            f"refunded_amount {facts.refunded_amount} is larger than what was paid "
            f"({facts.goods_amount - facts.discount_amount + facts.shipping_amount})"
        )
    if facts.discount_amount > facts.goods_amount and "discount_amount" not in errors:
        errors["discount_amount"] = f"discount_amount {facts.discount_amount} is larger than goods_amount {facts.goods_amount}"
    if facts.paid_at is not None and timezone.is_naive(facts.paid_at):
        errors["paid_at"] = "paid_at must carry a time zone"
    if errors:
        raise ValidationError(errors)


def _facts_of(order: Order) -> OrderFacts:
    return OrderFacts(order_id=order.order_id, member_id="", **{f: getattr(order, f) for f in ORDER_FIELDS})


@transaction.atomic
def order_book(*, facts: OrderFacts, program: Program | None = None, book_points: bool = True) -> BookingResult:
    """Book a new order or a change to a known one under the program's rules, idempotently.

    With ``book_points`` false, points entitlements are recorded but not credited (the legacy
    system paid them); later changes then move points only by the difference.
    """
    order_validate(facts)
    program = program or program_active_get()
    member = Member.objects.select_for_update().filter(member_id=facts.member_id).first()
    if member is None:
        raise ValidationError({"member_id": f"unknown member {facts.member_id!r}"})
    order = Order.objects.select_for_update().filter(order_id=facts.order_id).first()
    if order is None:
        order = Order(order_id=facts.order_id, member=member, **{f: getattr(facts, f) for f in ORDER_FIELDS})
        order.save()
        _member_active(member, order.paid_at)
        outcome = "created"
    else:
        if order.member_id != member.pk:
            raise ValidationError(
                {"member_id": f"order {facts.order_id} belongs to member {order.member.member_id}, not {facts.member_id}"}
            )
        if order.paid_at != facts.paid_at:
            raise ValidationError(
                {"paid_at": f"order {facts.order_id} was booked as paid at {order.paid_at.isoformat()}; paid_at cannot change"}
            )
        changed = [f for f in ORDER_FIELDS if getattr(order, f) != getattr(facts, f)]
        if not changed:
            return BookingResult("unchanged")
        for f in changed:
            setattr(order, f, getattr(facts, f))
        order.revision += 1
        order.save(update_fields=[*changed, "revision", "updated_at"])
        outcome = "changed"
    result = _order_apply_rules(program=program, member=member, order=order, outcome=outcome, book_points=book_points)
    _order_cashback(orders=[order])
    _risk_check_after_commit(member=member, at=order.paid_at)
    return result


def _risk_check_after_commit(*, member: Member, at: datetime) -> None:
    """Once the booking is committed, the anomaly rules cheap enough for one member (earning
    velocity, refund rate, shared phone, redemption bursts) look at this member's hour. A failing
    check is logged: it never undoes or fails a booking already made."""
    from riskcontrol.services import anomaly_check_member

    def check():
        try:
            anomaly_check_member(member_id=member.pk, at=at)
        except Exception:
            logger.exception("the anomaly check after a booking of member %s failed", member.member_id)

    transaction.on_commit(check)


def _order_cashback(*, orders) -> None:
    """Paid-membership cashback on the orders just booked (``subscriptions.services.orders_cashback_book``)."""
    from subscriptions.services import orders_cashback_book

    orders_cashback_book(orders=orders)


def _earning_block(member: Member, at: datetime) -> int | None:
    """The pk of the blacklist entry that stops ``member`` earning at ``at``, or None."""
    from riskcontrol.selectors import member_block_get

    entry = member_block_get(member_id=member.pk, scope="earning", at=at)
    return entry.pk if entry else None


class DatabaseBook:
    """Cap room read from, and entries written to, the database one at a time (the single path).

    ``membership.booking.BatchBook`` answers the same two questions from memory for a batch.
    """

    def __init__(self, program: Program):
        self.program = program

    def room(self, *, member: Member, currency: str, at: datetime) -> int | None:
        return cap_room_get(program=self.program, ledger_model=_ledger_for(currency), currency=currency, member=member, at=at)

    def post(self, **posting) -> None:
        _post(program=self.program, **posting)

    def new_credit(self, *, order: Order, rule: EarningRule) -> OrderCredit:
        return OrderCredit(order=order, rule=rule)

    def blocked_pending(self, *, order: Order, rule: EarningRule):
        from riskcontrol.models import BlockedCredit

        return (
            BlockedCredit.objects.select_for_update()
            .filter(source=Source.ORDER, source_ref=order.order_id, rule=rule, currency=rule.currency, released_at__isnull=True)
            .first()
        )

    def blocked_new(self, **fields):
        from riskcontrol.models import BlockedCredit

        return BlockedCredit(**fields)

    def blocked_save(self, blocked) -> None:
        blocked.save()


def _order_apply_rules(*, program, member, order, outcome, book_points) -> BookingResult:
    credits = {c.rule_id: c for c in OrderCredit.objects.select_for_update().filter(order=order)}
    rules = rules_for(program=program, fact="order", at=order.paid_at, include_ids=credits)
    result, touched = order_rules_apply(
        rules=rules, member=member, order=order, credits=credits, outcome=outcome, book_points=book_points, book=DatabaseBook(program),
        block=_earning_block(member, order.paid_at),
    )
    for credit in touched:
        credit.save()
    return result


def order_rules_apply(*, rules, member, order, credits, outcome, book_points, book, block=None) -> tuple[BookingResult, list[OrderCredit]]:
    """Apply ``rules`` to an order's current facts: post what changed through ``book`` and return
    the result with the order's credits that changed (unsaved). Shared by the single and bulk paths.

    ``block`` is the blacklist entry (pk) that stops the member earning at the order's time, or
    None. A blocked credit is not posted: it is kept as the order's open blocked credit (what a
    release may book later), and the order's ``credited`` stays as it is, so a later refund takes
    back only what was credited. A lower entitlement also lowers the open blocked credit to what
    the order could still be owed.
    """
    result = BookingResult(outcome)
    touched = []
    facts = _facts_of(order)
    for rule in rules:
        credit = credits.get(rule.pk) or book.new_credit(order=order, rule=rule)
        strategy = strategy_for(rule)
        new_entitlement = strategy.entitlement(facts)
        order_capped = strategy.uncapped(facts) - new_entitlement
        if rule.currency == Currency.POINTS and not book_points:
            amount, capped = 0, 0
        else:
            room = None
            if new_entitlement > credit.entitlement:
                room = book.room(member=member, currency=rule.currency, at=order.paid_at)
            amount, capped = credit_change(
                old_entitlement=credit.entitlement, new_entitlement=new_entitlement, credited=credit.credited, room=room
            )
        withheld = 0
        if block is not None and amount > 0:
            withheld, amount, capped = amount, 0, 0
        if withheld or new_entitlement < credit.entitlement:
            pending = book.blocked_pending(order=order, rule=rule)
            if withheld:
                if pending is None:
                    pending = book.blocked_new(
                        member=member, currency=rule.currency, amount=0, source=Source.ORDER, source_ref=order.order_id,
                        rule=rule, effective_at=order.paid_at, list_entry_id=block,
                    )
                pending.amount += withheld
                book.blocked_save(pending)
                result.blocked += withheld
            elif pending is not None:
                owed = max(0, min(pending.amount, new_entitlement - (credit.credited + amount)))
                if owed != pending.amount:
                    pending.amount = owed
                    book.blocked_save(pending)
        if amount or capped:
            book.post(
                member=member,
                currency=rule.currency,
                amount=amount,
                capped=capped,
                effective_at=order.paid_at,
                source=Source.ORDER,
                source_ref=order.order_id,
                rule=rule,
                key=f"order:{order.order_id}:{rule.pk}:{order.revision}",
            )
            if rule.currency == Currency.GROWTH:
                result.growth += amount
            else:
                result.points += amount
            result.capped += capped
        if new_entitlement != credit.entitlement or amount or credit.pk is None or order_capped != credit.order_capped:
            credit.entitlement = new_entitlement
            credit.credited += amount
            credit.order_capped = order_capped
            touched.append(credit)
    return result, touched


# ---------------------------------------------------------------- behaviour events


@transaction.atomic
def event_record(
    *, member_id: str, event_type: str, occurred_at: datetime, event_id: str, program: Program | None = None
) -> BookingResult:
    """Record a behaviour once per ``event_id`` and credit what the event rules give for it.

    A one-time rule pays the first event only; per-day and per-month limits count the events
    that earned under the rule in the local day or month; caps then apply as for orders.
    """
    program = program or program_active_get()
    member = Member.objects.select_for_update().filter(member_id=member_id).first()
    if member is None:
        raise ValidationError({"member_id": f"unknown member {member_id!r}"})
    if MemberEvent.objects.filter(event_id=event_id).exists():
        return BookingResult("unchanged")
    MemberEvent.objects.create(event_id=event_id, member=member, event_type=event_type, occurred_at=occurred_at)
    _member_active(member, occurred_at)
    result = BookingResult("created")
    tz = ZoneInfo(program.time_zone)
    block = _earning_block(member, occurred_at)
    for rule in rules_for(program=program, fact="event", at=occurred_at):
        strategy = strategy_for(rule)
        if not strategy.matches(event_type):
            continue
        ledger = _ledger_for(rule.currency)
        earned = ledger.objects.filter(member=member, rule=rule, kind=GrowthEntry.Kind.CREDIT)
        if strategy.once and earned.exists():
            continue
        if strategy.per_day and _count_within(earned, local_day_bounds(occurred_at, tz)) >= strategy.per_day:
            continue
        if strategy.per_month and _count_within(earned, local_month_bounds(occurred_at, tz)) >= strategy.per_month:
            continue
        room = cap_room_get(program=program, ledger_model=ledger, currency=rule.currency, member=member, at=occurred_at)
        amount, capped = credit_change(old_entitlement=0, new_entitlement=strategy.amount, credited=0, room=room)
        if block is not None and amount > 0:
            from riskcontrol.models import BlockedCredit

            BlockedCredit.objects.create(
                member=member, currency=rule.currency, amount=amount, source=Source.EVENT, source_ref=event_id,
                rule=rule, effective_at=occurred_at, list_entry_id=block,
            )
            result.blocked += amount
            continue
        _post(
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
        )
        if rule.currency == Currency.GROWTH:
            result.growth += amount
        else:
            result.points += amount
        result.capped += capped
    _risk_check_after_commit(member=member, at=occurred_at)
    return result


def _member_active(member: Member, at: datetime) -> None:
    """Keep ``last_active_at`` (the lifecycle stages read it): the latest order or behaviour."""
    if member.last_active_at is None or at > member.last_active_at:
        member.last_active_at = at
        Member.objects.filter(pk=member.pk).update(last_active_at=at)


def _count_within(entries, bounds) -> int:
    start, end = bounds
    return entries.filter(effective_at__gte=start, effective_at__lt=end).count()


# ---------------------------------------------------------------- manual adjustments


@transaction.atomic
def growth_adjust(
    *,
    member: Member,
    amount: int,
    reason: str,
    actor,
    reference: str = "",
    idempotency_key: str | None = None,
    effective_at: datetime | None = None,
) -> GrowthEntry:
    """Add (amount > 0) or deduct (< 0) growth by hand. Who and why are required."""
    if not amount:
        raise ValidationError({"amount": "the adjustment amount must not be 0"})
    if not (reason or "").strip():
        raise ValidationError({"reason": "a reason is required for a manual adjustment"})
    if actor is None:
        raise ValidationError({"actor": "a manual adjustment must name the staff member making it"})
    key = idempotency_key or f"adjustment:growth:{uuid.uuid4()}"
    existing = GrowthEntry.objects.filter(idempotency_key=key).first()
    if existing:
        return existing
    Member.objects.select_for_update().filter(pk=member.pk).first()
    return GrowthEntry.objects.create(
        member=member,
        kind=GrowthEntry.Kind.ADJUSTMENT,
        amount=amount,
        effective_at=effective_at or timezone.now(),
        source=Source.ADJUSTMENT,
        source_ref=reference,
        idempotency_key=key,
        created_by=actor,
        reason=reason.strip(),
    )


@transaction.atomic
def withheld_credit_book(
    *,
    member: Member,
    currency: str,
    amount: int,
    effective_at: datetime,
    source: str,
    source_ref: str,
    rule: EarningRule | None,
    idempotency_key: str,
    actor,
    reason: str,
    program: Program | None = None,
):
    """Credit what was withheld from an earning (a blacklist's blocked credit), once per
    ``idempotency_key``, dated at the original ``effective_at``, under the original source and
    rule; for an order the amount joins the order's ``credited``, so a later refund takes it back.
    Returns the ledger entry."""
    if amount <= 0:
        raise ValidationError({"amount": "there is nothing left to credit"})
    ledger = _ledger_for(currency)
    if existing := ledger.objects.filter(idempotency_key=idempotency_key).first():
        return existing
    member = Member.objects.select_for_update().get(pk=member.pk)
    _post(
        program=program or program_active_get(), member=member, currency=currency, amount=amount, capped=0,
        effective_at=effective_at, source=source, source_ref=source_ref, rule=rule, key=idempotency_key,
        kind=GrowthEntry.Kind.CREDIT, actor=actor, reason=reason,
    )
    if source == Source.ORDER and rule is not None:
        OrderCredit.objects.filter(order__order_id=source_ref, rule=rule).update(credited=F("credited") + amount)
    return ledger.objects.get(idempotency_key=idempotency_key)


# ---------------------------------------------------------------- settlement


class SettlementRefused(Exception):
    pass


def settlement_month_parse(text: str) -> date:
    try:
        return datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise ValidationError(f"month {text!r} is not of the form YYYY-MM (e.g. 2026-11)") from None


@dataclass
class SettlementOutcome:
    run: SettlementRun | None
    already_done: bool = False
    preview: dict | None = None


def _renewal(month: date, level) -> date | None:
    if level.rank == 0 or level.validity_months is None:
        return None
    return _month_end_after(month, level.validity_months)


@functools.lru_cache(maxsize=256)
def _month_end_after(month: date, months: int) -> date:
    return month_last_day(add_months(month, months))


def settlement_decide(*, levels, current, valid_until: date | None, growth: int, month: date):
    """The settlement rules for one member: (new level, valid until, reason) or None to keep as is.

    ``levels`` is sorted by rank, lowest first; ``current`` is one of them.
    """
    target = levels[0]
    for level in levels:
        if growth >= level.threshold:
            target = level
    index = levels.index(current)
    if target.rank >= current.rank:
        if target is levels[0]:
            return None  # the lowest level never expires and needs no renewal
        reason = LevelChange.Reason.UPGRADE if target.rank > current.rank else LevelChange.Reason.RENEWAL
        return target, _renewal(month, target), reason
    if valid_until is not None and valid_until > _month_end_after(month, 0):
        return None
    lower = levels[index - 1]
    return lower, (_renewal(month, lower) if target.rank >= lower.rank else None), LevelChange.Reason.DOWNGRADE


SETTLEMENT_CHUNK = 50_000

# What other apps do for each settled chunk, after its levels and points expiry, in the chunk's
# transaction: ``step(*, run, program, span) -> benefits issued`` (the benefits app issues the
# month's level benefits and upgrade gifts). Registered from an app's ``ready`` with
# ``settlement_chunk_step``, so membership does not need to know those apps.
SETTLEMENT_CHUNK_STEPS: dict[str, Callable[..., int]] = {}


def settlement_chunk_step(key: str):
    """Register ``step(*, run, program, span) -> int`` to run in every settlement chunk."""

    def register(step):
        SETTLEMENT_CHUNK_STEPS[key] = step
        return step

    return register



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
    permission_require(actor, "membership.add_settlementrun", "run settlements")
    program = program_active_get()
    month = month.replace(day=1)
    if not program_levels(program=program):
        raise SettlementRefused(f"program {program.code} has no levels to settle.")
    with transaction.atomic():
        latest = settlement_latest_month()
        if latest and month < latest:
            raise SettlementRefused(
                f"{month:%Y-%m} is before the latest settled month {latest:%Y-%m}: months are settled in order."
            )
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


def settlement_chunk_execute(*, chunk_id: int, worker: str = "") -> bool:
    """Settle the members of one chunk in one transaction: their levels from the growth window,
    then their points that end by the month's end. Returns False if the chunk was already done.

    The chunk row is locked first, so a chunk handed to two workers is settled once.
    """
    from points.services import points_expire_due

    with transaction.atomic():
        chunk = SettlementChunk.objects.select_for_update(of=("self",)).select_related("run__program").get(pk=chunk_id)
        if chunk.status == SettlementChunk.Status.DONE:
            return False
        run, program = chunk.run, chunk.run.program
        levels = program_levels(program=program)
        span = (chunk.first_member, chunk.last_member)
        settle = _settle_members_sql if connection.vendor == "postgresql" else _settle_members
        evaluated, counts = settle(program=program, run=run, levels=levels, span=span)
        until = local_midnight(add_months(run.month, 1), ZoneInfo(program.time_zone))
        lots, points = points_expire_due(until=until, members=span)
        chunk.benefits_issued = sum(step(run=run, program=program, span=span) for step in SETTLEMENT_CHUNK_STEPS.values())
        chunk.members_evaluated = evaluated
        chunk.members_up = counts[LevelChange.Reason.UPGRADE]
        chunk.members_down = counts[LevelChange.Reason.DOWNGRADE]
        chunk.members_renewed = counts[LevelChange.Reason.RENEWAL]
        chunk.lots_expired, chunk.points_expired = lots, points
        chunk.status, chunk.worker, chunk.finished_at = SettlementChunk.Status.DONE, worker[:200], timezone.now()
        chunk.save()
    return True


def _settle_members(*, program, run, levels, span) -> tuple[int, dict]:
    """Settle the members in ``span`` one decision at a time (``settlement_decide``), writing in bulk."""
    month = run.month
    by_id = levels_by_id(levels=levels)
    sums = growth_window_sums(program=program, month=month, members=span)
    members = Member.objects.filter(pk__gte=span[0])
    if span[1] is not None:
        members = members.filter(pk__lte=span[1])
    updates, history = [], []
    counts = dict.fromkeys(LevelChange.Reason.values, 0)
    now = timezone.now()
    evaluated = 0
    rows = members.order_by("pk").values_list("pk", "level_id", "level_valid_until", "base_score").iterator(chunk_size=20000)
    for pk, level_id, valid_until, base_score in rows:
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
    rows_update(Member, updates, ["level", "level_valid_until", "updated_at"])
    rows_insert(LevelChange, history)
    return evaluated, counts


def _settle_members_sql(*, program, run, levels, span) -> tuple[int, dict]:
    """``_settle_members`` as one statement on PostgreSQL: the same decisions as ``settlement_decide``
    (the settlement tests and the property test run on both paths), made by the database next to
    the data, so no member row travels to Python and back."""
    month = run.month
    start, end = growth_window_bounds(program=program, month=month)
    table = ", ".join(f"(%(i{n})s, %(id{n})s::bigint, %(rk{n})s::int, %(th{n})s::bigint, %(rn{n})s::date)" for n in range(len(levels)))
    window = "AND e.effective_at >= %(start)s" if start is not None else ""
    last = "AND m.id <= %(last)s" if span[1] is not None else ""
    last_entry = "AND e.member_id <= %(last)s" if span[1] is not None else ""
    sql = f"""
        WITH lv(idx, id, rank, threshold, renewal) AS (VALUES {table}),
        sums AS (
            SELECT e.member_id, SUM(e.amount) AS g FROM membership_growthentry e
            WHERE e.member_id >= %(first)s {last_entry} AND e.effective_at < %(end)s {window}
            GROUP BY e.member_id
        ),
        cur AS (
            SELECT m.id, m.level_id, (l.idx IS NULL AND m.level_id IS NOT NULL) AS foreign_level,
                   COALESCE(l.idx, (SELECT max(t.idx) FROM lv t JOIN membership_level o ON t.rank <= o.rank WHERE o.id = m.level_id), 0) AS cur_idx, m.level_valid_until AS valid, COALESCE(s.g, 0) + m.base_score AS g,
                   COALESCE((SELECT max(t.idx) FROM lv t WHERE t.threshold <= COALESCE(s.g, 0) + m.base_score), 0) AS target
            FROM membership_member m
            LEFT JOIN lv l ON l.id = m.level_id
            LEFT JOIN sums s ON s.member_id = m.id
            WHERE m.id >= %(first)s {last}
        ),
        decided AS (
            SELECT id, level_id, foreign_level, valid, cur_idx, g, target,
                   CASE WHEN target >= cur_idx THEN NULLIF(target, 0)
                        WHEN valid IS NOT NULL AND valid > %(month_end)s THEN NULL
                        ELSE cur_idx - 1 END AS new_idx
            FROM cur
        ),
        dec AS (
            SELECT id, level_id, valid, cur_idx, g, target,
                   COALESCE(new_idx, CASE WHEN foreign_level THEN cur_idx END) AS new_idx,
                   CASE WHEN new_idx IS NULL THEN 'switch' WHEN target > cur_idx THEN 'upgrade'
                        WHEN target = cur_idx THEN 'renewal' ELSE 'downgrade' END AS reason
            FROM decided
        ),
        chg AS (
            SELECT d.id, d.g, d.reason, COALESCE(d.level_id, cl.id) AS from_id, nl.id AS to_id,
                   CASE WHEN d.reason = 'switch' THEN d.valid WHEN d.target < d.new_idx THEN NULL ELSE nl.renewal END AS new_valid
            FROM dec d JOIN lv nl ON nl.idx = d.new_idx JOIN lv cl ON cl.idx = d.cur_idx
        ),
        upd AS (
            UPDATE membership_member m SET level_id = chg.to_id, level_valid_until = chg.new_valid, updated_at = %(now)s
            FROM chg WHERE m.id = chg.id
        ),
        ins AS (
            INSERT INTO membership_levelchange (member_id, run_id, from_level_id, to_level_id, valid_until, window_growth, reason, created_at)
            SELECT id, %(run)s, from_id, to_id, new_valid, g, reason, %(now)s FROM chg
        )
        SELECT (SELECT count(*) FROM cur), reason, count(*) FROM chg GROUP BY reason
    """
    params = {"first": span[0], "last": span[1], "start": start, "end": end, "month_end": month_last_day(month), "now": timezone.now(), "run": run.pk}
    for n, level in enumerate(levels):
        params.update({f"i{n}": n, f"id{n}": level.pk, f"rk{n}": level.rank, f"th{n}": level.threshold, f"rn{n}": _renewal(month, level)})
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
    """What settling ``month`` would do, changing nothing."""
    program = program_active_get()
    month = month.replace(day=1)
    latest = settlement_latest_month()
    if latest and month < latest:
        raise SettlementRefused(f"{month:%Y-%m} is before the latest settled month {latest:%Y-%m}: months are settled in order.")
    levels = program_levels(program=program)
    if not levels:
        raise SettlementRefused(f"program {program.code} has no levels to settle.")
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
    """The month the next scheduled settlement will settle: the current month, in the program's time zone."""
    program = program_active_get()
    return (now or timezone.now()).astimezone(ZoneInfo(program.time_zone)).date().replace(day=1)


def _settlement_preview(levels, by_id, sums, month, until) -> dict:
    from points.models import PointsLot

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


# ---------------------------------------------------------------- program set-up


class UnknownPreset(Exception):
    pass


PROGRAM_FIELDS = (
    "name",
    "description",
    "time_zone",
    "growth_window_months",
    "settlement_day",
    "settlement_hour",
    "points_expiry",
    "points_expiry_years",
    "points_expiry_months",
    "daily_growth_cap",
    "monthly_growth_cap",
    "daily_points_cap",
    "monthly_points_cap",
    "adjustment_approval_threshold",
    "points_per_yuan",
)


def _sync(instance, values: dict) -> bool:
    changed = [k for k, v in values.items() if getattr(instance, k) != v]
    for k in changed:
        setattr(instance, k, values[k])
    if changed or instance.pk is None:
        instance.full_clean()
        instance.save()
        return True
    return False


def levels_validate(levels: list[tuple[str, int, int]]) -> None:
    """Levels as (code, rank, threshold): the lowest threshold is 0 and thresholds rise strictly with rank."""
    if not levels:
        raise ValidationError("a program needs at least one level")
    ordered = sorted(levels, key=lambda level: level[1])
    if ordered[0][2] != 0:
        raise ValidationError(f"the lowest level {ordered[0][0]} must have threshold 0, not {ordered[0][2]}")
    for (low_code, _, low), (high_code, _, high) in zip(ordered, ordered[1:]):
        if high <= low:
            raise ValidationError(
                f"thresholds must rise with rank: {high_code} ({high}) is not above {low_code} ({low})"
            )


@transaction.atomic
def program_load(*, name: str, activate: bool | None = None) -> tuple[Program, int]:
    """Make the program ``name`` match its preset; returns the program and how many rows changed.

    Members, orders and ledgers are never touched. The program becomes active when no program
    is active yet, or when ``activate`` is true. Levels and rules are matched by code; loading
    the same preset twice changes nothing.
    """
    from .presets import PRESETS

    preset = PRESETS.get(name)
    if preset is None:
        raise UnknownPreset(f"unknown program preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
    from .presets import PRESET_SECTIONS

    unknown = set(preset) - {"code", "levels", "rules", *PROGRAM_FIELDS, *PRESET_SECTIONS}
    if unknown:
        raise UnknownPreset(f"preset {name!r} has sections no app loads: {', '.join(sorted(unknown))}")
    levels_validate([(level["code"], level["rank"], level["threshold"]) for level in preset["levels"]])
    for rule in preset["rules"]:
        STRATEGIES[rule["kind"]].validate_params(rule["params"], currency=rule["currency"])
    program = Program.objects.select_for_update().filter(code=preset["code"]).first() or Program(code=preset["code"])
    changes = int(_sync(program, {f: preset[f] for f in PROGRAM_FIELDS}))
    for spec in preset["levels"]:
        level = program.levels.filter(code=spec["code"]).first() or program.levels.model(program=program, code=spec["code"])
        changes += _sync(level, {k: v for k, v in spec.items() if k != "code"})
    for spec in preset["rules"]:
        rule = program.rules.filter(code=spec["code"]).first() or EarningRule(program=program, code=spec["code"])
        changes += _sync(rule, {k: v for k, v in spec.items() if k != "code"})
    for key, loader in PRESET_SECTIONS.items():
        changes += loader(program=program, specs=preset.get(key, []))
    if activate or (activate is None and not Program.objects.filter(is_active=True).exists()):
        changes += program_activate(program=program, actor=None)
        program.refresh_from_db()
    elif program.is_active:
        changes += program_schedules_sync(program=program)
    return program, changes


@transaction.atomic
def program_activate(*, program: Program, actor) -> int:
    """Make ``program`` the active one; returns how many rows changed (0 if it already was).

    Members and ledgers are not touched: a member keeps the level the old program gave, which
    stands for the new program's level of the same rank (``levels_by_id``) until the next
    settlement, which decides by the new program's rules and moves every member onto its levels.
    """
    permission_require(actor, "membership.change_program", "switch the active program")
    program = Program.objects.select_for_update().get(pk=program.pk)
    if not program.levels.exists():
        raise ValidationError(f"program {program.code} has no levels: it cannot be made active.")
    changes = 0
    if not program.is_active:
        Program.objects.filter(is_active=True).exclude(pk=program.pk).update(is_active=False)
        program.is_active = True
        program.save(update_fields=["is_active", "updated_at"])
        changes += 1
    return changes + program_schedules_sync(program=program)


def program_schedules_sync(*, program: Program) -> int:
    """The active program's beat schedules: the monthly settlement, the daily rules, the dashboard's
    totals, and those the other apps register (``presets.program_schedule``)."""
    from .accrual import daily_schedule_sync
    from .presets import PROGRAM_SCHEDULES
    from .totals import totals_schedule_sync

    changes = settlement_schedule_sync(program=program) + daily_schedule_sync(program=program) + totals_schedule_sync()
    return changes + sum(sync(program=program) for sync in PROGRAM_SCHEDULES.values())


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


SETTLEMENT_TASK_NAME = "Monthly settlement"


def settlement_schedule_sync(*, program: Program) -> int:
    """Make the beat schedule run ``membership.settle_due`` on the program's settlement day and hour
    (local time); returns 1 if the schedule changed. The program's fields are the source of truth."""
    from common.schedules import periodic_task_sync

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
