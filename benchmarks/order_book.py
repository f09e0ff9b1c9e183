"""Benchmark: one order (and one behaviour event) at a time, against the statements each must write.

    .venv/bin/python benchmarks/order_book.py [--members 2000] [--orders 2000] [--events 2000]

Makes its own data in a throwaway database on the server that DATABASE_URL names (a temporary
file for SQLite): the default program and N members (in bulk, as an import makes them). Then, in
this one process and in the same run, it books new orders one a transaction:
- ``order_book``, what every ``PUT /api/v1/orders/{order_id}`` runs: orders/s, p50, p99, and the
  statements one order sends (counted on a sample);
- the floor: the same orders' essential work sent as bare SQL on the same connection, into the
  product's own tables — lock the member, insert the order, read the day's growth for the cap and
  the member's blacklist entries, insert the growth entry, the points entry and its lot, add to
  the points account, insert the two credits, mark the member active, commit — with the default
  program's arithmetic (one growth and one point a yuan) done in Python;
- the ratio of the two, against the aim: at least 400 orders/s within 2 times the floor;
- the same for behaviour events through ``event_record`` (what ``POST /members/{id}/events`` runs)
  under a daily check-in rule of 5 points once a day, against its floor: lock the member, insert
  the event, count what the rule paid the member that day, insert the points entry and its lot,
  add to the account, mark the member active, commit.

Orders are completed, spread over the members, paid within the last 180 days, for 15 to 2,000
yuan; ``check_ledgers`` runs at the end, so the floor's rows must add up as the product's do.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.api import Orders, facts_of  # noqa: E402
from benchmarks.common import django_on, throwaway_database  # noqa: E402

TARGET = 400  # orders/s
TARGET_RATIO = 2.0


def make_members(count: int) -> list[str]:
    from membership.services import members_upsert_batch

    ids = [f"B{n:07d}" for n in range(count)]
    for start in range(0, count, 1000):
        members_upsert_batch(rows=[{"member_id": m, "name": f"会员{m}"} for m in ids[start : start + 1000]])
    return ids


def book_ours(facts: list) -> list[float]:
    from membership.selectors import program_active_get
    from membership.services import order_book

    latencies = []
    for fact in facts:
        began = time.perf_counter()
        result = order_book(facts=fact, program=program_active_get())
        latencies.append(time.perf_counter() - began)
        if result.outcome != "created":
            raise SystemExit(f"order_book({fact.order_id}): {result.outcome}")
    return latencies


def statements_of_one(fact) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from membership.selectors import program_active_get
    from membership.services import order_book

    with CaptureQueriesContext(connection) as captured:
        order_book(facts=fact, program=program_active_get())
    return len(captured.captured_queries)


class Floor:
    """The essential statements of a new order of the default program, bare, on Django's connection."""

    def __init__(self):
        from zoneinfo import ZoneInfo

        from django.db import connection

        from membership.models import EarningRule
        from membership.selectors import program_active_get
        from points.lots import points_expires_at

        self.connection = connection
        self.program = program_active_get()
        self.tz = ZoneInfo(self.program.time_zone)
        self.rules = {r.currency: r.pk for r in EarningRule.objects.filter(program=self.program, kind="order_amount")}
        self.expires_at = points_expires_at
        self.statements = 0
        self.vendor = connection.vendor

    def book(self, fact) -> None:
        from common.timeutil import local_day_bounds

        paid = fact.paid_at
        day_start, day_end = local_day_bounds(paid, self.tz)
        amount = int(fact.goods_amount - fact.discount_amount + fact.shipping_amount - fact.refunded_amount)
        growth_cap = self.program.cap_for("growth", "day")
        now = time.time()
        from datetime import datetime, timezone

        booked = datetime.fromtimestamp(now, timezone.utc)
        lock = "" if self.vendor == "sqlite" else " FOR UPDATE"
        statements = 0
        with self.connection.cursor() as cursor:
            cursor.execute("BEGIN" if self.vendor != "sqlite" else "BEGIN IMMEDIATE")
            cursor.execute(f"SELECT id, level_id, last_active_at FROM membership_member WHERE member_id = %s{lock}", [fact.member_id])
            member_pk = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO membership_order (order_id, member_id, paid_at, status, goods_amount, discount_amount, shipping_amount,"
                " refunded_amount, category, shop_id, offset_amount, special_invoice, revision, member_level, member_stage,"
                " member_conditions, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, 0, 0, 0, '', '', 0, false, 1, '', '', '', %s, %s) RETURNING id",
                [fact.order_id, member_pk, paid, fact.status, fact.goods_amount, booked, booked],
            )
            order_pk = cursor.fetchone()[0]
            cursor.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM membership_growthentry WHERE member_id = %s AND effective_at >= %s AND effective_at < %s",
                [member_pk, day_start, day_end],
            )
            used = cursor.fetchone()[0]
            cursor.execute(
                "SELECT 1 FROM riskcontrol_listentry WHERE member_id = %s AND (ends_at IS NULL OR ends_at > %s) LIMIT 1", [member_pk, paid]
            )
            cursor.fetchall()
            growth = amount if growth_cap is None else max(0, min(amount, growth_cap - used))
            cursor.execute(
                "INSERT INTO membership_growthentry (kind, amount, capped, effective_at, booked_at, source, source_ref, idempotency_key,"
                " reason, member_id, rule_id) VALUES ('credit', %s, %s, %s, %s, 'order', %s, %s, '', %s, %s)",
                [growth, amount - growth, paid, booked, fact.order_id, f"order:{fact.order_id}:{self.rules['growth']}:1", member_pk, self.rules["growth"]],
            )
            cursor.execute(
                "INSERT INTO points_pointsaccount (member_id, balance, updated_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (member_id) DO UPDATE SET balance = points_pointsaccount.balance + excluded.balance, updated_at = excluded.updated_at"
                " RETURNING balance",
                [member_pk, amount, booked],
            )
            cursor.fetchone()
            cursor.execute(
                "INSERT INTO points_pointsentry (kind, amount, capped, effective_at, booked_at, source, source_ref, idempotency_key,"
                " reason, member_id, rule_id) VALUES ('credit', %s, 0, %s, %s, 'order', %s, %s, '', %s, %s) RETURNING id",
                [amount, paid, booked, fact.order_id, f"order:{fact.order_id}:{self.rules['points']}:1", member_pk, self.rules["points"]],
            )
            entry_pk = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO points_pointslot (member_id, entry_id, earned_at, expires_at, amount, remaining, frozen)"
                " VALUES (%s, %s, %s, %s, %s, %s, false)",
                [member_pk, entry_pk, paid, self.expires_at(program=self.program, earned_at=paid), amount, amount],
            )
            cursor.execute(
                "INSERT INTO membership_ordercredit (order_id, rule_id, entitlement, credited, order_capped) VALUES (%s, %s, %s, %s, 0), (%s, %s, %s, %s, 0)",
                [order_pk, self.rules["growth"], amount, growth, order_pk, self.rules["points"], amount, amount],
            )
            cursor.execute(
                "UPDATE membership_member SET last_active_at = %s WHERE id = %s AND (last_active_at IS NULL OR last_active_at < %s)",
                [paid, member_pk, paid],
            )
            cursor.execute("COMMIT")
            statements = 13
        self.statements = statements


CHECK_IN = {"code": "check-in", "name": "Daily check-in: 5 points once a day", "kind": "event_fixed", "currency": "points",
            "params": {"event_type": "check_in", "amount": 5, "per_day": 1}}


def events_of(ids: list[str], prefix: str, count: int, tz, days_back: int = 1) -> list[tuple]:
    """(member id, event id, occurred at): one check-in a member a local day, over the days before
    the last ``days_back`` - 1."""
    from datetime import datetime, time as day_time, timedelta

    today = datetime.now(tz).date()
    return [
        (ids[n % len(ids)], f"{prefix}{n:07d}", datetime.combine(today - timedelta(days=days_back + n // len(ids)), day_time(8), tzinfo=tz) + timedelta(seconds=n % 3600))
        for n in range(count)
    ]


def events_ours(events: list[tuple]) -> list[float]:
    from membership.selectors import program_active_get
    from membership.services import event_record

    latencies = []
    for member_id, event_id, at in events:
        began = time.perf_counter()
        result = event_record(member_id=member_id, event_type="check_in", occurred_at=at, event_id=event_id, program=program_active_get())
        latencies.append(time.perf_counter() - began)
        if result.outcome != "created" or result.points != 5:
            raise SystemExit(f"event_record({event_id}): {result.outcome}, {result.points} points")
    return latencies


def event_statements_of_one(event: tuple) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from membership.selectors import program_active_get
    from membership.services import event_record

    member_id, event_id, at = event
    with CaptureQueriesContext(connection) as captured:
        event_record(member_id=member_id, event_type="check_in", occurred_at=at, event_id=event_id, program=program_active_get())
    return len(captured.captured_queries)


def event_floor(floor: "Floor", event: tuple) -> None:
    """The essential statements of one check-in, bare."""
    from datetime import datetime, timezone

    from common.timeutil import local_day_bounds

    member_id, event_id, at = event
    start, end = local_day_bounds(at, floor.tz)
    booked = datetime.now(timezone.utc)
    lock = "" if floor.vendor == "sqlite" else " FOR UPDATE"
    with floor.connection.cursor() as cursor:
        cursor.execute("BEGIN" if floor.vendor != "sqlite" else "BEGIN IMMEDIATE")
        cursor.execute(f"SELECT id, last_active_at FROM membership_member WHERE member_id = %s{lock}", [member_id])
        member_pk = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO membership_memberevent (event_id, member_id, event_type, occurred_at, created_at) VALUES (%s, %s, 'check_in', %s, %s)"
            " ON CONFLICT (event_id) DO NOTHING RETURNING id",
            [event_id, member_pk, at, booked],
        )
        cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM points_pointsentry WHERE member_id = %s AND rule_id = %s AND kind = 'credit' AND effective_at >= %s AND effective_at < %s",
            [member_pk, floor.check_in, start, end],
        )
        if cursor.fetchone()[0]:
            raise SystemExit(f"floor: {member_id} checked in twice on one day")
        cursor.execute(
            "INSERT INTO points_pointsaccount (member_id, balance, updated_at) VALUES (%s, 5, %s)"
            " ON CONFLICT (member_id) DO UPDATE SET balance = points_pointsaccount.balance + excluded.balance, updated_at = excluded.updated_at"
            " RETURNING balance",
            [member_pk, booked],
        )
        cursor.fetchone()
        cursor.execute(
            "INSERT INTO points_pointsentry (kind, amount, capped, effective_at, booked_at, source, source_ref, idempotency_key, reason, member_id, rule_id)"
            " VALUES ('credit', 5, 0, %s, %s, 'event', %s, %s, '', %s, %s) RETURNING id",
            [at, booked, event_id, f"event:{event_id}:{floor.check_in}", member_pk, floor.check_in],
        )
        entry_pk = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO points_pointslot (member_id, entry_id, earned_at, expires_at, amount, remaining, frozen) VALUES (%s, %s, %s, %s, 5, 5, false)",
            [member_pk, entry_pk, at, floor.expires_at(program=floor.program, earned_at=at)],
        )
        cursor.execute("UPDATE membership_member SET last_active_at = %s WHERE id = %s AND (last_active_at IS NULL OR last_active_at < %s)", [at, member_pk, at])
        cursor.execute("COMMIT")


def report(label: str, latencies: list[float], statements: int, unit: str = "orders") -> float:
    seconds = sum(latencies)
    rate = len(latencies) / seconds
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{label:<38} {rate:7,.0f} {unit}/s  p50 {statistics.median(latencies) * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms"
        f"  {statements} statements {'an order' if unit == 'orders' else 'an event'}",
        flush=True,
    )
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()

    url, drop = throwaway_database(os.environ.get("DATABASE_URL", "sqlite://"), Path(tempfile.mkdtemp()))
    try:
        django_on(url)
        from django.core.management import call_command
        from django.db import connection

        ids = make_members(args.members)
        orders = Orders(ids)
        warm = [facts_of(row) for row in orders.make("W", 50)]
        ours = [facts_of(row) for row in orders.make("O", args.orders)]
        floor_facts = [facts_of(row) for row in orders.make("F", args.orders)]
        sample = facts_of(orders.make("S", 1)[0])
        print(f"database: {connection.vendor} ({connection.settings_dict['NAME']}); {args.members:,} members, {args.orders:,} orders each way", flush=True)
        book_ours(warm)
        statements = statements_of_one(sample)
        floor = Floor()
        latencies_floor = []
        for fact in floor_facts:
            began = time.perf_counter()
            floor.book(fact)
            latencies_floor.append(time.perf_counter() - began)
        latencies_ours = book_ours(ours)
        rate = report("order_book, one at a time", latencies_ours, statements)
        rate_floor = report("the floor: bare SQL, same connection", latencies_floor, floor.statements)
        ratio = rate_floor / rate
        print(
            f"order_book takes {ratio:.2f}x the floor (aim: at most {TARGET_RATIO:g}x, and at least {TARGET} orders/s: "
            f"{'met' if ratio <= TARGET_RATIO and rate >= TARGET else 'missed'})",
            flush=True,
        )
        from membership.models import EarningRule

        floor.check_in = EarningRule.objects.create(program=floor.program, **CHECK_IN).pk
        warm_events = events_of(ids, "w", 20, floor.tz, days_back=300)
        our_events = events_of(ids[: len(ids) // 2], "e", args.events, floor.tz)
        floor_events = events_of(ids[len(ids) // 2 :], "f", args.events, floor.tz)
        events_ours(warm_events[:-1])
        event_statements = event_statements_of_one(warm_events[-1])
        latencies_floor = []
        for event in floor_events:
            began = time.perf_counter()
            event_floor(floor, event)
            latencies_floor.append(time.perf_counter() - began)
        latencies_ours = events_ours(our_events)
        rate = report("event_record, one at a time", latencies_ours, event_statements, unit="events")
        rate_floor = report("the floor: bare SQL, same connection", latencies_floor, 9, unit="events")
        print(f"event_record takes {rate_floor / rate:.2f}x the floor (aim: at most {TARGET_RATIO:g}x)", flush=True)
        call_command("check_ledgers")
    finally:
        drop()


if __name__ == "__main__":
    main()
