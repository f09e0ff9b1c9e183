"""Growth booked by hand, and credits that were withheld and are booked later (a released
blacklist credit). Who and why are required; the approval of large adjustments is risk control's
(``riskcontrol.services.adjustment_request``), which books through these."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import EarningRule, GrowthEntry, Member, OrderCredit, Program, Source
from ..selectors import program_active_get
from .posting import ledger_for, ledger_post


@transaction.atomic
def growth_adjust(
    *,
    member: Member,
    amount: int,
    reason: str,
    actor,
    reference: str = "",
    idempotency_key: str | None = None,
    effective_at: datetime | None = None,
) -> GrowthEntry:
    """Add (amount > 0) or deduct (< 0) growth by hand. Who and why are required."""
    if not amount:
        raise ValidationError({"amount": _("the adjustment amount must not be 0")})
    if not (reason or "").strip():
        raise ValidationError({"reason": _("a reason is required for a manual adjustment")})
    if actor is None:
        raise ValidationError({"actor": _("a manual adjustment must name the staff member making it")})
    key = idempotency_key or f"adjustment:growth:{uuid.uuid4()}"
    existing = GrowthEntry.objects.filter(idempotency_key=key).first()
    if existing:
        return existing
    Member.objects.select_for_update().filter(pk=member.pk).first()
    return GrowthEntry.objects.create(
        member=member,
        kind=GrowthEntry.Kind.ADJUSTMENT,
        amount=amount,
        effective_at=effective_at or timezone.now(),
        source=Source.ADJUSTMENT,
        source_ref=reference,
        idempotency_key=key,
        created_by=actor,
        reason=reason.strip(),
    )


@transaction.atomic
def withheld_credit_book(
    *,
    member: Member,
    currency: str,
    amount: int,
    effective_at: datetime,
    source: str,
    source_ref: str,
    rule: EarningRule | None,
    idempotency_key: str,
    actor,
    reason: str,
    program: Program | None = None,
):
    """Credit what was withheld from an earning (a blacklist's blocked credit), once per
    ``idempotency_key``, dated at the original ``effective_at``, under the original source and
    rule; for an order the amount joins the order's ``credited``, so a later refund takes it back.
    Returns the ledger entry."""
    if amount <= 0:
        raise ValidationError({"amount": _("there is nothing left to credit")})
    ledger = ledger_for(currency)
    if existing := ledger.objects.filter(idempotency_key=idempotency_key).first():
        return existing
    member = Member.objects.select_for_update().get(pk=member.pk)
    ledger_post(
        program=program or program_active_get(), member=member, currency=currency, amount=amount, capped=0,
        effective_at=effective_at, source=source, source_ref=source_ref, rule=rule, key=idempotency_key,
        kind=GrowthEntry.Kind.CREDIT, actor=actor, reason=reason,
    )
    if source == Source.ORDER and rule is not None:
        OrderCredit.objects.filter(order__order_id=source_ref, rule=rule).update(credited=F("credited") + amount)
    return ledger.objects.get(idempotency_key=idempotency_key)
