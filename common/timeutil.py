"""Calendar arithmetic in a program's local time zone."""

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone as django_timezone


def local_day_bounds(at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of the local calendar day containing ``at``."""
    day = at.astimezone(tz).date()
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def local_month_bounds(at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    local = at.astimezone(tz)
    first = date(local.year, local.month, 1)
    return datetime.combine(first, time.min, tzinfo=tz), datetime.combine(add_months(first, 1), time.min, tzinfo=tz)


def add_months(day: date, months: int) -> date:
    """The same day-of-month ``months`` later, clipped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_last_day(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def shown(value, with_time: bool = True) -> str:
    """A date-time as staff read it: in the time zone of the request (the active program's, see
    ``membership.middleware``), ``YYYY-MM-DD HH:MM`` (or the day alone); a date as it is; empty for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = django_timezone.localtime(value)
        return f"{value:%Y-%m-%d %H:%M}" if with_time else f"{value:%Y-%m-%d}"
    return f"{value:%Y-%m-%d}"
