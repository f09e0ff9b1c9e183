"""The platform API's keys and the responses kept for idempotent requests.

Invariants:
- A key is never stored: only its prefix (to find it) and the SHA-256 of the whole key. The key
  is shown once, when it is made.
- Each key acts as a user of its own (``ApiKey.user``, no password, no console access): rows an
  API request creates name that user, as rows staff create name theirs, and the audit log
  records it as the actor.
- An ``IdempotentResponse`` is kept, in the same transaction as what the request changed, for the
  first successful request with a given ``Idempotency-Key`` of a key; a later request with the
  same key and the same method, path and body gets it back, one with anything else is refused.
"""

import hashlib

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


KEY_START = "mk_"  # every key starts so, then its prefix
PREFIX_LENGTH = 8


def key_digest(key: str) -> str:
    """What is stored of a key: its SHA-256 (a key is 43 random characters, so no slower hash is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(models.Model):
    class Scope(models.TextChoices):
        INGEST = "ingest", _("Ingest: members, orders and events in")
        READ = "read", _("Read: members, their ledgers and the event feed")
        SPEND = "spend", _("Spend: redemptions and the other spends")
        PRIVACY = "privacy", _("Privacy: a member's data exported, or their personal data erased, on their request")

    name = models.CharField(_("name"), max_length=100, unique=True)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, help_text=_("The start of the key, to recognise it by."))
    digest = models.CharField(_("key digest"), max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_key", verbose_name=_("acts as"),
        help_text=_("The user the key's requests act as: what they create names it."),
    )
    rate_per_minute = models.PositiveIntegerField(
        _("requests per minute"), null=True, blank=True, help_text=_("Empty: the default of the settings (API_RATE_PER_MINUTE).")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("made by")
    )
    created_at = models.DateTimeField(_("made at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("revoked by")
    )
    revoke_reason = models.CharField(_("reason for revoking"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotentResponse(models.Model):
    key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="+", verbose_name=_("API key"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    request_digest = models.CharField(_("request digest"), max_length=64, help_text=_("SHA-256 of the method, the path and the body."))
    status_code = models.PositiveSmallIntegerField(_("status code"))
    body = models.JSONField(_("body"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("idempotent response")
        verbose_name_plural = _("idempotent responses")
        constraints = [models.UniqueConstraint(fields=["key", "idempotency_key"], name="idempotent_response_once_per_key")]

    def __str__(self):
        return f"{self.key.name}: {self.idempotency_key}"
