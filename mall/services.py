"""Spending points in the mall.

Every service that spends points locks the member's points account first, then its own rows
(the item, the lottery's prizes), always in that order, so concurrent redemptions neither
deadlock nor overdraw a balance nor oversell stock. A blacklisted member is refused before
anything is locked; the refusal is recorded with the list entry that caused it.
"""

import secrets
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from common.roles import permission_require
from membership.models import Member, Source
from membership.services.outbox import outbox_publish
from points.models import PointsEntry
from points.selectors import points_available_get
from points.services import InsufficientPoints, points_account_lock, points_credit, points_debit, points_refund
from riskcontrol.models import ListEntry
from riskcontrol.selectors import member_block_get

from .models import CashOffset, CashOffsetException, CashOffsetPolicy, Lottery, LotteryDraw, LotteryPrize, MallItem, Redemption
from .selectors import lottery_pick, mall_price_get, member_mall_level_get, member_redeemed_count, offset_quote


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

    Checks, under the lock of the member (and their points account): the item is on offer and
    priced for the member's level, the per-member limit and the points available; then spends
    the points oldest lots first and, as the last statement, takes the units from stock if the
    stock still holds them (refusing, with nothing written, when it does not). The item's row is
    read without a lock and locked only by that last update, so redemptions of one item wait for
    each other only for their commits. The same ``key`` twice returns the first redemption and
    spends nothing more.
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
        member = Member.objects.select_for_update(no_key=True).get(pk=member.pk)  # the level now, not as the caller read it
        account = points_account_lock(member=member, member_locked=True)
        item = MallItem.objects.select_related("program").get(pk=item.pk)
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
        redemption = Redemption.objects.create(
            member=member, item=item, quantity=quantity, points=total, status=Redemption.Status.DONE,
            redeemed_at=at, created_by=actor, idempotency_key=key,
        )
        try:
            redemption.points_entry = points_debit(
                member=member, amount=total, kind=PointsEntry.Kind.SPEND, effective_at=at, source=Source.REDEMPTION,
                source_ref=f"redemption:{redemption.pk}", idempotency_key=f"redemption:{key}", actor=actor,
                reason=f"{item.code} ×{quantity}", account=account, key_is_new=True,
            )
        except InsufficientPoints as exc:
            raise MallRefused(
                _("member %(member)s has %(available)d points available; %(item)s ×%(quantity)d costs %(total)d.")
                % {**label, "available": exc.available, "quantity": quantity, "total": total}
            ) from None
        redemption.save(update_fields=["points_entry"])
        _redemption_event("redemption.created", redemption, at)
        if item.stock is not None and not MallItem.objects.filter(pk=item.pk, stock__gte=quantity).update(stock=F("stock") - quantity):
            left = MallItem.objects.filter(pk=item.pk).values_list("stock", flat=True).first()
            raise MallRefused(_("%(item)s is out of stock (%(stock)d left).") % {**label, "stock": left or 0})
    return redemption


def _redemption_event(type: str, redemption: Redemption, at: datetime, **extra) -> None:
    outbox_publish(
        type=type, member_ref=redemption.member.member_id, occurred_at=at,
        data={"redemption": redemption.pk, "item": redemption.item.code, "quantity": redemption.quantity, "points": redemption.points, **extra},
    )


@transaction.atomic
def redemption_cancel(*, redemption: Redemption, actor, reason: str, at: datetime | None = None) -> Redemption:
    """Cancel a redemption: its points go back to the lots they came from, its units back to stock.

    Cancelling a cancelled redemption changes nothing."""
    permission_require(actor, "mall.cancel_redemption", _("cancel redemptions"))
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
    _redemption_event("redemption.cancelled", redemption, at, reason=reason)
    return redemption


def lottery_draw(*, member: Member, lottery: Lottery, key: str, seed: int | None = None, actor=None, at: datetime | None = None) -> LotteryDraw:
    """Draw once: spend the lottery's cost, pick a prize among those in stock with ``random.Random(seed)``
    (a fresh random seed if none is given), take it from stock and credit a points prize.

    The seed and the pool of (prize, weight) drawn from are recorded, so ``lottery_draw_replay``
    gives the same prize. The same ``key`` twice returns the first draw and spends nothing more.
    """
    at = at or timezone.now()
    if existing := LotteryDraw.objects.filter(idempotency_key=key).first():
        return existing
    _member_usable(member)

    def record_blocked(block):
        record, _created = LotteryDraw.objects.get_or_create(
            idempotency_key=f"blocked:{key}",
            defaults={"member": member, "lottery": lottery, "status": LotteryDraw.Status.BLOCKED, "drawn_at": at, "block_entry": block},
        )
        return record

    _block_refuse(member=member, at=at, what=_("draw in %(lottery)s") % {"lottery": lottery.code}, record_blocked=record_blocked)
    with transaction.atomic():
        points_account_lock(member=member)
        prizes = list(LotteryPrize.objects.select_for_update().filter(lottery=lottery).order_by("pk"))
        if existing := LotteryDraw.objects.filter(idempotency_key=key).first():
            return existing
        lottery = Lottery.objects.select_related("program").get(pk=lottery.pk)
        label = {"lottery": lottery.code, "member": member.member_id}
        if not lottery.is_active or not lottery.program.is_active:
            raise MallRefused(_("the lottery %(lottery)s is not open.") % label)
        if (lottery.starts_at and at < lottery.starts_at) or (lottery.ends_at and at >= lottery.ends_at):
            raise MallRefused(_("the lottery %(lottery)s is not open at this time.") % label)
        available = points_available_get(member=member, at=at)
        if available < lottery.cost:
            raise MallRefused(
                _("member %(member)s has %(available)d points available; a draw in %(lottery)s costs %(cost)d.")
                % {**label, "available": available, "cost": lottery.cost}
            )
        pool = [[prize.pk, prize.weight] for prize in prizes if prize.weight > 0 and (prize.stock is None or prize.stock > 0)]
        if not pool:
            raise MallRefused(_("the lottery %(lottery)s has no prize left.") % label)
        seed = secrets.randbits(62) if seed is None else seed
        prize = next(p for p in prizes if p.pk == lottery_pick(pool, seed))
        if prize.stock is not None:
            LotteryPrize.objects.filter(pk=prize.pk, stock__gte=1).update(stock=F("stock") - 1)
        draw = LotteryDraw.objects.create(
            member=member, lottery=lottery, status=LotteryDraw.Status.DONE, seed=seed, pool=pool, prize=prize,
            cost=lottery.cost, drawn_at=at, idempotency_key=key,
        )
        ref = f"draw:{draw.pk}"
        if lottery.cost:
            draw.points_entry = points_debit(
                member=member, amount=lottery.cost, kind=PointsEntry.Kind.SPEND, effective_at=at, source=Source.LOTTERY,
                source_ref=ref, idempotency_key=f"lottery:{key}", actor=actor, reason=f"draw in {lottery.code}",
            )
        if prize.kind == LotteryPrize.Kind.POINTS:
            draw.prize_entry = points_credit(
                program=lottery.program, member=member, amount=prize.points, effective_at=at, source=Source.LOTTERY,
                source_ref=ref, idempotency_key=f"lottery-prize:{key}", actor=actor, reason=f"prize {prize.name} in {lottery.code}",
            )
        draw.save(update_fields=["points_entry", "prize_entry"])
    return draw


def offset_apply(
    *, member: Member, order_ref: str, order_amount, points: int, category: str = "", key: str, actor=None, at: datetime | None = None
) -> CashOffset:
    """Pay ``points`` of an order with points, within ``offset_quote``: a multiple of the step, at most
    the quoted maximum, one offset per order. The same ``key`` twice returns the first offset."""
    at = at or timezone.now()
    if existing := CashOffset.objects.filter(idempotency_key=key).first():
        return existing
    _member_usable(member)
    order_amount = Decimal(order_amount)

    def record_blocked(block):
        record, _created = CashOffset.objects.get_or_create(
            idempotency_key=f"blocked:{key}",
            defaults={"member": member, "order_ref": order_ref, "order_amount": order_amount, "category": category,
                      "points": points, "status": CashOffset.Status.BLOCKED, "applied_at": at, "created_by": actor, "block_entry": block},
        )
        return record

    _block_refuse(member=member, at=at, what=_("pay order %(order)s with points") % {"order": order_ref}, record_blocked=record_blocked)
    with transaction.atomic():
        points_account_lock(member=member)
        if existing := CashOffset.objects.filter(idempotency_key=key).first():
            return existing
        label = {"order": order_ref, "points": f"{points:,}"}
        if CashOffset.objects.filter(member=member, order_ref=order_ref, status=CashOffset.Status.APPLIED).exists():
            raise MallRefused(_("order %(order)s already has a cash offset.") % label)
        quote = offset_quote(member=member, order_amount=order_amount, category=category, at=at)
        policy = CashOffsetPolicy.objects.get(program__is_active=True) if quote.points else None
        if points <= 0 or quote.points == 0 or points % policy.step:
            if quote.points == 0:
                raise MallRefused(_("order %(order)s cannot be paid with points: %(reason)s") % {**label, "reason": quote.reason})
            raise MallRefused(_("%(points)s points: points are used in multiples of %(step)s.") % {**label, "step": f"{policy.step:,}"})
        if points > quote.points:
            raise MallRefused(
                _("order %(order)s can take at most %(most)s points (%(reason)s), not %(points)s.")
                % {**label, "most": f"{quote.points:,}", "reason": quote.reason}
            )
        offset = CashOffset.objects.create(
            member=member, order_ref=order_ref, order_amount=order_amount, category=category, points=points,
            yuan=(Decimal(points) / policy.points_per_yuan).quantize(Decimal("0.01")), status=CashOffset.Status.APPLIED,
            applied_at=at, created_by=actor, idempotency_key=key,
        )
        offset.points_entry = points_debit(
            member=member, amount=points, kind=PointsEntry.Kind.SPEND, effective_at=at, source=Source.OFFSET,
            source_ref=order_ref, idempotency_key=f"offset:{key}", actor=actor, reason=f"cash offset of order {order_ref}",
        )
        offset.save(update_fields=["points_entry"])
    return offset


@transaction.atomic
def offset_reverse(*, offset: CashOffset, reason: str, actor=None, at: datetime | None = None) -> CashOffset:
    """The order was refunded: its offset points go back to the lots they came from. Reversing twice changes nothing."""
    permission_require(actor, "mall.reverse_cashoffset", _("reverse cash offsets"))
    at = at or timezone.now()
    points_account_lock(member=offset.member)
    offset = CashOffset.objects.select_for_update().get(pk=offset.pk)
    if offset.status == CashOffset.Status.REVERSED:
        return offset
    if offset.status != CashOffset.Status.APPLIED:
        raise MallRefused(_("cash offset #%(pk)d was refused; there is nothing to reverse.") % {"pk": offset.pk})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reverse_reason": _("say why the offset is reversed.")})
    offset.refund_entry = points_refund(
        entry=offset.points_entry, effective_at=at, source=Source.OFFSET, source_ref=offset.order_ref,
        idempotency_key=f"offset-reverse:{offset.pk}", actor=actor, reason=reason,
    )
    offset.status, offset.reversed_at, offset.reverse_reason = CashOffset.Status.REVERSED, at, reason
    offset.save(update_fields=["refund_entry", "status", "reversed_at", "reverse_reason"])
    return offset


POLICY_FIELDS = ("points_per_yuan", "max_share_percent", "step", "min_balance")


@transaction.atomic
def cash_offset_policy_sync(*, program, specs) -> int:
    """The ``cash_offset`` section of a program preset: the policy's rate, share, step and minimum, and
    its ``exceptions`` by category (matched by category). Loading it twice changes nothing; returns rows changed."""
    if not specs:
        return 0

    policy = CashOffsetPolicy.objects.filter(program=program).first() or CashOffsetPolicy(program=program)
    changed = 0
    values = {k: specs[k] for k in POLICY_FIELDS if k in specs}
    if policy.pk is None or any(getattr(policy, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(policy, k, v)
        policy.full_clean()
        policy.save()
        changed += 1
    for spec in specs.get("exceptions", []):
        exception = policy.exceptions.filter(category=spec["category"]).first() or CashOffsetException(policy=policy, category=spec["category"])
        wanted = {"excluded": spec.get("excluded", False), "max_share_percent": spec.get("max_share_percent"),
                  "min_order_amount": Decimal(str(spec.get("min_order_amount", "0")))}
        if exception.pk is None or any(getattr(exception, k) != v for k, v in wanted.items()):
            for k, v in wanted.items():
                setattr(exception, k, v)
            exception.full_clean()
            exception.save()
            changed += 1
    return changed
