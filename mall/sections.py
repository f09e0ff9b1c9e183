"""The member page's "Redemptions and draws" section."""

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from common.timeutil import shown
from membership.hooks import timeline_of

from .models import Redemption
from .selectors import member_draws_latest, member_offsets_latest, member_redemptions_latest


def _table(caption, headers, rows, more_url):
    if not rows:
        return format_html("<p>{}: {}</p>", caption, _("none"))
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join("", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows))
    return format_html(
        '<h4>{}</h4><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
        caption, head, body, more_url, _("All of them"),
    )


def member_spending_render(*, member, request):
    """The member's latest redemptions, lottery draws and cash offsets, each linked to its page."""
    redemptions = [
        (
            format_html('<a href="{}">#{}</a>', reverse("admin:mall_redemption_change", args=[r.pk]), r.pk),
            shown(r.redeemed_at), r.item.code, r.quantity, f"{r.points:,}", r.get_status_display(),
        )
        for r in member_redemptions_latest(member=member)
    ]
    parts = [
        _table(
            _("Redemptions"), (_("Redemption"), _("When"), _("Item"), _("Quantity"), _("Points"), _("Status")), redemptions,
            f'{reverse("admin:mall_redemption_changelist")}?q={member.member_id}',
        ),
    ]
    draws = [
        (
            format_html('<a href="{}">#{}</a>', reverse("admin:mall_lotterydraw_change", args=[d.pk]), d.pk),
            shown(d.drawn_at), d.lottery.code, f"{d.cost:,}", d.prize.name if d.prize else "", d.get_status_display(),
        )
        for d in member_draws_latest(member=member)
    ]
    parts.append(_table(
        _("Lottery draws"), (_("Draw"), _("When"), _("Lottery"), _("Points"), _("Prize"), _("Status")), draws,
        f'{reverse("admin:mall_lotterydraw_changelist")}?q={member.member_id}',
    ))
    offsets = [
        (
            format_html('<a href="{}">#{}</a>', reverse("admin:mall_cashoffset_change", args=[o.pk]), o.pk),
            shown(o.applied_at), o.order_ref, f"{o.points:,}", f"¥{o.yuan}", o.get_status_display(),
        )
        for o in member_offsets_latest(member=member)
    ]
    parts.append(_table(
        _("Cash offsets"), (_("Offset"), _("When"), _("Order"), _("Points"), _("Yuan"), _("Status")), offsets,
        f'{reverse("admin:mall_cashoffset_changelist")}?q={member.member_id}',
    ))
    return format_html_join("", "{}", ((p,) for p in parts))


def mall_timeline(*, member, limit):
    """The member's newest redemptions, for the member's timeline."""
    redemptions = Redemption.objects.filter(member=member).select_related("item").order_by("-redeemed_at", "-pk")[:limit]
    return timeline_of(
        redemptions, at="redeemed_at", kind=_("Redemption"), text=lambda r: f"{r.item.display_name} × {r.quantity} · {r.points:,} · {r.get_status_display()}"
    )
