"""Celery tasks: each fetches by id or month and calls a service."""

import logging
import socket

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.contrib.auth import get_user_model

from .imports import import_job_run
from .models import SettlementChunk
from .selectors import program_active_get
from .services import (
    SettlementFailed,
    SettlementRefused,
    daily_rules_catch_up,
    reminders_run,
    settlement_chunk_execute,
    settlement_due_month,
    settlement_month_parse,
    settlement_run_finish,
    settlement_run_start,
)
from .totals import ledger_totals_refresh as totals_refresh

logger = logging.getLogger(__name__)


@shared_task(name="membership.settle_month")
def settle_month(month: str, trigger: str = "celery", chunk_size: int | None = None, actor_id: int | None = None) -> dict:
    """Open the settlement of ``month`` (YYYY-MM), started by the staff user ``actor_id`` (None:
    the schedule), and hand its chunks to the workers; the last chunk to finish closes the run.
    A month the settlement refuses (not over yet, before the latest settled one) changes nothing:
    the task says why in its result and the worker's log."""
    options = {"chunk_size": chunk_size} if chunk_size else {}
    actor = get_user_model().objects.get(pk=actor_id) if actor_id is not None else None
    try:
        outcome = settlement_run_start(month=settlement_month_parse(month), trigger=trigger, actor=actor, **options)
    except SettlementRefused as exc:
        logger.warning("the settlement of %s was refused: %s", month, exc)
        return {"month": month, "refused": str(exc)}
    run = outcome.run
    if outcome.already_done:
        return {"month": month, "run": run.pk, "already_done": True, "chunks": 0}
    pending = list(SettlementChunk.objects.filter(run=run, status=SettlementChunk.Status.PENDING).values_list("pk", flat=True))
    queue = (settle_month.request.delivery_info or {}).get("routing_key")  # the chunks go where the run was sent
    for chunk_id in pending:
        settle_chunk.apply_async(args=[chunk_id], queue=queue)
    if not pending:
        settlement_run_finish(run_id=run.pk)
    return {"month": month, "run": run.pk, "already_done": False, "chunks": len(pending)}


@shared_task(name="membership.settle_chunk", acks_late=True)
def settle_chunk(chunk_id: int) -> dict:
    """Settle one chunk; if it was the last one left, close the run. A chunk that cannot be
    settled (``SettlementFailed``: the run is marked failed) is logged and reported in the result."""
    try:
        did = settlement_chunk_execute(chunk_id=chunk_id, worker=f"{socket.gethostname()}:{settle_chunk.request.hostname or ''}")
    except SettlementFailed as exc:
        logger.error("%s", exc)
        return {"chunk": chunk_id, "failed": str(exc), "run_status": "failed"}
    run_id = SettlementChunk.objects.values_list("run_id", flat=True).get(pk=chunk_id)
    run = settlement_run_finish(run_id=run_id)
    return {"chunk": chunk_id, "settled": did, "run_status": run.status}


@shared_task(name="membership.settle_due")
def settle_due() -> dict:
    """What the beat schedule runs: settle the month before, once it is due and not settled yet."""
    month = settlement_due_month()
    if month is None:
        return {"due": None}
    return settle_month(month.strftime("%Y-%m"), trigger="schedule")


@worker_ready.connect
def catch_up_missed_settlement(sender=None, **kwargs):
    """A settlement the schedule missed while no worker ran is caught up when a worker starts, on
    a queue it consumes; ``settle_due`` does nothing once the month is settled, so it runs once."""
    if not settings.SETTLEMENT_CATCH_UP_ON_START:
        return
    queues = [queue.name for queue in getattr(getattr(sender, "task_consumer", None), "queues", [])]
    settle_due.apply_async(queue=queues[0] if queues else None)


@shared_task(name="membership.import_job_run")
def import_job_run_task(job_id: int) -> dict:
    """Run an import job that the admin queued."""
    job = import_job_run(job_id=job_id)
    return {"job": job.pk, "status": job.status, "counts": job.counts}


@shared_task(name="membership.daily_rules")
def daily_rules() -> dict:
    """What the daily schedule runs: the program's time-based rules for every day not booked yet."""
    runs = daily_rules_catch_up()
    return {"days": [run.day.isoformat() for run in runs], "counts": [run.counts for run in runs]}


@shared_task(name="membership.ledger_totals_refresh")
def ledger_totals_refresh() -> dict:
    """What the schedule runs every few minutes: add new ledger entries to the dashboard's monthly totals."""
    return {"entries_added": totals_refresh(time_zone=program_active_get().time_zone)}


@shared_task(name="membership.reminders")
def reminders() -> dict:
    """What the daily schedule runs: points about to end and levels at risk, told once each."""
    return reminders_run()
