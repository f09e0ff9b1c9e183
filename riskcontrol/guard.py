"""The blacklist as the membership core's earning guard (``membership.hooks.earning_guard``).

A member on the blacklist for earning (scope ``earning`` or ``all``) earns nothing while the entry
is in force: what a booking would have credited is kept as a ``BlockedCredit``, one open row per
member, source, reference, rule and currency, which an Approver may release later
(``services.blocked_credit_release``). A session reads, in one query each, the entries in force
over its span for its members and the open blocked credits of the sources booked before; it
writes what it withheld in the booking's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from .models import BlockedCredit, ListEntry
from .selectors import block_in_force, members_block_periods


class BlacklistSession:
    def __init__(self, *, member_pks: list[int], since: datetime, until: datetime, known: Iterable[tuple[str, str]]):
        self.now = timezone.now()
        self.periods = (
            members_block_periods(member_ids=member_pks, scope=ListEntry.Scope.EARNING, since=since, until=until) if member_pks else {}
        )
        self.open: dict[tuple, BlockedCredit] = {}
        self.new: list[BlockedCredit] = []
        self.once: list[BlockedCredit] = []
        self.changed: dict[int, BlockedCredit] = {}
        refs: dict[str, list[str]] = {}
        for source, source_ref in known:
            refs.setdefault(source, []).append(source_ref)
        for source, source_refs in refs.items():
            found = BlockedCredit.objects.select_for_update().filter(
                source=source, source_ref__any=source_refs, member_id__any=member_pks, released_at__isnull=True
            )
            for blocked in found.order_by("pk"):
                self.open[self._key(blocked.member_id, blocked.source, blocked.source_ref, blocked.rule_id, blocked.currency)] = blocked

    @staticmethod
    def _key(member_pk, source, source_ref, rule_pk, currency) -> tuple:
        return (member_pk, source, source_ref, rule_pk, currency)

    def block_at(self, *, member_pk: int, at: datetime) -> int | None:
        periods = self.periods.get(member_pk)
        return block_in_force(periods, at) if periods else None

    def _withhold(self, *, member_pk, currency, amount, source, source_ref, rule, effective_at, block, rows):
        key = self._key(member_pk, source, source_ref, rule.pk if rule else None, currency)
        blocked = self.open.get(key)
        if blocked is None:
            blocked = self.open[key] = BlockedCredit(
                member_id=member_pk, currency=currency, amount=0, source=source, source_ref=source_ref, rule=rule,
                effective_at=effective_at, list_entry_id=block, created_at=self.now,
            )
            rows.append(blocked)
        elif rows is self.once:
            return
        blocked.amount += amount
        if blocked.pk is not None:
            self.changed[blocked.pk] = blocked

    def withhold_more(self, **withheld) -> None:
        self._withhold(**withheld, rows=self.new)

    def withhold_once(self, **withheld) -> None:
        self._withhold(**withheld, rows=self.once)

    def withheld_lower(self, *, member_pk: int, source: str, source_ref: str, rule, at_most: int) -> None:
        blocked = self.open.get(self._key(member_pk, source, source_ref, rule.pk if rule else None, rule.currency if rule else ""))
        if blocked is None:
            return
        owed = max(0, min(blocked.amount, at_most))
        if owed != blocked.amount:
            blocked.amount = owed
            if blocked.pk is not None:
                self.changed[blocked.pk] = blocked

    def flush(self) -> None:
        BlockedCredit.objects.bulk_create(self.new)
        # A fact booked once keeps its first blocked credit, however often it is booked again.
        BlockedCredit.objects.bulk_create(self.once, ignore_conflicts=True)
        BlockedCredit.objects.bulk_update(list(self.changed.values()), ["amount"])
        self.new, self.once, self.changed = [], [], {}


class BlacklistGuard:
    """Registered in ``RiskControlConfig.ready``."""

    def session(self, *, member_pks: Iterable[int], since: datetime, until: datetime, known: Iterable[tuple[str, str]] = ()) -> BlacklistSession:
        return BlacklistSession(member_pks=list(member_pks), since=since, until=until, known=known)
