"""Making and revoking API keys, and running a request once per idempotency key."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.roles import permission_require

from .models import KEY_START, PREFIX_LENGTH, ApiKey, IdempotentResponse, key_digest
# What the services ask of whoever spends on a member's behalf, granted to the user of a key with the scope.
SCOPE_PERMISSIONS = {
    ApiKey.Scope.INGEST: (),
    ApiKey.Scope.READ: (),
    ApiKey.Scope.PRIVACY: ("membership.export_personal_data", "membership.erase_personal_data"),
    ApiKey.Scope.SPEND: (
        "mall.cancel_redemption",
        "mall.reverse_cashoffset",
        "subscriptions.add_subscription",
        "subscriptions.change_subscription",
    ),
}


def scopes_parse(text: str) -> list[str]:
    """Scopes from a comma-separated list, checked: at least one, each known."""
    scopes = sorted({part.strip() for part in (text or "").split(",") if part.strip()})
    if not scopes:
        raise ValidationError({"scopes": _("give at least one scope: %(known)s") % {"known": ", ".join(ApiKey.Scope.values)}})
    unknown = [scope for scope in scopes if scope not in ApiKey.Scope.values]
    if unknown:
        raise ValidationError(
            {"scopes": _("unknown scope %(scope)s; the scopes are %(known)s") % {"scope": ", ".join(unknown), "known": ", ".join(ApiKey.Scope.values)}}
        )
    return scopes


@transaction.atomic
def api_key_create(*, name: str, scopes: list[str], actor, rate_per_minute: int | None = None) -> tuple[ApiKey, str]:
    """Make a key named ``name`` with ``scopes``; returns the key's row and the key itself, which is
    not stored anywhere and cannot be shown again."""
    permission_require(actor, "api.add_apikey", _("make API keys"))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("give the key a name (the system that will use it)")})
    if len(name) > 100:
        raise ValidationError({"name": _("the name is longer than 100 characters")})
    if ApiKey.objects.filter(name=name).exists():
        raise ValidationError({"name": _("there is already a key named %(name)s") % {"name": name}})
    scopes = scopes_parse(",".join(scopes))
    while True:
        prefix = secrets.token_urlsafe(PREFIX_LENGTH)[:PREFIX_LENGTH]
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    key = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    user = get_user_model().objects.create(username=f"api:{name}"[:150], first_name=name[:150], is_staff=False)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    codenames = [permission.split(".", 1) for scope in scopes for permission in SCOPE_PERMISSIONS[scope]]
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=[app for app, _ in codenames], codename__in=[code for _, code in codenames])
    )
    api_key = ApiKey.objects.create(
        name=name, prefix=prefix, digest=key_digest(key), scopes=scopes, user=user, created_by=actor, rate_per_minute=rate_per_minute
    )
    return api_key, key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor, reason: str = "") -> ApiKey:
    """Revoke a key: its requests are refused from now on (401). Revoking twice changes nothing."""
    permission_require(actor, "api.change_apikey", _("revoke API keys"))
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at, api_key.revoked_by, api_key.revoke_reason = timezone.now(), actor, (reason or "").strip()[:255]
    api_key.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    user = api_key.user
    user.is_active = False
    user.save(update_fields=["is_active"])
    return api_key


def api_key_used(*, api_key: ApiKey, every_seconds: int = 60) -> None:
    """Note that the key was used now, at most once a minute (a write per request would make
    parallel requests of one key queue on its row)."""
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() >= every_seconds:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


class IdempotencyConflict(Exception):
    """The idempotency key was used before for another request."""


class _Raced(Exception):
    pass


def idempotent_run(*, api_key: ApiKey, idempotency_key: str, request_digest: str, run: Callable[[], tuple[int, dict]]) -> tuple[int, dict, bool]:
    """Run ``run`` (returning a status and a body) once per ``idempotency_key`` of ``api_key``:
    (status, body, replayed). A key seen before with the same ``request_digest`` gives back the
    first response, with 200 for a 201; with another digest it raises ``IdempotencyConflict``.
    A response is kept only when ``run`` succeeds, in the same transaction as what it changed, so
    a refused request may be tried again with the same key."""

    def replay(kept: IdempotentResponse):
        if kept.request_digest != request_digest:
            raise IdempotencyConflict()
        return (200 if kept.status_code == 201 else kept.status_code), kept.body, True

    if kept := IdempotentResponse.objects.filter(key=api_key, idempotency_key=idempotency_key).first():
        return replay(kept)
    refused = None
    try:
        with transaction.atomic():
            try:
                status, body = run()
            except Exception as exc:
                if getattr(exc, "record", None) is None:
                    raise
                refused = exc  # a refusal the service recorded (a blacklisted member's attempt) is kept
            if refused is None:
                try:
                    with transaction.atomic():
                        IdempotentResponse.objects.create(
                            key=api_key, idempotency_key=idempotency_key, request_digest=request_digest, status_code=status, body=body
                        )
                except IntegrityError:
                    raise _Raced from None
    except _Raced:
        # Another request with the same key ran at the same time and kept its response first:
        # what this one did is rolled back, and the first response is the answer.
        return replay(IdempotentResponse.objects.get(key=api_key, idempotency_key=idempotency_key))
    if refused is not None:
        raise refused
    return status, body, False
