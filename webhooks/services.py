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
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from common.bulk import tables_analyze
from common.roles import permission_require
from common.schedules import periodic_task_sync
from membership.selectors import outbox_event_body, outbox_events_after, outbox_feed_end
from membership.services.outbox import EVENT_TYPES

from .models import WebhookDelivery, WebhookSubscription

DELIVERIES_TASK_NAME = gettext_noop("Webhook deliveries")  # the schedule's key; the console shows its translation
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
    permission_require(actor, "webhooks.add_webhooksubscription", _("subscribe webhooks"))
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


def deliveries_dispatch(*, limit: int = 5000, now: datetime | None = None, seconds: float | None = None) -> int:
    """Give every event after each active subscription's cursor that it wants a delivery, and move
    the cursor past them, ``limit`` events a transaction, until the feed is caught up (or
    ``seconds`` have passed); returns the deliveries made. A subscription another worker is
    dispatching is left to it."""
    now = now or timezone.now()
    deadline = None if seconds is None else time.monotonic() + seconds
    made = 0
    for pk in WebhookSubscription.objects.filter(is_active=True).values_list("pk", flat=True):
        more = True
        while more and (deadline is None or time.monotonic() < deadline):
            with transaction.atomic():
                subscription = WebhookSubscription.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
                if subscription is None:
                    break  # another worker dispatches it
                page, following = outbox_events_after(cursor=(subscription.cursor_xid, subscription.cursor_id), limit=limit)
                if not page:
                    break
                deliveries = [
                    WebhookDelivery(subscription=subscription, event=event, member_ref=event.member_ref, next_attempt_at=now)
                    for event in page
                    if subscription.wants(event.type)
                ]
                WebhookDelivery.objects.bulk_create(deliveries, batch_size=limit)
                subscription.cursor_xid, subscription.cursor_id = (int(part) for part in following.split("-"))
                subscription.save(update_fields=["cursor_xid", "cursor_id"])
                made += len(deliveries)
                more = len(page) == limit
    # A settlement's events arrive by the hundred thousand: the planner is told at once, so that
    # the senders read the waiting deliveries by their indexes, not by a scan of them all.
    tables_analyze([WebhookDelivery], written=made)
    return made


def _due_heads(now: datetime):
    """The deliveries that may be sent now, oldest first: waiting, due, not leased, of an active
    subscription that is not paused, and the first waiting one of their subscription and member
    (so a member's events go one after the other), found for each candidate in the pending index."""
    first_waiting = WebhookDelivery.objects.filter(
        subscription=OuterRef("subscription"), member_ref=OuterRef("member_ref"), status=WebhookDelivery.Status.PENDING
    ).order_by("pk").values("pk")[:1]
    return (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, subscription__is_active=True, subscription__paused_at__isnull=True
        )
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .filter(pk=Subquery(first_waiting))
        .order_by("pk")
    )


def _post(subscription: WebhookSubscription, event) -> tuple[int | None, str]:
    """POST one event; (status code, error) — (None, why) when no answer came. No database here:
    it runs in the sender threads."""
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


def _lease(now: datetime, clock: datetime | None, size: int) -> list[WebhookDelivery]:
    """Lease up to ``size`` due deliveries, in a short transaction, for as long as sending them
    may take: each is sent by one worker at a time, and one whose worker died is due again once
    its lease runs out.

    The waiting deliveries are read from the front of their index, a window at a time, and the
    due heads taken from each window: the cost is that of the windows read, however many
    deliveries wait behind them."""
    window_size = 20 * size
    with transaction.atomic():
        batch, after = [], 0
        while len(batch) < size:
            window = list(
                WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, pk__gt=after).order_by("pk").values_list("pk", flat=True)[:window_size]
            )
            if not window:
                break
            heads = _due_heads(now).filter(pk__in=window).select_related("subscription", "event")
            if connection.vendor == "postgresql":
                heads = heads.select_for_update(of=("self",), skip_locked=True)
            batch += heads[: size - len(batch)]
            if len(window) < window_size:
                break
            after = window[-1]
        if batch:
            rounds = -(-len(batch) // settings.WEBHOOK_SENDERS)
            until = (clock or timezone.now()) + timedelta(seconds=rounds * settings.WEBHOOK_TIMEOUT_SECONDS + 5)
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in batch]).update(leased_until=until)
    return batch


def _record(batch: list[WebhookDelivery], answers: list[tuple[int | None, str]], clock: datetime | None) -> None:
    """Record how each leased delivery went, in one transaction: the sent ones in one statement
    per answer code, each other one with its next attempt, or given up after WEBHOOK_RETRY_HOURS
    (its subscription paused with the reason)."""
    at = clock or timezone.now()
    sent: dict[int, list[int]] = {}
    with transaction.atomic():
        for delivery, (status, error) in zip(batch, answers):
            if status is not None and 200 <= status < 300:
                sent.setdefault(status, []).append(delivery.pk)
                delivery.status = WebhookDelivery.Status.SENT
                continue
            delivery.attempts += 1
            delivery.first_attempt_at = delivery.first_attempt_at or at
            delivery.last_attempt_at, delivery.last_status_code, delivery.last_error, delivery.leased_until = at, status, error, None
            if at - delivery.first_attempt_at >= timedelta(hours=settings.WEBHOOK_RETRY_HOURS):
                delivery.status = WebhookDelivery.Status.FAILED
                reason = _("delivery of event %(event)s failed for %(hours)s hours (last: %(error)s)") % {
                    "event": delivery.event_id, "hours": settings.WEBHOOK_RETRY_HOURS, "error": error or status,
                }
                WebhookSubscription.objects.filter(pk=delivery.subscription_id).update(paused_at=at, pause_reason=reason[:255])
            else:
                delivery.next_attempt_at = at + min(FIRST_RETRY * 2 ** min(delivery.attempts - 1, 12), LONGEST_RETRY)
            delivery.save(update_fields=[
                "attempts", "first_attempt_at", "last_attempt_at", "last_status_code", "last_error", "leased_until", "status", "next_attempt_at",
            ])
        for status, pks in sent.items():
            WebhookDelivery.objects.filter(pk__in=pks, status=WebhookDelivery.Status.PENDING).update(
                status=WebhookDelivery.Status.SENT, sent_at=at, attempts=F("attempts") + 1, first_attempt_at=Coalesce("first_attempt_at", Value(at)),
                last_attempt_at=at, last_status_code=status, last_error="", leased_until=None,
            )


def deliveries_send(*, now: datetime | None = None, size: int | None = None) -> list[WebhookDelivery]:
    """Send a batch of the deliveries that may be sent now and record how each went; returns them
    (their ``status`` as recorded), none when nothing is due.

    The batch (``WEBHOOK_BATCH_SIZE``, at most one per subscription and member) is leased in a
    short transaction, POSTed by ``WEBHOOK_SENDERS`` threads with no transaction open, and the
    answers recorded in another.
    """
    clock = now  # a given time stands for the clock (a test's later hour), else the clock itself
    batch = _lease(now or timezone.now(), clock, size or settings.WEBHOOK_BATCH_SIZE)
    if not batch:
        return []
    with ThreadPoolExecutor(max_workers=min(settings.WEBHOOK_SENDERS, len(batch)), thread_name_prefix="webhook") as senders:
        answers = list(senders.map(lambda delivery: _post(delivery.subscription, delivery.event), batch))
    _record(batch, answers, clock)
    return batch


def deliveries_run(*, seconds: float = 50, now: datetime | None = None) -> dict[str, int]:
    """What the schedule runs: dispatch the new events, then send what is due, for at most
    ``seconds``; returns how many deliveries were made, sent and left to retry."""
    started = time.monotonic()
    counts = {"made": deliveries_dispatch(now=now, seconds=seconds / 2), "sent": 0, "retry": 0, "failed": 0}
    while time.monotonic() - started < seconds:
        batch = deliveries_send(now=now)
        if not batch:
            break
        for delivery in batch:
            counts[{"sent": "sent", "failed": "failed"}.get(delivery.status, "retry")] += 1
    return counts


@transaction.atomic
def deliveries_replay(*, deliveries, actor) -> int:
    """Send these deliveries again (what the receiver lost, or what was given up); returns how many."""
    permission_require(actor, "webhooks.change_webhooksubscription", _("replay webhook deliveries"))
    return deliveries.exclude(status=WebhookDelivery.Status.PENDING).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now())


@transaction.atomic
def webhook_resume(*, subscription: WebhookSubscription, actor) -> WebhookSubscription:
    """Resume a paused subscription: what waited is sent, in order."""
    permission_require(actor, "webhooks.change_webhooksubscription", _("resume webhooks"))
    WebhookSubscription.objects.filter(pk=subscription.pk).update(paused_at=None, pause_reason="")
    subscription.refresh_from_db()
    return subscription


def webhooks_schedule_sync(*, program) -> int:
    """Make the beat schedule run the deliveries every 5 seconds; 1 if it changed."""
    return periodic_task_sync(
        name=DELIVERIES_TASK_NAME, task="webhooks.deliver", every_seconds=5,
        description="Gives the new outbound events their webhook deliveries and sends what is due.",
    )
