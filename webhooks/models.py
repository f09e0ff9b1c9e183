"""Webhook subscriptions and the deliveries of outbound events to them.

Invariants:
- Each event of the outbox (``membership.OutboxEvent``) that a subscription wants gets exactly one
  delivery row for it: the dispatcher reads the events after the subscription's cursor in the
  feed's order and writes their deliveries and the new cursor in one transaction.
- A delivery is sent only when every earlier delivery of the same subscription and member has
  ended (sent or given up), so a member's events arrive in order. A worker leases a delivery
  before it sends it and marks it sent after the answer; a worker killed in between leaves the
  lease to run out and the delivery to be sent again (at least once: the receiver drops
  duplicates by ``X-Event-Id``). No transaction stays open while a request is in flight.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from membership.models import OutboxEvent


class WebhookSubscription(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("secret"), max_length=200, help_text=_("The key of the HMAC-SHA256 signature of each delivery."))
    event_types = models.JSONField(_("event types"), default=list, help_text=_("The types it receives; [\"*\"] for every type."))
    is_active = models.BooleanField(_("active"), default=True)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    pause_reason = models.CharField(_("why paused"), max_length=255, blank=True)
    cursor_xid = models.BigIntegerField(_("cursor transaction id"), default=-1, editable=False)
    cursor_id = models.BigIntegerField(_("cursor event id"), default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("made by")
    )
    created_at = models.DateTimeField(_("made at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def wants(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Given up")

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("subscription"))
    event = models.ForeignKey(OutboxEvent, on_delete=models.PROTECT, db_index=False, related_name="+", verbose_name=_("event"))
    member_ref = models.CharField(_("member id"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    first_attempt_at = models.DateTimeField(_("first attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last answer"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    leased_until = models.DateTimeField(_("being sent until"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            # What is waiting, by subscription and member in order: the sender's question.
            models.Index(fields=["subscription", "member_ref", "id"], condition=Q(status="pending"), name="delivery_pending_idx"),
            # What is waiting, oldest first: the sender reads it from the front, past no sent row.
            models.Index(fields=["id"], condition=Q(status="pending"), name="delivery_waiting_idx"),
            models.Index(fields=["event"], name="delivery_event_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["subscription", "event"], name="delivery_once_per_event")]

    def __str__(self):
        return f"{self.subscription.name}: {self.event_id}"
