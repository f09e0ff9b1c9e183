"""The settlement task through a real Celery worker process on the Redis broker."""

import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from membership.models import LevelChange, SettlementRun
from membership.services import growth_adjust
from membership.tasks import settle_month
from membership.tests.factories import MemberFactory, local


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


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    settings.MEDIA_ROOT = tmp_path / "media"  # shared with the worker for uploaded import files
    env = {
        **os.environ,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DATABASE_URL": f"postgres://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue, "--loglevel=WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield queue
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_settlement_runs_through_a_worker(program, worker, django_user_model):
    staff = django_user_model.objects.create_user("ops")
    member = MemberFactory()
    growth_adjust(member=member, amount=5000, reason="migration", actor=staff, effective_at=local(2026, 9, 10))
    result = settle_month.apply_async(args=["2026-09"], queue=worker)
    summary = result.get(timeout=90)
    assert summary == {"month": "2026-09", "already_done": False, "status": "done", "up": 1, "down": 0, "points_expired": 0}
    member.refresh_from_db()
    assert member.level.code == "V2" and member.level_valid_until == date(2027, 9, 30)
    again = settle_month.apply_async(args=["2026-09"], queue=worker).get(timeout=90)
    assert again["already_done"] is True
    assert SettlementRun.objects.get().trigger == "celery"
    assert LevelChange.objects.count() == 1


def test_an_import_job_runs_through_a_worker(program, worker, django_user_model, settings, tmp_path):
    from django.core.files.base import ContentFile

    from membership.models import ImportJob, Order
    from membership.tasks import import_job_run_task

    staff = django_user_model.objects.create_user("importer")
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
