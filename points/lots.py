"""The lots' rules: when points end, which lots a debit takes from and in what order, and how
new points pay a balance below 0.

The one-by-one services (``points.services``) and the batch booking (``points.batch``) both draw
on lots through these, so the two paths take the same points from the same lots:
- a debit takes first from the lots it prefers (a reversal: the lots its own source created,
  newest first), then from the lots that end first (those that never end last), the earliest
  earned first, then in the order they were made;
- a credit makes a new lot, whose points first pay what the balance owes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import F

from common.timeutil import add_months
from membership.models import Program

# The order of the lots a debit takes from, in SQL and for lots in memory (``spend_key``).
SPEND_ORDER = (F("expires_at").asc(nulls_last=True), "earned_at", "pk")
# The order of the preferred lots (a reversal's own), in SQL and for lots in memory (``own_key``).
OWN_ORDER = ("-earned_at", "-pk")


def spend_key(lot, order: int) -> tuple:
    """``SPEND_ORDER`` for a lot in memory; ``order`` is its primary key or where a new lot will get one."""
    return (lot.expires_at is None, lot.expires_at or lot.earned_at, lot.earned_at, order)


def own_key(lot, order: int) -> tuple:
    """``OWN_ORDER`` for a lot in memory: sort by it with ``reverse=True``."""
    return (lot.earned_at, order)


def points_expires_at(*, program: Program, earned_at: datetime) -> datetime | None:
    """When points earned at ``earned_at`` expire under the program's policy."""
    tz = ZoneInfo(program.time_zone)
    if program.points_expiry == Program.PointsExpiry.YEAR_END:
        year = earned_at.astimezone(tz).year + program.points_expiry_years
        return datetime(year + 1, 1, 1, tzinfo=tz)
    if program.points_expiry == Program.PointsExpiry.MONTHS and program.points_expiry_months:
        local = earned_at.astimezone(tz)
        return datetime.combine(add_months(local.date(), program.points_expiry_months), local.time(), tzinfo=tz)
    if program.points_expiry == Program.PointsExpiry.DAYS and program.points_expiry_days:
        local = earned_at.astimezone(tz)
        return datetime.combine(local.date() + timedelta(days=program.points_expiry_days), local.time(), tzinfo=tz)
    return None


def lots_draw(lots, amount: int) -> list[tuple[object, int]]:
    """Take ``amount`` points from ``lots`` in the order given, lowering each lot's ``remaining``:
    (lot, points taken) for each lot drawn on. What the lots lack is not taken."""
    taken = []
    left = amount
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        if take <= 0:
            continue
        lot.remaining -= take
        left -= take
        taken.append((lot, take))
    return taken


def debt_paid(*, balance: int, amount: int) -> int:
    """How much of ``amount`` new points go to pay what a balance below 0 owes."""
    return min(max(0, -balance), amount)
