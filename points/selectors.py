from datetime import datetime

from django.db.models import F, Q, Sum
from django.utils import timezone

from membership.models import Member

from .models import PointsAccount, PointsAllocation, PointsEntry, PointsLot


def points_lots_open(*, member: Member, at: datetime | None = None):
    """Lots that still hold points, the first to end first. With ``at``, only those not yet expired at ``at``."""
    lots = PointsLot.objects.filter(member=member, remaining__gt=0)
    if at is not None:
        lots = lots.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
    return lots.order_by(F("expires_at").asc(nulls_last=True), "earned_at", "pk")


def points_balance_get(*, member: Member) -> int:
    """The booked balance: the sum of the member's points entries."""
    account = PointsAccount.objects.filter(member=member).only("balance").first()
    return account.balance if account else 0


def points_available_get(*, member: Member, at: datetime | None = None) -> int:
    """Points the member can spend at ``at``: the balance less lots past their end whose expiry is not booked yet."""
    at = at or timezone.now()
    balance = points_balance_get(member=member)
    if balance <= 0:
        return balance
    lapsed = (
        PointsLot.objects.filter(member=member, remaining__gt=0, expires_at__lte=at).aggregate(s=Sum("remaining"))["s"]
        or 0
    )
    return balance - lapsed


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


def points_reconcile(*, members=None) -> list[str]:
    """Every way the points books disagree with themselves; an empty list means they agree.

    Checks that each account's balance is the sum of its entries, that lots hold the balance
    (or nothing when it is below 0), and that each lot's remaining is its amount plus its allocations.
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
    return problems
