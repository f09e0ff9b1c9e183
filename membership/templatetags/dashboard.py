from django import template

from membership.selectors import NoActiveProgram, dashboard_get

register = template.Library()


@register.simple_tag
def dashboard():
    """The front page's figures, or None before a program is loaded."""
    try:
        return dashboard_get()
    except NoActiveProgram:
        return None
