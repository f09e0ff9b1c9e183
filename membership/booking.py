"""Booking many orders at once: the set-based path behind imports.

``orders_book_batch`` books a batch of orders exactly as calling ``services.order_book`` on each
of them in turn would (the same rules through ``services.order_rules_apply``, the same caps, the
same lots and allocations), but with a fixed number of queries per batch instead of about twenty
per order: what exists for the batch (members, orders, credits, cap usage, accounts, open lots)
is read in one query each, the bookings are computed in memory, and the rows are written in bulk
(COPY on PostgreSQL). A batch is one transaction: it is written whole or not at all.

The caller gives the batch in booking order (``paid_at``, then ``order_id``); an order may appear
once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from common.bulk import new_row, rows_insert, rows_update
from common.timeutil import add_months, local_midnight

from .models import CAPPED_SOURCES, Currency, EarningRule, GrowthEntry, Member, Order, OrderCredit, Program, Source
from .rules import OrderFacts
from .services import (
    ORDER_FIELDS,
    BookingResult,
    _order_cashback,
    order_rules_apply,
    order_validate,
    rules_applicable,
)


@dataclass
class Rejection:
    field: str
    message: str


@dataclass
class BatchResult:
    """Per order of the batch, in the order given: a ``BookingResult`` or a ``Rejection``."""

    outcomes: list[BookingResult | Rejection] = field(default_factory=list)


class BatchBook:
    """The ``DatabaseBook`` of a batch: cap room and postings kept in memory, written by ``flush``."""

    def __init__(self, *, program: Program, members: list[Member], orders: list[Order]):
        from points.models import PointsAccount, PointsLot

        self.program = program
        self.tz = ZoneInfo(program.time_zone)
        self.now = timezone.now()
        self.growth_entries: list[GrowthEntry] = []
        self.points_entries = []
        self.new_lots = []
        self.allocations = []  # (entry, lot, amount)
        self.touched_lots = {}
        self.used: dict[tuple, int] = {}  # (currency, member pk, "day"|"month", local date) -> net capped-source amount
        self.capped_currencies = [c for c in Currency.values if program.cap_for(c, "day") is not None or program.cap_for(c, "month") is not None]
        member_pks = [m.pk for m in members]
        if orders:
            self._load_usage(member_pks, min(o.paid_at for o in orders), max(o.paid_at for o in orders))
        self.accounts = {a.member_id: a for a in PointsAccount.objects.select_for_update().filter(member_id__any=member_pks).order_by("member_id")}
        self.new_accounts = {}
        self.changed_accounts = set()
        # Only orders booked before this batch can be taken back in it, so only their members'
        # lots can be drawn on; new lots of the batch are added as they are made.
        debtors = sorted({o.member_id for o in orders if o.pk is not None})
        self.lots: dict[int, list] = {pk: [] for pk in member_pks}
        for lot in PointsLot.objects.select_for_update(of=("self",)).filter(member_id__any=debtors, remaining__gt=0).select_related("entry"):
            self.lots[lot.member_id].append(lot)
        self._sequence = 0
        self._load_blocks(member_pks, orders)

    # ------------------------------------------------------------ blacklist

    def _load_blocks(self, member_pks, orders):
        """Who is blacklisted when over the batch's span, and the open blocked credits of the
        batch's known orders: one query each, whatever the size of the batch."""
        from riskcontrol.models import BlockedCredit
        from riskcontrol.selectors import members_block_periods

        self.block_periods = {}
        self.pending: dict[tuple[str, int], BlockedCredit] = {}
        self.new_blocked, self.changed_blocked = [], {}
        if not orders:
            return
        self.block_periods = members_block_periods(
            member_ids=member_pks, scope="earning", since=min(o.paid_at for o in orders), until=max(o.paid_at for o in orders)
        )
        known = [o.order_id for o in orders if o.pk is not None]
        if known:
            open_credits = BlockedCredit.objects.select_for_update().filter(
                source=Source.ORDER, source_ref__any=known, released_at__isnull=True
            ).order_by("pk")
            for blocked in open_credits:
                self.pending[(blocked.source_ref, blocked.rule_id)] = blocked

    def block_at(self, *, member: Member, at: datetime) -> int | None:
        from riskcontrol.selectors import block_in_force

        periods = self.block_periods.get(member.pk)
        return block_in_force(periods, at) if periods else None

    def blocked_pending(self, *, order: Order, rule: EarningRule):
        return self.pending.get((order.order_id, rule.pk))

    def blocked_new(self, **fields):
        from riskcontrol.models import BlockedCredit

        blocked = BlockedCredit(**fields)
        blocked.created_at = self.now
        self.pending[(blocked.source_ref, blocked.rule_id)] = blocked
        self.new_blocked.append(blocked)
        return blocked

    def blocked_save(self, blocked) -> None:
        if blocked.pk is not None:
            self.changed_blocked[blocked.pk] = blocked

    # ------------------------------------------------------------ caps

    def _load_usage(self, member_pks, first: datetime, last: datetime):
        from points.models import PointsEntry

        start_day = first.astimezone(self.tz).date().replace(day=1)
        end_day = add_months(last.astimezone(self.tz).date().replace(day=1), 1)
        start, end = local_midnight(start_day, self.tz), local_midnight(end_day, self.tz)
        for currency in self.capped_currencies:
            ledger = GrowthEntry if currency == Currency.GROWTH else PointsEntry
            rows = (
                ledger.objects.filter(
                    member_id__any=member_pks, source__in=CAPPED_SOURCES, effective_at__gte=start, effective_at__lt=end
                )
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
        elif amount >= 0:
            self._points_credit(member, fields)
        else:
            self._points_reversal(member, fields, source, source_ref, rule)

    def _account(self, member_pk):
        from points.models import PointsAccount

        account = self.accounts.get(member_pk)
        if account is None:
            account = self.accounts[member_pk] = self.new_accounts[member_pk] = new_row(PointsAccount, member_id=member_pk, balance=0)
        self.changed_accounts.add(member_pk)
        return account

    def _points_credit(self, member, fields):
        """As ``points.services.points_credit``: a new lot, paying any debt first."""
        from points.models import PointsEntry, PointsLot
        from points.services import points_expires_at

        entry = new_row(PointsEntry, **fields)
        self.points_entries.append(entry)
        account = self._account(member.pk)
        amount = fields["amount"]
        if amount > 0:
            earned_at = fields["effective_at"]
            lot = new_row(
                PointsLot,
                member_id=member.pk,
                earned_at=earned_at,
                expires_at=points_expires_at(program=self.program, earned_at=earned_at),
                amount=amount,
                remaining=amount,
                related={"entry": entry},
            )
            self._sequence += 1
            lot.batch_sequence = self._sequence
            self.new_lots.append(lot)
            self.lots.setdefault(member.pk, []).append(lot)
            debt = max(0, -account.balance)
            if debt:
                covered = min(debt, amount)
                self.allocations.append((entry, lot, -covered))
                lot.remaining -= covered
            account.balance += amount

    def _points_reversal(self, member, fields, source, source_ref, rule):
        """As ``points.services.points_debit`` with ``allow_negative``: the order's own lots
        (newest first), then the lots that end first; what they lack leaves the balance below 0."""
        from points.models import PointsEntry

        entry = new_row(PointsEntry, **fields)
        self.points_entries.append(entry)
        lots = [lot for lot in self.lots.get(member.pk, []) if lot.remaining > 0]

        def own(lot):
            return lot.entry.source == source and lot.entry.source_ref == source_ref and lot.entry.rule_id == getattr(rule, "pk", None)

        def order_key(lot):
            # New lots get their primary keys after every existing one, in the order they were made.
            return lot.pk if lot.pk is not None else 10**18 + lot.batch_sequence

        preferred = sorted((lot for lot in lots if own(lot)), key=lambda lot: (lot.earned_at, order_key(lot)), reverse=True)
        others = sorted(
            (lot for lot in lots if not own(lot)),
            key=lambda lot: (lot.expires_at is None, lot.expires_at or lot.earned_at, lot.earned_at, order_key(lot)),
        )
        left = -fields["amount"]
        for lot in preferred + others:
            if left == 0:
                break
            take = min(lot.remaining, left)
            lot.remaining -= take
            left -= take
            self.allocations.append((entry, lot, -take))
            if lot.pk is not None:
                self.touched_lots[lot.pk] = lot
        self._account(member.pk).balance += fields["amount"]

    # ------------------------------------------------------------ writing

    def flush(self):
        from points.models import PointsAccount, PointsAllocation, PointsEntry, PointsLot
        from riskcontrol.models import BlockedCredit

        BlockedCredit.objects.bulk_create(self.new_blocked)
        BlockedCredit.objects.bulk_update(list(self.changed_blocked.values()), ["amount"])

        rows_insert(GrowthEntry, self.growth_entries)
        rows_insert(PointsEntry, self.points_entries)
        for lot in self.new_lots:
            lot.entry_id = lot.entry.pk
        rows_insert(PointsLot, self.new_lots)
        rows_insert(
            PointsAllocation,
            [new_row(PointsAllocation, entry_id=entry.pk, lot_id=lot.pk, amount=amount) for entry, lot, amount in self.allocations],
        )
        if self.touched_lots:
            rows_update(PointsLot, list(self.touched_lots.values()), ["remaining"])
        rows_insert(PointsAccount, list(self.new_accounts.values()))
        changed = [self.accounts[pk] for pk in sorted(self.changed_accounts) if pk not in self.new_accounts]
        rows_update(PointsAccount, changed, ["balance", "updated_at"])


def orders_book_batch(*, facts: list[OrderFacts], program: Program, book_points: bool = True) -> BatchResult:
    """Book ``facts`` (in booking order, each order once) as ``order_book`` would one by one.

    Rows that ``order_book`` would refuse (unknown member, an order of another member, a changed
    ``paid_at``, invalid amounts) come back as ``Rejection``s; the rest are written in one transaction.
    """
    with transaction.atomic():
        return _book(facts, program, book_points)


def _book(facts, program, book_points) -> BatchResult:
    result = BatchResult([None] * len(facts))
    seen = set()
    for index, fact in enumerate(facts):
        try:
            order_validate(fact)
        except ValidationError as exc:
            name, messages = next(iter(exc.message_dict.items()))
            result.outcomes[index] = Rejection(name, messages[0])
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
            result.outcomes[index] = Rejection("member_id", f"unknown member {fact.member_id!r}")
            continue
        order = orders.get(fact.order_id)
        if order is None:
            order = new_row(
                Order, order_id=fact.order_id, member_id=member.pk, related={"member": member}, **{f: getattr(fact, f) for f in ORDER_FIELDS}
            )
            plans.append((index, member, order, "created", []))
            continue
        if order.member_id != member.pk:
            owner = Member.objects.filter(pk=order.member_id).values_list("member_id", flat=True).first()
            result.outcomes[index] = Rejection("member_id", f"order {fact.order_id} belongs to member {owner}, not {fact.member_id}")
            continue
        if order.paid_at != fact.paid_at:
            result.outcomes[index] = Rejection(
                "paid_at", f"order {fact.order_id} was booked as paid at {order.paid_at.isoformat()}; paid_at cannot change"
            )
            continue
        changed = [f for f in ORDER_FIELDS if getattr(order, f) != getattr(fact, f)]
        if not changed:
            result.outcomes[index] = BookingResult("unchanged")
            continue
        for f in changed:
            setattr(order, f, getattr(fact, f))
        order.revision += 1
        plans.append((index, member, order, "changed", changed))
    if not plans:
        return result

    known = [order for _, _, order, outcome, _ in plans if outcome == "changed"]
    credits: dict[int, dict[int, OrderCredit]] = {}
    for credit in OrderCredit.objects.select_for_update().filter(order_id__any=[order.pk for order in known]):
        credits.setdefault(credit.order_id, {})[credit.rule_id] = credit
    credit_rule_ids = {rule_id for by_rule in credits.values() for rule_id in by_rule}
    rules = list(EarningRule.objects.filter(Q(program=program) | Q(pk__in=credit_rule_ids)))

    book = BatchBook(
        program=program, members=sorted({m.pk: m for _, m, _, _, _ in plans}.values(), key=lambda m: m.pk), orders=[p[2] for p in plans]
    )
    new_orders, touched_credits = [], []
    for index, member, order, outcome, _ in plans:
        order_credits = credits.get(order.pk, {}) if order.pk else {}
        applicable = rules_applicable(rules=rules, program=program, fact="order", at=order.paid_at, include_ids=order_credits)
        booked, touched = order_rules_apply(
            rules=applicable, member=member, order=order, credits=order_credits, outcome=outcome, book_points=book_points, book=book,
            block=book.block_at(member=member, at=order.paid_at),
        )
        result.outcomes[index] = booked
        if order.pk is None:
            new_orders.append(order)
        touched_credits.extend(touched)

    now = timezone.now()
    for order in new_orders:
        order.created_at = order.updated_at = now
    rows_insert(Order, new_orders)
    # As ``order_book`` does for each new order: the member's latest activity.
    latest = {}
    for order in new_orders:
        member = order._state.fields_cache["member"]
        if member.pk not in latest or order.paid_at > latest[member.pk][1]:
            latest[member.pk] = (member, order.paid_at)
    touched = []
    for member, at in latest.values():
        if member.last_active_at is None or at > member.last_active_at:
            member.last_active_at = at
            touched.append(member)
    rows_update(Member, touched, ["last_active_at"])
    changed_orders = [order for _, _, order, outcome, _ in plans if outcome == "changed"]
    rows_update(Order, changed_orders, [*ORDER_FIELDS, "revision", "updated_at"])
    new_credits = [c for c in touched_credits if c.pk is None]
    old_credits = [c for c in touched_credits if c.pk is not None]
    for credit in new_credits:
        credit.order_id = credit.order.pk
    rows_insert(OrderCredit, new_credits)
    rows_update(OrderCredit, old_credits, ["entitlement", "credited", "order_capped"])
    book.flush()
    _order_cashback(orders=[order for _, _, order, _, _ in plans])
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
        from points.models import PointsEntry

        keys = [opening_key(c, b.member_id) for b in balances for c in Currency.values]
        booked = {
            key: (amount, at)
            for ledger in (GrowthEntry, PointsEntry)
            for key, amount, at in ledger.objects.filter(idempotency_key__any=keys).values_list("idempotency_key", "amount", "effective_at")
        }
        todo = []
        for index, balance in enumerate(balances):
            member = members.get(balance.member_id)
            if member is None:
                result.outcomes[index] = Rejection("member_id", f"unknown member {balance.member_id!r}")
                continue
            given = {Currency.POINTS: (balance.points, balance.earned_at), Currency.GROWTH: (balance.growth, balance.growth_at)}
            before = {c: booked.get(opening_key(c, balance.member_id)) for c in Currency.values}
            if any(before.values()):
                differs = [c for c in Currency.values if (before[c] or (0, None))[0] != given[c][0] or (before[c] and before[c][1] != given[c][1])]
                if differs:
                    c = differs[0]
                    amount, at = before[c] or (0, None)
                    when = f" on {at.astimezone(ZoneInfo(program.time_zone)).date().isoformat()}" if at else ""
                    result.outcomes[index] = Rejection(
                        c, f"member {balance.member_id} already has an opening {c} balance of {amount}{when}; correct it with a manual adjustment"
                    )
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


# ---------------------------------------------------------------- members


MEMBER_FIELDS = ("name", "phone", "birthday", "joined_at", "base_score")


def members_upsert_batch(*, rows: list[dict]) -> BatchResult:
    """``services.member_upsert`` for many members at once: create the new ones, update the given
    fields (None leaves a field as it is) of the known ones; one member per batch once."""
    with transaction.atomic():
        result = BatchResult([None] * len(rows))
        existing = {
            m.member_id: m
            for m in Member.objects.select_for_update().filter(member_id__any=[r["member_id"] for r in rows]).order_by("pk")
        }
        new, changed = [], []
        now = timezone.now()
        for index, row in enumerate(rows):
            given = {k: row.get(k) for k in MEMBER_FIELDS if row.get(k) is not None}
            member = existing.get(row["member_id"])
            if member is None:
                member = new_row(Member, member_id=row["member_id"], **given)
                if member.joined_at is None:
                    member.joined_at = now
                outcome = "created"
            else:
                fields = [k for k, v in given.items() if getattr(member, k) != v]
                if not fields:
                    result.outcomes[index] = BookingResult("unchanged")
                    continue
                for k in fields:
                    setattr(member, k, given[k])
                outcome = "changed"
            try:
                member.clean_fields(exclude=["level"])
            except ValidationError as exc:
                name, messages = next(iter(exc.message_dict.items()))
                result.outcomes[index] = Rejection(name, messages[0])
                continue
            (new if outcome == "created" else changed).append(member)
            result.outcomes[index] = BookingResult(outcome)
        rows_insert(Member, new)
        rows_update(Member, changed, [*MEMBER_FIELDS, "updated_at"])
        return result
