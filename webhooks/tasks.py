"""Celery tasks of the webhooks: each calls a service."""

from celery import shared_task

from .services import deliveries_run


@shared_task(name="webhooks.deliver", acks_late=True)
def deliver() -> dict:
    """What the schedule runs every few seconds: new events to deliveries, then what is due."""
    return deliveries_run()
