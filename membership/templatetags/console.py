"""What every console page shows the signed-in user: the approvals that wait for them and the
decisions on their own requests (``hooks.approval_queue``)."""

from datetime import timedelta

from django import template
from django.utils import timezone

from membership.hooks import approvals_decided, approvals_waiting

register = template.Library()

# The front page lists the user's requests decided within this span.
DECIDED_SHOWN_FOR = timedelta(days=14)


@register.simple_tag(takes_context=True)
def approvals(context):
    """{"waiting": [(label, count, url)], "total": n, "decided": [Decision]} for the signed-in
    staff user, or None for anyone else (the sign-in page)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return None
    waiting = [(queue.label, n, queue.url()) for queue, n in approvals_waiting(user=user)]
    return {"waiting": waiting, "total": sum(n for _, n, _ in waiting), "user": user}


@register.simple_tag(takes_context=True)
def decisions_on_my_requests(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return approvals_decided(user=user, since=timezone.now() - DECIDED_SHOWN_FOR)
