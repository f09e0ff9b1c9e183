"""Queries of risk control: who is on which list at a given time."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from common.records import rows
from membership.models import GrowthEntry, LevelChange, Member, Order, OrderCredit
from membership.selectors import program_active_get
from points.models import PointsEntry

from .models import Alert, BlockedCredit, ListEntry, ManualAdjustment


def _in_force(*, kind: str, scope: str, at: datetime) -> QuerySet[ListEntry]:
    scopes = [ListEntry.Scope.ALL] if scope == ListEntry.Scope.ALL else [scope, ListEntry.Scope.ALL]
    return ListEntry.objects.filter(kind=kind, scope__in=scopes, starts_at__lte=at).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=at)
    )


def member_block_get(*, member_id: int, scope: str, at: datetime | None = None) -> ListEntry | None:
    """The blacklist entry that blocks ``scope`` for the member (pk) at ``at`` (now), or None."""
    return (
        _in_force(kind=ListEntry.Kind.BLACK, scope=scope, at=at or timezone.now())
        .filter(member_id=member_id)
        .order_by("starts_at", "pk")
        .first()
    )


def members_blocked(*, member_ids: Iterable[int] | None, scope: str, at: datetime | None = None) -> dict[int, int]:
    """Member pk → the pk of the blacklist entry blocking ``scope`` at ``at``, in one query.

    ``member_ids`` None means every member (for set-based paths such as the settlement)."""
    entries = _in_force(kind=ListEntry.Kind.BLACK, scope=scope, at=at or timezone.now())
    if member_ids is not None:
        entries = entries.filter(member_id__any=list(member_ids))
    blocked: dict[int, int] = {}
    for member_id, entry_id in entries.order_by("-starts_at", "-pk").values_list("member_id", "pk"):
        blocked[member_id] = entry_id
    return blocked


def member_whitelisted(*, member_id: int, at: datetime | None = None) -> bool:
    """Whether the member skips the anomaly rules at ``at`` (now)."""
    at = at or timezone.now()
    return ListEntry.objects.filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=at), kind=ListEntry.Kind.WHITE, member_id=member_id, starts_at__lte=at
    ).exists()


def members_block_periods(
    *, member_ids: Iterable[int], scope: str, since: datetime, until: datetime
) -> dict[int, list[tuple[datetime, datetime | None, int]]]:
    """Member pk → the blacklist entries for ``scope`` in force at some time in [since, until], as
    (starts_at, ends_at, entry pk), in one query: what a batch of bookings spread over that span
    needs to answer ``member_block_get`` for each of them (``block_in_force``)."""
    scopes = [ListEntry.Scope.ALL] if scope == ListEntry.Scope.ALL else [scope, ListEntry.Scope.ALL]
    entries = ListEntry.objects.filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=since),
        kind=ListEntry.Kind.BLACK, scope__in=scopes, starts_at__lte=until, member_id__any=list(member_ids),
    )
    periods: dict[int, list] = {}
    for member_id, starts_at, ends_at, pk in entries.order_by("starts_at", "pk").values_list("member_id", "starts_at", "ends_at", "pk"):
        periods.setdefault(member_id, []).append((starts_at, ends_at, pk))
    return periods


def block_in_force(periods: list[tuple[datetime, datetime | None, int]], at: datetime) -> int | None:
    """The entry of ``periods`` (from ``members_block_periods``) that blocks at ``at``: the same one
    ``member_block_get`` picks (the earliest start, then the lowest pk), or None."""
    for starts_at, ends_at, pk in periods:
        if starts_at <= at and (ends_at is None or ends_at > at):
            return pk
    return None


def members_whitelisted_ids(*, at: datetime) -> QuerySet:
    """The pks of the members on the whitelist at ``at``, as a subquery (for set-based scans)."""
    return (
        ListEntry.objects.filter(kind=ListEntry.Kind.WHITE, starts_at__lte=at)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .values("member_id")
    )


def alerts_open_count() -> int:
    """How many alerts wait for someone (open or under investigation): the dashboard's figure."""
    return Alert.objects.filter(status__in=[Alert.Status.OPEN, Alert.Status.INVESTIGATING]).count()


def adjustments_waiting_count(*, user) -> int:
    """The adjustments that wait for ``user``'s decision: pending, asked for by someone else, and
    only for a user who may approve them."""
    if not user.has_perm("riskcontrol.approve_manualadjustment"):
        return 0
    return adjustments_waiting(user=user).count()


def adjustments_waiting(*, user) -> QuerySet[ManualAdjustment]:
    return ManualAdjustment.objects.filter(status=ManualAdjustment.Status.PENDING).exclude(requested_by=user)


def adjustments_decided(*, user, since: datetime, limit: int = 10) -> list[ManualAdjustment]:
    """The user's own adjustments that someone else decided since ``since``, newest first (those
    booked at once within the threshold were decided by nobody else)."""
    return list(
        ManualAdjustment.objects.filter(requested_by=user, decided_at__gte=since)
        .exclude(decided_by=user)
        .select_related("member", "decided_by")
        .order_by("-decided_at")[:limit]
    )


def member_risk_get(*, member, months: int = 12, limit: int = 20) -> dict:
    """What the member page shows of risk control: list entries (in force and past), open alerts,
    blocked credits, and what the caps withheld (per currency and local month, with the program's caps)."""
    now = timezone.now()
    entries = list(ListEntry.objects.filter(member=member).select_related("added_by", "ended_by").order_by("-starts_at", "-pk")[:limit])
    for entry in entries:
        entry.in_force = entry.starts_at <= now and (entry.ends_at is None or entry.ends_at > now)
    alerts = list(
        Alert.objects.filter(member=member, status__in=[Alert.Status.OPEN, Alert.Status.INVESTIGATING])
        .select_related("rule").order_by("-first_seen_at")[:limit]
    )
    blocked = list(BlockedCredit.objects.filter(member=member).select_related("rule", "list_entry").order_by("-effective_at", "-pk")[:limit])
    program = program_active_get()
    tz = ZoneInfo(program.time_zone)
    capped = []
    for currency, ledger in (("growth", GrowthEntry), ("points", PointsEntry)):
        rows = (
            ledger.objects.filter(member=member, capped__gt=0)
            .annotate(month=TruncMonth("effective_at", tzinfo=tz))
            .order_by("-month")
            .values_list("month")
            .annotate(total=Sum("capped"))[:months]
        )
        capped.extend((month.date() if hasattr(month, "date") else month, currency, total) for month, total in rows)
    # What the rules' per-order caps kept the member's orders from earning, by month paid.
    per_order = (
        OrderCredit.objects.filter(order__member=member, order_capped__gt=0)
        .annotate(month=TruncMonth("order__paid_at", tzinfo=tz))
        .order_by("-month")
        .values_list("month", "rule__currency")
        .annotate(total=Sum("order_capped"))[: months * 2]
    )
    capped.extend(
        (month.date() if hasattr(month, "date") else month, _("%(currency)s, over the per-order cap") % {"currency": currency}, total)
        for month, currency, total in per_order
    )
    capped.sort(key=lambda row: (row[0], row[1]), reverse=True)
    caps = {
        "daily_growth_cap": program.daily_growth_cap, "monthly_growth_cap": program.monthly_growth_cap,
        "daily_points_cap": program.daily_points_cap, "monthly_points_cap": program.monthly_points_cap,
    }
    rule_caps = [
        (rule.name, rule.currency, {k: rule.params[k] for k in ("per_order_cap", "per_day", "per_month") if rule.params.get(k)})
        for rule in program.rules.filter(is_active=True).order_by("code")
    ]
    caps["rules"] = [(name, currency, limits) for name, currency, limits in rule_caps if limits]
    return {"entries": entries, "alerts": alerts, "blocked": blocked, "capped": capped, "caps": caps}


def member_risk_data(*, member) -> dict:
    """What risk control holds on ``member``, for their data export."""
    return {
        "list_entries": rows(ListEntry.objects.filter(member=member).order_by("starts_at", "pk"), "kind", "scope", "reason", "starts_at", "ends_at"),
        "adjustments": rows(
            ManualAdjustment.objects.filter(member=member).order_by("requested_at", "pk"), "currency", "amount", "reason_code", "reason",
            "reference", "status", "requested_at", "decided_at",
        ),
        "blocked_credits": rows(BlockedCredit.objects.filter(member=member).order_by("pk"), "currency", "amount", "source", "source_ref", "released_at"),
        "alerts": rows(Alert.objects.filter(member=member).order_by("first_seen_at", "pk"), "rule__name", "severity", "status", "details", "first_seen_at"),
    }


def alert_case_get(*, alert: Alert, limit: int = 20) -> dict:
    """What an alert's page shows to work it as a case: the evidence its rule found (the other
    members with the phone, the orders behind a refund rate, the entries of the hour, the level
    change), the member's latest entries, and how long it has been open."""
    kind, details = alert.rule.kind, alert.details or {}
    case = {"others": [], "orders": [], "entries": [], "level_change": None}
    if kind == "shared_phone" and details.get("phone") and alert.member.phone == details["phone"]:
        case["others"] = list(
            Member.objects.filter(phone=details["phone"]).exclude(pk=alert.member_id).select_related("level").order_by("pk")[:limit]
        )
    elif kind == "refund_rate":
        since = alert.last_seen_at - timedelta(days=int(details.get("days", 30)))
        case["orders"] = list(Order.objects.filter(member=alert.member, paid_at__gte=since, paid_at__lt=alert.last_seen_at).order_by("-paid_at")[:limit])
    elif kind in ("earning_velocity", "redemption_burst"):
        ledger = PointsEntry if kind == "redemption_burst" or details.get("currency") == "points" else GrowthEntry
        hour = alert.first_seen_at
        case["entries"] = list(
            ledger.objects.filter(member=alert.member, effective_at__gte=hour, effective_at__lt=hour + timedelta(hours=1))
            .order_by("-effective_at", "-pk")[:limit]
        )
    elif kind == "level_jump" and alert.incident_key.startswith("levelchange:"):
        case["level_change"] = (
            LevelChange.objects.filter(pk=alert.incident_key.split(":", 1)[1], member=alert.member).select_related("run", "from_level", "to_level").first()
        )
    recent = [*GrowthEntry.objects.filter(member=alert.member).order_by("-effective_at", "-pk")[:10],
              *PointsEntry.objects.filter(member=alert.member).order_by("-effective_at", "-pk")[:10]]
    case["recent"] = sorted(recent, key=lambda e: e.effective_at, reverse=True)[:10]
    case["open_for"] = timezone.now() - alert.first_seen_at if alert.status in (Alert.Status.OPEN, Alert.Status.INVESTIGATING) else None
    return case
