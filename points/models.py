"""The points currency: one account per member, lots and the insert-only points ledger.

Invariants (checked by ``points.selectors.points_reconcile``):
- ``PointsAccount.balance`` equals the sum of the member's ``PointsEntry.amount``.
- When the balance is at least 0, it equals the sum of the member's ``PointsLot.remaining``;
  when it is below 0 (points already spent were taken back), every lot is empty.
- A lot's ``remaining`` equals its ``amount`` plus the sum of its ``PointsAllocation.amount``.
- A frozen lot (``frozen``: a paid-membership trial's cashback) counts in the balance but cannot be
  spent and does not expire while frozen; it is either released (it becomes an ordinary lot) or
  cleared (a ``cleared`` entry takes what it holds). No spend is ever allocated to a frozen lot.
Spending and expiry take from the lots that end first (oldest first).
"""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.ledger import LedgerEntryBase, LedgerModel, ledger_indexes
from membership.models import EarningRule, Member


class PointsAccount(models.Model):
    member = models.OneToOneField(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="points_account")
    balance = models.BigIntegerField(_("balance"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")

    def __str__(self):
        return _("%(member)s: %(balance)s points") % {"member": self.member.member_id, "balance": f"{self.balance:,d}"}


class PointsEntry(LedgerEntryBase):
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, db_index=False, related_name="points_entries", verbose_name=_("member")
    )
    rule = models.ForeignKey(  # checked once per booking, not by a foreign key per row (common/references.py)
        EarningRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("rule"), db_constraint=False
    )
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, db_index=False, related_name="+", verbose_name=_("corrects")
    )

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points ledger")
        indexes, constraints = ledger_indexes("points")

    def __str__(self):
        return _("%(member)s: %(kind)s %(amount)s") % {"member": self.member.member_id, "kind": self.get_kind_display(), "amount": f"{self.amount:+,d}"}


class PointsLot(models.Model):
    """Points earned together, spent and expired together; ``remaining`` is what is left."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, db_index=False, related_name="points_lots")  # lot_member_expiry_idx serves it
    entry = models.OneToOneField(PointsEntry, verbose_name=_("entry"), on_delete=models.PROTECT, related_name="lot")
    earned_at = models.DateTimeField(_("earned at"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    amount = models.PositiveIntegerField(_("amount"))
    remaining = models.PositiveIntegerField(_("remaining"))
    frozen = models.BooleanField(_("frozen"), default=False, help_text=_("Frozen points count in the balance but cannot be spent."))
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        indexes = [
            models.Index(fields=["member", "expires_at", "earned_at"], name="lot_member_expiry_idx"),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_open_expiry_idx"
            ),
            models.Index(fields=["member"], condition=Q(frozen=True), name="lot_frozen_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(remaining__lte=F("amount")), name="lot_remaining_within_amount", violation_error_message=_("A lot cannot keep more than it was earned with.")),
        ]

    def __str__(self):
        ends = f"{timezone.localtime(self.expires_at):%Y-%m-%d}" if self.expires_at else _("no end")
        return _("%(member)s: %(remaining)s of %(amount)s points, ending %(ends)s") % {
            "member": self.member.member_id, "remaining": f"{self.remaining:,d}", "amount": f"{self.amount:,d}", "ends": ends,
        }


class PointsAllocation(LedgerModel):
    """How an entry moved points out of (negative) or back into (positive) a lot."""

    entry = models.ForeignKey(PointsEntry, verbose_name=_("entry"), on_delete=models.PROTECT, related_name="allocations")
    lot = models.ForeignKey(PointsLot, verbose_name=_("lot"), on_delete=models.PROTECT, related_name="allocations")
    amount = models.IntegerField(_("amount"))

    class Meta:
        verbose_name = _("points allocation")
        verbose_name_plural = _("points allocations")

    def __str__(self):
        return _("%(amount)s points of lot #%(lot)s to entry #%(entry)s") % {"amount": f"{self.amount:+,d}", "lot": self.lot_id, "entry": self.entry_id}
