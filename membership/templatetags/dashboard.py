from django import template
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from membership.selectors import NoActiveProgram, dashboard_get, dashboard_range

register = template.Library()


@register.simple_tag(takes_context=True)
def dashboard(context):
    """The front page's figures for the months the page asks for (``since``, ``until``: YYYY-MM),
    or None before a program is loaded; kept for ``DASHBOARD_CACHE_SECONDS`` so that opening the
    console does not aggregate the ledgers each time (``refresh`` computes them again now). A range
    that cannot be is said, and the default months shown."""
    seconds = getattr(settings, "DASHBOARD_CACHE_SECONDS", 300)
    request = context.get("request")
    query = request.GET if request is not None else {}
    error = ""
    try:
        try:
            first, last = dashboard_range(since=query.get("since", ""), until=query.get("until", ""))
        except ValidationError as exc:
            error = "; ".join(exc.messages)
            first, last = dashboard_range()
        key = f"membership:dashboard:{first:%Y-%m}:{last:%Y-%m}"
        if not seconds:
            board = dashboard_get(first=first, last=last)
        else:
            if "refresh" in query:
                cache.delete(key)
            board = cache.get_or_set(key, lambda: dashboard_get(first=first, last=last), seconds)
    except NoActiveProgram:
        return None
    return {**board, "range_error": error, "cached": bool(seconds)}
