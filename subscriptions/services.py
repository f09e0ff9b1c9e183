"""Paid membership: starting, renewing, extending and cancelling subscriptions, and cashback on
orders (DOMAIN §7).

Rules:
- One free trial per member, ever; at most one live (trial or active) subscription at a time.
  Buying a plan during a trial ends the trial and starts the paid term that day.
- Every purchase, renewal and extension carries a reference (the payment or request id) and is
  booked once: calling a service again with the same reference returns what the first call did.
- Cashback: completed orders paid while a subscription covers the day earn the plan's rate of the
  amount paid (goods − discount − refunded), in points at the program's points per yuan, within
  the plan's yearly cap (per member and calendar year) and its cap over the subscription; orders
  that asked for a special invoice earn none; a member blacklisted for earning gets a blocked
  cashback. A lower entitlement later (a refund) takes the difference back.
- Cashback earned during a trial is frozen. It is released when the member buys a plan within
  ``RELEASE_WINDOW_DAYS`` of the trial's end, otherwise the daily task clears it.
"""

import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from common.records import rows
from common.roles import permission_require
from common.schedules import daily_at, periodic_task_sync
from common.timeutil import add_months
from membership.models import Member, Order, Program, Source
from membership.selectors import program_active_get
from membership.services import event_record
from membership.services.outbox import outbox_publish
from points.services import InsufficientPoints, points_credit, points_debit, points_lot_clear, points_lot_release
from riskcontrol.models import ListEntry
from riskcontrol.selectors import member_block_get

from .models import Cashback, Plan, Subscription, SubscriptionTerm

RELEASE_WINDOW_DAYS = 30
PAID_OUT = (Cashback.Status.CREDITED, Cashback.Status.FROZEN, Cashback.Status.RELEASED)


def _local_day(program: Program, at: datetime) -> date:
    return at.astimezone(ZoneInfo(program.time_zone)).date()


def _term_end(start: date, plan: Plan) -> date:
    return add_months(start, plan.term_months) - timedelta(days=1)


# ---------------------------------------------------------------- plans


@transaction.atomic
def plan_catalog_sync(*, program: Program, specs: list[dict]) -> int:
    """Make the program's plans match ``specs`` (matched by code); returns rows changed."""
    changed = 0
    for spec in specs:
        plan = Plan.objects.filter(program=program, code=spec["code"]).first() or Plan(program=program, code=spec["code"])
        values = {k: (Decimal(str(v)) if k in ("price", "cashback_rate") else v) for k, v in spec.items() if k != "code"}
        differs = [k for k, v in values.items() if getattr(plan, k) != v]
        if differs or plan.pk is None:
            for k, v in values.items():
                setattr(plan, k, v)
            plan.full_clean()
            plan.save()
            changed += 1
    return changed


# ---------------------------------------------------------------- subscriptions


def _booked(reference: str) -> SubscriptionTerm | None:
    return SubscriptionTerm.objects.select_related("subscription").filter(reference=reference).first()


SUBSCRIPTION_YEAR_EVENT = "subscription_year"


def _years_bought_record(*, term: SubscriptionTerm, plan: Plan, at: datetime) -> None:
    """A paid term of a year or more records the behaviour event ``subscription_year`` once per
    whole year bought, so event rules can reward it (Weibo: 200 growth per year bought)."""
    for year in range(1, plan.term_months // 12 + 1):
        event_record(
            member_id=term.subscription.member.member_id, event_type=SUBSCRIPTION_YEAR_EVENT, occurred_at=at,
            event_id=f"{SUBSCRIPTION_YEAR_EVENT}:{term.reference}:{year}", program=plan.program,
        )


@transaction.atomic
def subscription_start(
    *, member: Member, plan: Plan, reference: str, trial: bool = False, at: datetime | None = None, amount: Decimal | None = None, actor=None
) -> Subscription:
    """Start a paid term of ``plan`` (or its free trial) today, in the program's time zone."""
    permission_require(actor, "subscriptions.add_subscription", _("start subscriptions"))
    if term := _booked(reference):
        return term.subscription
    at = at or timezone.now()
    Member.objects.select_for_update().filter(pk=member.pk).first()
    today = _local_day(plan.program, at)
    if not plan.is_active:
        raise ValidationError(_("Plan %(plan)s is not on sale.") % {"plan": plan.code})
    if trial:
        if not plan.trial_days:
            raise ValidationError(_("Plan %(plan)s has no free trial.") % {"plan": plan.code})
        if Subscription.objects.filter(member=member, is_trial=True).exists():
            raise ValidationError(_("Member %(member)s already had a free trial.") % {"member": member.member_id})
    live = Subscription.objects.select_for_update().filter(member=member, status__in=Subscription.LIVE).first()
    if live and not (live.is_trial and not trial):
        raise ValidationError(
            _("Member %(member)s is already a paid member until %(date)s: renew or extend that subscription.")
            % {"member": member.member_id, "date": live.ends_on}
        )
    if live:  # buying during the trial ends the trial today
        live.status, live.ends_on = Subscription.Status.EXPIRED, max(live.starts_on, today - timedelta(days=1))
        live.save(update_fields=["status", "ends_on"])
    ends_on = today + timedelta(days=plan.trial_days - 1) if trial else _term_end(today, plan)
    subscription = Subscription.objects.create(
        member=member, plan=plan, starts_on=today, ends_on=ends_on, is_trial=trial,
        status=Subscription.Status.TRIAL if trial else Subscription.Status.ACTIVE,
    )
    term = SubscriptionTerm.objects.create(
        subscription=subscription, kind=SubscriptionTerm.Kind.TRIAL if trial else SubscriptionTerm.Kind.PURCHASE, reference=reference,
        starts_on=today, ends_on=ends_on, amount=0 if trial else (plan.price if amount is None else amount), created_by=actor,
    )
    if not trial:
        _years_bought_record(term=term, plan=plan, at=at)
    if not trial:
        for ended in Subscription.objects.filter(member=member, is_trial=True, trial_settled=False, ends_on__gte=today - timedelta(days=RELEASE_WINDOW_DAYS)):
            _trial_cashback_release(ended)
    _subscription_event("subscription.started", subscription, at)
    return subscription


def _subscription_event(type: str, subscription: Subscription, at: datetime, **extra) -> None:
    outbox_publish(
        type=type, member_ref=subscription.member.member_id, occurred_at=at,
        data={"subscription": subscription.pk, "plan": subscription.plan.code, "trial": subscription.is_trial,
              "starts_on": subscription.starts_on.isoformat(), "ends_on": subscription.ends_on.isoformat(), **extra},
    )


def _extend(subscription: Subscription, today: date) -> tuple[date, date]:
    start = max(subscription.ends_on + timedelta(days=1), today)
    return start, _term_end(start, subscription.plan)


def _renewable(subscription: Subscription) -> Subscription:
    subscription = Subscription.objects.select_for_update(of=("self", "member")).select_related("plan__program", "member").get(pk=subscription.pk)
    if subscription.is_trial or subscription.status == Subscription.Status.CANCELLED:
        raise ValidationError(
            _("Subscription %(id)s (%(status)s) cannot be renewed: start a new one.")
            % {"id": subscription.pk, "status": subscription.get_status_display()}
        )
    if Subscription.objects.filter(member=subscription.member, status__in=Subscription.LIVE).exclude(pk=subscription.pk).exists():
        raise ValidationError(_("Member %(member)s has another live subscription.") % {"member": subscription.member.member_id})
    return subscription


@transaction.atomic
def subscription_renew(
    *, subscription: Subscription, reference: str, at: datetime | None = None, amount: Decimal | None = None, actor=None
) -> Subscription:
    """Add one term after the current end (or from today, if it has ended)."""
    permission_require(actor, "subscriptions.change_subscription", _("renew subscriptions"))
    if term := _booked(reference):
        return term.subscription
    subscription = _renewable(subscription)
    start, end = _extend(subscription, _local_day(subscription.plan.program, at or timezone.now()))
    term = SubscriptionTerm.objects.create(
        subscription=subscription, kind=SubscriptionTerm.Kind.RENEWAL, reference=reference, starts_on=start, ends_on=end,
        amount=subscription.plan.price if amount is None else amount, created_by=actor,
    )
    _years_bought_record(term=term, plan=subscription.plan, at=at or timezone.now())
    subscription.ends_on, subscription.status, subscription.renewals = end, Subscription.Status.ACTIVE, subscription.renewals + 1
    subscription.save(update_fields=["ends_on", "status", "renewals"])
    _subscription_event("subscription.renewed", subscription, at or timezone.now(), paid_with="money")
    return subscription


@transaction.atomic
def subscription_extend_with_points(*, subscription: Subscription, reference: str, at: datetime | None = None, actor=None) -> Subscription:
    """Add one term paid with the plan's price in points (spent oldest lots first, source ``subscription``)."""
    permission_require(actor, "subscriptions.change_subscription", _("extend subscriptions"))
    if term := _booked(reference):
        return term.subscription
    at = at or timezone.now()
    subscription = _renewable(subscription)
    plan = subscription.plan
    if not plan.points_price:
        raise ValidationError(_("Plan %(plan)s cannot be paid with points.") % {"plan": plan.code})
    try:
        entry = points_debit(
            member=subscription.member, amount=plan.points_price, kind="spend", effective_at=at, source=Source.SUBSCRIPTION,
            source_ref=reference, idempotency_key=f"subscription:{reference}", actor=actor,
            reason=f"{plan.code}: one more term paid with points",
        )
    except InsufficientPoints as exc:
        raise ValidationError(exc.messages) from None
    start, end = _extend(subscription, _local_day(plan.program, at))
    term = SubscriptionTerm.objects.create(
        subscription=subscription, kind=SubscriptionTerm.Kind.POINTS, reference=reference, starts_on=start, ends_on=end,
        points_entry=entry, created_by=actor,
    )
    _years_bought_record(term=term, plan=plan, at=at)
    subscription.ends_on, subscription.status = end, Subscription.Status.ACTIVE
    subscription.save(update_fields=["ends_on", "status"])
    _subscription_event("subscription.renewed", subscription, at, paid_with="points")
    return subscription


@transaction.atomic
def subscription_cancel(*, subscription: Subscription, reason: str, at: datetime | None = None, actor=None) -> Subscription:
    """End a subscription today (no cashback on orders paid after today); cancelling twice changes nothing."""
    permission_require(actor, "subscriptions.change_subscription", _("cancel subscriptions"))
    if not (reason or "").strip():
        raise ValidationError({"reason": _("A reason is required to cancel a subscription.")})
    subscription = Subscription.objects.select_for_update(of=("self",)).select_related("plan__program").get(pk=subscription.pk)
    if subscription.status == Subscription.Status.CANCELLED:
        return subscription
    at = at or timezone.now()
    today = _local_day(subscription.plan.program, at)
    subscription.status, subscription.cancelled_at, subscription.cancel_reason = Subscription.Status.CANCELLED, at, reason.strip()
    subscription.ends_on = max(subscription.starts_on, min(subscription.ends_on, today))
    subscription.save(update_fields=["status", "cancelled_at", "cancel_reason", "ends_on"])
    _subscription_event("subscription.ended", subscription, at, reason=subscription.cancel_reason)
    return subscription


# ---------------------------------------------------------------- cashback


def cashback_entitlement(*, order: Order, plan: Plan) -> int:
    """The points an order earns under ``plan`` before caps: 0 unless completed and without a special invoice."""
    if order.status != Order.Status.COMPLETED or order.special_invoice:
        return 0
    paid = max(Decimal(0), Decimal(order.goods_amount) - Decimal(order.discount_amount) - Decimal(order.refunded_amount))
    return math.floor(paid * Decimal(plan.cashback_rate) / 100 * plan.program.points_per_yuan)


def _cap_room(subscription: Subscription, member_id: int, year: int) -> int | None:
    plan = subscription.plan
    room = None
    if plan.yearly_cashback_cap is not None:
        tz = ZoneInfo(plan.program.time_zone)
        start, end = datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)
        used = Cashback.objects.filter(
            subscription__member_id=member_id, status__in=PAID_OUT, order__paid_at__gte=start, order__paid_at__lt=end
        ).aggregate(s=Sum("points"))["s"] or 0
        room = max(0, plan.yearly_cashback_cap - used)
    if plan.term_cashback_cap is not None:
        used = subscription.cashbacks.filter(status__in=PAID_OUT).aggregate(s=Sum("points"))["s"] or 0
        left = max(0, plan.term_cashback_cap - used)
        room = left if room is None else min(room, left)
    return room


def orders_cashback_book(*, orders: list[Order], program: Program | None = None) -> None:
    """Cashback for orders just booked (the core's ``orders booked`` port, from the single and the
    batch booking): one query finds the members' subscriptions; only subscribers' orders are looked
    at further. Each cashback follows its subscription's plan and program, whatever ``program``
    booked the orders."""
    orders = [order for order in orders if order.pk]
    if not orders:
        return
    members = {o.member_id for o in orders}
    if len(members) == 1 and not Subscription.objects.filter(member_id=next(iter(members))).exists():
        return  # one order's member, who subscribed to nothing: the common case of the single path, in a light query
    subscriptions: dict[int, list[Subscription]] = {}
    for subscription in Subscription.objects.filter(member_id__any=members).select_related("plan__program"):
        subscriptions.setdefault(subscription.member_id, []).append(subscription)
    if not subscriptions:
        return
    mine = [order for order in orders if order.member_id in subscriptions]
    existing = {c.order_id: c for c in Cashback.objects.filter(order__in=mine).select_related("subscription__plan__program", "points_entry")}
    for order in mine:
        cashback = existing.get(order.pk)
        if cashback is not None:
            _cashback_adjust(cashback, order)
            continue
        for subscription in subscriptions[order.member_id]:
            day = _local_day(subscription.plan.program, order.paid_at)
            if subscription.starts_on <= day <= subscription.ends_on:
                _cashback_grant(subscription, order, day)
                break


def _cashback_grant(subscription: Subscription, order: Order, day: date) -> Cashback | None:
    plan = subscription.plan
    entitled = cashback_entitlement(order=order, plan=plan)
    if not entitled:
        return None
    block = member_block_get(member_id=order.member_id, scope=ListEntry.Scope.EARNING, at=order.paid_at)
    if block is not None:
        return Cashback.objects.create(subscription=subscription, order=order, points=0, capped=0, status=Cashback.Status.BLOCKED, list_entry=block)
    room = _cap_room(subscription, order.member_id, day.year)
    points = entitled if room is None else min(entitled, room)
    status = Cashback.Status.CREDITED
    frozen = False
    if subscription.is_trial:
        status, frozen = Cashback.Status.FROZEN, True
        if subscription.trial_settled:  # the trial's cashback was already released or cleared
            bought = Subscription.objects.filter(
                member_id=order.member_id, is_trial=False,
                starts_on__lte=subscription.ends_on + timedelta(days=RELEASE_WINDOW_DAYS), starts_on__gte=subscription.starts_on,
            ).exists()
            status, frozen = (Cashback.Status.RELEASED, False) if bought else (Cashback.Status.CLEARED, False)
    cashback = Cashback(subscription=subscription, order=order, points=points, capped=entitled - points, status=status)
    if points and status != Cashback.Status.CLEARED:
        cashback.points_entry = points_credit(
            program=plan.program, member=order.member, amount=points, effective_at=order.paid_at, source=Source.CASHBACK,
            source_ref=order.order_id, idempotency_key=f"cashback:{order.order_id}", frozen=frozen,
            reason=f"{plan.code} cashback {plan.cashback_rate}%",
        )
    if status == Cashback.Status.CLEARED:
        cashback.points = 0
    cashback.save()
    return cashback


def _cashback_adjust(cashback: Cashback, order: Order) -> None:
    """A changed order (a refund): a lower entitlement takes the difference back; never more is paid."""
    if cashback.status not in PAID_OUT or not cashback.points:
        return
    entitled = cashback_entitlement(order=order, plan=cashback.subscription.plan)
    if entitled >= cashback.points:
        return
    taken = cashback.points - entitled
    lot = cashback.points_entry.lot
    points_debit(
        member=order.member, amount=taken, kind="reversal", effective_at=order.paid_at, source=Source.CASHBACK,
        source_ref=order.order_id, idempotency_key=f"cashback:{order.order_id}:{order.revision}", prefer_lots=[lot],
        allow_negative=True, reason="order refunded or changed: cashback taken back",
    )
    cashback.points = entitled
    cashback.save(update_fields=["points"])


def _trial_cashback_release(trial: Subscription) -> None:
    released = 0
    for cashback in trial.cashbacks.filter(status=Cashback.Status.FROZEN).select_related("points_entry__lot"):
        if cashback.points_entry_id:
            points_lot_release(lot=cashback.points_entry.lot)
            released += cashback.points_entry.lot.remaining
        cashback.status = Cashback.Status.RELEASED
        cashback.save(update_fields=["status"])
    trial.trial_settled = True
    trial.save(update_fields=["trial_settled"])
    if released:
        _trial_event("trial.cashback_released", trial, released)


def _trial_event(type: str, trial: Subscription, points: int, at: datetime | None = None) -> None:
    outbox_publish(
        type=type, member_ref=trial.member.member_id, occurred_at=at or timezone.now(),
        data={"subscription": trial.pk, "plan": trial.plan.code, "points": points},
    )


def _trial_cashback_clear(trial: Subscription, at: datetime) -> int:
    cleared = 0
    for cashback in trial.cashbacks.filter(status=Cashback.Status.FROZEN).select_related("points_entry__lot"):
        if cashback.points_entry_id:
            entry = points_lot_clear(
                lot=cashback.points_entry.lot, effective_at=at,
                reason=f"trial ended on {trial.ends_on} without a purchase within {RELEASE_WINDOW_DAYS} days",
            )
            cleared += -entry.amount if entry else 0
        cashback.status = Cashback.Status.CLEARED
        cashback.save(update_fields=["status"])
    trial.trial_settled = True
    trial.save(update_fields=["trial_settled"])
    if cleared:
        _trial_event("trial.cashback_cleared", trial, cleared, at)
    return cleared


def subscriptions_daily_run(*, at: datetime | None = None, program: Program | None = None) -> dict[str, int]:
    """The daily task: subscriptions past their end expire; trials that ended more than
    ``RELEASE_WINDOW_DAYS`` ago without a purchase have their frozen cashback cleared. Running it
    twice changes nothing more."""
    program = program or program_active_get()
    at = at or timezone.now()
    today = _local_day(program, at)
    with transaction.atomic():
        ending = list(Subscription.objects.select_for_update(of=("self",)).filter(status__in=Subscription.LIVE, ends_on__lt=today).select_related("member", "plan"))
        expired = Subscription.objects.filter(pk__in=[s.pk for s in ending]).update(status=Subscription.Status.EXPIRED)
        for subscription in ending:
            _subscription_event("subscription.ended", subscription, at, reason="expired")
    counts = {"expired": expired, "trials_cleared": 0, "points_cleared": 0}
    due = Subscription.objects.filter(is_trial=True, trial_settled=False, ends_on__lt=today - timedelta(days=RELEASE_WINDOW_DAYS))
    for trial_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            trial = Subscription.objects.select_for_update().get(pk=trial_id)
            if trial.trial_settled:
                continue
            counts["points_cleared"] += _trial_cashback_clear(trial, at)
            counts["trials_cleared"] += 1
    return counts


DAILY_TASK_NAME = gettext_noop("Daily paid membership")  # the schedule's key; the console shows its translation


def subscriptions_schedule_sync(*, program: Program) -> int:
    """Make the beat schedule run ``subscriptions.daily`` at 00:15 every day in the program's time
    zone; returns 1 if the schedule changed."""
    return periodic_task_sync(
        name=DAILY_TASK_NAME, task="subscriptions.daily", crontab=daily_at(hour=0, minute=15, time_zone=program.time_zone),
        description=f"Expires paid memberships and clears unreleased trial cashback, at 00:15 ({program.time_zone}).",
    )

def member_subscriptions_data(*, member: Member) -> list[dict]:
    """``member``'s paid memberships, for their data export."""
    return rows(
        Subscription.objects.filter(member=member).order_by("starts_on", "pk"), "plan__code", "starts_on", "ends_on", "status", "is_trial",
        "renewals", "cancelled_at", "cancel_reason",
    )
