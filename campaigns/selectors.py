"""Reads of campaigns: the phase a campaign is in, what waits for an approver, the decisions a maker sees."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

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
