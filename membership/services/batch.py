"""Booking many orders at once: the set-based path behind imports.

``orders_book_batch`` books a batch of orders exactly as calling ``orders.order_book`` on each of
them in turn would (the same rules through ``orders.order_rules_apply``, the same caps, the same
lots and allocations), but with a fixed number of queries per batch instead of about twenty per
order: what exists for the batch (members, orders, credits, cap usage, accounts, open lots, what
the earning guard needs) is read in one query each, the bookings are computed in memory, and the
rows are written in bulk (COPY on PostgreSQL). A batch is one transaction: it is written whole or
not at all. The points are posted through ``points.batch.PointsBatch``, which owns the lots' rules.

The caller gives each member's orders in booking order (``paid_at``, then ``order_id``); an order
may appear once per batch. The orders of different members need keep that order only when a rule
is bounded by a count members share (``orders_independent``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext

from common.bulk import new_row, rows_insert, rows_update
from common.references import references_hold
from common.timeutil import add_months, local_midnight
from points.batch import PointsBatch

from .. import hooks
from ..models import CAPPED_SOURCES, Currency, EarningRule, GrowthEntry, Member, Order, OrderCredit, Program, Source
from ..rules import OrderFacts, rules_applicable
from .members import members_active_record, unknown_member
from .orders import MEMBER_SNAPSHOT_FIELDS, ORDER_FIELDS, MemberReads, order_earnings_check, order_revise, order_rules_apply, order_validate
from .posting import ledger_for
from .results import BatchResult, BookingResult, Rejection


class BatchBook(MemberReads):
    """The ``orders.DatabaseBook`` of a batch: cap room and postings kept in memory, written by ``flush``.

    ``orders`` are the batch's orders (their cap usage is read for their months, and the lots of
    the members whose known orders may be taken back); ``guard`` is the earning guard's session
    (none for postings that are not earnings, such as opening balances).
    """

    def __init__(self, *, program: Program, members: list[Member], orders: list[Order], guard: hooks.GuardSession | None = None, rules=(), locked: bool = False):
        self.program = program
        self.tz = ZoneInfo(program.time_zone)
        self.now = timezone.now()
        self.growth_entries: list[GrowthEntry] = []
        self.used: dict[tuple, int] = {}  # (currency, member pk, "day"|"month", local date) -> net capped-source amount
        self.capped_currencies = [c for c in Currency.values if program.cap_for(c, "day") is not None or program.cap_for(c, "month") is not None]
        member_pks = [m.pk for m in members]
        if orders:
            self._load_usage(member_pks, min(o.paid_at for o in orders), max(o.paid_at for o in orders))
        # Only orders booked before this batch can be taken back in it, so only their members'
        # lots can be drawn on; new lots of the batch are added as they are made.
        debtors = sorted({o.member_id for o in orders if o.pk is not None})
        self.points = PointsBatch(program=program, member_pks=member_pks, debtor_pks=debtors)
        self.guard = guard or hooks.EveryoneEarns()
        self.member_pks = member_pks
        self.limits = hooks.Limits(rules=rules, member_pks=member_pks, locked=locked)
        self.active: dict[int, datetime] = {}  # member pk -> their latest order booked in the batch so far
        self.holding: dict[tuple[str, date], set[int]] = {}  # (condition, day) -> the batch's members it holds for
        self.rules_named: set[int] = set()  # the rules the batch's entries and credits name, held once when it flushes

    # ------------------------------------------------------------ what the rules ask of a member

    def last_active(self, member: Member) -> datetime | None:
        booked = self.active.get(member.pk)
        known = member.last_active_at
        return booked if known is None or (booked is not None and booked > known) else known

    def activity(self, member: Member, at: datetime) -> None:
        """The batch booked a new order of ``member`` at ``at`` (as ``members_active_record`` will write)."""
        if member.pk not in self.active or at > self.active[member.pk]:
            self.active[member.pk] = at

    def condition_holds(self, *, member: Member, key: str, day: date) -> bool:
        if (key, day) not in self.holding:
            q = hooks.member_condition_q(key, program=self.program, day=day)
            self.holding[key, day] = set(Member.objects.filter(q, pk__in=self.member_pks).values_list("pk", flat=True))
        return member.pk in self.holding[key, day]

    # ------------------------------------------------------------ caps

    def _load_usage(self, member_pks, first: datetime, last: datetime):
        start_day = first.astimezone(self.tz).date().replace(day=1)
        end_day = add_months(last.astimezone(self.tz).date().replace(day=1), 1)
        start, end = local_midnight(start_day, self.tz), local_midnight(end_day, self.tz)
        for currency in self.capped_currencies:
            rows = (
                ledger_for(currency)
                .objects.filter(member_id__any=member_pks, source__in=CAPPED_SOURCES, effective_at__gte=start, effective_at__lt=end)
                .annotate(day=TruncDate("effective_at", tzinfo=self.tz))
                .values_list("member_id", "day")
                .annotate(s=Sum("amount"))
            )
            for member_pk, day, total in rows:
                self._use(currency, member_pk, day, total)

    def _use(self, currency, member_pk, day: date, amount: int):
        for key in ((currency, member_pk, "day", day), (currency, member_pk, "month", day.replace(day=1))):
            self.used[key] = self.used.get(key, 0) + amount

    def room(self, *, member: Member, currency: str, at: datetime) -> int | None:
        day = at.astimezone(self.tz).date()
        room = None
        for period, start in (("day", day), ("month", day.replace(day=1))):
            cap = self.program.cap_for(currency, period)
            if cap is None:
                continue
            left = max(0, cap - self.used.get((currency, member.pk, period, start), 0))
            room = left if room is None else min(room, left)
        return room

    def new_credit(self, *, order: Order, rule: EarningRule) -> OrderCredit:
        return new_row(OrderCredit, order_id=order.pk, rule_id=rule.pk, related={"order": order, "rule": rule})

    # ------------------------------------------------------------ postings

    def post(self, *, member, currency, amount, capped, effective_at, source, source_ref, rule, key, kind=None, actor=None, reason=""):
        if source in CAPPED_SOURCES:
            self._use(currency, member.pk, effective_at.astimezone(self.tz).date(), amount)
        if rule is not None:
            self.rules_named.add(rule.pk)
        fields = dict(
            member_id=member.pk,
            kind=kind or (GrowthEntry.Kind.CREDIT if amount >= 0 else GrowthEntry.Kind.REVERSAL),
            amount=amount,
            capped=capped,
            effective_at=effective_at,
            booked_at=self.now,
            source=source,
            source_ref=source_ref,
            rule_id=rule.pk if rule else None,
            idempotency_key=key,
            created_by_id=actor.pk if actor else None,
            reason=reason,
        )
        if currency == Currency.GROWTH:
            self.growth_entries.append(new_row(GrowthEntry, **fields))
        else:
            self.points.post(member_pk=member.pk, fields=fields)

    # ------------------------------------------------------------ writing

    def flush(self):
        references_hold(EarningRule, self.rules_named)
        self.guard.flush()
        rows_insert(GrowthEntry, self.growth_entries)
        self.points.flush()
        self.limits.flush()  # last: an unlocked limit takes its lock for the fewest statements


def orders_independent(*, since: datetime, until: datetime) -> bool:
    """Whether what a booking of an order paid between ``since`` and ``until`` credits depends on
    that member's own orders only, whichever the order the members come in: no rule valid then
    is bounded by a count members share (a campaign's budget, spent first come, first served).
    The caps, lots, balances and limits per member are each a member's own."""
    limited = EarningRule.objects.filter(limited=True).filter(
        Q(valid_from__isnull=True) | Q(valid_from__lte=until), Q(valid_until__isnull=True) | Q(valid_until__gt=since)
    )
    return not hooks.limits_shared(rules=list(limited))


def orders_book_batch(*, facts: list[OrderFacts], program: Program, book_points: bool = True, actor=None) -> BatchResult:
    """Book ``facts`` (in booking order, each order once) as ``order_book`` would one by one.

    Rows that ``order_book`` would refuse (unknown member, an order of another member, a changed
    ``paid_at``, invalid amounts) come back as ``Rejection``s; the rest are written in one transaction.
    """
    with transaction.atomic():
        return hooks.with_limits_retry(lambda locked: _book(facts, program, book_points, actor, locked))


def _rejection(exc: ValidationError) -> Rejection:
    name, messages = next(iter(exc.message_dict.items()))
    return Rejection(name, messages[0])


def _book(facts, program, book_points, actor, locked=False) -> BatchResult:
    result = BatchResult([None] * len(facts))
    seen = set()
    for index, fact in enumerate(facts):
        try:
            order_validate(fact)
        except ValidationError as exc:
            result.outcomes[index] = _rejection(exc)
            continue
        if fact.order_id in seen:
            raise ValueError(f"order {fact.order_id} appears twice in one batch")
        seen.add(fact.order_id)

    member_ids = sorted({f.member_id for i, f in enumerate(facts) if result.outcomes[i] is None})
    members = {m.member_id: m for m in Member.objects.select_for_update().filter(member_id__any=member_ids).order_by("pk")}
    order_ids = [f.order_id for i, f in enumerate(facts) if result.outcomes[i] is None]
    orders = {o.order_id: o for o in Order.objects.select_for_update().filter(order_id__any=order_ids).order_by("pk")}

    plans = []  # (index, member, order, outcome)
    for index, fact in enumerate(facts):
        if result.outcomes[index] is not None:
            continue
        member = members.get(fact.member_id)
        if member is None:
            result.outcomes[index] = Rejection("member_id", unknown_member(fact.member_id))
            continue
        order = orders.get(fact.order_id)
        if order is None:
            order = new_row(
                Order, order_id=fact.order_id, member_id=member.pk, created_by_id=actor.pk if actor else None, related={"member": member},
                **{f: getattr(fact, f) for f in ORDER_FIELDS},
            )
            plans.append((index, member, order, "created"))
            continue
        try:
            changed = order_revise(order=order, facts=fact, member=member)
        except ValidationError as exc:
            result.outcomes[index] = _rejection(exc)
            continue
        if not changed:
            result.outcomes[index] = BookingResult("unchanged")
            continue
        plans.append((index, member, order, "changed"))
    if not plans:
        return result

    known = [order for _, _, order, outcome in plans if outcome == "changed"]
    credits: dict[int, dict[int, OrderCredit]] = {}
    for credit in OrderCredit.objects.select_for_update().filter(order_id__any=[order.pk for order in known]):
        credits.setdefault(credit.order_id, {})[credit.rule_id] = credit
    credit_rule_ids = {rule_id for by_rule in credits.values() for rule_id in by_rule}
    rules = list(EarningRule.objects.filter(Q(program=program) | Q(pk__in=credit_rule_ids)))

    checked = []
    for index, member, order, outcome in plans:
        applicable = rules_applicable(rules=rules, program=program, fact="order", at=order.paid_at, include_ids=credits.get(order.pk, {}) if order.pk else {})
        try:
            order_earnings_check(rules=applicable, order=order)
        except ValidationError as exc:
            result.outcomes[index] = _rejection(exc)
            continue
        checked.append((index, member, order, outcome, applicable))
    if not checked:
        return result
    known = [order for _, _, order, outcome, _ in checked if outcome == "changed"]

    batch_members = sorted({m.pk: m for _, m, _, _, _ in checked}.values(), key=lambda m: m.pk)
    batch_orders = [order for _, _, order, _, _ in checked]
    guard = hooks.earning_guard_session(
        member_pks=[m.pk for m in batch_members], since=min(o.paid_at for o in batch_orders), until=max(o.paid_at for o in batch_orders),
        known=[(Source.ORDER, order.order_id) for order in known],
    )
    book = BatchBook(program=program, members=batch_members, orders=batch_orders, guard=guard, rules={r.pk: r for _, _, _, _, applicable in checked for r in applicable}.values(), locked=locked)
    new_orders, touched_credits = [], []
    for index, member, order, outcome, applicable in checked:
        order_credits = credits.get(order.pk, {}) if order.pk else {}
        booked, touched = order_rules_apply(
            rules=applicable, member=member, order=order, credits=order_credits, outcome=outcome, book_points=book_points, book=book,
        )
        result.outcomes[index] = booked
        if order.pk is None:
            new_orders.append(order)
            book.activity(member, order.paid_at)
        touched_credits.extend(touched)

    now = timezone.now()
    for order in new_orders:
        order.created_at = order.updated_at = now
    rows_insert(Order, new_orders)
    members_active_record((order._state.fields_cache["member"], order.paid_at) for order in new_orders)
    rows_update(Order, known, [*ORDER_FIELDS, *MEMBER_SNAPSHOT_FIELDS, "revision", "updated_at"])
    new_credits = [c for c in touched_credits if c.pk is None]
    old_credits = [c for c in touched_credits if c.pk is not None]
    for credit in new_credits:
        credit.order_id = credit.order.pk
    book.rules_named.update(credit.rule_id for credit in new_credits)
    rows_insert(OrderCredit, new_credits)
    rows_update(OrderCredit, old_credits, ["entitlement", "credited", "order_capped"])
    book.flush()
    hooks.orders_booked(orders=batch_orders, program=program)
    return result


# ---------------------------------------------------------------- opening balances


@dataclass(frozen=True)
class OpeningBalance:
    """What a legacy system says a member held when the program moved here."""

    member_id: str
    points: int = 0
    earned_at: datetime | None = None  # when the points were earned: their lot expires by the program's policy
    growth: int = 0
    growth_at: datetime | None = None  # the date the growth counts on, for the growth window


def opening_key(currency: str, member_id: str) -> str:
    return f"opening:{currency}:{member_id}"


def opening_balances_book_batch(*, balances: list[OpeningBalance], program: Program, actor=None) -> BatchResult:
    """Book each member's opening points (a lot earned at ``earned_at``) and growth (dated
    ``growth_at``), once per member: booking the same balance again is unchanged; a different one
    is refused (corrections are manual adjustments)."""
    with transaction.atomic():
        result = BatchResult([None] * len(balances))
        members = {
            m.member_id: m
            for m in Member.objects.select_for_update().filter(member_id__any={b.member_id for b in balances}).order_by("pk")
        }
        keys = [opening_key(c, b.member_id) for b in balances for c in Currency.values]
        booked = {
            key: (amount, at)
            for currency in Currency.values
            for key, amount, at in ledger_for(currency).objects.filter(idempotency_key__any=keys).values_list("idempotency_key", "amount", "effective_at")
        }
        todo = []
        for index, balance in enumerate(balances):
            member = members.get(balance.member_id)
            if member is None:
                result.outcomes[index] = Rejection("member_id", unknown_member(balance.member_id))
                continue
            given = {Currency.POINTS: (balance.points, balance.earned_at), Currency.GROWTH: (balance.growth, balance.growth_at)}
            before = {c: booked.get(opening_key(c, balance.member_id)) for c in Currency.values}
            if any(before.values()):
                differs = [c for c in Currency.values if (before[c] or (0, None))[0] != given[c][0] or (before[c] and before[c][1] != given[c][1])]
                if differs:
                    c = differs[0]
                    amount, at = before[c] or (0, None)
                    values = {"member": balance.member_id, "currency": str(Currency(c).label).lower(), "amount": amount}
                    if at:
                        values["date"] = at.astimezone(ZoneInfo(program.time_zone)).date().isoformat()
                        sentence = gettext("member %(member)s already has an opening %(currency)s balance of %(amount)s on %(date)s; correct it with a manual adjustment")
                    else:
                        sentence = gettext("member %(member)s already has an opening %(currency)s balance of %(amount)s; correct it with a manual adjustment")
                    result.outcomes[index] = Rejection(c, sentence % values)
                else:
                    result.outcomes[index] = BookingResult("unchanged")
                continue
            todo.append((index, member, balance))
        if not todo:
            return result
        book = BatchBook(program=program, members=sorted({m.pk: m for _, m, _ in todo}.values(), key=lambda m: m.pk), orders=[])
        for index, member, balance in todo:
            booking = BookingResult("created")
            for currency, amount, at in ((Currency.GROWTH, balance.growth, balance.growth_at), (Currency.POINTS, balance.points, balance.earned_at)):
                if amount:
                    book.post(
                        member=member, currency=currency, amount=amount, capped=0, effective_at=at, source=Source.OPENING,
                        source_ref=balance.member_id, rule=None, key=opening_key(currency, balance.member_id),
                        kind=GrowthEntry.Kind.OPENING, actor=actor, reason="opening balance from the previous system",
                    )
                    setattr(booking, currency, amount)
            result.outcomes[index] = booking
        book.flush()
        return result
