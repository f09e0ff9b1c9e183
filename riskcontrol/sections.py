"""The member page's risk control section: black and white list entries (in force and past),
open alerts, blocked credits, and what the caps withheld."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from common.timeutil import shown

from membership.hooks import Decision

from .models import ManualAdjustment
from .selectors import adjustments_decided, member_risk_get


def adjustment_decisions(*, user, since) -> list[Decision]:
    """What the requester sees of their adjustments that someone else decided."""
    return [
        Decision(
            at=a.decided_at,
            text=_("Adjustment of %(member)s by %(amount)s %(currency)s") % {
                "member": a.member.member_id, "amount": f"{a.amount:+,}", "currency": a.get_currency_display(),
            },
            approved=a.status == ManualAdjustment.Status.BOOKED,
            by=a.decided_by.get_username() if a.decided_by else "",
            note=a.decision_note,
            url=reverse("admin:riskcontrol_manualadjustment_change", args=[a.pk]),
        )
        for a in adjustments_decided(user=user, since=since)
    ]


def _table(headers, rows, empty):
    if not rows:
        return format_html("<p>{}</p>", empty)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    cells = format_html_join("", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows))
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, cells)


def _day(value):
    return shown(value, with_time=False)


def member_risk_render(*, member, request) -> str:
    risk = member_risk_get(member=member)
    entries = _table(
        (_("List"), _("Scope"), _("Reason"), _("From"), _("Until"), _("Review on"), _("In force")),
        [
            (e.get_kind_display(), e.get_scope_display(), e.reason, _day(e.starts_at), _day(e.ends_at), _day(e.review_on),
             _("yes") if e.in_force else _("no"))
            for e in risk["entries"]
        ],
        _("Never on the black or white list."),
    )
    alerts = _table(
        (_("First seen"), _("Rule"), _("Severity"), _("Status"), _("Incident")),
        [(_day(a.first_seen_at), a.rule.name, a.get_severity_display(), a.get_status_display(), a.incident_key) for a in risk["alerts"]],
        _("No open alerts."),
    )
    blocked = _table(
        (_("Effective"), _("Currency"), _("Amount"), _("Source"), _("Reference"), _("Released")),
        [
            (_day(b.effective_at), b.get_currency_display(), f"{b.amount:,}", b.source, b.source_ref,
             _day(b.released_at) if b.released_at else _("no"))
            for b in risk["blocked"]
        ],
        _("Nothing blocked."),
    )
    caps = risk["caps"]
    cap_text = _("Caps per member: growth %(gd)s a day, %(gm)s a month; points %(pd)s a day, %(pm)s a month (all capped sources together).") % {
        "gd": _cap(caps["daily_growth_cap"]), "gm": _cap(caps["monthly_growth_cap"]),
        "pd": _cap(caps["daily_points_cap"]), "pm": _cap(caps["monthly_points_cap"]),
    }
    rule_caps = format_html_join(
        "", "<li>{}</li>",
        (
            (
                _("%(rule)s (%(currency)s): %(limits)s") % {
                    "rule": name, "currency": currency,
                    "limits": ", ".join(_RULE_LIMITS[k] % {"n": f"{v:,}"} for k, v in limits.items()),
                },
            )
            for name, currency, limits in caps["rules"]
        ),
    )
    if caps["rules"]:
        cap_text = format_html("{}</p><ul>{}</ul><p>", cap_text, rule_caps)
    capped = _table(
        (_("Month"), _("Currency"), _("Capped (not credited)")),
        [(month.strftime("%Y-%m"), currency, f"{total:,}") for month, currency, total in risk["capped"]],
        _("Nothing capped."),
    )
    links = format_html(
        '<p><a href="{}">{}</a> · <a href="{}">{}</a> · <a href="{}">{}</a></p>',
        reverse("admin:riskcontrol_listentry_changelist") + "?" + urlencode({"q": member.member_id}), _("All list entries"),
        reverse("admin:riskcontrol_alert_changelist") + "?" + urlencode({"q": member.member_id}), _("All alerts"),
        reverse("admin:riskcontrol_blockedcredit_changelist") + "?" + urlencode({"q": member.member_id}), _("All blocked credits"),
    )
    return format_html(
        "<h3>{}</h3>{}<h3>{}</h3>{}<h3>{}</h3>{}<h3>{}</h3><p>{}</p>{}{}",
        _("Black and white lists"), entries, _("Open alerts"), alerts, _("Blocked credits"), blocked,
        _("Capped"), cap_text, capped, links,
    )


_RULE_LIMITS = {
    "per_order_cap": _lazy("at most %(n)s an order"),
    "per_day": _lazy("%(n)s event(s) a day"),
    "per_month": _lazy("%(n)s event(s) a month"),
}


def _cap(value):
    return f"{value:,}" if value is not None else _("no cap")
