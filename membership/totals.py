"""Monthly totals of the ledgers for the dashboard, kept up to date from the insert-only ledgers.

``ledger_totals_refresh`` adds the entries booked since the last refresh to per-month totals
(``LedgerMonthTotal``), so the dashboard reads a few dozen summary rows plus the entries after the
mark instead of aggregating millions of ledger rows. A beat schedule runs it every few minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import F, Max, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_noop

from common.schedules import periodic_task_sync
from points.models import PointsEntry

from .models import GrowthEntry, LedgerMonthTotal, LedgerTotalsMark

TOTALS_SETTLE = timedelta(minutes=10)
TOTALS_TASK_NAME = gettext_noop("Dashboard ledger totals")  # the schedule's key; the console shows its translation


def ledger_series() -> dict[str, tuple[type, dict[str, Q]]]:
    """Ledger name → (model, the dashboard's series over it: name → which entries)."""
    return {
        "growth": (GrowthEntry, {"growth": Q()}),
        "points": (
            PointsEntry,
            {
                "points_issued": Q(amount__gt=0) & ~Q(kind=PointsEntry.Kind.REFUND),
                "points_spent": Q(kind=PointsEntry.Kind.SPEND),
                "points_expired": Q(kind=PointsEntry.Kind.EXPIRY),
                "points_reversed": Q(kind=PointsEntry.Kind.REVERSAL),
                "points_net": Q(),  # every entry: the month's change of the outstanding points
            },
        ),
    }


def ledger_month_sums(entries, *, series: dict[str, Q], tz: ZoneInfo):
    """(month, {series: sum}) of ``entries`` by local month of ``effective_at``."""
    rows = (
        entries.annotate(month=TruncMonth("effective_at", tzinfo=tz))
        .order_by()
        .values_list("month")
        .annotate(**{name: Sum("amount", filter=condition) for name, condition in series.items()})
    )
    for month, *totals in rows:
        yield (month.date() if isinstance(month, datetime) else month), dict(zip(series, totals))


def ledger_totals_refresh(*, time_zone: str, now: datetime | None = None) -> int:
    """Add the entries booked since each ledger's mark (and at least ``TOTALS_SETTLE`` ago) to the
    monthly totals; returns how many entries were added. Running it again adds nothing."""
    tz = ZoneInfo(time_zone)
    cut = (now or timezone.now()) - TOTALS_SETTLE
    added = 0
    for ledger, (model, series) in ledger_series().items():
        with transaction.atomic():
            mark, _ = LedgerTotalsMark.objects.select_for_update().get_or_create(ledger=ledger, time_zone=time_zone)
            new = model.objects.filter(pk__gt=mark.last_pk, booked_at__lt=cut)
            high = new.aggregate(m=Max("pk"))["m"]
            if high is None:
                continue
            batch = model.objects.filter(pk__gt=mark.last_pk, pk__lte=high)
            added += batch.count()
            for month, sums in ledger_month_sums(batch, series=series, tz=tz):
                for name, amount in sums.items():
                    if not amount:
                        continue
                    total, _ = LedgerMonthTotal.objects.get_or_create(series=name, time_zone=time_zone, month=month)
                    LedgerMonthTotal.objects.filter(pk=total.pk).update(amount=F("amount") + amount)
            mark.last_pk = high
            mark.save(update_fields=["last_pk", "refreshed_at"])
    return added


def totals_schedule_sync() -> int:
    """Make the beat schedule refresh the dashboard's totals every 5 minutes; 1 if it changed."""
    return periodic_task_sync(
        name=TOTALS_TASK_NAME, task="membership.ledger_totals_refresh", every_minutes=5,
        description="Adds the newly booked ledger entries to the dashboard's monthly totals.",
    )