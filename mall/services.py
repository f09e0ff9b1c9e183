"""Spending points in the mall.

Every service that spends points locks the member's points account first, then its own rows
(the item, the lottery's prizes), always in that order, so concurrent redemptions neither
deadlock nor overdraw a balance nor oversell stock. A blacklisted member is refused before
anything is locked; the refusal is recorded with the list entry that caused it.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from common.roles import permission_require
from membership.models import Member, Source
from points.models import PointsEntry
from points.selectors import points_available_get
from points.services import points_account_lock, points_debit, points_refund
from riskcontrol.models import ListEntry
from riskcontrol.selectors import member_block_get

from .models import MallItem, Redemption
from .selectors import mall_price_get, member_mall_level_get, member_redeemed_count


class MallRefused(ValidationError):
    """A spend the rules do not allow, with a sentence saying why."""


class MemberBlocked(MallRefused):
    """The member is blacklisted for redemption; ``record`` is the refusal that was recorded."""

    def __init__(self, message, *, record):
        super().__init__(message)
        self.record = record


def _member_usable(member: Member) -> None:
    if member.status != Member.Status.ACTIVE:
        raise MallRefused(_("member %(member)s is %(status)s and cannot spend points.") % {"member": member.member_id, "status": member.get_status_display().lower()})


def _block_refuse(*, member: Member, at: datetime, what: str, record_blocked):
    """Refuse ``what`` if the member is blacklisted for redemption at ``at``: record it, then raise."""
    block = member_block_get(member_id=member.pk, scope=ListEntry.Scope.REDEMPTION, at=at)
    if block is None:
        return
    with transaction.atomic():
        record = record_blocked(block)
    raise MemberBlocked(
        _("member %(member)s is blacklisted (%(scope)s: %(reason)s) and may not %(what)s; nothing was spent.")
        % {"member": member.member_id, "scope": block.get_scope_display(), "reason": block.reason, "what": what},
        record=record,
    )


def redemption_create(*, member: Member, item: MallItem, quantity: int = 1, key: str, actor=None, at: datetime | None = None) -> Redemption:
    """Redeem ``quantity`` units of ``item`` for ``member`` at the price of their level.

    Checks, under the locks of the member's points account and then the item: the item is on
    offer and priced for the member's level, the per-member limit, the stock and the points
    available; then spends the points oldest lots first and takes the units from stock. The same
    ``key`` twice returns the first redemption and spends nothing more.
    """
    at = at or timezone.now()
    if existing := Redemption.objects.filter(idempotency_key=key).first():
        return existing
    if quantity < 1:
        raise MallRefused(_("the quantity must be at least 1."))
    _member_usable(member)

    def record_blocked(block):
        record, _created = Redemption.objects.get_or_create(
            idempotency_key=f"blocked:{key}",
            defaults={"member": member, "item": item, "quantity": quantity, "status": Redemption.Status.BLOCKED,
                      "redeemed_at": at, "created_by": actor, "block_entry": block},
        )
        return record

    _block_refuse(member=member, at=at, what=_("redeem %(item)s") % {"item": item.code}, record_blocked=record_blocked)
    with transaction.atomic():
        points_account_lock(member=member)
        item = MallItem.objects.select_for_update().select_related("program").get(pk=item.pk)
        if existing := Redemption.objects.filter(idempotency_key=key).first():
            return existing
        label = {"item": item.code, "member": member.member_id}
        if not item.is_active or not item.program.is_active:
            raise MallRefused(_("%(item)s is not on offer.") % label)
        if item.available_from and at < item.available_from:
            raise MallRefused(_("%(item)s is on offer from %(date)s.") % {**label, "date": f"{timezone.localtime(item.available_from):%Y-%m-%d %H:%M}"})
        if item.available_until and at >= item.available_until:
            raise MallRefused(_("%(item)s was on offer until %(date)s.") % {**label, "date": f"{timezone.localtime(item.available_until):%Y-%m-%d %H:%M}"})
        level = member_mall_level_get(member=member, program=item.program)
        price = mall_price_get(item=item, level=level)
        if price is None:
            raise MallRefused(_("%(item)s is not available to members at level %(level)s.") % {**label, "level": level.code})
        if item.limit_per_member is not None:
            used = member_redeemed_count(member=member, item=item, at=at)
            if used + quantity > item.limit_per_member:
                raise MallRefused(
                    _("member %(member)s has redeemed %(used)d of the %(limit)d %(item)s allowed (%(period)s).")
                    % {**label, "used": used, "limit": item.limit_per_member, "period": item.get_limit_period_display().lower()}
                )
        total = price * quantity
        available = points_available_get(member=member, at=at)
        if available < total:
            raise MallRefused(
                _("member %(member)s has %(available)d points available; %(item)s ×%(quantity)d costs %(total)d.")
                % {**label, "available": available, "quantity": quantity, "total": total}
            )
        if item.stock is not None and not MallItem.objects.filter(pk=item.pk, stock__gte=quantity).update(stock=F("stock") - quantity):
            raise MallRefused(_("%(item)s is out of stock (%(stock)d left).") % {**label, "stock": item.stock})
        redemption = Redemption.objects.create(
            member=member, item=item, quantity=quantity, points=total, status=Redemption.Status.DONE,
            redeemed_at=at, created_by=actor, idempotency_key=key,
        )
        redemption.points_entry = points_debit(
            member=member, amount=total, kind=PointsEntry.Kind.SPEND, effective_at=at, source=Source.REDEMPTION,
            source_ref=f"redemption:{redemption.pk}", idempotency_key=f"redemption:{key}", actor=actor,
            reason=f"{item.code} ×{quantity}",
        )
        redemption.save(update_fields=["points_entry"])
    return redemption


@transaction.atomic
def redemption_cancel(*, redemption: Redemption, actor, reason: str, at: datetime | None = None) -> Redemption:
    """Cancel a redemption: its points go back to the lots they came from, its units back to stock.

    Cancelling a cancelled redemption changes nothing."""
    permission_require(actor, "mall.cancel_redemption", "cancel redemptions")
    at = at or timezone.now()
    points_account_lock(member=redemption.member)
    item = MallItem.objects.select_for_update().get(pk=redemption.item_id)
    redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
    if redemption.status == Redemption.Status.CANCELLED:
        return redemption
    if redemption.status != Redemption.Status.DONE:
        raise MallRefused(_("redemption #%(pk)d was refused; there is nothing to cancel.") % {"pk": redemption.pk})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"cancel_reason": _("say why the redemption is cancelled.")})
    redemption.refund_entry = points_refund(
        entry=redemption.points_entry, effective_at=at, source=Source.REDEMPTION, source_ref=f"redemption:{redemption.pk}",
        idempotency_key=f"redemption-cancel:{redemption.pk}", actor=actor, reason=reason,
    )
    if item.stock is not None:
        MallItem.objects.filter(pk=item.pk).update(stock=F("stock") + redemption.quantity)
    redemption.status = Redemption.Status.CANCELLED
    redemption.cancelled_at, redemption.cancelled_by, redemption.cancel_reason = at, actor, reason
    redemption.save(update_fields=["refund_entry", "status", "cancelled_at", "cancelled_by", "cancel_reason"])
    return redemption
