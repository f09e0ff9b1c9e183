"""The member page's benefits section: the latest grants, claims and blocked grants."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from common.timeutil import shown
from membership.hooks import timeline_of

from .models import BenefitGrant

from .selectors import member_grants


def member_benefits_render(*, member, request) -> str:
    grants = list(member_grants(member=member))
    if not grants:
        return format_html("<p>{}</p>", _("No benefits granted yet."))
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                shown(g.granted_at, with_time=False),
                g.benefit.name,
                g.period,
                g.quantity,
                g.get_status_display(),
                g.list_entry.reason if g.list_entry_id else shown(g.valid_until, with_time=False),
            )
            for g in grants
        ),
    )
    url = reverse("admin:benefits_benefitgrant_changelist") + "?" + urlencode({"q": member.member_id})
    return format_html(
        '<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>'
        '<p><a href="{}">{}</a></p>',
        _("Granted"), _("Benefit"), _("Period"), _("Quantity"), _("Status"), _("Valid until / blocked because"), rows,
        url, _("All grants of this member"),
    )


def benefits_timeline(*, member, limit):
    """The member's newest grants, for the member's timeline."""
    grants = BenefitGrant.objects.filter(member=member).select_related("benefit").order_by("-granted_at", "-pk")[:limit]
    return timeline_of(grants, at="granted_at", kind=_("Benefit"), text=lambda g: f"{g.benefit.display_name} × {g.quantity} · {g.period} · {g.get_status_display()}")
