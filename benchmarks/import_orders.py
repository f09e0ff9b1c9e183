"""Benchmark: importing a large orders file, against the floor and the obvious tool.

    .venv/bin/python benchmarks/import_orders.py [--orders 1000000] [--members 100000] [--slice 20000]

Makes its own data in a throwaway database on the server that DATABASE_URL names (a temporary
file for SQLite), and reports, in the same run:
- ``import_orders`` (the contract command, in its own process): rows/s and peak memory, then the
  same file again (every row unchanged);
- the floor: the same file loaded into a bare table with COPY (PostgreSQL) or one multi-row
  insert per batch (SQLite), no validation, no rules;
- the floor with the import's writes (PostgreSQL): every row the import wrote (orders, credits,
  growth and points entries, lots, allocations, accounts) copied out, then COPY'd back into the
  real tables, with their indexes and foreign keys, in one transaction: what any import that
  keeps this schema must spend in the database, before reading a row or applying a rule;
- django-import-export's default per-row import of a slice (a ModelResource on Order), which
  stores the orders only, without booking growth or points.
"""

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import django_on, run_command, throwaway_database  # noqa: E402


def make_files(directory: Path, orders: int, members: int, seed: int = 7) -> tuple[Path, Path]:
    rng = random.Random(seed)
    members_path = directory / "members.csv"
    with open(members_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["member_id", "name", "phone", "birthday", "joined_at"])
        for n in range(members):
            writer.writerow([f"B{n:07d}", f"会员{n}", f"139{n:08d}", "1990-01-01", "2024-01-01 00:00:00"])
    orders_path = directory / "orders.csv"
    start = datetime(2025, 11, 1)
    statuses = ["completed"] * 90 + ["paid"] * 4 + ["refunded"] * 3 + ["cancelled"] * 3
    with open(orders_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "member_id", "paid_at", "status", "goods_amount", "discount_amount", "shipping_amount", "refunded_amount", "category", "shop_id"])
        for n in range(orders):
            goods = rng.randint(1500, 200000)
            discount = rng.choice((0, 0, 0, 500, 1000))
            status = rng.choice(statuses)
            refunded = goods - discount if status == "refunded" else (rng.randint(0, (goods - discount) // 2) if rng.random() < 0.05 else 0)
            paid = start + timedelta(seconds=rng.randint(0, 365 * 86400))
            writer.writerow([
                f"BO{n:09d}", f"B{rng.randrange(members):07d}", paid.strftime("%Y-%m-%d %H:%M:%S"), status,
                f"{goods / 100:.2f}", f"{discount / 100:.2f}", "0.00", f"{refunded / 100:.2f}",
                rng.choice(("数码", "服饰", "食品", "家居")), f"S{rng.randint(1, 500):04d}",
            ])
    return members_path, orders_path


def raw_load(orders_path: Path) -> float:
    """The floor: the same file into a bare table, with no validation or rules."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_raw_orders (order_id varchar(64), member_id varchar(64), paid_at varchar(40), status varchar(10), "
            "goods_amount numeric(14,2), discount_amount numeric(14,2), shipping_amount numeric(14,2), refunded_amount numeric(14,2), "
            "category varchar(64), shop_id varchar(64))"
        )
        started = time.perf_counter()
        if connection.vendor == "postgresql":
            with open(orders_path, "rb") as handle, cursor.cursor.copy("COPY bench_raw_orders FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
        else:
            with open(orders_path, newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                next(reader)
                while rows := [row for _, row in zip(range(5000), reader)]:
                    cursor.executemany("INSERT INTO bench_raw_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        connection.commit() if not connection.get_autocommit() else None
        return time.perf_counter() - started


def written_floor() -> tuple[float, int]:
    """The writes alone: the rows the import wrote, emptied and written again with one COPY per
    table, into the real tables (indexes, unique keys, foreign keys checked at commit).
    Returns (seconds, rows); PostgreSQL only."""
    from django.db import connection, transaction

    from membership.models import GrowthEntry, Order, OrderCredit
    from points.models import PointsAccount, PointsAllocation, PointsEntry, PointsLot

    tables = [m._meta.db_table for m in (Order, OrderCredit, GrowthEntry, PointsEntry, PointsLot, PointsAllocation, PointsAccount)]
    saved = {}
    with connection.cursor() as cursor:
        for table in tables:
            with cursor.cursor.copy(f"COPY {table} TO STDOUT") as copy:
                saved[table] = b"".join(bytes(chunk) for chunk in copy)
        cursor.execute("SELECT " + " + ".join(f"(SELECT COUNT(*) FROM {t})" for t in tables))
        rows = cursor.fetchone()[0]
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        with transaction.atomic():
            for table in tables:
                with cursor.cursor.copy(f"COPY {table} FROM STDIN") as copy:
                    data = saved[table]
                    for start in range(0, len(data), 1 << 20):
                        copy.write(data[start : start + (1 << 20)])
        elapsed = time.perf_counter() - started
    return elapsed, rows


def import_export_load(orders_path: Path, size: int) -> float:
    """django-import-export's default: a ModelResource, one query set per row."""
    import tablib
    from import_export import fields, resources, widgets

    from membership.models import Member, Order

    class OrderResource(resources.ModelResource):
        member = fields.Field(attribute="member", column_name="member_id", widget=widgets.ForeignKeyWidget(Member, "member_id"))

        class Meta:
            model = Order
            import_id_fields = ("order_id",)
            fields = ("order_id", "member", "paid_at", "status", "goods_amount", "discount_amount", "shipping_amount", "refunded_amount", "category", "shop_id")

    with open(orders_path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        headers = next(reader)
        rows = [["IE" + row[0], *row[1:]] for _, row in zip(range(size), reader)]
    dataset = tablib.Dataset(*rows, headers=headers)
    started = time.perf_counter()
    result = OrderResource().import_data(dataset, dry_run=False, raise_errors=True)
    elapsed = time.perf_counter() - started
    assert not result.has_errors()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--slice", type=int, default=20_000, help="rows for the django-import-export comparison")
    parser.add_argument("--campaigns", action="store_true", help="instead: the import without campaigns, then with two live ones, each in a fresh database")
    args = parser.parse_args()
    if args.campaigns:
        return campaigns_compare(args)

    configured = os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'db.sqlite3'}")
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        members_path, orders_path = make_files(directory, args.orders, args.members)
        print(f"made {args.orders:,} orders for {args.members:,} members in {time.perf_counter() - started:.1f} s ({orders_path.stat().st_size / 1e6:.0f} MB)")
        url, drop = throwaway_database(configured, directory)
        try:
            env = django_on(url)
            from django.db import connection

            from common.bulk import rows_insert
            from membership.models import Member

            with open(members_path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                rows_insert(Member, [Member(member_id=r["member_id"], name=r["name"], phone=r["phone"]) for r in reader])
            print(f"database: {connection.vendor} ({url.rsplit('/', 1)[-1]})")

            seconds, memory, summary = run_command(["import_orders", str(orders_path)], env)
            print(f"import_orders:               {args.orders / seconds:>10,.0f} rows/s  {seconds:7.1f} s  peak {memory:,.0f} MB  [{summary}]")
            again, memory_again, summary_again = run_command(["import_orders", str(orders_path)], env)
            print(f"import_orders again:         {args.orders / again:>10,.0f} rows/s  {again:7.1f} s  peak {memory_again:,.0f} MB  [{summary_again}]")
            if connection.vendor == "postgresql":
                written, rows = written_floor()
                print(
                    f"the import's writes alone:   {args.orders / written:>10,.0f} rows/s  {written:7.1f} s  "
                    f"({rows:,} rows COPY'd into the real tables; our import takes {seconds / written:.1f}x)"
                )
            raw = raw_load(orders_path)
            label = "raw COPY, bare table" if connection.vendor == "postgresql" else "raw executemany, bare table"
            print(f"{label + ':':<28} {args.orders / raw:>10,.0f} rows/s  {raw:7.1f} s  (our import takes {seconds / raw:.1f}x)")
            per_row = import_export_load(orders_path, args.slice)
            print(
                f"django-import-export:        {args.slice / per_row:>10,.0f} rows/s  {per_row:7.1f} s for {args.slice:,} rows, orders only "
                f"(extrapolated {args.orders / (args.slice / per_row) / 60:,.0f} min for the file; ours is {(args.orders / seconds) / (args.slice / per_row):.0f}x faster)"
            )
            check = subprocess.run([sys.executable, "manage.py", "check_ledgers"], cwd=ROOT, env=env, capture_output=True, text=True)
            print(f"check_ledgers: {(check.stdout or check.stderr).strip().splitlines()[-1]}")
        finally:
            drop()


def members_load(members_path: Path) -> None:
    from common.bulk import rows_insert
    from membership.models import Member

    with open(members_path, newline="", encoding="utf-8") as handle:
        rows_insert(Member, [Member(member_id=r["member_id"], name=r["name"], phone=r["phone"]) for r in csv.DictReader(handle)])


def campaigns_live() -> None:
    """Two approved campaigns live over the whole file: double points on one category with a
    budget and a limit per member, and an exclusive growth bonus on another above 100 yuan."""
    from django.utils import timezone

    from campaigns.models import Campaign
    from campaigns.services import campaign_approve, campaign_save, campaign_submit
    from membership.selectors import program_active_get

    program = program_active_get()
    specs = [
        ("digital", "points", {"rate": 1, "categories": ["数码"]}, {"budget": 50_000_000, "member_limit": 20_000}),
        ("apparel", "growth", {"rate": 0.5, "categories": ["服饰"], "min_amount": 100}, {"exclusive": True, "member_limit": 5_000}),
    ]
    for code, currency, params, fields in specs:
        campaign = Campaign(program=program, code=code, name=code, currency=currency, params=params,
                            starts_at=timezone.make_aware(datetime(2025, 10, 1)), ends_at=timezone.now() + timedelta(days=30), **fields)
        campaign_save(campaign=campaign, actor=None)
        campaign_submit(campaign=campaign, actor=None)
        campaign_approve(campaign=campaign, actor=None)


def campaigns_compare(args) -> None:
    """The same file imported into a fresh database without campaigns, then into another with two
    live campaigns: the cost of the campaigns' budgets, limits and credits."""
    configured = os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'db.sqlite3'}")
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        directory = Path(tmp)
        members_path, orders_path = make_files(directory, args.orders, args.members)
        print(f"made {args.orders:,} orders for {args.members:,} members")
        results = {}
        for with_campaigns in (False, True):
            url, drop = throwaway_database(configured, directory)
            try:
                env = django_on(url)
                members_load(members_path)
                if with_campaigns:
                    campaigns_live()
                seconds, memory, summary = run_command(["import_orders", str(orders_path)], env)
                results[with_campaigns] = seconds
                label = "with two live campaigns" if with_campaigns else "without campaigns"
                print(f"import_orders {label + ':':<26} {args.orders / seconds:>10,.0f} rows/s  {seconds:7.1f} s  peak {memory:,.0f} MB  [{summary}]")
                if with_campaigns:
                    from campaigns.models import Campaign

                    for c in Campaign.objects.order_by("code"):
                        print(f"  campaign {c.code}: credited {c.credited:,} {c.currency}, refused {c.refused:,}, {c.members.count():,} members")
            finally:
                drop()
        print(f"with campaigns / without: {results[True] / results[False]:.2f}x")


if __name__ == "__main__":
    main()
