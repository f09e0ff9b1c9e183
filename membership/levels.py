"""The level rules of the settlement: what a member's level becomes from the growth in the window.

Pure functions over a program's levels (sorted by rank, lowest first); the settlement applies
them to every member (``services.settlement``, and the same decisions in SQL on PostgreSQL), the
member page to forecast the next settlement (``selectors.member_level_progress_get``).
"""

from __future__ import annotations

import functools
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from common.timeutil import add_months, month_last_day

from .models import LevelChange


@functools.lru_cache(maxsize=256)
def month_end_after(month: date, months: int) -> date:
    """The last day of the month ``months`` after ``month``."""
    return month_last_day(add_months(month, months))


def level_renewal(month: date, level) -> date | None:
    """Until when ``level`` is valid when a settlement of ``month`` gives or confirms it; None for
    the lowest level and for a level without validity."""
    if level.rank == 0 or level.validity_months is None:
        return None
    return month_end_after(month, level.validity_months)


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
        return target, level_renewal(month, target), reason
    if valid_until is not None and valid_until > month_end_after(month, 0):
        return None
    lower = levels[index - 1]
    return lower, (level_renewal(month, lower) if target.rank >= lower.rank else None), LevelChange.Reason.DOWNGRADE


def levels_validate(levels: list[tuple[str, int, int]]) -> None:
    """Levels as (code, rank, threshold): the lowest threshold is 0 and thresholds rise strictly with rank."""
    if not levels:
        raise ValidationError(gettext("a program needs at least one level"))
    ordered = sorted(levels, key=lambda level: level[1])
    if ordered[0][2] != 0:
        raise ValidationError(gettext("the lowest level %(level)s must have threshold 0, not %(threshold)s") % {"level": ordered[0][0], "threshold": ordered[0][2]})
    for (low_code, _, low), (high_code, _, high) in zip(ordered, ordered[1:]):
        if high <= low:
            raise ValidationError(gettext("thresholds must rise with rank: %(high)s (%(high_threshold)s) is not above %(low)s (%(low_threshold)s)") % {
                "high": high_code, "high_threshold": high, "low": low_code, "low_threshold": low,
            })
