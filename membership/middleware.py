"""Every page of the console shows times in the active program's time zone."""

from __future__ import annotations

import time
import zoneinfo

from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from .models import Program

_cache: dict = {"at": 0.0, "zone": None}
CACHE_SECONDS = 10  # a program's time zone changes rarely; a switch shows within this long


def program_time_zone() -> str | None:
    """The active program's time zone name (read at most every ``CACHE_SECONDS``), or None."""
    if time.monotonic() - _cache["at"] > CACHE_SECONDS:
        _cache["zone"] = Program.objects.filter(is_active=True).values_list("time_zone", flat=True).first()
        _cache["at"] = time.monotonic()
    return _cache["zone"]


@receiver(post_save, sender=Program)
def _forget(**kwargs):
    """A program saved (switched, its time zone changed) is seen by the next request of this process."""
    _cache["at"] = 0.0


class ProgramTimeZoneMiddleware:
    """Activates the active program's time zone for the request: the admin's dates and times, the
    member page's sections and export file names all read in it (``TIME_ZONE`` without a program)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = program_time_zone()
        if zone:
            try:
                timezone.activate(zoneinfo.ZoneInfo(zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
