"""Benchmark: the anomaly scan over a day of activity of many members, against the obvious loop.

    .venv/bin/python benchmarks/risk_scan.py [--members 1000000] [--sample 10000]

Makes its own data in a throwaway database on the server that DATABASE_URL names (a temporary
file for SQLite): M members (one in 250 sharing a phone with three others) and a day of activity
(about two growth and points credits and one order per member, one in ten spending points; a few
fast earners, serial refunders, redemption bursts and two-level jumps planted among them), the
five anomaly rules, then reports, in the same run:
- ``risk_scan`` over the day (the command, in its own process): time and peak memory, and what it raised;
- ``risk_scan`` again over the same day: nothing new is raised;
- the obvious per-member ORM loop (the five checks as queries per member) on a sample of 10,000
  members, extrapolated to M.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import django_on, run_command, throwaway_database  # noqa: E402

DAY = datetime(2026, 11, 2, 16, tzinfo=timezone.utc)  # 2026-11-03 00:00 in Shanghai
CHUNK = 50_000
RULES = [
    ("velocity", "earning_velocity", {"threshold": 5000}, "high"),
    ("refunds", "refund_rate", {"rate": 0.8, "days": 30, "min_orders": 4}, "medium"),
    ("phones", "shared_phone", {"min_members": 4}, "low"),
    ("bursts", "redemption_burst", {"count": 5}, "medium"),
    ("jumps", "level_jump", {"levels": 2}, "medium"),
]


def make_data(members: int, seed: int = 7):
    """Members and a day of ledger entries, orders and level changes, written in bulk (COPY on PostgreSQL)."""
    from django.db import transaction

    from common.bulk import new_row, rows_insert
    from membership.models import GrowthEntry, LevelChange, Member, Order, SettlementRun
    from membership.selectors import program_active_get, program_levels
    from points.models import PointsEntry
    from riskcontrol.models import AnomalyRule

    rng = random.Random(seed)
    program = program_active_get()
    levels = program_levels(program=program)
    with transaction.atomic():
        for code, kind, params, severity in RULES:
            AnomalyRule.objects.create(code=code, name=code, kind=kind, params=params, severity=severity)
        run = SettlementRun.objects.create(program=program, month=DAY.date().replace(day=1), trigger="benchmark", status="done")
    seconds = lambda: timedelta(seconds=rng.randrange(86400))  # noqa: E731
    for start in range(0, members, CHUNK):
        with transaction.atomic():
            count = min(CHUNK, members - start)
            now = datetime.now(timezone.utc)
            people = [
                new_row(
                    Member, member_id=f"R{start + n:08d}", name="", status="active", base_score=0, joined_at=now, created_at=now, updated_at=now,
                    phone=f"139{(start + n) // 4:08d}" if (start + n) % 1000 < 4 else f"138{start + n:08d}",
                )
                for n in range(count)
            ]
            rows_insert(Member, people)
            growth, points, orders, changes = [], [], [], []
            for m in people:
                number = int(m.member_id[1:])
                fast = number % 1000 == 7
                for k in range(2):
                    amount = int(rng.expovariate(1 / 100)) + 1
                    at = DAY + (timedelta(hours=10, minutes=k) if fast else seconds())
                    amount = amount + 6000 if fast else amount
                    common = dict(member_id=m.pk, kind="credit", capped=0, effective_at=at, booked_at=at, source="order", source_ref=f"{m.member_id}-{k}", reason="")
                    growth.append(new_row(GrowthEntry, amount=amount, idempotency_key=f"g:{m.member_id}:{k}", **common))
                    points.append(new_row(PointsEntry, amount=amount, idempotency_key=f"p:{m.member_id}:{k}", **common))
                spends = 6 if number % 2000 == 11 else (1 if number % 10 == 0 else 0)
                for k in range(spends):
                    at = DAY + timedelta(hours=14, minutes=k)
                    points.append(new_row(
                        PointsEntry, member_id=m.pk, kind="spend", amount=-10, capped=0, effective_at=at, booked_at=at, source="redemption",
                        source_ref="", idempotency_key=f"s:{m.member_id}:{k}", reason="",
                    ))
                refunder = number % 2000 == 13
                for k in range(5 if refunder else 1):
                    refunded = refunder or rng.random() < 0.05
                    orders.append(new_row(
                        Order, order_id=f"{m.member_id}-{k}", member_id=m.pk, paid_at=DAY + seconds(), status="refunded" if refunded else "completed",
                        goods_amount=100, discount_amount=0, shipping_amount=0, refunded_amount=100 if refunded else 0, category="", shop_id="",
                        revision=0, created_at=now, updated_at=now,
                    ))
                if number % 1000 == 17 and len(levels) > 2:
                    changes.append(new_row(
                        LevelChange, member_id=m.pk, run_id=run.pk, from_level_id=levels[0].pk, to_level_id=levels[2].pk, valid_until=None,
                        window_growth=levels[2].threshold, reason="upgrade", created_at=DAY + timedelta(hours=2),
                    ))
            rows_insert(GrowthEntry, growth)
            rows_insert(PointsEntry, points)
            rows_insert(Order, orders)
            rows_insert(LevelChange, changes)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def orm_loop(sample: int) -> float:
    """The obvious scan: for each member, the five checks as queries of their own (rolled back)."""
    from django.db import transaction
    from django.db.models import Count, F, Q, Sum
    from django.db.models.functions import TruncHour

    from membership.models import GrowthEntry, LevelChange, Member, Order
    from points.models import PointsEntry
    from riskcontrol.models import Alert, AnomalyRule
    from riskcontrol.selectors import member_whitelisted

    rules = {rule.kind: rule for rule in AnomalyRule.objects.all()}
    until = DAY + timedelta(days=1)
    started = time.perf_counter()
    with transaction.atomic():
        for member in Member.objects.order_by("pk")[:sample]:
            if member_whitelisted(member_id=member.pk, at=until):
                continue
            found = []
            hours = (
                GrowthEntry.objects.filter(member=member, effective_at__gte=DAY, effective_at__lt=until, kind="credit")
                .annotate(hour=TruncHour("effective_at")).values("hour").annotate(s=Sum("amount")).filter(s__gt=5000)
            )
            found += [("earning_velocity", f"growth:{h['hour']}") for h in hours]
            counts = Order.objects.filter(member=member, paid_at__gte=until - timedelta(days=30), paid_at__lt=until).aggregate(
                n=Count("pk"), r=Count("pk", filter=Q(status="refunded") | Q(refunded_amount__gt=0))
            )
            if counts["n"] >= 4 and counts["r"] >= 0.8 * counts["n"]:
                found.append(("refund_rate", "month"))
            if member.phone and Member.objects.filter(phone=member.phone).count() >= 4:
                found.append(("shared_phone", f"phone:{member.phone}"))
            bursts = (
                PointsEntry.objects.filter(member=member, effective_at__gte=DAY, effective_at__lt=until, kind="spend")
                .annotate(hour=TruncHour("effective_at")).values("hour").annotate(n=Count("pk")).filter(n__gte=5)
            )
            found += [("redemption_burst", str(b["hour"])) for b in bursts]
            jumps = LevelChange.objects.filter(member=member, created_at__gte=DAY, created_at__lt=until).annotate(
                jump=F("to_level__rank") - F("from_level__rank")
            ).filter(jump__gte=2)
            found += [("level_jump", f"levelchange:{j.pk}") for j in jumps]
            for kind, key in found:
                Alert.objects.get_or_create(
                    rule=rules[kind], member=member, incident_key=key,
                    defaults={"severity": rules[kind].severity, "first_seen_at": until, "last_seen_at": until},
                )
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=10_000, help="members for the per-member ORM loop")
    args = parser.parse_args()

    configured = os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'db.sqlite3'}")
    with tempfile.TemporaryDirectory(prefix="bench-risk-") as tmp:
        url, drop = throwaway_database(configured, Path(tmp))
        try:
            env = django_on(url)
            from django.db import connection

            started = time.perf_counter()
            make_data(args.members)
            print(f"made {args.members:,} members and a day of activity in {time.perf_counter() - started:.0f} s ({connection.vendor})")
            sample = min(args.sample, args.members)
            loop = orm_loop(sample)
            period = ["risk_scan", "--since", DAY.isoformat(), "--until", (DAY + timedelta(days=1)).isoformat()]
            seconds, memory, summary = run_command(period, env)
            print(f"{'risk_scan (one process):':<30} {seconds:8.1f} s  peak {memory:,.0f} MB  {args.members / seconds:>10,.0f} members/s  [{summary}]")
            again, _, summary_again = run_command(period, env)
            print(f"{'risk_scan again (same day):':<30} {again:8.1f} s  [{summary_again}]")
            extrapolated = loop / sample * args.members
            print(f"{'per-member ORM loop:':<30} {loop:8.1f} s for {sample:,} members, extrapolated {extrapolated:,.0f} s "
                  f"({extrapolated / 60:,.0f} min) for {args.members:,}; the scan is {extrapolated / seconds:,.0f}x faster")
        finally:
            drop()


if __name__ == "__main__":
    main()
