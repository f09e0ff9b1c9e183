"""Writing one entry to the growth or the points ledger: the single path's postings.

Growth entries are written here; points go through ``points.services`` (a credit makes a lot, a
reversal takes from the lots, preferring those its own source made). The batch path
(``services.batch``) writes the same entries from memory.
"""

from __future__ import annotations

from datetime import datetime

from common.references import references_hold
from points.models import PointsEntry
from points.services import points_credit, points_debit, points_lots_of

from ..models import Currency, EarningRule, GrowthEntry, Member, Program


def ledger_for(currency: str):
    """The ledger model of ``currency``."""
    return GrowthEntry if currency == Currency.GROWTH else PointsEntry


def ledger_post(
    *,
    program: Program,
    member: Member,
    currency: str,
    amount: int,
    capped: int,
    effective_at: datetime,
    source: str,
    source_ref: str,
    rule: EarningRule | None,
    key: str,
    kind: str | None = None,
    actor=None,
    reason: str = "",
    prefer_own_lots: bool = True,
    member_locked: bool = False,
    key_is_new: bool = False,
    rule_held: bool = False,
) -> None:
    """Write one ledger entry (growth or points) for a credit (amount ≥ 0) or a reversal (< 0), once per ``key``.

    ``member_locked``: the caller holds the member's row locked. ``key_is_new``: the entry's
    source was made in the caller's transaction, so no entry can have ``key`` yet (the key's
    unique index still stands behind that). ``rule_held``: the caller holds ``rule``
    (``references_hold``); otherwise it is held here, as the entry names it."""
    if rule is not None and not rule_held:
        references_hold(EarningRule, [rule.pk])
    if currency == Currency.GROWTH:
        if not key_is_new and GrowthEntry.objects.filter(idempotency_key=key).exists():
            return
        GrowthEntry.objects.create(
            member=member,
            kind=kind or (GrowthEntry.Kind.CREDIT if amount >= 0 else GrowthEntry.Kind.REVERSAL),
            amount=amount,
            capped=capped,
            effective_at=effective_at,
            source=source,
            source_ref=source_ref,
            rule=rule,
            idempotency_key=key,
            created_by=actor,
            reason=reason,
        )
        return
    if amount >= 0:
        points_credit(
            program=program,
            member=member,
            amount=amount,
            capped=capped,
            effective_at=effective_at,
            source=source,
            source_ref=source_ref,
            rule=rule,
            idempotency_key=key,
            kind=kind or GrowthEntry.Kind.CREDIT,
            actor=actor,
            reason=reason,
            member_locked=member_locked,
            key_is_new=key_is_new,
        )
    else:
        own = points_lots_of(source=source, source_ref=source_ref, rule=rule) if prefer_own_lots else ()
        points_debit(
            member=member,
            amount=-amount,
            kind=kind or GrowthEntry.Kind.REVERSAL,
            effective_at=effective_at,
            source=source,
            source_ref=source_ref,
            rule=rule,
            idempotency_key=key,
            prefer_lots=list(own),
            allow_negative=True,
            actor=actor,
            reason=reason,
            member_locked=member_locked,
        )
