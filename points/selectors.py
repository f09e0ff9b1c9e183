from datetime import datetime

from django.db.models import F, Q, Sum
from django.utils import timezone

from common.records import rows
from membership.models import Member

from .lots import SPEND_ORDER
from .models import PointsAccount, PointsAllocation, PointsEntry, PointsLot


def points_lots_open(*, member: Member, at: datetime | None = None):
    """Lots that still hold points, the first to end first. With ``at`` (a spend), only those that
    can be spent at ``at``: not expired, not frozen."""
    lots = PointsLot.objects.filter(member=member, remaining__gt=0)
    if at is not None:
        lots = lots.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at), frozen=False)
    return lots.order_by(*SPEND_ORDER)


def points_balance_get(*, member: Member) -> int:
    """The booked balance: the sum of the member's points entries."""
    account = PointsAccount.objects.filter(member=member).only("balance").first()
    return account.balance if account else 0


def points_available_get(*, member: Member, at: datetime | None = None, balance: int | None = None) -> int:
    """Points the member can spend at ``at``: the balance less frozen lots and lots past their end
    whose expiry is not booked yet. ``balance``: the balance as the caller just read it (from the
    account it holds locked)."""
    at = at or timezone.now()
    balance = points_balance_get(member=member) if balance is None else balance
    if balance <= 0:
        return balance
    unavailable = (
        PointsLot.objects.filter(Q(expires_at__lte=at) | Q(frozen=True), member=member, remaining__gt=0).aggregate(s=Sum("remaining"))["s"]
        or 0
    )
    return balance - unavailable


def points_frozen_get(*, member: Member) -> int:
    """Points the member holds in frozen lots (counted in the balance, not spendable)."""
    return PointsLot.objects.filter(member=member, frozen=True, remaining__gt=0).aggregate(s=Sum("remaining"))["s"] or 0


def points_next_expiry_get(*, member: Member, at: datetime | None = None) -> tuple[datetime | None, int]:
    """The next date at which points expire and how many points expire then."""
    at = at or timezone.now()
    nxt = (
        PointsLot.objects.filter(member=member, remaining__gt=0, expires_at__gt=at)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
    if nxt is None:
        return None, 0
    total = PointsLot.objects.filter(member=member, remaining__gt=0, expires_at=nxt).aggregate(s=Sum("remaining"))["s"]
    return nxt, total or 0


def points_expiring_get(*, member: Member, at: datetime | None = None, limit: int = 5) -> list[tuple[datetime, int]]:
    """The next ``limit`` dates at which the member's spendable points end, with how many end then."""
    at = at or timezone.now()
    rows = (
        PointsLot.objects.filter(member=member, remaining__gt=0, frozen=False, expires_at__gt=at)
        .order_by("expires_at")
        .values_list("expires_at")
        .annotate(s=Sum("remaining"))[:limit]
    )
    return list(rows)


def points_reconcile(*, members=None) -> list[str]:
    """Every way the points books disagree with themselves; an empty list means they agree.

    Checks that each account's balance is the sum of its entries, that lots hold the balance
    (or nothing when it is below 0), that each lot's remaining is its amount plus its allocations,
    that no spend took points from a lot while it was frozen (spends never touch frozen lots, and a
    released lot's spends all come after its release) and that a cleared lot holds nothing.
    """
    problems = []
    entries = PointsEntry.objects.all()
    accounts = PointsAccount.objects.all()
    lots = PointsLot.objects.all()
    if members is not None:
        entries = entries.filter(member__in=members)
        accounts = accounts.filter(member__in=members)
        lots = lots.filter(member__in=members)
    sums = dict(entries.values_list("member_id").annotate(s=Sum("amount")).values_list("member_id", "s"))
    lot_sums = dict(lots.values_list("member_id").annotate(s=Sum("remaining")).values_list("member_id", "s"))
    balances = dict(accounts.values_list("member_id", "balance"))
    for member_id in set(sums) | set(balances):
        balance, total = balances.get(member_id, 0), sums.get(member_id, 0) or 0
        if balance != total:
            problems.append(f"member #{member_id}: balance {balance} but entries sum to {total}")
        held = lot_sums.get(member_id, 0) or 0
        if held != max(balance, 0):
            problems.append(f"member #{member_id}: lots hold {held} but the balance is {balance}")
    allocated = dict(
        PointsAllocation.objects.filter(lot__in=lots).values_list("lot_id").annotate(s=Sum("amount")).values_list("lot_id", "s")
    )
    for lot_id, amount, remaining in lots.values_list("pk", "amount", "remaining"):
        if remaining != amount + (allocated.get(lot_id) or 0):
            problems.append(f"lot #{lot_id}: remaining {remaining} but amount and allocations give {amount + (allocated.get(lot_id) or 0)}")
    frozen_spends = PointsAllocation.objects.filter(lot__in=lots, entry__kind=PointsEntry.Kind.SPEND).filter(
        Q(lot__frozen=True) | Q(lot__released_at__isnull=False, entry__booked_at__lt=F("lot__released_at"))
        | Q(lot__cleared_at__isnull=False)
    )
    for lot_id, entry_id in frozen_spends.values_list("lot_id", "entry_id"):
        problems.append(f"lot #{lot_id}: spend entry #{entry_id} took points while the lot was frozen")
    for lot_id in lots.filter(cleared_at__isnull=False, remaining__gt=0).values_list("pk", flat=True):
        problems.append(f"lot #{lot_id}: cleared but still holds points")
    return problems


def member_points_data(*, member) -> dict:
    """What the points ledger holds on ``member``, for their data export."""
    account = PointsAccount.objects.filter(member=member).first()
    return {
        "balance": account.balance if account else 0,
        "entries": rows(
            PointsEntry.objects.filter(member=member).order_by("effective_at", "pk"), "effective_at", "kind", "amount", "capped", "source",
            "source_ref", "reason",
        ),
        "lots": rows(PointsLot.objects.filter(member=member).order_by("earned_at", "pk"), "earned_at", "expires_at", "amount", "remaining", "frozen"),
    }
