"""An import that is stopped leaves nothing behind: its booking processes end with it (even on
SIGKILL), its scratch files go (at once on SIGTERM, with the next import on SIGKILL), and while
one import of a file runs, a second one of the same content is refused in a sentence."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from common.exclusive import file_exclusive
from membership.models import Member, Order
from membership.selectors import order_credits_reconcile
from membership.tests.factories import database_url
from points.selectors import points_reconcile

from .test_contract_commands import ORDER_HEADER, run, write

ORDERS = 16000


@pytest.fixture
def scratch(settings, tmp_path):
    settings.SCRATCH_DIR = str(tmp_path / "scratch")
    return Path(settings.SCRATCH_DIR) / "membership-scratch"


def orders_file(tmp_path, count=ORDERS):
    rows = [f"X{n:06d},M{n % 2000:04d},2026-03-{1 + n % 28:02d} 10:00:00,completed,{100 + n % 90}.00,0,0,0,food,s1" for n in range(count)]
    return write(tmp_path / "orders.csv", "\n".join([ORDER_HEADER, *rows]) + "\n")


@pytest.mark.django_db
def test_a_second_import_of_a_file_being_imported_is_refused_in_a_sentence(program, tmp_path, scratch):
    Member.objects.create(member_id="M0000")
    path = orders_file(tmp_path, 3)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(Path(path).read_bytes())
    with file_exclusive(path, what="orders", label=path):
        code, _, err = run("import_orders", str(copy))
        assert code == 2
        assert err == (
            f"{copy} is being imported already: another import of the same orders is running. "
            "Wait until it has finished; running the file again then books only what is not booked yet."
        )
        assert not Order.objects.exists()
        code, out, _ = run("import_orders", str(copy), "--dry-run")  # a dry run writes nothing: it may run beside
        assert code == 1 and "dry run" in out
    code, out, _ = run("import_orders", str(copy))
    assert "created 1" in out and Order.objects.count() == 1
    assert list(scratch.iterdir()) == []  # no lock file, no staging file left


def children_of(pid):
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def other_sessions():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="booking processes share a database server")
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the booking processes in /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.django_db(transaction=True)
def test_a_stopped_import_leaves_no_booking_process_and_no_scratch_file(program, tmp_path, scratch, how):
    Member.objects.bulk_create(Member(member_id=f"M{n:04d}") for n in range(2000))
    path = orders_file(tmp_path)
    env = {
        **os.environ, "SCRATCH_DIR": str(scratch.parent),
        "DATABASE_URL": database_url(),
    }
    parent = subprocess.Popen(
        [sys.executable, "manage.py", "import_orders", path, "--workers", "2", "--batch-size", "500"],
        cwd=Path(django_settings.BASE_DIR), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while Order.objects.count() < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = children_of(parent.pid)
    assert len(children) == 2 and list(scratch.iterdir())
    parent.send_signal(how)
    _, err = parent.communicate(timeout=30)

    deadline = time.monotonic() + 5
    while any(alive(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(child) for child in children)
    while other_sessions() and time.monotonic() < deadline + 5:  # their last statement may still be ending
        time.sleep(0.05)
    assert other_sessions() == 0
    booked = Order.objects.count()
    time.sleep(1)
    assert Order.objects.count() == booked < ORDERS  # nobody books behind a re-run's back
    if how == signal.SIGTERM:
        assert parent.returncode == 128 + signal.SIGTERM and "Traceback" not in err
        assert list(scratch.iterdir()) == []
    assert points_reconcile() == [] and order_credits_reconcile() == []

    code, out, _ = run("import_orders", path, "--workers", "2", "--batch-size", "500")
    assert code == 0 and f"created {ORDERS - booked}, changed 0, unchanged {booked}" in out
    assert list(scratch.iterdir()) == []  # what the killed import left is gone with the next one


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statistics")
@pytest.mark.django_db(transaction=True)
def test_a_big_import_brings_the_statistics_of_the_tables_it_wrote_up_to_date(program, tmp_path, monkeypatch):
    import common.bulk

    monkeypatch.setattr(common.bulk, "ANALYZE_AFTER", 20)  # "big": 20 rows here, 10,000 in production
    Member.objects.bulk_create(Member(member_id=f"M{n:04d}") for n in range(2000))
    tables = ("membership_order", "membership_growthentry", "points_pointsentry", "points_pointslot", "points_pointsaccount")

    def analysed():
        """When each table's statistics were last brought up to date by hand (ANALYZE), if ever."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname = ANY(%s)", [list(tables)])
            return dict(cursor.fetchall())

    before = analysed()
    assert run("import_orders", orders_file(tmp_path, 10))[0] == 0
    assert analysed() == before  # 10 rows: left to autovacuum
    path = write(tmp_path / "more.csv", "\n".join([ORDER_HEADER, *[f"Y{n},M{n:04d},2026-03-01 10:00:00,completed,100,0,0,0,," for n in range(30)]]) + "\n")
    assert run("import_orders", path)[0] == 0
    after = analysed()
    assert all(after[table] is not None and (before.get(table) is None or after[table] > before[table]) for table in tables), (before, after)
