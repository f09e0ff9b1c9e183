"""The points side of a batch booking: accounts, lots and allocations kept in memory for a batch
of bookings and written at once by ``flush``.

Each posting books what ``services.points_credit`` (a credit) or ``services.points_debit`` with
``allow_negative`` (a reversal) would book for it one by one: the same entries, lots, allocations
and balances, through the same lots' rules (``lots``). The membership core's batch booking
(``membership.services.batch``) posts its points here.
"""

from __future__ import annotations

from common.bulk import new_row, rows_insert, rows_update

from .lots import debt_paid, lots_draw, own_key, points_expires_at, spend_key
from .models import PointsAccount, PointsAllocation, PointsEntry, PointsLot


class PointsBatch:
    """Points postings of one batch, for the members ``member_pks``.

    Only lots that exist before the batch and hold points can be drawn on; of those, only the
    lots of ``debtor_pks`` are read (the members whose earlier bookings the batch may take back).
    Lots the batch makes are drawn on as they are made. The accounts and the lots read are locked.
    """

    def __init__(self, *, program, member_pks: list[int], debtor_pks: list[int]):
        self.program = program
        self.entries: list[PointsEntry] = []
        self.new_lots: list[PointsLot] = []
        self.allocations: list[tuple] = []  # (entry, lot, amount)
        self.touched_lots: dict[int, PointsLot] = {}
        self.accounts = {a.member_id: a for a in PointsAccount.objects.select_for_update().filter(member_id__any=member_pks).order_by("member_id")}
        self.new_accounts: dict[int, PointsAccount] = {}
        self.changed_accounts: set[int] = set()
        self.lots: dict[int, list[PointsLot]] = {pk: [] for pk in member_pks}
        for lot in PointsLot.objects.select_for_update(of=("self",)).filter(member_id__any=debtor_pks, remaining__gt=0).select_related("entry"):
            self.lots[lot.member_id].append(lot)
        self._sequence = 0

    def post(self, *, member_pk: int, fields: dict) -> PointsEntry:
        """Book one entry (``fields`` as for ``PointsEntry``): a credit (amount ≥ 0) makes a lot; a
        reversal (< 0) takes from the lots and leaves what they lack as a balance below 0."""
        entry = new_row(PointsEntry, **fields)
        self.entries.append(entry)
        if fields["amount"] >= 0:
            self._credit(member_pk, entry)
        else:
            self._reversal(member_pk, entry)
        return entry

    def _account(self, member_pk: int) -> PointsAccount:
        account = self.accounts.get(member_pk)
        if account is None:
            account = self.accounts[member_pk] = self.new_accounts[member_pk] = new_row(PointsAccount, member_id=member_pk, balance=0)
        self.changed_accounts.add(member_pk)
        return account

    def _order(self, lot: PointsLot) -> int:
        # New lots get their primary keys after every existing one, in the order they were made.
        return lot.pk if lot.pk is not None else 10**18 + lot.batch_sequence

    def _credit(self, member_pk: int, entry: PointsEntry) -> None:
        """As ``points_credit``: a new lot, paying any debt first."""
        account = self._account(member_pk)
        amount = entry.amount
        if amount <= 0:
            return
        lot = new_row(
            PointsLot,
            member_id=member_pk,
            earned_at=entry.effective_at,
            expires_at=points_expires_at(program=self.program, earned_at=entry.effective_at),
            amount=amount,
            remaining=amount,
            related={"entry": entry},
        )
        self._sequence += 1
        lot.batch_sequence = self._sequence
        self.new_lots.append(lot)
        self.lots.setdefault(member_pk, []).append(lot)
        covered = debt_paid(balance=account.balance, amount=amount)
        if covered:
            self.allocations.append((entry, lot, -covered))
            lot.remaining -= covered
        account.balance += amount

    def _reversal(self, member_pk: int, entry: PointsEntry) -> None:
        """As ``points_debit`` with ``allow_negative``, preferring the lots of the entry's own
        source (``points_lots_of``): those first, newest first, then the lots that end first."""
        lots = [lot for lot in self.lots.get(member_pk, []) if lot.remaining > 0]

        def own(lot):
            made_by = lot.entry
            return made_by.source == entry.source and made_by.source_ref == entry.source_ref and made_by.rule_id == entry.rule_id

        preferred = sorted((lot for lot in lots if own(lot)), key=lambda lot: own_key(lot, self._order(lot)), reverse=True)
        others = sorted((lot for lot in lots if not own(lot)), key=lambda lot: spend_key(lot, self._order(lot)))
        for lot, take in lots_draw(preferred + others, -entry.amount):
            self.allocations.append((entry, lot, -take))
            if lot.pk is not None:
                self.touched_lots[lot.pk] = lot
        self._account(member_pk).balance += entry.amount

    def flush(self) -> None:
        """Write the batch's entries, lots, allocations and balances."""
        rows_insert(PointsEntry, self.entries)
        for lot in self.new_lots:
            lot.entry_id = lot.entry.pk
        rows_insert(PointsLot, self.new_lots)
        rows_insert(
            PointsAllocation,
            [new_row(PointsAllocation, entry_id=entry.pk, lot_id=lot.pk, amount=amount) for entry, lot, amount in self.allocations],
        )
        if self.touched_lots:
            rows_update(PointsLot, list(self.touched_lots.values()), ["remaining"])
        rows_insert(PointsAccount, list(self.new_accounts.values()))
        changed = [self.accounts[pk] for pk in sorted(self.changed_accounts) if pk not in self.new_accounts]
        rows_update(PointsAccount, changed, ["balance", "updated_at"])
