"""Manual adjustments: operations staff add or deduct growth and points by hand, saying why.

An adjustment within the program's approval threshold books at once; a larger one waits for a
different staff member with the approval permission. Rejected and approved requests are kept.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from common.roles import permission_require
from membership.models import Currency, Member, Source
from membership.selectors import program_active_get
from membership.services import growth_adjust
from points.models import PointsEntry
from points.services import points_credit, points_debit

from .models import ManualAdjustment


def _require(actor, permission: str, action: str):
    """Adjustments are always made by a person: the system (None) may not make them either."""
    if actor is None:
        raise PermissionDenied(f"nobody may {action} without saying who they are.")
    permission_require(actor, permission, action)


@transaction.atomic
def adjustment_request(
    *,
    member: Member,
    currency: str,
    amount: int,
    reason_code: str,
    reason: str,
    actor,
    reference: str = "",
) -> ManualAdjustment:
    """Record an adjustment; book it at once if it is within the approval threshold."""
    _require(actor, "riskcontrol.add_manualadjustment", "request manual adjustments")
    adjustment = ManualAdjustment(
        member=member,
        currency=currency,
        amount=amount,
        reason_code=reason_code,
        reason=(reason or "").strip(),
        reference=(reference or "").strip(),
        requested_by=actor,
    )
    if amount == 0:
        raise ValidationError({"amount": "the adjustment amount must not be 0"})
    adjustment.full_clean()
    adjustment.save()
    if abs(amount) <= program_active_get().adjustment_approval_threshold:
        _book(adjustment, decided_by=actor, note="within the approval threshold")
    return adjustment


@transaction.atomic
def adjustment_approve(*, adjustment: ManualAdjustment, actor, note: str = "") -> ManualAdjustment:
    """Approve a pending adjustment and book it. The approver must not be the requester."""
    _require(actor, "riskcontrol.approve_manualadjustment", "approve manual adjustments")
    adjustment = ManualAdjustment.objects.select_for_update().get(pk=adjustment.pk)
    if adjustment.status != ManualAdjustment.Status.PENDING:
        raise ValidationError(f"adjustment #{adjustment.pk} is {adjustment.get_status_display().lower()}, not waiting for approval")
    if adjustment.requested_by_id == actor.pk:
        raise PermissionDenied("an adjustment must be approved by a different staff member than the one who requested it")
    _book(adjustment, decided_by=actor, note=note)
    return adjustment


@transaction.atomic
def adjustment_reject(*, adjustment: ManualAdjustment, actor, note: str) -> ManualAdjustment:
    _require(actor, "riskcontrol.approve_manualadjustment", "reject manual adjustments")
    adjustment = ManualAdjustment.objects.select_for_update().get(pk=adjustment.pk)
    if adjustment.status != ManualAdjustment.Status.PENDING:
        raise ValidationError(f"adjustment #{adjustment.pk} is {adjustment.get_status_display().lower()}, not waiting for approval")
    if not (note or "").strip():
        raise ValidationError({"decision_note": "say why the adjustment is rejected"})
    adjustment.status = ManualAdjustment.Status.REJECTED
    adjustment.decided_by, adjustment.decided_at, adjustment.decision_note = actor, timezone.now(), note.strip()
    adjustment.save()
    return adjustment


def _book(adjustment: ManualAdjustment, *, decided_by, note: str):
    key = f"adjustment:{adjustment.pk}"
    reason = f"{adjustment.get_reason_code_display()}: {adjustment.reason}"
    now = timezone.now()
    if adjustment.currency == Currency.GROWTH:
        adjustment.growth_entry = growth_adjust(
            member=adjustment.member,
            amount=adjustment.amount,
            reason=reason,
            actor=adjustment.requested_by,
            reference=adjustment.reference,
            idempotency_key=key,
            effective_at=now,
        )
    elif adjustment.amount > 0:
        adjustment.points_entry = points_credit(
            program=program_active_get(),
            member=adjustment.member,
            amount=adjustment.amount,
            effective_at=now,
            source=Source.ADJUSTMENT,
            source_ref=adjustment.reference,
            idempotency_key=key,
            kind=PointsEntry.Kind.ADJUSTMENT,
            actor=adjustment.requested_by,
            reason=reason,
        )
    else:
        adjustment.points_entry = points_debit(
            member=adjustment.member,
            amount=-adjustment.amount,
            kind=PointsEntry.Kind.ADJUSTMENT,
            effective_at=now,
            source=Source.ADJUSTMENT,
            source_ref=adjustment.reference,
            idempotency_key=key,
            actor=adjustment.requested_by,
            reason=reason,
        )
    adjustment.status = ManualAdjustment.Status.BOOKED
    adjustment.decided_by, adjustment.decided_at, adjustment.decision_note = decided_by, now, note
    adjustment.save()
