"""A member's rights over their personal data (PIPL Art. 45 and 47, GDPR Art. 15 and 17): an export
of everything held on them, and the erasure of their personal data on request.

Erasure removes what identifies the person — name, phone, birthday, and what every app registers
(``hooks.personal_data``: the invite link, the phone in risk alerts) — also from the audit trail's
record of earlier values, and keeps the member's id (a pseudonym of the platform's), ledgers and
history, so balances, levels and the event feed stay consistent. It is recorded
(``PersonalDataErasure``: who, when, why) and cannot be undone; the member can still earn and spend.
"""

from __future__ import annotations

from auditlog.models import LogEntry as AuditEntry
from django.contrib.admin.models import LogEntry as AdminEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.records import rows
from common.roles import permission_require

from .. import hooks
from ..models import GrowthEntry, LevelChange, Member, MemberEvent, Order, OutboxEvent, PersonalDataErasure

ERASED = "[erased]"
PERSONAL_FIELDS = ("name", "phone", "birthday")


def member_data_export(*, member: Member, actor) -> dict:
    """Everything held on ``member``: their profile, orders, ledgers, level history, behaviour
    events and the events told to the platform, then what each app registers (points, benefits,
    redemptions, paid membership, invitations, risk control). Values are JSON-ready once encoded
    with ``DjangoJSONEncoder`` (dates, times and amounts)."""
    permission_require(actor, "membership.export_personal_data", _("export members' personal data"))
    member = Member.objects.select_related("level").get(pk=member.pk)
    erasure = PersonalDataErasure.objects.filter(member=member).first()
    data = {
        "exported_at": timezone.now(),
        "member": {
            "member_id": member.member_id, "name": member.name, "phone": member.phone, "birthday": member.birthday,
            "joined_at": member.joined_at, "status": member.status, "level": member.level.code if member.level else None,
            "level_valid_until": member.level_valid_until, "base_score": member.base_score, "last_active_at": member.last_active_at,
            "personal_data_erased_at": erasure.erased_at if erasure else None,
        },
        "orders": rows(
            Order.objects.filter(member=member).order_by("paid_at", "pk"), "order_id", "paid_at", "status", "goods_amount",
            "discount_amount", "shipping_amount", "refunded_amount", "category", "shop_id",
        ),
        "growth_entries": rows(
            GrowthEntry.objects.filter(member=member).order_by("effective_at", "pk"), "effective_at", "kind", "amount", "capped",
            "source", "source_ref", "reason",
        ),
        "level_changes": rows(
            LevelChange.objects.filter(member=member).order_by("created_at", "pk"), "run__month", "from_level__code", "to_level__code",
            "valid_until", "window_growth", "reason",
        ),
        "behaviour_events": rows(MemberEvent.objects.filter(member=member).order_by("occurred_at", "pk"), "event_id", "event_type", "occurred_at"),
        "events_told_to_the_platform": rows(
            OutboxEvent.objects.filter(member_ref=member.member_id).order_by("pk"), "type", "occurred_at", "data"
        ),
    }
    for key, part in sorted(hooks.PERSONAL_DATA.items()):
        data[key] = part.export(member=member)
    return data


@transaction.atomic
def member_data_erase(*, member: Member, actor, reason: str) -> PersonalDataErasure:
    """Erase ``member``'s personal data for good (see the module docstring); erasing twice is
    refused, naming when it was done."""
    permission_require(actor, "membership.erase_personal_data", _("erase members' personal data"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("say which request this erasure answers (e.g. its ticket number)")})
    if len(reason) > 255:
        raise ValidationError({"reason": _("the reason is longer than 255 characters")})
    member = Member.objects.select_for_update().get(pk=member.pk)
    if done := PersonalDataErasure.objects.filter(member=member).first():
        raise ValidationError(
            {"member": _("the personal data of %(member)s was erased already, on %(when)s") % {
                "member": member.member_id, "when": f"{timezone.localtime(done.erased_at):%Y-%m-%d %H:%M}",
            }}
        )
    changed = {"member": Member.objects.filter(pk=member.pk).update(name="", phone="", birthday=None, updated_at=timezone.now())}
    changed["audit_trail"] = audit_trail_erase(model=Member, pks=[member.pk], fields=PERSONAL_FIELDS, label=lambda pk: member.member_id)
    for key, part in sorted(hooks.PERSONAL_DATA.items()):
        if part.erase is not None:
            changed[key] = part.erase(member=member)
    return PersonalDataErasure.objects.create(member=member, reason=reason, erased_by=actor, rows_changed=changed)


def audit_trail_erase(*, model, pks, fields: tuple[str, ...], label=None) -> int:
    """Replace the values of ``fields`` in the audit trail of the ``model`` rows ``pks`` (the before
    and after of each change, the row as it was) with ``ERASED``, and their name in it and in the
    admin's history with ``label(pk)`` if given; what was changed, by whom and when stays."""
    content_type = ContentType.objects.get_for_model(model)
    changed = 0
    for entry in AuditEntry.objects.filter(content_type=content_type, object_pk__in=[str(pk) for pk in pks]).select_for_update():
        changes = entry.changes if isinstance(entry.changes, dict) else {}
        for field in fields:
            if field in changes:
                changes[field] = [ERASED if value not in (None, "", "None") else value for value in changes[field]]
        serialized = entry.serialized_data
        if isinstance(serialized, dict) and isinstance(serialized.get("fields"), dict):
            for field in fields:
                if field in serialized["fields"]:
                    serialized["fields"][field] = ERASED
        entry.changes, entry.serialized_data, entry.changes_text = changes, serialized, ""
        if label is not None:
            entry.object_repr = label(int(entry.object_pk))
        entry.save(update_fields=["changes", "serialized_data", "object_repr", "changes_text"])
        changed += 1
    if label is not None:
        for pk in pks:
            changed += AdminEntry.objects.filter(content_type=content_type, object_id=str(pk)).update(object_repr=label(pk))
    return changed
