from django import template

from riskcontrol.selectors import alerts_open_count

register = template.Library()


@register.simple_tag
def alerts_open():
    """The open-alert count for the front page: live (one indexed count), not cached with the dashboard."""
    return alerts_open_count()
