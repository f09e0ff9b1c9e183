"""Benchmark: redemptions per second through ``redemption_create``, with 1 thread and with 4.

    .venv/bin/python benchmarks/redeem.py [--members 200] [--redemptions 400]

Makes its own data in a throwaway database on the server that DATABASE_URL names (a temporary
file for SQLite): members at the top level, each with points in three lots, and one item with a
limited stock. Then, in the same run, it makes the same number of redemptions twice, first from
one thread and then spread over 4 threads. Each thread has its own connection and takes members
in turn, so threads contend for the item's row the way shoppers do. It prints both rates and
checks that the stock and the points books still agree. On SQLite (a single writer, no row
locks) only the 1-thread figure is measured.
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import django_on, throwaway_database  # noqa: E402

NOW = datetime(2026, 6, 15, 4, tzinfo=timezone.utc)


def make_data(members: int, stock: int):
    from django.db import transaction

    from mall.catalog import mall_item_upsert
    from mall.models import MallItem
    from membership.models import Level, Member
    from membership.selectors import program_active_get
    from points.services import points_credit

    program = program_active_get()
    top = Level.objects.filter(program=program).order_by("-rank").first()
    with transaction.atomic():
        mall_item_upsert(program=program, spec={"code": "bench", "name": "bench", "kind": "coupon", "stock": stock, "prices": {top.code: 10}})
        Member.objects.bulk_create([Member(member_id=f"B{n:06d}", level=top) for n in range(members)])
        for member in Member.objects.filter(member_id__startswith="B"):
            for lot in range(3):
                points_credit(program=program, member=member, amount=1000, effective_at=NOW - timedelta(days=100 * (lot + 1)),
                              source="event", idempotency_key=f"bench:{member.pk}:{lot}")
    return MallItem.objects.get(program=program, code="bench"), list(Member.objects.filter(member_id__startswith="B").order_by("pk"))


def run(item, members, count: int, threads: int, label: str) -> float:
    from django.db import connection

    from mall.services import redemption_create

    errors = []

    def worker(index):
        try:
            for n in range(index, count, threads):
                redemption_create(member=members[n % len(members)], item=item, key=f"{label}:{n}", at=NOW)
        except Exception as exc:  # reported below: a benchmark that lost redemptions has no figure
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise SystemExit(f"{threads} thread(s): a redemption failed: {errors[0]}")
    return count / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--redemptions", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url, drop = throwaway_database(os.environ.get("DATABASE_URL", ""), Path(directory))
        try:
            django_on(url)
            from django.db import connection

            from mall.models import MallItem, Redemption
            from points.selectors import points_reconcile

            item, members = make_data(args.members, stock=2 * args.redemptions)
            vendor = connection.vendor
            connection.close()
            one = run(item, members, args.redemptions, 1, "one")
            # SQLite has a single writer and no row locks: threads there only fail on a locked
            # database, so the 4-thread figure is measured on PostgreSQL alone.
            four = run(item, members, args.redemptions, 4, "four") if vendor == "postgresql" else None
            runs = 1 if four is None else 2
            done = Redemption.objects.filter(status="done").count()
            left = MallItem.objects.get(pk=item.pk).stock
            problems = points_reconcile()
            print(f"{vendor}: {args.redemptions} redemptions each run, {args.members} members, one item")
            print(f"1 thread:  {one:,.0f} redemptions/s")
            print(f"4 threads: {four:,.0f} redemptions/s" if four else "4 threads: not measured (SQLite has a single writer; use PostgreSQL)")
            ok = done == runs * args.redemptions and left == (2 - runs) * args.redemptions and not problems
            print(f"redeemed {done}, stock left {left}, points books {'agree' if not problems else 'disagree: ' + problems[0]}: {'ok' if ok else 'FAILED'}")
        finally:
            drop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
