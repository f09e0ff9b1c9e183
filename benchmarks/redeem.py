"""Benchmark: redemptions per second through ``redemption_create``, against the statements one must run.

    .venv/bin/python benchmarks/redeem.py [--members 400] [--redemptions 1200] [--clients 1,4,16] [--items 100]

Makes its own data in a throwaway database on the server that DATABASE_URL names (a temporary
file for SQLite): members at the top level, each with points in three lots, one hot item and
``--items`` others, each with a limited stock. Then, in the same run, for each number of clients
(threads of this process, each with its own connection, taking members in turn so that no two
clients redeem for one member at once), it makes the same number of redemptions:
- of the one hot item, through ``redemption_create``;
- spread over the many items, through ``redemption_create``;
- of the hot item as bare SQL (the floor): lock the member, take the points from the account,
  lock the oldest open lot and take the points from it, insert the redemption, its points entry
  and the allocation, take the unit from the stock as the last statement, commit.
It prints the rates side by side and checks that no item was oversold, that every redemption
was booked and that the points books agree. On SQLite (a single writer, no row locks) only one
client is measured.
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
PRICE = 10
TARGETS = {1: 300, 16: 1000}  # redemptions/s of one hot item


def make_data(members: int, items: int, stock: int):
    from django.db import transaction

    from mall.catalog import mall_item_upsert
    from mall.models import MallItem
    from membership.models import Level, Member
    from membership.selectors import program_active_get
    from points.services import points_credit

    program = program_active_get()
    top = Level.objects.filter(program=program).order_by("-rank").first()
    with transaction.atomic():
        for code in ["hot", *(f"item{n:03d}" for n in range(items))]:
            mall_item_upsert(program=program, spec={"code": code, "name": code, "kind": "coupon", "stock": stock, "prices": {top.code: PRICE}})
        Member.objects.bulk_create([Member(member_id=f"B{n:06d}", level=top) for n in range(members)])
        for member in Member.objects.filter(member_id__startswith="B"):
            for lot in range(3):
                points_credit(program=program, member=member, amount=100_000, effective_at=NOW - timedelta(days=100 * (lot + 1)),
                              source="event", idempotency_key=f"bench:{member.pk}:{lot}")
    hot = MallItem.objects.get(program=program, code="hot")
    others = list(MallItem.objects.filter(program=program, code__startswith="item").order_by("pk"))
    return hot, others, list(Member.objects.filter(member_id__startswith="B").order_by("pk"))


def floor_redeem(cursor, member, item, key: str, vendor: str) -> None:
    """The essential statements of one redemption, bare."""
    lock = "" if vendor == "sqlite" else " FOR UPDATE"
    cursor.execute("BEGIN" if vendor != "sqlite" else "BEGIN IMMEDIATE")
    cursor.execute(f"SELECT id, level_id, status FROM membership_member WHERE id = %s{lock}", [member.pk])
    cursor.fetchone()
    cursor.execute("UPDATE points_pointsaccount SET balance = balance - %s WHERE member_id = %s AND balance >= %s RETURNING balance", [PRICE, member.pk, PRICE])
    if cursor.fetchone() is None:
        raise SystemExit(f"floor: member {member.member_id} has not {PRICE} points")
    cursor.execute(
        f"SELECT id FROM points_pointslot WHERE member_id = %s AND remaining >= %s AND NOT frozen AND expires_at > %s ORDER BY expires_at, id LIMIT 1{lock}",
        [member.pk, PRICE, NOW],
    )
    lot = cursor.fetchone()[0]
    cursor.execute(
        "INSERT INTO mall_redemption (member_id, item_id, quantity, points, status, redeemed_at, cancel_reason, idempotency_key)"
        " VALUES (%s, %s, 1, %s, 'done', %s, '', %s) RETURNING id",
        [member.pk, item.pk, PRICE, NOW, key],
    )
    redemption = cursor.fetchone()[0]
    cursor.execute(
        "INSERT INTO points_pointsentry (kind, amount, capped, effective_at, booked_at, source, source_ref, idempotency_key, reason, member_id)"
        " VALUES ('spend', %s, 0, %s, %s, 'redemption', %s, %s, '', %s) RETURNING id",
        [-PRICE, NOW, NOW, f"redemption:{redemption}", f"redemption:{key}", member.pk],
    )
    entry = cursor.fetchone()[0]
    cursor.execute("UPDATE points_pointslot SET remaining = remaining - %s WHERE id = %s", [PRICE, lot])
    cursor.execute("INSERT INTO points_pointsallocation (entry_id, lot_id, amount) VALUES (%s, %s, %s)", [entry, lot, -PRICE])
    cursor.execute("UPDATE mall_redemption SET points_entry_id = %s WHERE id = %s", [entry, redemption])
    cursor.execute("UPDATE mall_mallitem SET stock = stock - 1 WHERE id = %s AND stock >= 1", [item.pk])
    if cursor.rowcount != 1:
        raise SystemExit("floor: the item ran out of stock")
    cursor.execute("COMMIT")


def run(items, members, count: int, clients: int, label: str, bare: bool = False) -> float:
    from django.db import connection

    from mall.services import redemption_create

    errors = []

    def worker(index):
        try:
            if bare:
                with connection.cursor() as cursor:
                    for n in range(index, count, clients):
                        floor_redeem(cursor, members[n % len(members)], items[n % len(items)], f"{label}:{n}", connection.vendor)
            else:
                for n in range(index, count, clients):
                    redemption_create(member=members[n % len(members)], item=items[n % len(items)], key=f"{label}:{n}", at=NOW)
        except BaseException as exc:  # reported below: a benchmark that lost redemptions has no figure
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise SystemExit(f"{label}, {clients} client(s): a redemption failed: {errors[0]}")
    return count / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=400)
    parser.add_argument("--redemptions", type=int, default=1200)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args()
    ok = False
    with tempfile.TemporaryDirectory() as directory:
        url, drop = throwaway_database(os.environ.get("DATABASE_URL", ""), Path(directory))
        try:
            django_on(url)
            from django.db import connection

            from mall.models import MallItem, Redemption
            from points.selectors import points_reconcile

            vendor = connection.vendor
            levels = [int(c) for c in args.clients.split(",")] if vendor == "postgresql" else [1]
            runs = len(levels)
            hot, others, members = make_data(args.members, args.items, stock=3 * runs * args.redemptions)
            connection.close()
            print(f"{vendor}: {args.redemptions:,} redemptions a run, {args.members} members; one hot item, or {args.items} items", flush=True)
            print(f"{'clients':>7}  {'hot item':>12}  {'many items':>12}  {'floor (hot)':>12}  hot/floor  aim", flush=True)
            for clients in levels:
                hot_rate = run([hot], members, args.redemptions, clients, f"hot{clients}")
                many_rate = run(others, members, args.redemptions, clients, f"many{clients}")
                floor_rate = run([hot], members, args.redemptions, clients, f"floor{clients}", bare=True)
                aim = f"{TARGETS[clients]:,}/s: {'met' if hot_rate >= TARGETS[clients] else 'missed'}" if clients in TARGETS else ""
                print(f"{clients:>7}  {hot_rate:>10,.0f}/s  {many_rate:>10,.0f}/s  {floor_rate:>10,.0f}/s  {floor_rate / hot_rate:8.1f}x  {aim}", flush=True)
            done = Redemption.objects.filter(status="done").count()
            sold = {item.pk: 3 * runs * args.redemptions - item.stock for item in MallItem.objects.all()}
            booked = {}
            for item_id in Redemption.objects.filter(status="done").values_list("item_id", flat=True):
                booked[item_id] = booked.get(item_id, 0) + 1
            problems = points_reconcile()
            ok = done == 3 * runs * args.redemptions and all(sold[pk] == booked.get(pk, 0) for pk in sold) and not problems
            print(
                f"redeemed {done:,}; stock taken equals units redeemed for every item: {all(sold[pk] == booked.get(pk, 0) for pk in sold)}; "
                f"points books {'agree' if not problems else 'disagree: ' + problems[0]}: {'ok' if ok else 'FAILED'}",
                flush=True,
            )
        finally:
            drop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
