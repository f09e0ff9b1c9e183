"""The member page's risk control section: black and white list entries (in force and past),
open alerts, blocked credits, and what the caps withheld."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.tables import html_table
from common.timeutil import shown

from membership.hooks import Decision, TimelineItem, changelist_of, timeline_of

from .models import Alert, ListEntry, ManualAdjustment
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


def _day(value):
    return shown(value, with_time=False)


def member_risk_render(*, member, request) -> str:
    risk = member_risk_get(member=member)
    entries = html_table(
        (_("List"), _("Scope"), _("Reason"), _("From"), _("Until"), _("Review on"), _("In force")),
        [
            (e.get_kind_display(), e.get_scope_display(), e.reason, _day(e.starts_at), _day(e.ends_at), _day(e.review_on),
             _("yes") if e.in_force else _("no"))
            for e in risk["entries"]
        ],
        _("Never on the black or white list."),
    )
    alerts = html_table(
        (_("First seen"), _("Rule"), _("Severity"), _("Status"), _("Incident")),
        [(_day(a.first_seen_at), a.rule.name, a.get_severity_display(), a.get_status_display(), a.incident_key) for a in risk["alerts"]],
        _("No open alerts."),
    )
    blocked = html_table(
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
    capped = html_table(
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
    "per_order_cap": gettext_lazy("at most %(n)s an order"),
    "per_day": gettext_lazy("%(n)s event(s) a day"),
    "per_month": gettext_lazy("%(n)s event(s) a month"),
}


def _cap(value):
    return f"{value:,}" if value is not None else _("no cap")


def _add_form(name: str, member, permission: str, request, **initial) -> str | None:
    """The add form of ``name`` filled in for the member, back to the member page once saved."""
    if not request.user.has_perm(permission):
        return None
    back = reverse("admin:membership_member_change", args=[member.pk])
    return reverse(f"admin:{name}_add") + "?" + urlencode({"member": member.pk, **initial, "next": back})


def member_tools_register(hooks):
    """Risk control's buttons on the member page: adjust, list, suspend; the member's alerts,
    list entries and adjustments."""
    hooks.member_tool("adjust_growth", label=gettext_lazy("Adjust growth"), order=10)(
        lambda *, member, request: _add_form("riskcontrol_manualadjustment", member, "riskcontrol.add_manualadjustment", request, currency="growth")
    )
    hooks.member_tool("adjust_points", label=gettext_lazy("Adjust points"), order=11)(
        lambda *, member, request: _add_form("riskcontrol_manualadjustment", member, "riskcontrol.add_manualadjustment", request, currency="points")
    )
    hooks.member_tool("blacklist", label=gettext_lazy("Blacklist"), order=20)(
        lambda *, member, request: _add_form("riskcontrol_listentry", member, "riskcontrol.add_listentry", request, kind="black")
    )
    hooks.member_tool("suspend_benefits", label=gettext_lazy("Suspend benefits"), order=21)(
        lambda *, member, request: reverse("admin:riskcontrol_listentry_suspend", args=[member.pk])
        if request.user.has_perm("riskcontrol.add_listentry") else None
    )
    for key, label, name, order in (
        ("alerts", gettext_lazy("Alerts"), "alert", 60), ("lists", gettext_lazy("List entries"), "listentry", 61), ("adjustments", gettext_lazy("Adjustments"), "manualadjustment", 62),
    ):
        hooks.member_tool(key, label=label, kind="see", order=order)(
            lambda *, member, request, name=name: changelist_of(f"riskcontrol_{name}", member, f"riskcontrol.view_{name}", request)
        )
    hooks.member_timeline("lists")(_list_items)
    hooks.member_timeline("alerts")(_alert_items)
    hooks.member_timeline("adjustments")(_adjustment_items)


def _list_items(*, member, limit):
    entries = ListEntry.objects.filter(member=member).order_by("-starts_at", "-pk")[:limit]
    items = []
    for e in entries:
        url = reverse("admin:riskcontrol_listentry_change", args=[e.pk])
        items.append(TimelineItem(at=e.starts_at, kind=e.get_kind_display(), text=f"{e.get_scope_display()}: {e.reason}", url=url))
        if e.ends_at and e.ends_at <= timezone.now():
            items.append(TimelineItem(at=e.ends_at, kind=e.get_kind_display(), text=_("taken off: %(reason)s") % {"reason": e.end_reason or "-"}, url=url))
    return items


def _alert_items(*, member, limit):
    alerts = Alert.objects.filter(member=member).select_related("rule").order_by("-first_seen_at", "-pk")[:limit]
    return timeline_of(alerts, at="first_seen_at", kind=_("Alert"), text=lambda a: f"{a.rule.name} · {a.get_severity_display()} · {a.get_status_display()}")


def _adjustment_items(*, member, limit):
    """Adjustments asked for: a booked one is also a ledger entry; a pending or rejected one is only here."""
    adjustments = ManualAdjustment.objects.filter(member=member).exclude(status=ManualAdjustment.Status.BOOKED).order_by("-requested_at", "-pk")[:limit]
    return timeline_of(
        adjustments, at="requested_at", kind=_("Adjustment"), text=lambda a: f"{a.amount:+,} {a.get_currency_display()} · {a.get_status_display()} · {a.reason}"
    )

