"""Imports booked by several processes, each its own members' rows (PostgreSQL): the same bookings
as one by one, rejected rows reported as from one process, and a failed process leaves whole
batches that a re-run completes."""

import contextlib
import csv
import io
import itertools
import json
import os
import signal
import sqlite3
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import membership.imports.files
from membership.models import Member, Order
from membership.selectors import order_credits_reconcile
from membership.services import order_book
from membership.tests.factories import MemberFactory
from membership.tests.services.test_booking_batch import facts_of, members_make, order_state, orders_csv, snapshot
from points.models import PointsAccount
from points.selectors import points_reconcile

from .test_contract_commands import ORDER_HEADER, run, write

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="booking processes share a database server"),
    pytest.mark.django_db(transaction=True),
]

COPIES = itertools.count()


@pytest.fixture
def shares(monkeypatch):
    """How many processes each import that booked in several processes used (one booking in
    this process adds nothing)."""
    seen = []
    real = membership.imports.files.book_in_processes

    def spy(kind, staging, count, batch_size, take):
        seen.append(count)
        return real(kind, staging, count, batch_size, take)

    monkeypatch.setattr(membership.imports.files, "book_in_processes", spy)
    return seen


def import_file(path, *options):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.suppress(CommandError):
        call_command("import_orders", str(path), *options, stdout=out, stderr=err)
    return out.getvalue().strip().splitlines()[-1]


def unordered(copy):
    """A copy's snapshot without the order of primary keys, which interleave across processes."""
    return {table: sorted(rows, key=repr) for table, rows in snapshot(copy).items()}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(files=st.lists(st.lists(order_state(), min_size=2, max_size=12), min_size=1, max_size=3), batch=st.integers(1, 3))
def test_two_processes_book_what_booking_the_orders_one_by_one_does(program, tmp_path_factory, shares, files, batch):
    """Random files (re-imports with other statuses and refunds, capped days, a blacklisted
    member) booked by two processes, against ``order_book`` on each file's orders in order."""
    number = next(COPIES)
    parallel, one = f"P{number}_", f"S{number}_"
    for prefix in (parallel, one):
        members_make(prefix)
    directory = tmp_path_factory.mktemp("files")
    for index, states in enumerate(files):
        states = list({s[0]: s for s in states}.values())
        path = orders_csv(directory / f"orders{index}.csv", [facts_of(parallel, s) for s in states])
        import_file(path, "--batch-size", str(batch), "--workers", "2")
        for fact in sorted((facts_of(one, s) for s in states), key=lambda f: (f.paid_at, f.order_id)):
            order_book(facts=fact)
    assert unordered(parallel) == unordered(one)
    assert points_reconcile() == [] and order_credits_reconcile() == []
    if any(len({s[0] for s in states}) >= 2 * batch for states in files):
        assert 2 in shares


def test_rows_rejected_in_a_booking_process_are_reported_with_their_row(program, tmp_path, shares):
    for n in range(6):
        MemberFactory(member_id=f"R{n}")
    lines = [ORDER_HEADER] + [f"RO{n},R{n % 6},2026-03-0{1 + n % 9} 10:00:00,completed,{100 + n},0,0,0,," for n in range(30)]
    lines[8] = "RO7,NOBODY,2026-03-08 10:00:00,completed,100,0,0,0,,"
    path = write(tmp_path / "orders.csv", "\n".join(lines) + "\n")
    summary = import_file(path, "--batch-size", "5", "--workers", "2")
    assert shares == [2]
    assert summary == "read 30, created 29, changed 0, unchanged 0, rejected 1, capped 0"
    with open(f"{path}.rejected.csv", newline="", encoding="utf-8-sig") as handle:
        rejected = list(csv.DictReader(handle))
    assert [(r["order_id"], r["error"]) for r in rejected] == [("RO7", f"{path}: row 9, column member_id: unknown member 'NOBODY'")]
    assert import_file(path, "--batch-size", "5", "--workers", "2") == "read 30, created 0, changed 0, unchanged 29, rejected 1, capped 0"


def test_many_rows_rejected_while_processes_book_are_all_kept(program, tmp_path, monkeypatch, shares):
    """Rejected rows are written down while the booking processes read the staged rows (slowly
    here, and with no patience for a locked file): the one never waits for the other."""
    monkeypatch.setattr(membership.imports.files.Staging, "FLUSH", 3)
    connect, book = sqlite3.connect, membership.imports.files.orders_book_batch
    monkeypatch.setattr(sqlite3, "connect", lambda path, **options: connect(path, timeout=0.01))
    monkeypatch.setattr(membership.imports.files, "orders_book_batch", lambda **kwargs: time.sleep(0.05) or book(**kwargs))
    for n in range(4):
        MemberFactory(member_id=f"G{n}")
    lines = [ORDER_HEADER] + [
        f"GO{n:02d},{'G' if n % 3 else 'GHOST'}{n % 4},2026-03-{1 + n % 20:02d} 10:00:00,completed,100,0,0,0,," for n in range(60)
    ]
    path = write(tmp_path / "orders.csv", "\n".join(lines) + "\n")
    assert import_file(path, "--batch-size", "2", "--workers", "2") == "read 60, created 40, changed 0, unchanged 0, rejected 20, capped 0"
    assert shares == [2]
    with open(f"{path}.rejected.csv", newline="", encoding="utf-8-sig") as handle:
        assert [row["order_id"] for row in csv.DictReader(handle)] == [f"GO{n:02d}" for n in range(60) if n % 3 == 0]


@pytest.mark.parametrize("failure", ["error", "killed"])
def test_a_failed_booking_process_stops_the_import_and_a_rerun_finishes_the_job(program, tmp_path, monkeypatch, shares, failure):
    for n in range(4):
        MemberFactory(member_id=f"K{n}")
    lines = [ORDER_HEADER] + [f"KO{n:02d},K{n % 4},2026-03-{1 + n % 20:02d} 10:{n % 60:02d}:00,completed,{100 + n}.50,0,0,0,," for n in range(40)]
    path = write(tmp_path / "orders.csv", "\n".join(lines) + "\n")
    real = membership.imports.files.orders_book_batch
    calls = []

    def fail_on_second_batch_of_k1(**kwargs):
        # Each process has its own copy of ``calls``: only the one booking K1 counts its batches.
        if any(f.member_id == "K1" for f in kwargs["facts"]):
            calls.append(1)
            if len(calls) == 2:
                if failure == "killed":
                    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
                raise ConnectionError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(membership.imports.files, "orders_book_batch", fail_on_second_batch_of_k1)
    code, _, err = run("import_orders", path, "--batch-size", "5", "--workers", "2")
    assert code == 1 and shares == [2]
    assert "running the same file again books the rest" in err
    assert ("exit code -9" in err) if failure == "killed" else ("ConnectionError: server closed the connection unexpectedly" in err)
    booked = Order.objects.count()
    assert 0 < booked < 40
    assert points_reconcile() == [] and order_credits_reconcile() == []

    monkeypatch.setattr(membership.imports.files, "orders_book_batch", real)
    assert import_file(path, "--batch-size", "5", "--workers", "2") == (
        f"read 40, created {40 - booked}, changed 0, unchanged {booked}, rejected 0, capped 0"
    )
    assert Order.objects.count() == 40 and points_reconcile() == []


def test_each_member_is_booked_by_one_process_in_booking_order(program, tmp_path, monkeypatch, shares):
    for n in range(8):
        MemberFactory(member_id=f"E{n}")
    lines = [ORDER_HEADER] + [
        f"EO{n:02d},E{n * 5 % 8},2026-03-{1 + n * 7 % 20:02d} 10:{n % 60:02d}:00,completed,{100 + n},0,0,0,," for n in range(60)
    ]
    path = write(tmp_path / "orders.csv", "\n".join(lines) + "\n")
    log = tmp_path / "batches.jsonl"
    real = membership.imports.files.orders_book_batch

    def logged(**kwargs):
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps([os.getpid(), [(f.member_id, f.paid_at.isoformat(), f.order_id) for f in kwargs["facts"]]]) + "\n")
        return real(**kwargs)

    monkeypatch.setattr(membership.imports.files, "orders_book_batch", logged)
    assert import_file(path, "--batch-size", "4", "--workers", "2") == "read 60, created 60, changed 0, unchanged 0, rejected 0, capped 0"
    booked = {}
    for pid, rows in map(json.loads, log.read_text(encoding="utf-8").splitlines()):
        booked.setdefault(pid, []).extend(rows)
    assert shares == [2] and len(booked) == 2
    first, second = ({member for member, _, _ in rows} for rows in booked.values())
    assert first and second and not first & second
    for rows in booked.values():
        # No budget is shared: each member's orders in booking order, one member after another.
        runs = [member for member, _ in itertools.groupby(member for member, _, _ in rows)]
        assert len(runs) == len(set(runs))
        for member in runs:
            mine = [(paid_at, order_id) for who, paid_at, order_id in rows if who == member]
            assert mine == sorted(mine)


def test_members_and_opening_balances_are_imported_by_two_processes(program, tmp_path, shares):
    members = write(tmp_path / "members.csv", "member_id,name\n" + "".join(f"W{n},会员{n}\n" for n in range(12)))
    assert run("import_members", members, "--batch-size", "2", "--workers", "2")[1].strip().endswith(
        "read 12, created 12, changed 0, unchanged 0, rejected 0"
    )
    balances = write(
        tmp_path / "balances.csv", "member_id,points,earned_on,growth,growth_on\n" + "".join(f"W{n},{100 + n},2026-01-02,{n},2026-01-02\n" for n in range(12))
    )
    assert run("import_balances", balances, "--batch-size", "2", "--workers", "2")[1].strip().endswith("read 12, created 12, unchanged 0, rejected 0")
    assert shares == [2, 2]
    assert Member.objects.filter(member_id__startswith="W").count() == 12
    assert sum(PointsAccount.objects.filter(member__member_id__startswith="W").values_list("balance", flat=True)) == sum(100 + n for n in range(12))
    assert points_reconcile() == []
    assert run("import_balances", balances, "--batch-size", "2", "--workers", "2")[1].strip().endswith("read 12, created 0, unchanged 12, rejected 0")
