"""Member lists: made and named by staff, their members uploaded as CSV files.

An upload reads the whole file first, naming every bad row (file, row, column); then, in one
transaction, it adds the file's members, takes them off, or makes the list exactly the file's
members, and keeps a record of who uploaded what, why, and what it changed. Uploading the same
file again changes nothing. A list named by a rule or a campaign cannot be deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.csvio import read_rows, row_error
from common.roles import permission_require
from membership.models import Member
from membership.services.members import unknown_member

from .models import Segment, SegmentMember, SegmentUpload
from .selectors import segment_users

MEMBER_ID_MAX = 64
CHUNK = 5000


@dataclass
class SegmentFileReport:
    counts: dict
    errors: list[str]
    upload: SegmentUpload | None = None

    def summary(self) -> str:
        labels = {"read": _("read"), "added": _("added"), "removed": _("taken off"), "unchanged": _("unchanged"), "rejected": _("rejected")}
        return ", ".join(f"{labels[k]} {v:,}" for k, v in self.counts.items())


@transaction.atomic
def segment_save(*, segment: Segment, actor) -> Segment:
    """Save a new list made by ``actor``, or the changes to its name and description; a list's
    code cannot change once a rule or a campaign names it."""
    if segment.pk is None:
        permission_require(actor, "segments.add_segment", _("make member lists"))
        segment.created_by = actor
    else:
        permission_require(actor, "segments.change_segment", _("change member lists"))
        before = Segment.objects.select_for_update().get(pk=segment.pk)
        if before.code != segment.code and (users := segment_users(segment=before)):
            raise ValidationError({"code": _("%(code)s is named by %(users)s: its code cannot change.") % {"code": before.code, "users": ", ".join(users)}})
    segment.full_clean()
    segment.save()
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, actor) -> None:
    """Delete a list (with its members and uploads) that no rule or campaign names."""
    permission_require(actor, "segments.delete_segment", _("delete member lists"))
    if users := segment_users(segment=segment):
        raise ValidationError(_("%(code)s is named by %(users)s: it cannot be deleted.") % {"code": segment.code, "users": ", ".join(users)})
    segment.delete()


def segment_members_import(
    *, segment: Segment, path: str, actor, mode: str, reason: str, encoding: str = "utf-8", name: str = ""
) -> SegmentFileReport:
    """Add the members of a CSV file (a ``member_id`` column) to ``segment``, take them off
    (``mode`` remove), or make the list exactly the file's members (replace). A row whose member
    id is empty, too long or no member's is rejected with a sentence naming it; the other rows
    still apply. A member the file names twice counts once."""
    permission_require(actor, "segments.change_segment", _("change member lists"))
    if mode not in SegmentUpload.Mode.values:
        raise ValidationError({"mode": _("mode %(mode)s is not one of %(known)s") % {"mode": repr(mode), "known": ", ".join(SegmentUpload.Mode.values)}})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("reason is required: say why the list changes")})
    label = name or path
    counts = dict.fromkeys(("read", "added", "removed", "unchanged", "rejected"), 0)
    errors: list[str] = []
    rows: dict[str, int] = {}  # member id → the row that first named it
    for row in read_rows(path, required=("member_id",), known=("member_id",), encoding=encoding):
        counts["read"] += 1
        member_id = row.values.get("member_id", "")
        if not member_id:
            errors.append(row_error(label, row.number, "member_id", _("member_id is required")))
        elif len(member_id) > MEMBER_ID_MAX:
            errors.append(row_error(label, row.number, "member_id", _("%(field)s is longer than %(limit)s characters") % {"field": "member_id", "limit": MEMBER_ID_MAX}))
        elif member_id in rows:
            counts["unchanged"] += 1
        else:
            rows[member_id] = row.number
    ids = list(rows)
    found: dict[str, int] = {}
    for start in range(0, len(ids), CHUNK):
        found.update(Member.objects.filter(member_id__any=ids[start : start + CHUNK]).values_list("member_id", "pk"))
    for member_id in ids:
        if member_id not in found:
            errors.append(row_error(label, rows[member_id], "member_id", unknown_member(member_id)))
    counts["rejected"] = len(errors)
    upload = _members_apply(segment=segment, named=set(found.values()), mode=mode, label=label, reason=reason, actor=actor, counts=counts)
    return SegmentFileReport(counts=counts, errors=errors, upload=upload)


def segment_members_add(*, segment: Segment, members, actor, reason: str, label: str) -> SegmentFileReport:
    """Add ``members`` (a queryset: the members list's selection, or all it found) to ``segment``,
    kept as an upload named ``label`` (what the selection was) with ``reason``."""
    permission_require(actor, "segments.change_segment", _("change member lists"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("reason is required: say why the list changes")})
    named = set(members.values_list("pk", flat=True))
    counts = {"read": len(named), "added": 0, "removed": 0, "unchanged": 0, "rejected": 0}
    upload = _members_apply(segment=segment, named=named, mode=SegmentUpload.Mode.ADD, label=label, reason=reason, actor=actor, counts=counts)
    return SegmentFileReport(counts=counts, errors=[], upload=upload)


@transaction.atomic
def _members_apply(*, segment: Segment, named: set[int], mode: str, label: str, reason: str, actor, counts: dict) -> SegmentUpload:
    """Make the change of one upload (the members ``named``, by ``mode``) under the list's lock,
    and keep the upload with its counts."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    upload = SegmentUpload.objects.create(segment=segment, mode=mode, file_name=label[:255], reason=reason[:255], actor=actor, at=timezone.now())
    held = set(SegmentMember.objects.filter(segment=segment).values_list("member_id", flat=True))
    if mode == SegmentUpload.Mode.REMOVE:
        gone = sorted(named & held)
        fresh = []
    else:
        fresh = sorted(named - held)
        gone = sorted(held - named) if mode == SegmentUpload.Mode.REPLACE else []
    SegmentMember.objects.bulk_create([SegmentMember(segment=segment, member_id=pk, upload=upload) for pk in fresh], batch_size=CHUNK)
    for start in range(0, len(gone), CHUNK):
        SegmentMember.objects.filter(segment=segment, member_id__in=gone[start : start + CHUNK]).delete()
    counts["added"], counts["removed"] = len(fresh), len(gone)
    counts["unchanged"] += len(named) - len(fresh) - (len(gone) if mode == SegmentUpload.Mode.REMOVE else 0)
    for field in ("read", "added", "removed", "unchanged", "rejected"):
        setattr(upload, field, counts[field])
    upload.save(update_fields=["read", "added", "removed", "unchanged", "rejected"])
    segment.save(update_fields=["updated_at"])
    return upload


def segment_members_import_job(*, path, name, encoding, actor, options, on_progress):
    """``segment_members_import`` run by an import job (``options``: the list, the mode, the reason)."""
    segment = Segment.objects.get(pk=options["segment"])
    return segment_members_import(segment=segment, path=path, name=name, encoding=encoding, actor=actor, mode=options["mode"], reason=options["reason"])
