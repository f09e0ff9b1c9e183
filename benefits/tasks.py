"""Celery tasks of the benefits app: each calls a service."""

from celery import shared_task

from .services import benefits_daily_issue


@shared_task(name="benefits.daily")
def benefits_daily() -> dict:
    """What the beat schedule runs every day: birthday and anniversary benefits, then expiry of grants."""
    return benefits_daily_issue()
