from django import template
from django.conf import settings
from django.core.cache import cache

from membership.selectors import NoActiveProgram, dashboard_get

register = template.Library()


@register.simple_tag
def dashboard():
    """The front page's figures, or None before a program is loaded; kept for
    ``DASHBOARD_CACHE_SECONDS`` so that opening the console does not aggregate the ledgers each time."""
    seconds = getattr(settings, "DASHBOARD_CACHE_SECONDS", 300)
    try:
        if not seconds:
            return dashboard_get()
        return cache.get_or_set("membership:dashboard", dashboard_get, seconds)
    except NoActiveProgram:
        return None
