"""What the console shows of member lists outside their own pages: the lists on a member's page."""

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from .selectors import member_segments


def member_segments_render(*, member, request) -> str:
    """The member lists ``member`` is on, each linked to its page."""
    lists = member_segments(member=member)
    if not lists:
        return format_html("<p>{}</p>", _("On no member list."))
    return format_html(
        "<ul>{}</ul>",
        format_html_join("", '<li><a href="{}">{}</a> {} <code>{}</code></li>', (
            (reverse("admin:segments_segment_change", args=[s.pk]), s.code, s.name, s.condition) for s in lists
        )),
    )
