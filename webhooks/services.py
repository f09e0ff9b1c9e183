"""Telling the platform what the product decided: each outbound event, POSTed as JSON to every
subscription that wants its type, signed, retried, in order per member.

Each delivery is a ``POST`` of one event in the feed's shape (``id, type, member_id, occurred_at,
data``) with the headers ``X-Event-Id`` and ``X-Signature: t=UNIX_SECONDS,v1=HEX``, where HEX is
the HMAC-SHA256 of ``"{t}.{body}"`` with the subscription's secret: the receiver recomputes it and
refuses a signature that differs or a ``t`` too old (a replay). An answer other than 2xx, or none
within ``WEBHOOK_TIMEOUT_SECONDS``, is tried again after 10 s, 20 s, 40 s… (at most an hour apart)
for ``WEBHOOK_RETRY_HOURS``; then the delivery is given up and the subscription paused with the
reason, until staff resume it. Events of one member are sent one after the other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from common.roles import permission_require
from common.schedules import periodic_task_sync
from membership.selectors import outbox_event_body, outbox_events_after, outbox_feed_end
from membership.services.outbox import EVENT_TYPES

from .models import WebhookDelivery, WebhookSubscription

DELIVERIES_TASK_NAME = "Webhook deliveries"
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(hours=1)


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Signature`` of a delivery: ``t=UNIX_SECONDS,v1=HEX``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_types_parse(text: str) -> list[str]:
    types = sorted({part.strip() for part in (text or "").split(",") if part.strip()})
    if not types:
        raise ValidationError({"events": _("give the event types to send, or * for all: %(known)s") % {"known": ", ".join(EVENT_TYPES)}})
    unknown = [t for t in types if t != "*" and t not in EVENT_TYPES]
    if unknown:
        raise ValidationError({"events": _("unknown event type %(types)s; the types are %(known)s") % {"types": ", ".join(unknown), "known": ", ".join(EVENT_TYPES)}})
    return ["*"] if "*" in types else types


@transaction.atomic
def webhook_create(*, name: str, url: str, event_types: list[str], secret: str, actor) -> WebhookSubscription:
    """Subscribe ``url`` to ``event_types``: it receives the events committed from now on."""
    permission_require(actor, "webhooks.add_webhooksubscription", "subscribe webhooks")
    name, url, secret = (name or "").strip(), (url or "").strip(), (secret or "").strip()
    errors = {}
    if not name:
        errors["name"] = _("give the subscription a name")
    elif WebhookSubscription.objects.filter(name=name).exists():
        errors["name"] = _("there is already a webhook named %(name)s") % {"name": name}
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors["url"] = _("%(url)s is not an http or https address") % {"url": url}
    if len(secret) < 16:
        errors["secret"] = _("the secret must be at least 16 characters, so that signatures cannot be guessed")
    if errors:
        raise ValidationError(errors)
    # From the end of the feed as it stands: events committed from now on are delivered.
    cursor = outbox_feed_end()
    subscription = WebhookSubscription(
        name=name, url=url, secret=secret, event_types=event_types_parse(",".join(event_types)), created_by=actor,
        cursor_xid=cursor[0], cursor_id=cursor[1],
    )
    subscription.full_clean()
    subscription.save()
    return subscription


def deliveries_dispatch(*, limit: int = 5000, now: datetime | None = None) -> int:
    """Give every event after each active subscription's cursor that it wants a delivery, and move
    the cursor past them, in one transaction per subscription; returns the deliveries made."""
    now = now or timezone.now()
    made = 0
    for pk in WebhookSubscription.objects.filter(is_active=True).values_list("pk", flat=True):
        with transaction.atomic():
            subscription = WebhookSubscription.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if subscription is None:
                continue  # another worker dispatches it
            page, following = outbox_events_after(cursor=(subscription.cursor_xid, subscription.cursor_id), limit=limit)
            if not page:
                continue
            deliveries = [
                WebhookDelivery(subscription=subscription, event=event, member_ref=event.member_ref, next_attempt_at=now)
                for event in page
                if subscription.wants(event.type)
            ]
            WebhookDelivery.objects.bulk_create(deliveries)
            subscription.cursor_xid, subscription.cursor_id = (int(part) for part in following.split("-"))
            subscription.save(update_fields=["cursor_xid", "cursor_id"])
            made += len(deliveries)
    return made


def _heads(now: datetime):
    """The deliveries that may be sent now: waiting, due, of an active subscription that is not
    paused, and first of their subscription and member."""
    earlier = WebhookDelivery.objects.filter(
        subscription=OuterRef("subscription"), member_ref=OuterRef("member_ref"), status=WebhookDelivery.Status.PENDING, pk__lt=OuterRef("pk")
    )
    return (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, subscription__is_active=True, subscription__paused_at__isnull=True
        )
        .exclude(Exists(earlier))
        .order_by("pk")
    )


def _post(subscription: WebhookSubscription, event) -> tuple[int | None, str]:
    """POST one event; (status code, error) — (None, why) when no answer came."""
    body = json.dumps(outbox_event_body(event), ensure_ascii=False, separators=(",", ":")).encode()
    request = urllib.request.Request(
        subscription.url, data=body, method="POST",
        headers={
            "Content-Type": "application/json", "User-Agent": "membership-console-webhooks/1", "X-Event-Id": str(event.pk),
            "X-Event-Type": event.type, "X-Signature": signature(secret=subscription.secret, timestamp=int(time.time()), body=body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:255]


def delivery_send_next(*, now: datetime | None = None) -> WebhookDelivery | None:
    """Send the first delivery that may be sent now and record how it went; None when nothing is due.

    The delivery is leased in a short transaction (so each is sent by one worker at a time), sent
    with no transaction open, and its answer recorded in another; a lease that runs out (a worker
    killed while sending) makes it due again.
    """
    clock = now  # a given time stands for the clock (a test's later hour), else the clock itself
    now = now or timezone.now()
    lease = timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 5)
    with transaction.atomic():
        heads = _heads(now).filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now)).select_related("subscription", "event")
        if connection.vendor == "postgresql":
            heads = heads.select_for_update(of=("self",), skip_locked=True)
        delivery = heads.first()
        if delivery is None:
            return None
        WebhookDelivery.objects.filter(pk=delivery.pk).update(leased_until=(clock or timezone.now()) + lease)
    status, error = _post(delivery.subscription, delivery.event)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update(of=("self",)).select_related("subscription").get(pk=delivery.pk)
        at = clock or timezone.now()
        delivery.attempts += 1
        delivery.first_attempt_at = delivery.first_attempt_at or at
        delivery.last_attempt_at, delivery.last_status_code, delivery.last_error, delivery.leased_until = at, status, error, None
        if status is not None and 200 <= status < 300:
            delivery.status, delivery.sent_at = WebhookDelivery.Status.SENT, at
        elif at - delivery.first_attempt_at >= timedelta(hours=settings.WEBHOOK_RETRY_HOURS):
            delivery.status = WebhookDelivery.Status.FAILED
            reason = _("delivery of event %(event)s failed for %(hours)s hours (last: %(error)s)") % {
                "event": delivery.event_id, "hours": settings.WEBHOOK_RETRY_HOURS, "error": error or status,
            }
            WebhookSubscription.objects.filter(pk=delivery.subscription_id).update(paused_at=at, pause_reason=reason[:255])
        else:
            delivery.next_attempt_at = at + min(FIRST_RETRY * 2 ** min(delivery.attempts - 1, 12), LONGEST_RETRY)
        delivery.save()
    return delivery


def deliveries_run(*, seconds: float = 50, now: datetime | None = None) -> dict[str, int]:
    """What the schedule runs: dispatch the new events, then send what is due, for at most
    ``seconds``; returns how many deliveries were made, sent and left to retry."""
    counts = {"made": deliveries_dispatch(now=now), "sent": 0, "retry": 0, "failed": 0}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        delivery = delivery_send_next(now=now)
        if delivery is None:
            break
        counts[{"sent": "sent", "failed": "failed"}.get(delivery.status, "retry")] += 1
    return counts


@transaction.atomic
def deliveries_replay(*, deliveries, actor) -> int:
    """Send these deliveries again (what the receiver lost, or what was given up); returns how many."""
    permission_require(actor, "webhooks.change_webhooksubscription", "replay webhook deliveries")
    return deliveries.exclude(status=WebhookDelivery.Status.PENDING).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now())


@transaction.atomic
def webhook_resume(*, subscription: WebhookSubscription, actor) -> WebhookSubscription:
    """Resume a paused subscription: what waited is sent, in order."""
    permission_require(actor, "webhooks.change_webhooksubscription", "resume webhooks")
    WebhookSubscription.objects.filter(pk=subscription.pk).update(paused_at=None, pause_reason="")
    subscription.refresh_from_db()
    return subscription


def webhooks_schedule_sync(*, program) -> int:
    """Make the beat schedule run the deliveries every 5 seconds; 1 if it changed."""
    return periodic_task_sync(
        name=DELIVERIES_TASK_NAME, task="webhooks.deliver", every_seconds=5,
        description="Gives the new outbound events their webhook deliveries and sends what is due.",
    )
