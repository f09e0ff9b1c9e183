"""The member page's outbound events: the latest events about the member and, for each, how its
webhook deliveries went."""

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from membership.models import OutboxEvent

from .models import WebhookDelivery


def member_events_render(*, member, request) -> str:
    events = list(OutboxEvent.objects.filter(member_ref=member.member_id).order_by("-pk")[:20])
    if not events:
        return format_html("<p>{}</p>", _("No event about this member yet."))
    deliveries: dict[int, list[str]] = {}
    for event_id, name, status, code in (
        WebhookDelivery.objects.filter(event_id__in=[e.pk for e in events]).values_list("event_id", "subscription__name", "status", "last_status_code")
    ):
        deliveries.setdefault(event_id, []).append(f"{name}: {status}" + (f" ({code})" if code else ""))
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (f"{timezone.localtime(e.occurred_at):%Y-%m-%d %H:%M}", e.type, ", ".join(f"{k}={v}" for k, v in e.data.items()), "; ".join(deliveries.get(e.pk, [])) or "-")
            for e in events
        ),
    )
    return format_html(
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        _("Occurred"), _("Event"), _("Data"), _("Webhook deliveries"), rows,
    )
