from celery import shared_task

from .services import settlement_month_parse, settlement_run_execute


@shared_task(name="membership.settle_month")
def settle_month(month: str) -> dict:
    """Settle ``month`` (YYYY-MM), as the ``settle`` command does."""
    outcome = settlement_run_execute(month=settlement_month_parse(month), trigger="celery")
    run = outcome.run
    return {
        "month": month,
        "already_done": outcome.already_done,
        "status": run.status,
        "up": run.members_up,
        "down": run.members_down,
        "points_expired": run.points_expired,
    }
