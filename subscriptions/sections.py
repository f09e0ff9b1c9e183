"""The member page's paid-membership section: subscriptions and their cashback."""

from django.db.models import Sum
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from .models import Cashback, Subscription


def member_subscriptions_render(*, member, request) -> str:
    subscriptions = list(Subscription.objects.filter(member=member).select_related("plan").order_by("-starts_on", "-pk")[:10])
    if not subscriptions:
        return format_html("<p>{}</p>", _("Never a paid member."))
    totals = dict(
        Cashback.objects.filter(subscription__member=member).values_list("status").annotate(s=Sum("points")).values_list("status", "s")
    )
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td></tr>",
        ((s.plan.name, s.get_status_display(), s.starts_on, s.ends_on, s.renewals) for s in subscriptions),
    )
    cashback = ", ".join(f"{Cashback.Status(status).label}: {points or 0:,}" for status, points in sorted(totals.items()))
    return format_html(
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table><p>{}: {}</p>",
        _("Plan"), _("Status"), _("Term"), _("Renewals"), rows, _("Cashback (points)"), cashback or "0",
    )
