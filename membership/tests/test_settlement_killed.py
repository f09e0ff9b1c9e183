"""A settlement killed midway (the process gets SIGKILL) is finished by running it again."""

import os
import signal
import subprocess
import sys
import time
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from membership.services import OpeningBalance, opening_balances_book_batch
from membership.models import LevelChange, Member, SettlementChunk, SettlementRun
from membership.tests.factories import database_url, local
from points.models import PointsEntry, PointsLot
from points.selectors import points_reconcile

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the killed process needs a database server it shares")


def test_a_killed_settlement_is_finished_by_running_it_again(transactional_db, program):
    Member.objects.bulk_create(Member(member_id=f"K{n:05d}") for n in range(3000))
    opening_balances_book_batch(
        balances=[
            OpeningBalance(member_id=f"K{n:05d}", growth=(n % 7) * 1000, growth_at=local(2026, 3, 1), points=100, earned_at=local(2024, 5, 1))
            for n in range(3000)
        ],
        program=program,
    )
    env = {**os.environ, "DATABASE_URL": database_url()}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "settle", "2026-09", "--chunk-size", "20"], cwd=Path(settings.BASE_DIR), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while SettlementChunk.objects.filter(status="done").count() < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()

    run = SettlementRun.objects.get()
    done = SettlementChunk.objects.filter(run=run, status="done").count()
    assert run.status == "running" and 3 <= done < 150  # killed midway: some chunks settled, not all
    assert LevelChange.objects.count() < 3000 * 6 // 7

    out = StringIO()
    call_command("settle", "2026-09", "--chunk-size", "20", stdout=out)
    run.refresh_from_db()
    assert run.status == "done" and run.members_evaluated == 3000
    assert "settled 2026-09: evaluated 3000" in out.getvalue()
    # Every member settled once, to the level its growth reaches; every lot expired once.
    assert LevelChange.objects.count() == sum(1 for n in range(3000) if n % 7) == run.members_up
    expected = {0: "V0", 1: "V1", 2: "V1", 3: "V1", 4: "V1", 5: "V2", 6: "V2"}
    levels = dict(Member.objects.values_list("member_id", "level__code"))
    assert all((levels[f"K{n:05d}"] or "V0") == expected[n % 7] for n in range(3000))
    assert PointsEntry.objects.filter(kind="expiry").count() == 3000 == run.lots_expired
    assert not PointsLot.objects.filter(remaining__gt=0).exists()
    assert points_reconcile() == []
    assert run.month == date(2026, 9, 1)
