"""Reads of the API: the key a request presents, a member as the API shows them, ledger pages."""

from __future__ import annotations

import base64
import hmac
from datetime import datetime

from django.db.models import Q
from django.utils.translation import get_language

from membership.models import Member
from membership.selectors import growth_total_get, member_level_progress_get
from points.selectors import points_available_get, points_balance_get, points_expiring_get, points_frozen_get

from .models import KEY_START, PREFIX_LENGTH, ApiKey, key_digest


def api_key_get(*, key: str) -> ApiKey | None:
    """The key ``key`` if it exists and is not revoked, else None (without saying which)."""
    if not key.startswith(KEY_START) or len(key) < len(KEY_START) + PREFIX_LENGTH + 2:
        return None
    prefix = key[len(KEY_START) : len(KEY_START) + PREFIX_LENGTH]
    api_key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.digest, key_digest(key)) or api_key.revoked_at is not None:
        return None
    return api_key


def member_view_get(*, member: Member) -> dict:
    """What ``GET /members/{member_id}`` answers: the member, their level and why, the forecast of
    the next settlement, and their points (the same figures as the member page and ``export_members``)."""
    progress = member_level_progress_get(member=member)
    level = progress["level"]
    start, end = progress["window"]
    available = points_available_get(member=member)
    return {
        "member_id": member.member_id,
        "name": member.name,
        "status": member.status,
        "joined_at": member.joined_at,
        "level": level.code,
        "level_name": level.name_en if get_language() == "en" and level.name_en else level.name,
        "level_valid_until": member.level_valid_until,
        "growth_total": growth_total_get(member=member),
        "points_balance": available,
        "window_start": start,
        "window_end": end,
        "window_growth": progress["window_growth"],
        "to_keep": progress["to_keep"],
        "next_level": progress["next_level"].code if progress["next_level"] else None,
        "to_next": progress["to_next"],
        "monthly_pace": progress["monthly_pace"],
        "months_to_next": progress["months_to_next"],
        "next_settlement": f"{progress['next_settlement']:%Y-%m}",
        "drops_to": progress["drops_to"].code if progress["drops_to"] else None,
        "points": {
            "available": available,
            "frozen": points_frozen_get(member=member),
            "balance": points_balance_get(member=member),
            "expiring": [{"expires_at": when, "amount": amount} for when, amount in points_expiring_get(member=member)],
        },
    }


class BadCursor(ValueError):
    pass


def _cursor_encode(entry) -> str:
    return base64.urlsafe_b64encode(f"{entry.effective_at.isoformat()}|{entry.pk}".encode()).decode().rstrip("=")


def _cursor_decode(text: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        when, pk = raw.split("|")
        return datetime.fromisoformat(when), int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadCursor(text) from None


def ledger_page(*, entries, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """A page of ledger ``entries``, newest first (effective time, then id), after ``cursor``; and
    the cursor of the next page, or None at the end. Keyset paging: the cost of a page does not
    grow with how deep it is."""
    entries = entries.order_by("-effective_at", "-pk")
    if cursor:
        when, pk = _cursor_decode(cursor)
        entries = entries.filter(Q(effective_at__lt=when) | Q(effective_at=when, pk__lt=pk))
    page = list(entries[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, (_cursor_encode(page[-1]) if more else None)
