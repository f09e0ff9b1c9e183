"""Orders booked one at a time: the single path behind the platform API, and the reference the
batch path (``services.batch``) is held to.

Booking rules (the default program's are in CONTRACT.md):
- An order's entitlement under each rule is recomputed from its current facts every time it is
  booked. A lower entitlement takes the order's credit down to min(new entitlement, credited);
  a higher one credits the increase within the room the caps leave on the order's day/month.
- Every entry is dated at the order's ``paid_at``; when it was booked is kept apart.
- Each change is keyed by order, rule and revision, so replaying a booking books nothing twice.
- What the earning guard stops (a blacklisted member) is not credited but kept by the guard, and
  the order's ``credited`` stays as it is, so a later refund takes back only what was credited.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.ledger import ENTRY_MAX
from common.references import references_hold

from .. import hooks
from ..lifecycle import lifecycle_stage
from ..models import Currency, EarningRule, Level, Member, Order, OrderCredit, Program, Source
from ..rules import EarningContext, OrderFacts, strategy_for
from ..selectors import cap_room_get, levels_by_id, program_active_get, program_levels, rules_for
from .members import members_active_record, unknown_member
from .posting import ledger_for, ledger_post
from .results import BookingResult

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
    "offset_amount",
)
# What an order keeps of its member, for the rules that ask (``order_context``).
MEMBER_SNAPSHOT_FIELDS = ("member_level", "member_stage", "member_conditions")
AMOUNT_FIELDS = ("goods_amount", "discount_amount", "shipping_amount", "refunded_amount", "offset_amount")
ORDER_STATUSES = frozenset(Order.Status.values)
ORDER_TEXT_LIMITS = {"order_id": 64, "member_id": 64, "category": 64, "shop_id": 64}
AMOUNT_LIMIT = Decimal("1000000000000")  # the amount columns hold 12 digits before the decimal point
PAID_YEARS = (1970, 2999)
NO_CONTEXT = EarningContext()  # a rule asks nothing of the member and the part paid with points earns


def order_validate(facts: OrderFacts) -> None:
    """Reject facts that no rule can book or no column can hold, naming the field."""
    errors = {}
    if not facts.order_id:
        errors["order_id"] = _("order_id is required")
    if not facts.member_id:
        errors["member_id"] = _("member_id is required")
    for field, limit in ORDER_TEXT_LIMITS.items():
        if field not in errors and len(getattr(facts, field)) > limit:
            errors[field] = _("%(field)s is longer than %(limit)s characters") % {"field": field, "limit": limit}
    if facts.status not in ORDER_STATUSES:
        errors["status"] = _("unknown status %(status)s (expected one of %(known)s)") % {"status": repr(facts.status), "known": ", ".join(Order.Status.values)}
    finite = True
    for field in AMOUNT_FIELDS:
        value = getattr(facts, field)
        if not value.is_finite():
            finite = False
            errors[field] = _("%(field)s must be a number of yuan (got %(value)s)") % {"field": field, "value": value}
        elif value < 0:
            errors[field] = _("%(field)s must not be negative (got %(value)s)") % {"field": field, "value": value}
        elif value >= AMOUNT_LIMIT:
            errors[field] = _("%(field)s %(value)s is too large: at most 999,999,999,999.99 yuan") % {"field": field, "value": value}
        elif value.as_tuple().exponent < -2:
            errors[field] = _("%(field)s has more than 2 decimals (got %(value)s)") % {"field": field, "value": value}
    if not finite:
        raise ValidationError(errors)
    if facts.discount_amount > facts.goods_amount and "discount_amount" not in errors:
        errors["discount_amount"] = _("discount_amount %(discount)s is larger than goods_amount %(goods)s") % {
            "discount": facts.discount_amount, "goods": facts.goods_amount,
        }
    elif "refunded_amount" not in errors and facts.refunded_amount > (
        facts.goods_amount - facts.discount_amount + facts.shipping_amount
    ):
        errors["refunded_amount"] = _("refunded_amount %(refunded)s is larger than what was paid (%(paid)s)") % {
            "refunded": facts.refunded_amount, "paid": facts.goods_amount - facts.discount_amount + facts.shipping_amount,
        }
    if "offset_amount" not in errors and "discount_amount" not in errors and facts.offset_amount > facts.goods_amount - facts.discount_amount + facts.shipping_amount:
        errors["offset_amount"] = _("offset_amount %(offset)s is larger than what was paid (%(paid)s)") % {
            "offset": facts.offset_amount, "paid": facts.goods_amount - facts.discount_amount + facts.shipping_amount,
        }
    if facts.paid_at is not None and timezone.is_naive(facts.paid_at):
        errors["paid_at"] = _("paid_at must carry a time zone")
    elif facts.paid_at is not None and not PAID_YEARS[0] <= facts.paid_at.year <= PAID_YEARS[1]:
        errors["paid_at"] = _("paid_at %(paid_at)s is outside the years %(first)s to %(last)s") % {
            "paid_at": facts.paid_at.isoformat(), "first": PAID_YEARS[0], "last": PAID_YEARS[1],
        }
    if errors:
        raise ValidationError(errors)


def order_new(*, facts: OrderFacts, member: Member) -> Order:
    """A new, unsaved order of ``member`` with ``facts``."""
    return Order(order_id=facts.order_id, member=member, **{f: getattr(facts, f) for f in ORDER_FIELDS})


def order_revise(*, order: Order, facts: OrderFacts, member: Member) -> list[str]:
    """Give a booked ``order`` its new ``facts``: the fields that changed (none: the same order
    again), with the order's revision raised when any did. An order keeps its member and its
    ``paid_at``; facts that would change either are refused, naming the field."""
    if order.member_id != member.pk:
        owner = Member.objects.filter(pk=order.member_id).values_list("member_id", flat=True).first()
        raise ValidationError({"member_id": _("order %(order)s belongs to member %(owner)s, not %(member)s") % {
            "order": facts.order_id, "owner": owner, "member": facts.member_id,
        }})
    if order.paid_at != facts.paid_at:
        raise ValidationError(
            {"paid_at": _("order %(order)s was booked as paid at %(paid_at)s; paid_at cannot change") % {
                "order": facts.order_id, "paid_at": order.paid_at.isoformat(),
            }}
        )
    changed = [f for f in ORDER_FIELDS if getattr(order, f) != getattr(facts, f)]
    for f in changed:
        setattr(order, f, getattr(facts, f))
    if changed:
        order.revision += 1
    return changed


def order_facts_of(order: Order) -> OrderFacts:
    return OrderFacts(order_id=order.order_id, member_id="", **{f: getattr(order, f) for f in ORDER_FIELDS})


@transaction.atomic
def order_book(*, facts: OrderFacts, program: Program | None = None, book_points: bool = True, actor=None) -> BookingResult:
    """Book a new order or a change to a known one under the program's rules, idempotently.

    With ``book_points`` false, points entitlements are recorded but not credited (the legacy
    system paid them); later changes then move points only by the difference. ``actor`` (an API
    key's user, a staff member; None for the system) is kept as who booked a new order. A limit
    beyond the caps (a campaign's budget) is locked when it is read: one order holds it for a few
    statements, and needs no savepoint to run again.
    """
    order_validate(facts)
    program = program or program_active_get()
    member = Member.objects.select_for_update().filter(member_id=facts.member_id).first()
    if member is None:
        raise ValidationError({"member_id": unknown_member(facts.member_id)})
    order = Order.objects.select_for_update().filter(order_id=facts.order_id).first()
    if order is None:
        order = order_new(facts=facts, member=member)
        order.created_by = actor
        order.save()
        outcome = "created"
    else:
        changed = order_revise(order=order, facts=facts, member=member)
        if not changed:
            return BookingResult("unchanged")
        order.save(update_fields=[*changed, "revision", "updated_at"])
        outcome = "changed"
    credits = {} if outcome == "created" else {c.rule_id: c for c in OrderCredit.objects.select_for_update().filter(order=order)}
    rules = rules_for(program=program, fact="order", at=order.paid_at, include_ids=credits)
    guard = hooks.earning_guard_session(
        member_pks=[member.pk], since=order.paid_at, until=order.paid_at, known=[(Source.ORDER, order.order_id)] if outcome == "changed" else ()
    )
    order_earnings_check(rules=rules, order=order)
    references_hold(EarningRule, [rule.pk for rule in rules])  # what the order's credits and entries name
    book = DatabaseBook(program, guard, hooks.Limits(rules=rules, member_pks=[member.pk], locked=True), new_source=outcome == "created")
    result, touched = order_rules_apply(
        rules=rules, member=member, order=order, credits=credits, outcome=outcome, book_points=book_points, book=book
    )
    for credit in touched:
        if credit.pk is not None:
            credit.save()
    OrderCredit.objects.bulk_create([credit for credit in touched if credit.pk is None])
    if order.__dict__.pop("_snapshot_changed", False):
        order.save(update_fields=MEMBER_SNAPSHOT_FIELDS)
    if outcome == "created":
        members_active_record([(member, order.paid_at)])
    guard.flush()
    book.limits.flush()
    hooks.orders_booked(orders=[order], program=program)
    hooks.booking_committed(member=member, at=order.paid_at)
    return result


def min_room(*rooms: int | None) -> int | None:
    """The smallest of the rooms that bound (None: unbounded)."""
    bounded = [room for room in rooms if room is not None]
    return min(bounded) if bounded else None


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


class MemberReads:
    """What ``order_context`` asks a book of the member, shared by the two books: the program's
    level the member holds, from the program's levels read once when a rule first asks."""

    program: Program
    _levels: dict | None = None

    def level_of(self, member: Member) -> Level | None:
        """The program's level the member holds (one no settlement has placed: the lowest)."""
        if self._levels is None:
            levels = program_levels(program=self.program)
            self._levels = {**levels_by_id(levels=levels), None: levels[0] if levels else None}
        return self._levels.get(member.level_id)


class DatabaseBook(MemberReads):
    """Cap room read from, and entries written to, the database one at a time (the single path).

    ``services.batch.BatchBook`` answers the same questions from memory for a batch. ``guard`` is
    the earning guard's session of the booking. The booking holds the member's row locked;
    ``new_source``: the order (or event) was made by this booking, so no entry has its keys yet.
    """

    def __init__(self, program: Program, guard: hooks.GuardSession, limits: hooks.Limits, *, new_source: bool = False):
        self.program = program
        self.guard = guard
        self.limits = limits
        self.new_source = new_source

    def last_active(self, member: Member) -> datetime | None:
        """The member's latest order or behaviour before the one being booked."""
        return member.last_active_at

    def condition_holds(self, *, member: Member, key: str, day) -> bool:
        return Member.objects.filter(hooks.member_condition_q(key, program=self.program, day=day), pk=member.pk).exists()

    def room(self, *, member: Member, currency: str, at: datetime) -> int | None:
        return cap_room_get(program=self.program, ledger_model=ledger_for(currency), currency=currency, member=member, at=at)

    def post(self, **posting) -> None:
        ledger_post(program=self.program, member_locked=True, key_is_new=self.new_source, rule_held=True, **posting)

    def new_credit(self, *, order: Order, rule: EarningRule) -> OrderCredit:
        return OrderCredit(order=order, rule=rule)


def order_earnings_check(*, rules, order: Order) -> None:
    """Refuse an order that some rule would credit with more than one ledger entry holds (a
    mistyped amount, as a rule, such as 3,000,000,000 yuan), naming the amount."""
    facts = order_facts_of(order)
    for rule in rules:
        uncapped = strategy_for(rule).uncapped(facts)
        if uncapped > ENTRY_MAX:
            raise ValidationError({"goods_amount": _(
                "goods_amount %(goods)s: rule %(rule)s would credit %(n)s %(currency)s for this order, "
                "more than one ledger entry holds (%(max)s); check the amount"
            ) % {"goods": order.goods_amount, "rule": rule.code, "n": f"{uncapped:,}", "currency": rule.currency, "max": f"{ENTRY_MAX:,}"}})


def order_context(*, rules, member: Member, order: Order, book) -> EarningContext | None:
    """What ``rules`` weigh the order in beyond its facts (None when no rule asks of the member).

    The order keeps what was read of its member (level, stage before the order, conditions on
    its day) the first time a rule asked, so that a change to the order (a refund) is weighed as
    the order was; what no rule asked before is read now and kept. ``book`` reads the member's
    level, their latest activity before the order and the conditions (``DatabaseBook`` from the
    database, ``BatchBook`` from what the batch read and booked so far).
    """
    asking = [s for s in map(strategy_for, rules) if getattr(s, "asks_member", False)]
    if not asking and book.program.offset_earns:
        return None
    changed = False
    if any(s.level_rates or s.level_multipliers for s in asking) and not order.member_level:
        level = book.level_of(member)
        order.member_level, changed = (level.code if level else ""), True
    if any(s.stages for s in asking) and not order.member_stage:
        level = book.level_of(member) if member.level_id else None
        order.member_stage = lifecycle_stage(
            program=book.program, joined_at=member.joined_at, last_active_at=book.last_active(member),
            level_rank=level.rank if level else None, now=order.paid_at,
        )
        changed = True
    known = conditions_parse(order.member_conditions)
    missing = sorted({s.when for s in asking if s.when} - set(known))
    if missing:
        day = order.paid_at.astimezone(ZoneInfo(book.program.time_zone)).date()
        known.update({key: book.condition_holds(member=member, key=key, day=day) for key in missing})
        order.member_conditions, changed = conditions_text(known), True
    if changed:
        order._snapshot_changed = True
    return EarningContext(
        level=order.member_level, stage=order.member_stage, conditions=frozenset(k for k, held in known.items() if held),
        offset_earns=book.program.offset_earns,
    )


def conditions_parse(text: str) -> dict[str, bool]:
    """``subscribed,!subscribed_annual`` as {condition: held}."""
    return {part.lstrip("!"): not part.startswith("!") for part in text.split(",") if part}


def conditions_text(known: dict[str, bool]) -> str:
    return ",".join(key if held else f"!{key}" for key, held in sorted(known.items()))


def order_rules_apply(*, rules, member, order, credits, outcome, book_points, book) -> tuple[BookingResult, list[OrderCredit]]:
    """Apply ``rules`` to an order's current facts: post what changed through ``book`` and return
    the result with the order's credits that changed (unsaved). Shared by the single and batch paths.

    When the earning guard stops the member earning at the order's time, a credit is not posted:
    the guard keeps it as the order's withheld credit (what a release may book later), and the
    order's ``credited`` stays as it is. A lower entitlement also lowers the withheld credit to
    what the order could still be owed.
    """
    result = BookingResult(outcome)
    touched = []
    facts = order_facts_of(order)
    context = order_context(rules=rules, member=member, order=order, book=book) or NO_CONTEXT
    block = book.guard.block_at(member_pk=member.pk, at=order.paid_at)
    stacked = set()  # the stack groups in which a rule gave the order something
    for rule in rules:
        credit = credits.get(rule.pk) or book.new_credit(order=order, rule=rule)
        strategy = strategy_for(rule)
        new_entitlement = strategy.entitlement(facts, context)
        order_capped = strategy.uncapped(facts, context) - new_entitlement
        if rule.stack_group:
            if rule.stack_group in stacked:
                new_entitlement, order_capped = 0, 0
            elif new_entitlement:
                stacked.add(rule.stack_group)
        if rule.currency == Currency.POINTS and not book_points:
            amount, capped, room, limit_room = 0, 0, None, None
        else:
            room = limit_room = None
            if new_entitlement > credit.entitlement:
                limit_room = book.limits.room(rule=rule, member_pk=member.pk)
                room = min_room(book.room(member=member, currency=rule.currency, at=order.paid_at), limit_room)
            amount, capped = credit_change(
                old_entitlement=credit.entitlement, new_entitlement=new_entitlement, credited=credit.credited, room=room
            )
        if block is not None and amount > 0:
            book.guard.withhold_more(
                member_pk=member.pk, currency=rule.currency, amount=amount, source=Source.ORDER, source_ref=order.order_id,
                rule=rule, effective_at=order.paid_at, block=block,
            )
            result.blocked += amount
            amount, capped = 0, 0
        elif new_entitlement < credit.entitlement:
            book.guard.withheld_lower(
                member_pk=member.pk, source=Source.ORDER, source_ref=order.order_id, rule=rule, at_most=new_entitlement - (credit.credited + amount)
            )
        # What a limit beyond the caps refused (a campaign's budget) is counted by the limit and
        # seen on the order's credit; the entry's ``capped`` is what the program's caps withheld.
        refused = capped if limit_room is not None and limit_room == room else 0
        book.limits.use(rule=rule, member_pk=member.pk, amount=amount, refused=refused)
        if amount or capped - refused:
            book.post(
                member=member,
                currency=rule.currency,
                amount=amount,
                capped=capped - refused,
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
        # A rule that gives the order nothing leaves no credit (an order is many rules' nothing:
        # statuses that do not earn, campaigns of other categories); one that has a credit keeps it.
        if new_entitlement != credit.entitlement or amount or order_capped != credit.order_capped:
            credit.entitlement = new_entitlement
            credit.credited += amount
            credit.order_capped = order_capped
            touched.append(credit)
    return result, touched
