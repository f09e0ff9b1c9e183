"""Tasks through real Celery worker processes on the Redis broker and PostgreSQL."""

import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from membership.models import LevelChange, SettlementChunk, SettlementRun
from membership.services import growth_adjust
from membership.tasks import settle_month
from membership.tests.factories import MemberFactory, database_url, local


def broker_reachable() -> bool:
    try:
        return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker process needs a database server it can share"),
    pytest.mark.skipif(not broker_reachable(), reason="no Redis broker reachable at CELERY_BROKER_URL"),
]


def start_worker(queue, name, media_root):
    env = {
        **os.environ,
        "MEDIA_ROOT": str(media_root),
        "DATABASE_URL": database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SETTLEMENT_CATCH_UP_ON_START": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue, "-n", f"{name}@%h",
         "--loglevel=WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings.MEDIA_ROOT = tmp_path / "media"  # shared with the worker for uploaded import files
    process = start_worker(queue, "w1", settings.MEDIA_ROOT)
    yield queue
    stop(process)


def run_done(month: str, timeout: float = 90) -> SettlementRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = SettlementRun.objects.filter(month=date.fromisoformat(month + "-01"), status="done").first()
        if run:
            return run
        time.sleep(0.2)
    raise AssertionError(f"the settlement of {month} did not finish in {timeout} s")


def test_settlement_runs_through_a_worker(program, worker, django_user_model):
    staff = django_user_model.objects.create_user("ops")
    member = MemberFactory()
    growth_adjust(member=member, amount=5000, reason="migration", actor=staff, effective_at=local(2026, 9, 10))
    summary = settle_month.apply_async(args=["2026-09"], queue=worker).get(timeout=90)
    assert summary["already_done"] is False and summary["chunks"] == 1
    run = run_done("2026-09")
    assert (run.trigger, run.members_evaluated, run.members_up, run.members_down) == ("celery", 1, 1, 0)
    member.refresh_from_db()
    assert member.level.code == "V2" and member.level_valid_until == date(2027, 9, 30)
    again = settle_month.apply_async(args=["2026-09"], queue=worker).get(timeout=90)
    assert again["already_done"] is True
    assert LevelChange.objects.count() == 1


def test_two_workers_settle_the_chunks_of_one_run_in_parallel(transactional_db, program, settings, tmp_path, django_user_model):
    staff = django_user_model.objects.create_user("ops")
    members = [MemberFactory() for _ in range(60)]
    for n, member in enumerate(members):
        growth_adjust(member=member, amount=1000 * (n % 6) or 10, reason="migration", actor=staff, effective_at=local(2026, 9, 10))
    queue = f"test-{uuid.uuid4().hex[:8]}"
    workers = [start_worker(queue, name, tmp_path) for name in ("w1", "w2")]
    try:
        summary = settle_month.apply_async(args=["2026-09"], kwargs={"chunk_size": 3}, queue=queue).get(timeout=90)
        assert summary["chunks"] == 20
        run = run_done("2026-09")
    finally:
        for process in workers:
            stop(process)
    assert run.members_evaluated == 60 and run.members_up == 50
    assert LevelChange.objects.count() == 50  # every member settled once
    hosts = set(SettlementChunk.objects.filter(run=run).values_list("worker", flat=True))
    assert {host.split("@")[0].rsplit(":", 1)[-1] for host in hosts} == {"w1", "w2"}


def test_an_import_job_runs_through_a_worker(program, worker, django_user_model, settings, tmp_path):
    from django.core.files.base import ContentFile

    from membership.models import ImportJob, Order
    from membership.tasks import import_job_run_task

    from django.contrib.auth.models import Group

    staff = django_user_model.objects.create_user("importer")
    staff.groups.add(Group.objects.get(name="Operator"))
    MemberFactory(member_id="W1")
    text = "order_id,member_id,paid_at,status,goods_amount\nWO1,W1,2026-03-01 10:00:00,completed,88.80\nWO2,NOBODY,2026-03-01 10:00:00,completed,1\n"
    job = ImportJob(kind="orders", original_name="daily.csv", created_by=staff)
    job.file.save("daily.csv", ContentFile(text.encode("gb18030")), save=True)
    summary = import_job_run_task.apply_async(args=[job.pk], queue=worker).get(timeout=90)
    assert summary["status"] == "done" and summary["counts"]["created"] == 1 and summary["counts"]["rejected"] == 1
    job.refresh_from_db()
    assert (job.rows_done, job.rows_total) == (2, 2) and job.rejected_file
    assert "daily.csv: row 3, column member_id: unknown member 'NOBODY'" in job.rejected_file.read().decode("gb18030")
    assert Order.objects.get().order_id == "WO1"
