"""Celery tasks of paid membership: each calls a service."""

from celery import shared_task

from .services import subscriptions_daily_run


@shared_task(name="subscriptions.daily")
def subscriptions_daily() -> dict:
    """What the beat schedule runs every day: expiry of subscriptions, clearing of unreleased trial cashback."""
    return subscriptions_daily_run()
