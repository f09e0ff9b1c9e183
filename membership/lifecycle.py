"""The lifecycle stages of a member: new, growing, loyal, dormant, lost.

A stage is read two ways that must agree: as a filter over the member rows (``lifecycle_q``: the
dashboard's counts, the members list) and from one member's own fields (``lifecycle_stage``: what
an order rule asks of the member booking an order, in memory on the single and the batch path).

new: joined within the program's new days. The others by their latest order or behaviour: lost
(none for the lost days, or never), dormant (none for the dormant days), and the active ones,
loyal at the loyal level rank or above, growing below it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

LIFECYCLE_STAGES = ("new", "growing", "loyal", "dormant", "lost")
LIFECYCLE_LABELS = {
    "new": _("New"),
    "growing": _("Growing"),
    "loyal": _("Loyal"),
    "dormant": _("Dormant"),
    "lost": _("Lost"),
}


def _cuts(program, now: datetime) -> tuple[datetime, datetime, datetime]:
    return (
        now - timedelta(days=program.lifecycle_new_days),
        now - timedelta(days=program.lifecycle_dormant_days),
        now - timedelta(days=program.lifecycle_lost_days),
    )


def lifecycle_q(*, program, stage: str, now: datetime) -> Q:
    """The members at ``stage`` at ``now``, as a filter on indexed columns (joined_at, last_active_at, level)."""
    new_cut, dormant_cut, lost_cut = _cuts(program, now)
    if stage == "new":
        return Q(joined_at__gte=new_cut)
    settled = Q(joined_at__lt=new_cut) | Q(joined_at__isnull=True)
    if stage == "lost":
        return settled & (Q(last_active_at__isnull=True) | Q(last_active_at__lt=lost_cut))
    if stage == "dormant":
        return settled & Q(last_active_at__gte=lost_cut, last_active_at__lt=dormant_cut)
    active = settled & Q(last_active_at__gte=dormant_cut)
    loyal = Q(level__rank__gte=program.lifecycle_loyal_rank)
    if stage == "loyal":
        return active & loyal
    if stage == "growing":
        return active & (Q(level__isnull=True) | ~loyal)
    raise ValueError(f"unknown lifecycle stage {stage!r}")


def lifecycle_stage(*, program, joined_at: datetime | None, last_active_at: datetime | None, level_rank: int | None, now: datetime) -> str:
    """The stage of a member with these fields at ``now`` (``level_rank`` None: no level yet)."""
    new_cut, dormant_cut, lost_cut = _cuts(program, now)
    if joined_at is not None and joined_at >= new_cut:
        return "new"
    if last_active_at is None or last_active_at < lost_cut:
        return "lost"
    if last_active_at < dormant_cut:
        return "dormant"
    return "loyal" if level_rank is not None and level_rank >= program.lifecycle_loyal_rank else "growing"
