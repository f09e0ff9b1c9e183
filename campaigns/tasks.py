"""Celery tasks of campaigns: each fetches by id and calls a service."""

from celery import shared_task

from .models import Campaign
from .services import campaign_forecast_make


@shared_task(name="campaigns.forecast")
def forecast(campaign_id: int, months: int) -> dict:
    """Make and keep a campaign's forecast; returns its totals."""
    made = campaign_forecast_make(campaign=Campaign.objects.select_related("program", "rule").get(pk=campaign_id), months=months)
    return {key: made[key] for key in ("points", "wanted", "orders", "members")}
