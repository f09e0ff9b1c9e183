"""The core's part of the member page (the 360 view): the lists of the member's orders, growth,
events and level history, and the same records on the member's timeline."""

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.timeutil import add_months, local_midnight, shown

from . import hooks
from .hooks import changelist_of, ledger_entry_text, timeline_of
from .models import GrowthEntry, LevelChange, MemberEvent, Order


def _order_items(*, member, limit):
    orders = Order.objects.filter(member=member).order_by("-paid_at", "-pk")[:limit]
    return timeline_of(orders, at="paid_at", kind=_("Order"), text=lambda o: _("%(order)s: %(amount)s yuan, %(status)s") % {
        "order": o.order_id, "amount": f"{o.goods_amount - o.discount_amount:,.2f}", "status": o.get_status_display(),
    })


def _growth_items(*, member, limit):
    entries = GrowthEntry.objects.filter(member=member).order_by("-effective_at", "-pk")[:limit]
    return timeline_of(entries, at="effective_at", kind=_("Growth entry"), text=ledger_entry_text)


def _level_items(*, member, limit):
    """A settlement's change or renewal, dated when it took effect: the end of the settled month."""
    changes = LevelChange.objects.filter(member=member).select_related("run", "from_level", "to_level").order_by("-run__month")[:limit]
    return [
        hooks.TimelineItem(
            at=local_midnight(add_months(c.run.month, 1), timezone.get_current_timezone()), kind=_("Level"),
            text=_("%(from)s → %(to)s at the settlement of %(month)s") % {
                "from": c.from_level.code if c.from_level else "-", "to": c.to_level.code, "month": f"{c.run.month:%Y-%m}",
            },
            url=reverse("admin:membership_settlementrun_change", args=[c.run_id]),
        )
        for c in changes
    ]


def _event_items(*, member, limit):
    events = MemberEvent.objects.filter(member=member).order_by("-occurred_at", "-pk")[:limit]
    return timeline_of(events, at="occurred_at", kind=_("Behaviour"), text=lambda e: f"{e.event_type} {e.event_id}")


def timeline_render(*, member, request) -> str:
    """The member's newest records of every app, newest first (``hooks.member_timeline``)."""
    items = hooks.member_timeline_get(member=member)
    if not items:
        return format_html("<p>{}</p>", _("Nothing has happened to this member yet."))
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (shown(item.at), item.kind, format_html('<a href="{}">{}</a>', item.url, item.text) if item.url else item.text)
            for item in items
        ),
    )
    return format_html(
        '<table id="member-timeline"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>',
        _("When"), _("What"), _("Details"), rows,
    )


def register():
    hooks.member_section("timeline", title=gettext_lazy("Timeline"), order=5)(timeline_render)
    see = (
        ("orders", gettext_lazy("Orders"), "membership_order", "membership.view_order", 10),
        ("growth", gettext_lazy("Growth ledger"), "membership_growthentry", "membership.view_growthentry", 20),
        ("events", gettext_lazy("Behaviour events"), "membership_memberevent", "membership.view_memberevent", 40),
    )
    for key, label, name, permission, order in see:
        hooks.member_tool(key, label=label, kind="see", order=order)(
            lambda *, member, request, name=name, permission=permission: changelist_of(name, member, permission, request)
        )
    hooks.member_timeline("orders")(_order_items)
    hooks.member_timeline("growth")(_growth_items)
    hooks.member_timeline("levels")(_level_items)
    hooks.member_timeline("events")(_event_items)

