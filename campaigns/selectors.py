"""Reads of campaigns: the phase a campaign is in, what waits for an approver, the decisions a maker sees."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from membership.models import GrowthEntry, Order, OrderCredit
from points.models import PointsEntry

from .models import Campaign, CampaignTransition

PHASES = ("draft", "submitted", "rejected", "scheduled", "live", "ended")


def campaign_phase(campaign: Campaign, now: datetime | None = None) -> str:
    """Where the campaign stands: its status, and for an approved one whether its window is still
    ahead (scheduled), open (live) or past (ended)."""
    if campaign.status != Campaign.Status.APPROVED:
        return campaign.status
    now = now or timezone.now()
    if now < campaign.starts_at:
        return "scheduled"
    return "live" if now < campaign.ends_at else "ended"


def campaigns_waiting(*, user) -> QuerySet[Campaign]:
    """The submitted campaigns that ``user`` may decide: submitted by someone else, not made by them."""
    submitted = CampaignTransition.objects.filter(to_status=Campaign.Status.SUBMITTED, actor=user).values("campaign_id")
    return Campaign.objects.filter(status=Campaign.Status.SUBMITTED).exclude(created_by=user).exclude(pk__in=submitted)


def campaigns_waiting_count(*, user) -> int:
    if not user.has_perm("campaigns.approve_campaign"):
        return 0
    return campaigns_waiting(user=user).count()


def campaign_decisions(*, user, since: datetime) -> list[CampaignTransition]:
    """Approvals and rejections since ``since`` of the campaigns ``user`` made, newest first."""
    return list(
        CampaignTransition.objects.filter(
            campaign__created_by=user, at__gte=since, to_status__in=(Campaign.Status.APPROVED, Campaign.Status.REJECTED),
        ).exclude(actor=user).select_related("campaign", "actor").order_by("-at")[:10]
    )


def campaign_report(*, campaign: Campaign) -> dict:
    """What the campaign actually did: credited, refused, members and orders reached, by day; and
    over its window, the orders of the members it reached beside those of the members it did not
    (per member, so that the difference is the order value it may have added)."""
    report = {"credited": campaign.credited, "refused": campaign.refused, "members": 0, "orders": 0, "days": [], "reached": None, "others": None, "incremental_per_member": None}
    if campaign.rule_id is None:
        return report
    tz = ZoneInfo(campaign.program.time_zone)
    ledger = PointsEntry if campaign.currency == "points" else GrowthEntry
    report["days"] = [
        (day.isoformat(), points)
        for day, points in ledger.objects.filter(rule_id=campaign.rule_id)
        .annotate(day=TruncDate("effective_at", tzinfo=tz)).values("day").annotate(p=Sum("amount")).order_by("day").values_list("day", "p")
    ]
    report["members"] = campaign.members.filter(credited__gt=0).count()
    report["orders"] = OrderCredit.objects.filter(rule_id=campaign.rule_id, credited__gt=0).count()
    until = min(campaign.rule.valid_until or campaign.ends_at, timezone.now())
    window = Order.objects.filter(paid_at__gte=campaign.starts_at, paid_at__lt=until, status="completed")
    reached = campaign.members.filter(credited__gt=0).values("member_id")
    value = F("goods_amount") - F("discount_amount") - F("refunded_amount")
    for key, orders in (("reached", window.filter(member_id__in=reached)), ("others", window.exclude(member_id__in=reached))):
        totals = orders.aggregate(n=Count("pk"), members=Count("member_id", distinct=True), value=Sum(value))
        members = totals["members"] or 0
        report[key] = {
            "members": members, "orders": totals["n"], "value": float(totals["value"] or 0),
            "per_member": float((totals["value"] or 0) / members) if members else 0.0,
        }
    if report["others"]["members"] and report["reached"]["members"]:
        report["incremental_per_member"] = report["reached"]["per_member"] - report["others"]["per_member"]
    return report
