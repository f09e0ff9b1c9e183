"""Members: created or updated one at a time (the platform API) or by the thousand (imports), by
the same code; and the member's latest activity, which the lifecycle stages read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.bulk import new_row, rows_insert, rows_update

from ..models import Member
from .results import BatchResult, BookingResult, Rejection

MEMBER_FIELDS = ("name", "phone", "birthday", "joined_at", "base_score")


def unknown_member(member_id: str) -> str:
    """The sentence for a member id no member has, in the active language."""
    return _("unknown member %(member)s") % {"member": repr(member_id)}


def _members_upsert(rows: list[dict]) -> tuple[list[tuple[Member | None, BookingResult | Rejection]], list[Member], list[Member]]:
    """What creating the new members of ``rows`` and updating the given fields (None leaves a
    field as it is) of the known ones would do, each member once, checked and unsaved: per row the
    member and what happens, or a rejection; and the members to create and to update."""
    existing = {
        m.member_id: m for m in Member.objects.select_for_update().filter(member_id__any=[r["member_id"] for r in rows]).order_by("pk")
    }
    outcomes: list[tuple[Member | None, BookingResult | Rejection]] = []
    new, changed = [], []
    now = timezone.now()
    for row in rows:
        given = {k: row.get(k) for k in MEMBER_FIELDS if row.get(k) is not None}
        member = existing.get(row["member_id"])
        if member is None:
            member = new_row(Member, member_id=row["member_id"], **given)
            if member.joined_at is None:
                member.joined_at = now
            outcome = "created"
        else:
            fields = [k for k, v in given.items() if getattr(member, k) != v]
            if not fields:
                outcomes.append((member, BookingResult("unchanged")))
                continue
            for k in fields:
                setattr(member, k, given[k])
            outcome = "changed"
        try:
            member.clean_fields(exclude=["level"])
        except ValidationError as exc:
            name, messages = next(iter(exc.message_dict.items()))
            outcomes.append((None, Rejection(name, messages[0])))
            continue
        (new if outcome == "created" else changed).append(member)
        outcomes.append((member, BookingResult(outcome)))
    return outcomes, new, changed


def members_upsert_batch(*, rows: list[dict]) -> BatchResult:
    """``member_upsert`` for many members at once (each member once per batch), in one transaction,
    written in bulk (an import is recorded by its job, not member by member in the audit log)."""
    with transaction.atomic():
        outcomes, new, changed = _members_upsert(rows)
        rows_insert(Member, new)
        rows_update(Member, changed, [*MEMBER_FIELDS, "updated_at"])
        return BatchResult([outcome for _, outcome in outcomes])


@transaction.atomic
def member_upsert(
    *,
    member_id: str,
    name: str | None = None,
    phone: str | None = None,
    birthday: date | None = None,
    joined_at: datetime | None = None,
    base_score: int | None = None,
) -> tuple[Member, str]:
    """Create the member or update the fields given (None leaves a field as it is), saved one by
    one so that the audit log records the change and who made it.

    Returns the member and "created", "changed" or "unchanged".
    """
    member_id = (member_id or "").strip()
    if not member_id:
        raise ValidationError({"member_id": _("member_id is required")})
    row = dict(member_id=member_id, name=name, phone=phone, birthday=birthday, joined_at=joined_at, base_score=base_score)
    [(member, outcome)], new, changed = _members_upsert([row])
    if isinstance(outcome, Rejection):
        raise ValidationError({outcome.field: outcome.message})
    if new:
        member.save(force_insert=True)
    elif changed:
        member.save(update_fields=[*MEMBER_FIELDS, "updated_at"])
    return member, outcome.outcome


def members_active_record(activity: Iterable[tuple[Member, datetime]]) -> None:
    """Keep ``last_active_at`` (the lifecycle stages read it): each member's latest order or
    behaviour of ``activity`` (member, when), if later than the one known."""
    latest: dict[int, tuple[Member, datetime]] = {}
    for member, at in activity:
        if member.pk not in latest or at > latest[member.pk][1]:
            latest[member.pk] = (member, at)
    touched = []
    for member, at in latest.values():
        if member.last_active_at is None or at > member.last_active_at:
            member.last_active_at = at
            touched.append(member)
    rows_update(Member, touched, ["last_active_at"])
