"""Benchmark: a campaign's forecast over a year of orders.

    .venv/bin/python benchmarks/campaign_forecast.py [--members 1000000] [--orders 10000000]

Makes its own data in a throwaway database on the PostgreSQL server that DATABASE_URL names:
M members (a fifth at V1, a tenth at V3) and N completed orders over the last 12 months, written
by SQL. Then it forecasts, through ``campaigns.forecast.campaign_forecast``, a double-points
campaign with a minimum amount, a multiplier for V3 and a budget — once without and once with a
limit per member (a running sum per member) — beside the same-run floor: the bare SQL sum of the
same points over the same orders. Each is run twice; the better time is shown.
"""

import argparse
import os
from datetime import date, datetime
from zoneinfo import ZoneInfo
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import django_on, throwaway_database  # noqa: E402


def make_data(members: int, orders: int) -> None:
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark seeds with PostgreSQL's generate_series: set DATABASE_URL to a PostgreSQL server")
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "INSERT INTO membership_member (member_id, name, phone, status, joined_at, last_active_at, created_at, updated_at, base_score) "
            "SELECT 'B' || lpad(g::text, 8, '0'), '', '', 'active', now() - interval '3 years', now() - (g %% 400) * interval '1 day', now(), now(), 0 "
            "FROM generate_series(1, %s) g",
            [members],
        )
        cursor.execute("SELECT min(id) FROM membership_member")
        first = cursor.fetchone()[0]
        cursor.execute("UPDATE membership_member SET level_id = l.id FROM membership_level l WHERE l.code = 'V1' AND membership_member.id % 5 = 0")
        cursor.execute("UPDATE membership_member SET level_id = l.id FROM membership_level l WHERE l.code = 'V3' AND membership_member.id % 10 = 1")
        cursor.execute(
            "INSERT INTO membership_order (order_id, member_id, paid_at, status, goods_amount, discount_amount, shipping_amount, refunded_amount, "
            "  offset_amount, category, shop_id, special_invoice, member_level, member_stage, member_conditions, revision, created_at, updated_at) "
            "SELECT 'O' || g, %s + (g * 7919) %% %s, now() - ((g * 104729) %% (365 * 24 * 60)) * interval '1 minute', 'completed', "
            "  (20 + (g * 31) %% 500)::numeric(14, 2), (g %% 7)::numeric(14, 2), 0, 0, 0, CASE WHEN g %% 4 = 0 THEN 'food' ELSE 'home' END, '', false, '', '', '', 1, now(), now() "
            "FROM generate_series(1::bigint, %s) g",
            [first, members, orders],
        )
        cursor.execute("ANALYZE")


def best(run, times: int = 2) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(times):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return min(timings), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    args = parser.parse_args()

    configured = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as tmp:
        url, drop = throwaway_database(configured, Path(tmp))
        try:
            django_on(url)
            from django.db import connection
            from django.utils import timezone

            from campaigns.forecast import campaign_forecast
            from campaigns.models import Campaign
            from membership.selectors import program_active_get

            started = time.perf_counter()
            make_data(args.members, args.orders)
            print(f"made {args.members:,} members and {args.orders:,} orders over 12 months in {time.perf_counter() - started:.0f} s")
            program = program_active_get()
            now = timezone.now()
            campaign = Campaign(
                program=program, code="double11", name="Double 11", params={"rate": 1, "min_amount": 50, "level_multipliers": {"V3": 2}},
                starts_at=now, ends_at=now + timezone.timedelta(days=12), budget=500_000_000,
            )

            plain_s, plain = best(lambda: campaign_forecast(campaign=campaign, months=12))
            tz = ZoneInfo(program.time_zone)
            since, until = (datetime.combine(date.fromisoformat(plain[key]), datetime.min.time(), tzinfo=tz) for key in ("since", "until"))

            def floor():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT SUM(FLOOR(GREATEST(o.goods_amount - o.discount_amount - o.refunded_amount, 0) * CASE WHEN l.code = 'V3' THEN 2 ELSE 1 END)) "
                        "FROM membership_order o JOIN membership_member m ON m.id = o.member_id LEFT JOIN membership_level l ON l.id = m.level_id "
                        "WHERE o.paid_at >= %s AND o.paid_at < %s AND o.status = 'completed' AND o.goods_amount - o.discount_amount - o.refunded_amount >= 50",
                        [since, until],
                    )
                    return int(cursor.fetchone()[0])

            floor_s, floor_points = best(floor)
            print(f"{'floor: the bare SQL sum':<44} {floor_s:7.1f} s   {floor_points:,} points")
            print(f"{'forecast, budget only':<44} {plain_s:7.1f} s   {plain['wanted']:,} points, {plain['orders']:,} orders, {plain['members']:,} members  ({plain_s / floor_s:.1f}x the floor)")
            campaign.member_limit = 2000
            limited_s, limited = best(lambda: campaign_forecast(campaign=campaign, months=12))
            print(f"{'forecast, budget and a limit per member':<44} {limited_s:7.1f} s   {limited['wanted']:,} points, {limited['orders']:,} orders, {limited['members']:,} members  ({limited_s / floor_s:.1f}x the floor)")
            print(f"budget of {campaign.budget:,} runs out on {limited['budget_runs_out'] or 'no day'}; {len(limited['days'])} days")
        finally:
            drop()


if __name__ == "__main__":
    main()
