"""A settlement and an import of the same members at the same time (PostgreSQL): both lock the
members first, in the order of their keys, so they wait for each other instead of deadlocking;
a chunk that still loses to another transaction is run again, and one that keeps losing marks
the run failed with a sentence, and running the month again settles the rest."""

import os
import subprocess
import sys
import threading
import time
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections

import common.conflicts
from benefits.models import BenefitGrant
from membership.models import LevelChange, Member, Order, SettlementChunk, SettlementRun
from membership.selectors import order_credits_reconcile
from membership.services import (
    OpeningBalance,
    SettlementFailed,
    opening_balances_book_batch,
    settlement_chunk_execute,
    settlement_run_execute,
    settlement_run_start,
)
from membership.tests.factories import database_url, local
from points.selectors import points_reconcile

from .commands.test_contract_commands import ORDER_HEADER, write

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the two need a database server they share"),
    pytest.mark.django_db(transaction=True),
]


def members_with_growth(program, count):
    Member.objects.bulk_create(Member(member_id=f"S{n:05d}") for n in range(count))
    opening_balances_book_batch(
        balances=[OpeningBalance(member_id=f"S{n:05d}", growth=(n % 5) * 1500, growth_at=local(2026, 3, 1)) for n in range(count)],
        program=program,
    )


def deadlocks():
    time.sleep(1.2)  # a backend reports its statistics at most once a second
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_a_settlement_and_a_parallel_import_of_the_same_members_both_finish(program, tmp_path):
    members_with_growth(program, 3000)
    rows = [
        f"D{n:06d},S{n % 3000:05d},2026-11-{1 + n % 28:02d} 10:00:00,completed,{100 + n % 50}.00,0,0,0,food,shop1" for n in range(12000)
    ]
    path = write(tmp_path / "orders.csv", "\n".join([ORDER_HEADER, *rows]) + "\n")
    env = {**os.environ, "DATABASE_URL": database_url()}
    settle = subprocess.Popen(
        [sys.executable, "manage.py", "settle", "2026-10", "--chunk-size", "100"], cwd=Path(settings.BASE_DIR), env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadlocks_before = deadlocks()
    out, err = StringIO(), StringIO()
    call_command("import_orders", path, "--workers", "2", "--batch-size", "200", stdout=out, stderr=err)
    settled, problems = settle.communicate(timeout=300)

    assert settle.returncode == 0, problems
    assert deadlocks() == deadlocks_before  # they waited for each other, none had to be run again
    assert "settled 2026-10: evaluated 3000" in settled
    assert "created 12000" in out.getvalue() and err.getvalue() == ""
    run = SettlementRun.objects.get()
    assert run.status == "done" and run.members_evaluated == 3000
    assert LevelChange.objects.count() == sum(1 for n in range(3000) if n % 5) == run.members_up
    assert BenefitGrant.objects.filter(run=run).count() == run.benefits_issued
    assert Order.objects.count() == 12000
    assert points_reconcile() == [] and order_credits_reconcile() == []


def deadlock_with(chunk, member_pks):
    """Settle ``chunk`` in a thread while another transaction holds the chunk's last member and
    then asks for its first: a deadlock that PostgreSQL ends by rolling back the chunk (the other
    side waits longer before it looks for one). Returns what the thread raised, if anything."""
    first, last = member_pks[0], member_pks[-1]
    failures = []
    holder = connections.create_connection("default")
    holder.connect()
    try:
        with holder.cursor() as cursor:
            cursor.execute("SET deadlock_timeout = '10s'")
            cursor.execute("BEGIN")
            cursor.execute("SELECT id FROM membership_member WHERE id = %s FOR UPDATE", [last])

            def settle():
                try:
                    settlement_chunk_execute(chunk_id=chunk.pk)
                except Exception as exc:  # asserted by the caller
                    failures.append(exc)
                finally:
                    connection.close()

            worker = threading.Thread(target=settle)
            worker.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # until the chunk waits for the member held here
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.02)
            cursor.execute("SELECT id FROM membership_member WHERE id = %s FOR UPDATE", [first])
            cursor.execute("COMMIT")
            worker.join(60)
    finally:
        holder.close()
    return failures


def test_a_chunk_that_deadlocks_is_rolled_back_and_settled_again(program):
    members_with_growth(program, 6)
    run = settlement_run_start(month=date(2026, 10, 1), chunk_size=3).run
    chunk = SettlementChunk.objects.filter(run=run).order_by("first_member").first()
    pks = list(Member.objects.filter(pk__gte=chunk.first_member, pk__lte=chunk.last_member).order_by("pk").values_list("pk", flat=True))

    assert deadlock_with(chunk, pks) == []
    chunk.refresh_from_db()
    assert chunk.status == "done" and chunk.members_evaluated == 3
    assert LevelChange.objects.filter(member_id__in=pks).count() == 2  # S00001 and S00002 reach V1


def test_a_chunk_that_keeps_losing_fails_the_run_with_a_sentence_and_a_rerun_settles_it(program, monkeypatch):
    members_with_growth(program, 6)
    run = settlement_run_start(month=date(2026, 10, 1), chunk_size=3).run
    chunk = SettlementChunk.objects.filter(run=run).order_by("first_member").first()
    pks = list(Member.objects.filter(pk__gte=chunk.first_member, pk__lte=chunk.last_member).order_by("pk").values_list("pk", flat=True))
    monkeypatch.setattr(common.conflicts, "PAUSES", ())  # no second attempt

    [failure] = deadlock_with(chunk, pks)
    assert isinstance(failure, SettlementFailed)
    assert str(failure).startswith(f"chunk {chunk.pk} of the settlement lost to other work on the database once (a deadlock)")
    assert str(failure).endswith("running the settlement of 2026-10 again settles the rest.")
    run.refresh_from_db()
    assert run.status == "failed" and run.error == str(failure)
    assert not LevelChange.objects.exists()

    monkeypatch.undo()
    run = settlement_run_execute(month=date(2026, 10, 1), chunk_size=3).run
    assert run.status == "done" and run.error == "" and run.members_evaluated == 6


def test_a_settlement_whose_database_connection_is_cut_says_so_in_a_sentence_and_a_rerun_finishes(program):
    members_with_growth(program, 3000)
    env = {**os.environ, "DATABASE_URL": database_url()}
    settle = subprocess.Popen(
        [sys.executable, "manage.py", "settle", "2026-10", "--chunk-size", "20"], cwd=Path(settings.BASE_DIR), env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while SettlementChunk.objects.filter(status="done").count() < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    with connection.cursor() as cursor:  # as a database restart would, for that process
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
    out, err = settle.communicate(timeout=60)

    assert settle.returncode == 1 and "Traceback" not in err, err
    assert err.strip().startswith("CommandError: chunk ") and "of the settlement failed on the database (terminating connection" in err
    assert err.strip().endswith("the chunks settled so far stay settled: running the settlement of 2026-10 again settles the rest.")
    assert len(err.strip().splitlines()) == 1
    assert SettlementRun.objects.get().status == "failed"
    out = StringIO()
    call_command("settle", "2026-10", "--chunk-size", "20", stdout=out)
    assert "settled 2026-10: evaluated 3000" in out.getvalue()
    assert SettlementRun.objects.get().status == "done" and points_reconcile() == []
