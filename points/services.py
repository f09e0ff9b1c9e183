"""Posting to the points ledger. Every function here runs inside the caller's transaction (and in
one of its own when called alone: credits and debits without a savepoint, ``in_transaction``) and
locks the member's account row before changing anything, so the balance is never computed from a
stale read."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from common.bulk import new_row, rows_insert, rows_update
from common.transactions import in_transaction
from membership.models import Member, Program, Source

from .lots import OWN_ORDER, debt_paid, lots_draw, points_expires_at
from .models import PointsAccount, PointsAllocation, PointsEntry, PointsLot
from .selectors import points_available_get, points_lots_open


class InsufficientPoints(ValidationError):
    pass


def _account_for_update(member: Member, *, member_locked: bool = False, add: int = 0) -> PointsAccount:
    """The member's points account, locked, made if the member has none, with ``add`` points added
    to its balance (the balance returned includes them), in one statement. The member's row is
    locked first (unless the caller holds it: ``member_locked``), as every booking and the
    settlement lock a member before the member's accounts and lots, so that a spend and an import
    (or a settlement) of the same member wait for each other instead of deadlocking."""
    if not member_locked:
        Member.objects.select_for_update(no_key=True).filter(pk=member.pk).values_list("pk", flat=True).first()
    table = connection.ops.quote_name(PointsAccount._meta.db_table)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (member_id, balance, updated_at) VALUES (%s, %s, %s) ON CONFLICT (member_id) DO UPDATE"
            f" SET balance = {table}.balance + excluded.balance, updated_at = excluded.updated_at RETURNING id, balance",
            [member.pk, add, connection.ops.adapt_datetimefield_value(now)],
        )
        pk, balance = cursor.fetchone()
    account = PointsAccount(pk=pk, member=member, balance=balance, updated_at=now)
    account._state.adding, account._state.db = False, connection.alias
    return account


def _existing(key: str) -> PointsEntry | None:
    return PointsEntry.objects.filter(idempotency_key=key).first()


@in_transaction
def points_credit(
    *,
    program: Program,
    member: Member,
    amount: int,
    effective_at: datetime,
    source: str,
    idempotency_key: str,
    kind: str = PointsEntry.Kind.CREDIT,
    capped: int = 0,
    source_ref: str = "",
    rule=None,
    actor=None,
    reason: str = "",
    frozen: bool = False,
    member_locked: bool = False,
    key_is_new: bool = False,
) -> PointsEntry:
    """Book ``amount`` (≥ 0) points earned at ``effective_at`` as a new lot (``frozen``: a lot that
    cannot be spent until ``points_lot_release``; ``points_lot_clear`` takes it back instead).

    If the balance is below 0, the new points pay that debt first. Booking the same
    ``idempotency_key`` twice returns the first entry and changes nothing. A caller that holds
    the member's row locked says so (``member_locked``); one whose source was made in its own
    transaction (a new order's entries) knows the key is unused (``key_is_new``) and skips the
    look-up: the key's unique index still refuses a second entry.
    """
    if amount < 0:
        raise ValueError("points_credit takes a positive amount; use points_debit to take points away")
    if not key_is_new and (existing := _existing(idempotency_key)):
        return existing
    with transaction.atomic(savepoint=False):
        account = _account_for_update(member, member_locked=member_locked, add=amount)
        covered = debt_paid(balance=account.balance - amount, amount=amount)
        entry = PointsEntry.objects.create(
            member=member,
            kind=kind,
            amount=amount,
            capped=capped,
            effective_at=effective_at,
            source=source,
            source_ref=source_ref,
            rule=rule,
            idempotency_key=idempotency_key,
            created_by=actor,
            reason=reason,
        )
        if amount > 0:
            lot = PointsLot.objects.create(
                member=member,
                entry=entry,
                earned_at=effective_at,
                expires_at=points_expires_at(program=program, earned_at=effective_at),
                amount=amount,
                remaining=amount - covered,
                frozen=frozen,
            )
            if covered:
                PointsAllocation.objects.create(entry=entry, lot=lot, amount=-covered)
        return entry


@in_transaction
def points_debit(
    *,
    member: Member,
    amount: int,
    kind: str,
    effective_at: datetime,
    source: str,
    idempotency_key: str,
    source_ref: str = "",
    rule=None,
    actor=None,
    reason: str = "",
    prefer_lots=(),
    allow_negative: bool = False,
    corrects: PointsEntry | None = None,
    account: PointsAccount | None = None,
    member_locked: bool = False,
    key_is_new: bool = False,
) -> PointsEntry:
    """Take ``amount`` (> 0) points away, from ``prefer_lots`` first, then the lots that end first.

    A spend (``allow_negative`` false) uses only points that have not expired and refuses to
    take more than are available (``InsufficientPoints``, with the points ``available``). A
    reversal (``allow_negative`` true) takes what the lots hold and leaves the rest as a balance
    below 0, which later credits pay back first. ``account``: the member's account as the caller
    locked it (``points_account_lock``); ``member_locked`` and ``key_is_new`` as for ``points_credit``.
    """
    if amount <= 0:
        raise ValueError("points_debit takes a positive amount")
    if not key_is_new and (existing := _existing(idempotency_key)):
        return existing
    account = account or _account_for_update(member, member_locked=member_locked)
    now = effective_at  # a spend may use the points that have not expired when it happens
    if not allow_negative:
        available = points_available_get(member=member, at=now, balance=account.balance)
        if amount > available:
            error = InsufficientPoints(_("member %(member)s has %(available)s points available, not %(amount)s.") % {
                "member": member.member_id, "available": available, "amount": amount,
            })
            error.available = available
            raise error
    with transaction.atomic(savepoint=False):
        entry = PointsEntry.objects.create(
            member=member,
            kind=kind,
            amount=-amount,
            effective_at=effective_at,
            source=source,
            source_ref=source_ref,
            rule=rule,
            idempotency_key=idempotency_key,
            created_by=actor,
            reason=reason,
            corrects=corrects,
        )
        preferred = [lot.pk for lot in prefer_lots]
        lots = list(PointsLot.objects.select_for_update().filter(pk__in=preferred, remaining__gt=0).order_by(*OWN_ORDER))
        lots += list(
            points_lots_open(member=member, at=None if allow_negative else now).exclude(pk__in=preferred).select_for_update()
        )
        allocations = []
        for lot, take in lots_draw(lots, amount):
            allocations.append(PointsAllocation(entry=entry, lot=lot, amount=-take))
            PointsLot.objects.filter(pk=lot.pk).update(remaining=lot.remaining)
        PointsAllocation.objects.bulk_create(allocations)
        account.balance -= amount
        account.save(update_fields=["balance", "updated_at"])
        return entry


@transaction.atomic
def points_lot_release(*, lot: PointsLot, actor=None) -> PointsLot:
    """Unfreeze a frozen lot: its points become spendable (and expire by the lot's end). Releasing a
    lot that is not frozen changes nothing; a cleared lot cannot be released."""
    _account_for_update(lot.member)
    lot = PointsLot.objects.select_for_update().get(pk=lot.pk)
    if lot.cleared_at is not None:
        raise ValidationError(_("lot #%(pk)s was cleared on %(date)s: it cannot be released.") % {"pk": lot.pk, "date": f"{lot.cleared_at:%Y-%m-%d}"})
    if not lot.frozen:
        return lot
    lot.frozen, lot.released_at = False, timezone.now()
    lot.save(update_fields=["frozen", "released_at"])
    return lot


@transaction.atomic
def points_lot_clear(*, lot: PointsLot, effective_at: datetime, reason: str, actor=None) -> PointsEntry | None:
    """Take back what a frozen lot holds with a ``cleared`` entry (frozen cashback that was never
    released); returns the entry, or None when the lot held nothing. Clearing twice books once; a
    released lot cannot be cleared."""
    key = f"cleared:lot:{lot.pk}"
    if existing := _existing(key):
        return existing
    account = _account_for_update(lot.member)
    lot = PointsLot.objects.select_for_update(of=("self",)).select_related("entry").get(pk=lot.pk)
    if not lot.frozen:
        if lot.cleared_at is not None:
            return None
        raise ValidationError(_("lot #%(pk)s is not frozen: only frozen points are cleared.") % {"pk": lot.pk})
    now = timezone.now()
    entry = None
    if lot.remaining:
        entry = PointsEntry.objects.create(
            member_id=lot.member_id,
            kind=PointsEntry.Kind.CLEARED,
            amount=-lot.remaining,
            effective_at=effective_at,
            source=lot.entry.source,
            source_ref=lot.entry.source_ref,
            idempotency_key=key,
            created_by=actor,
            reason=reason,
            corrects=lot.entry,
        )
        PointsAllocation.objects.create(entry=entry, lot=lot, amount=-lot.remaining)
        account.balance -= lot.remaining
        account.save(update_fields=["balance", "updated_at"])
    lot.remaining, lot.frozen, lot.cleared_at = 0, False, now
    lot.save(update_fields=["remaining", "frozen", "cleared_at"])
    return entry


def points_lots_of(*, source: str, source_ref: str, rule=None):
    """The lots that a source (an order, an event) created."""
    filters = Q(entry__source=source, entry__source_ref=source_ref)
    if rule is not None:
        filters &= Q(entry__rule=rule)
    return PointsLot.objects.filter(filters)


@transaction.atomic
def points_expire_due(
    *, until: datetime, members: tuple[int, int | None] | None = None, batch_size: int = 5000, expired: dict[int, int] | None = None
) -> tuple[int, int]:
    """Expire every lot that ends at or before ``until``, oldest first; returns (lots, points).
    With ``members`` (first pk, last pk or None), only the lots of members in that range; with
    ``expired``, the points expired are added up in it by member pk.

    Each lot's expiry is one entry keyed by the lot, so running this twice expires nothing twice.
    """
    lots_done = points_done = 0
    due = PointsLot.objects.filter(remaining__gt=0, expires_at__lte=until, frozen=False)
    if members is not None:
        due = due.filter(member_id__gte=members[0])
        if members[1] is not None:
            due = due.filter(member_id__lte=members[1])
    while True:
        batch = list(due.order_by("member_id", "expires_at", "pk").select_for_update()[:batch_size])
        if not batch:
            return lots_done, points_done
        member_ids = sorted({lot.member_id for lot in batch})
        accounts = {a.member_id: a for a in PointsAccount.objects.select_for_update().filter(member_id__in=member_ids).order_by("member_id")}
        now = timezone.now()
        entries = [
            new_row(
                PointsEntry,
                member_id=lot.member_id,
                kind=PointsEntry.Kind.EXPIRY,
                amount=-lot.remaining,
                effective_at=lot.expires_at,
                booked_at=now,
                source=Source.SETTLEMENT,
                source_ref=f"lot:{lot.pk}",
                idempotency_key=f"expiry:lot:{lot.pk}",
                reason="points reached the end of their validity",
            )
            for lot in batch
        ]
        rows_insert(PointsEntry, entries)
        rows_insert(PointsAllocation, [new_row(PointsAllocation, entry_id=e.pk, lot_id=lot.pk, amount=e.amount) for e, lot in zip(entries, batch)])
        for lot in batch:
            accounts[lot.member_id].balance -= lot.remaining
            points_done += lot.remaining
            if expired is not None:
                expired[lot.member_id] = expired.get(lot.member_id, 0) + lot.remaining
            lot.remaining = 0
        rows_update(PointsLot, batch, ["remaining"])
        rows_update(PointsAccount, list(accounts.values()), ["balance", "updated_at"])
        lots_done += len(batch)


def points_account_lock(*, member: Member, member_locked: bool = False) -> PointsAccount:
    """Lock the member's points account (creating it if needed) for the rest of the transaction.

    Services that check something beside the balance (stock, limits) lock the account first (and
    with it the member, see ``_account_for_update``, unless the caller holds the member's row:
    ``member_locked``), then their own rows, always in that order, so two of them never wait on
    each other in a cycle."""
    return _account_for_update(member, member_locked=member_locked)


@transaction.atomic
def points_refund(
    *,
    entry: PointsEntry,
    effective_at: datetime,
    source: str,
    idempotency_key: str,
    source_ref: str = "",
    actor=None,
    reason: str = "",
) -> PointsEntry:
    """Give back the points that the debit ``entry`` took, to the lots they came from.

    The refund is a new entry (kind refund, correcting ``entry``) with new allocations; nothing
    already booked changes. Points returned to a lot that has ended by ``effective_at`` expire at
    once (an expiry entry of their own), as they would have had they not been spent. If the
    balance is below 0, the refund pays that debt first, as a credit does. Booking the same
    ``idempotency_key`` twice returns the first refund and changes nothing.
    """
    if entry.amount >= 0:
        raise ValueError("points_refund gives back a debit; this entry is not one")
    if existing := _existing(idempotency_key):
        return existing
    account = _account_for_update(entry.member)
    amount = -entry.amount
    refund = PointsEntry.objects.create(
        member_id=entry.member_id,
        kind=PointsEntry.Kind.REFUND,
        amount=amount,
        effective_at=effective_at,
        source=source,
        source_ref=source_ref,
        idempotency_key=idempotency_key,
        created_by=actor,
        reason=reason,
        corrects=entry,
    )
    taken = list(entry.allocations.filter(amount__lt=0).order_by("pk").values_list("lot_id", "amount"))
    if sum(-took for _, took in taken) != amount:
        raise ValueError("points_refund gives back a spend whose points all came from lots; this entry took points it did not hold")
    lots = {lot.pk: lot for lot in PointsLot.objects.select_for_update().filter(pk__in=[lot_id for lot_id, _ in taken]).order_by("pk")}
    debt = max(0, -account.balance)
    lapsed: list[tuple[PointsLot, int]] = []
    allocations = []
    for lot_id, took in taken:
        lot = lots[lot_id]
        back = -took
        if lot.expires_at is not None and lot.expires_at <= effective_at:
            lapsed.append((lot, back))
            allocations.append(PointsAllocation(entry=refund, lot=lot, amount=back))
            continue
        pays = min(debt, back)
        debt -= pays
        if back - pays:
            allocations.append(PointsAllocation(entry=refund, lot=lot, amount=back - pays))
            PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") + back - pays)
    PointsAllocation.objects.bulk_create(allocations)
    account.balance += amount
    for lot, back in lapsed:
        # The returned points pass through the ended lot and leave it at once.
        expiry = PointsEntry.objects.create(
            member_id=entry.member_id,
            kind=PointsEntry.Kind.EXPIRY,
            amount=-back,
            effective_at=effective_at,
            source=Source.SETTLEMENT,
            source_ref=f"lot:{lot.pk}",
            idempotency_key=f"{idempotency_key}:expiry:lot:{lot.pk}",
            reason="refunded points of a lot that has ended",
            corrects=refund,
        )
        PointsAllocation.objects.create(entry=expiry, lot=lot, amount=-back)
        account.balance -= back
    account.save(update_fields=["balance", "updated_at"])
    return refund
