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


@shared_task(name="membership.import_job_run")
def import_job_run_task(job_id: int) -> dict:
    """Run an import job that the admin queued."""
    from .imports import import_job_run

    job = import_job_run(job_id=job_id)
    return {"job": job.pk, "status": job.status, "counts": job.counts}
