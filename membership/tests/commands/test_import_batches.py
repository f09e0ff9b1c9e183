"""Imports in batches: a crash leaves whole batches and a re-run finishes the job; the demo data set."""

import itertools
from io import StringIO

import pytest
from django.core.management import call_command

import membership.imports.files
from membership.models import GrowthEntry, Member, Order
from membership.selectors import order_credits_reconcile
from membership.tests.factories import MemberFactory
from points.models import PointsEntry
from points.selectors import points_reconcile

from .test_contract_commands import ORDER_HEADER, run, write


def orders_file(tmp_path, count=40):
    lines = [ORDER_HEADER]
    for n in range(count):
        lines.append(f"C{n:03d},CM{n % 4},2026-03-{1 + n % 20:02d} 10:{n % 60:02d}:00,completed,{100 + n * 7}.50,0,0,0,,")
    return write(tmp_path / "orders.csv", "\n".join(lines) + "\n")


def ledgers():
    return sorted(GrowthEntry.objects.values_list("idempotency_key", "amount")), sorted(
        PointsEntry.objects.values_list("idempotency_key", "amount")
    )


@pytest.mark.django_db
def test_an_import_books_one_member_after_another_each_in_booking_order(program, tmp_path, monkeypatch):
    for n in range(4):
        MemberFactory(member_id=f"CM{n}")
    path = orders_file(tmp_path)
    real = membership.imports.files.orders_book_batch
    booked = []

    def logged(**kwargs):
        booked.extend((f.member_id, f.paid_at, f.order_id) for f in kwargs["facts"])
        return real(**kwargs)

    monkeypatch.setattr(membership.imports.files, "orders_book_batch", logged)
    code, out, _ = run("import_orders", path, "--batch-size", "10", "--workers", "1")
    assert code == 0 and "created 40" in out
    runs = [member for member, _ in itertools.groupby(member for member, _, _ in booked)]
    assert sorted(runs) == ["CM0", "CM1", "CM2", "CM3"]  # each member's orders together
    for member in runs:
        mine = [(paid_at, order_id) for who, paid_at, order_id in booked if who == member]
        assert mine == sorted(mine) and len(mine) == 10


@pytest.mark.django_db(transaction=True)
def test_a_crash_mid_import_leaves_whole_batches_and_a_rerun_finishes_the_job(program, tmp_path, monkeypatch):
    for n in range(4):
        MemberFactory(member_id=f"CM{n}")
    path = orders_file(tmp_path)
    real = membership.imports.files.orders_book_batch
    calls = []

    def crash_on_third_batch(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise ConnectionError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(membership.imports.files, "orders_book_batch", crash_on_third_batch)
    with pytest.raises(ConnectionError):
        call_command("import_orders", path, "--batch-size", "10", "--workers", "1", stdout=StringIO(), stderr=StringIO())
    assert Order.objects.count() == 20  # two whole batches, nothing of the third
    assert points_reconcile() == [] and order_credits_reconcile() == []

    monkeypatch.setattr(membership.imports.files, "orders_book_batch", real)
    code, out, _ = run("import_orders", path, "--batch-size", "10")
    assert code == 0 and "created 20, changed 0, unchanged 20" in out
    after_crash = ledgers()

    # Running it once more, in other batch sizes, changes nothing.
    code, out, _ = run("import_orders", path, "--batch-size", "7")
    assert code == 0 and "unchanged 40" in out
    assert ledgers() == after_crash
    assert len(after_crash[0]) == 40 and len(after_crash[1]) == 40


def test_duplicates_are_found_across_batches(program, tmp_path):
    MemberFactory(member_id="CM0")
    lines = [ORDER_HEADER] + [f"D{n},CM0,2026-03-01 10:00:00,completed,10,0,0,0,," for n in range(12)] + ["D1,CM0,2026-03-02 10:00:00,completed,99,0,0,0,,"]
    path = write(tmp_path / "dupes.csv", "\n".join(lines) + "\n")
    code, out, err = run("import_orders", path, "--batch-size", "5")
    assert code == 1
    assert f"{path}: row 14, column order_id: order D1 already appears in row 3" in err
    assert "read 13, created 12, changed 0, unchanged 0, rejected 1" in out


def test_load_demo_loads_once_with_every_level_and_agreeing_ledgers(program):
    out = StringIO()
    call_command("load_demo", "--members", "300", stdout=out)
    assert "demo data loaded: 300 members" in out.getvalue()
    counts = (Member.objects.count(), Order.objects.count(), GrowthEntry.objects.count(), PointsEntry.objects.count())
    assert counts[1] > 600
    assert set(Member.objects.values_list("level__code", flat=True)) >= {"V1", "V2", "V3", "V4"}
    assert points_reconcile() == [] and order_credits_reconcile() == []
    out = StringIO()
    call_command("load_demo", "--members", "300", stdout=out)
    assert "demo data already loaded: 300 members" in out.getvalue()
    assert (Member.objects.count(), Order.objects.count(), GrowthEntry.objects.count(), PointsEntry.objects.count()) == counts
