"""The member page's points section: available, frozen and expiring points, and the frozen lots."""

from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from common.timeutil import shown
from membership.hooks import ledger_entry_text, timeline_of

from .models import PointsEntry, PointsLot
from .selectors import points_available_get, points_frozen_get, points_next_expiry_get


def member_points_render(*, member, request) -> str:
    available, frozen = points_available_get(member=member), points_frozen_get(member=member)
    when, expiring = points_next_expiry_get(member=member)
    summary = format_html(
        "<p>{}: {} · {}: {} · {}: {}</p>",
        _("Available"), f"{available:,}", _("Frozen"), f"{frozen:,}", _("Expiring next"),
        f"{expiring:,} ({shown(when, with_time=False)})" if when else "0",
    )
    lots = PointsLot.objects.filter(member=member, frozen=True, remaining__gt=0).select_related("entry").order_by("earned_at")[:20]
    if not lots:
        return summary
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((shown(lot.earned_at, with_time=False), lot.entry.get_source_display(), lot.entry.source_ref, f"{lot.remaining:,}") for lot in lots),
    )
    return format_html(
        "{}<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        summary, _("Earned"), _("Source"), _("Reference"), _("Frozen points"), rows,
    )


def points_timeline(*, member, limit):
    """The member's newest points entries, for the member's timeline."""
    entries = PointsEntry.objects.filter(member=member).order_by("-effective_at", "-pk")[:limit]
    return timeline_of(entries, at="effective_at", kind=_("Points entry"), text=ledger_entry_text)
