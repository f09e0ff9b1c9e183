"""Writing outbound events (``models.OutboxEvent``): what the platform hears of, in the same
transaction as the change it reports. One function per event type builds its ``data``; bulk paths
(the settlement) write the same events set-based.

Event types and their ``data`` (version 1; a later version adds fields, never renames them):
- ``member.level_changed``: ``from`` and ``to`` (level codes), ``valid_until`` (ISO date or null),
  ``month`` (the settled month, YYYY-MM) and ``reason`` (upgrade, renewal, downgrade, switch), for each
  member whose level code a settlement changed;
- ``member.level_at_risk``: ``level``, ``drops_to``, ``growth_needed``, ``month`` (the settlement
  that would drop the member) and ``settles_at``, ``level_risk_notice_days`` before it, once per
  member and settlement;
- ``points.expiring``: ``amount`` and ``expires_at``, ``points_expiry_notice_days`` before a
  member's points end, once per member and end;
- ``points.expired``: ``amount`` and ``month``, for each member whose points a settlement expired;
- ``benefit.granted``: ``benefit``, ``name``, ``period``, ``quantity``, ``valid_until``, ``points``,
  for each grant (not blocked) made one at a time, by a claim, by the settlement or by the daily task;
- ``redemption.created``, ``redemption.cancelled``: ``redemption``, ``item``, ``quantity``, ``points``
  (and ``reason`` when cancelled);
- ``subscription.started``, ``subscription.renewed``, ``subscription.ended``: ``subscription``,
  ``plan``, ``trial``, ``starts_on``, ``ends_on`` (and ``paid_with``: money or points, when renewed;
  ``reason`` when ended);
- ``adjustment.approved``: ``adjustment``, ``currency``, ``amount``, ``reason_code``, ``approved_by``;
- ``invitation.rewarded``: ``invitation``, ``inviter``, ``invitee`` (member ids), for each of the two;
- ``trial.cashback_released``, ``trial.cashback_cleared``: ``subscription``, ``plan``, ``points``;
- ``alert.raised``: ``alert``, ``rule``, ``severity``, ``incident``.
"""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone

from common.bulk import new_row

from ..models import OutboxEvent

LEVEL_CHANGED = "member.level_changed"
LEVEL_AT_RISK = "member.level_at_risk"
POINTS_EXPIRING = "points.expiring"
POINTS_EXPIRED = "points.expired"
BENEFIT_GRANTED = "benefit.granted"
EVENT_TYPES = (
    LEVEL_CHANGED,
    LEVEL_AT_RISK,
    POINTS_EXPIRING,
    POINTS_EXPIRED,
    BENEFIT_GRANTED,
    "redemption.created",
    "redemption.cancelled",
    "subscription.started",
    "subscription.renewed",
    "subscription.ended",
    "adjustment.approved",
    "invitation.rewarded",
    "trial.cashback_released",
    "trial.cashback_cleared",
    "alert.raised",
)


def level_changed_event(*, member_ref: str, from_code: str, to_code: str, valid_until: date | None, month: date, reason: str, at: datetime) -> OutboxEvent:
    """An unsaved ``member.level_changed`` event (a settlement writes them in bulk)."""
    data = {"from": from_code, "to": to_code, "valid_until": valid_until.isoformat() if valid_until else None, "month": f"{month:%Y-%m}", "reason": reason}
    return new_row(OutboxEvent, type=LEVEL_CHANGED, member_ref=member_ref, occurred_at=at, data=data, created_at=at)


def event_new(*, type: str, member_ref: str, data: dict, at: datetime, key: str | None = None) -> OutboxEvent:
    """An unsaved event, for a bulk path to write (``key``: an event told once)."""
    return OutboxEvent(type=type, member_ref=member_ref, occurred_at=at, data=data, key=key, created_at=at)


def events_write_once(events: list[OutboxEvent]) -> int:
    """Write ``events`` that carry a key, leaving out those whose key was written before; returns
    how many were new."""
    keys = [e.key for e in events]
    before = OutboxEvent.objects.filter(key__any=keys).count() if events else 0
    OutboxEvent.objects.bulk_create(events, ignore_conflicts=True, batch_size=5000)
    return (OutboxEvent.objects.filter(key__any=keys).count() - before) if events else 0


def outbox_publish(*, type: str, member_ref: str, data: dict, occurred_at: datetime | None = None) -> OutboxEvent:
    """Write one event in the caller's transaction."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    return OutboxEvent.objects.create(type=type, member_ref=member_ref, data=data, occurred_at=occurred_at or timezone.now())
