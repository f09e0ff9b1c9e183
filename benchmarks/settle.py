"""Benchmark: the monthly settlement of many members, against the floor and the obvious loop.

    .venv/bin/python benchmarks/settle.py [--members 1000000] [--entries 12000000] [--workers 1]

Makes its own data in a throwaway database on the server that DATABASE_URL names (a temporary
file for SQLite): M members and G growth entries spread over 24 months (written straight into
the ledger table by SQL, as a migration from another system would leave it, then vacuumed and
analysed as autovacuum keeps a live ledger), then reports, in the same run:
- ``settle`` (the contract command, in its own process): time and peak memory; with
  ``--workers N``, the same run's chunks settled by N processes at once;
- the floor: the bare SQL aggregate of the same window (``SUM … GROUP BY member``);
- on PostgreSQL, the floor with the settlement's writes: the aggregate, then a member update, a
  history row and a grant for each member who reaches a level, into bare tables, in one statement;
- on PostgreSQL, the settlement's outbound events inserted into the outbox once more (rolled
  back): what the events cost, in the same run;
- the obvious per-member ORM loop (aggregate, decide, save, one member at a time) on a sample
  of 10,000 members, rolled back, extrapolated to M.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import django_on, run_command, throwaway_database  # noqa: E402

MONTH = date(2026, 10, 1)  # the 24 months of data end with it; its window is 2025-11 … 2026-10


def make_data(members: int, entries: int):
    """Members and growth entries, by SQL on the server (PostgreSQL) or in batches (SQLite)."""
    from django.db import connection, transaction

    with connection.cursor() as cursor, transaction.atomic():
        if connection.vendor == "postgresql":
            cursor.execute(
                "INSERT INTO membership_member (member_id, name, phone, status, joined_at, created_at, updated_at, base_score) "
                "SELECT 'B' || lpad(g::text, 8, '0'), '', '', 'active', now(), now(), now(), 0 FROM generate_series(1, %s) g",
                [members],
            )
            cursor.execute("SELECT min(id) FROM membership_member")
            first = cursor.fetchone()[0]
            # Amounts: exponential around 800, ten times that for one member in fifty (the big spenders).
            cursor.execute(
                "INSERT INTO membership_growthentry (member_id, kind, amount, capped, effective_at, booked_at, source, source_ref, "
                "idempotency_key, reason) "
                "SELECT %s + (g %% %s), 'credit', "
                "  (ceil(-ln(1 - random()) * 800) * CASE WHEN g %% %s %% 50 = 0 THEN 10 ELSE 1 END)::int, 0, "
                "  timestamptz '2024-10-31 16:00:00+00' + random() * interval '730 days', now(), 'order', 'bench', 'bench:' || g, '' "
                "FROM generate_series(1, %s) g",
                [first, members, members, entries],
            )
        else:
            import random
            from datetime import datetime, timedelta, timezone

            rng = random.Random(3)
            cursor.executemany(
                "INSERT INTO membership_member (member_id, name, phone, status, joined_at, created_at, updated_at, base_score) "
                "VALUES (%s, '', '', 'active', '2024-01-01 00:00:00', '2024-01-01 00:00:00', '2024-01-01 00:00:00', 0)",
                [(f"B{n:08d}",) for n in range(1, members + 1)],
            )
            cursor.execute("SELECT min(id) FROM membership_member")
            first = cursor.fetchone()[0]
            start = datetime(2024, 10, 31, 16, tzinfo=timezone.utc)
            for offset in range(0, entries, 100_000):
                rows = []
                for g in range(offset, min(entries, offset + 100_000)):
                    amount = int(rng.expovariate(1 / 800)) + 1
                    when = start + timedelta(seconds=rng.randrange(730 * 86400))
                    rows.append((first + g % members, amount * (10 if g % members % 50 == 0 else 1), when.strftime("%Y-%m-%d %H:%M:%S"), f"bench:{g}"))
                cursor.executemany(
                    "INSERT INTO membership_growthentry (member_id, kind, amount, capped, effective_at, booked_at, source, source_ref, "
                    "idempotency_key, reason) VALUES (%s, 'credit', %s, 0, %s, '2026-11-01 00:00:00', 'order', 'bench', %s, '')",
                    rows,
                )
    if connection.vendor == "postgresql":
        # As a ledger of past months is on a live server: vacuumed (by autovacuum) and analysed.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE membership_member, membership_growthentry")


def bare_aggregate() -> float:
    from django.db import connection

    from membership.selectors import growth_window_bounds, program_active_get

    start, end = growth_window_bounds(program=program_active_get(), month=MONTH)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), sum(s) FROM (SELECT member_id, SUM(amount) AS s FROM membership_growthentry "
            "WHERE effective_at >= %s AND effective_at < %s GROUP BY member_id) t",
            [start, end],
        )
        cursor.fetchone()
    return time.perf_counter() - started


def bare_writes() -> float:
    """The floor with the settlement's writes: the same aggregate, then, for every member whose
    window growth reaches the first level, a level written on a copy of the member rows, a history
    row and a grant, into bare tables (no index, no key, no check), in one statement (PostgreSQL)."""
    from django.db import connection

    from membership.selectors import growth_window_bounds, program_active_get, program_levels

    program = program_active_get()
    first = program_levels(program=program)[1]
    start, end = growth_window_bounds(program=program, month=MONTH)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_member AS SELECT id, level_id, level_valid_until, updated_at FROM membership_member; "
            "CREATE TABLE bench_history (member_id bigint, run_id bigint, from_level_id bigint, to_level_id bigint, valid_until date, "
            "  window_growth bigint, reason varchar(10), created_at timestamptz); "
            "CREATE TABLE bench_grant (member_id bigint, benefit_id bigint, period varchar(60), quantity integer, status varchar(8), "
            "  valid_until timestamptz, run_id bigint, granted_at timestamptz)"
        )
        cursor.execute("VACUUM ANALYZE bench_member")
        started = time.perf_counter()
        cursor.execute(
            "WITH sums AS (SELECT member_id, SUM(amount) AS g FROM membership_growthentry "
            "  WHERE effective_at >= %(start)s AND effective_at < %(end)s GROUP BY member_id), "
            "upd AS (UPDATE bench_member b SET level_id = %(level)s, level_valid_until = %(until)s, updated_at = now() "
            "  FROM sums WHERE b.id = sums.member_id AND sums.g >= %(threshold)s RETURNING b.id, sums.g), "
            "ins AS (INSERT INTO bench_history SELECT id, 0, NULL, %(level)s, %(until)s, g, 'upgrade', now() FROM upd) "
            "INSERT INTO bench_grant SELECT id, 0, '2026-10', 1, 'granted', now(), 0, now() FROM upd",
            {"start": start, "end": end, "level": first.pk, "until": date(2027, 10, 31), "threshold": first.threshold},
        )
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_member, bench_history, bench_grant")
    return elapsed


def orm_loop(sample: int) -> float:
    """The obvious settlement: for each member, an aggregate query, the decision, two writes."""
    from django.db import transaction
    from django.db.models import Sum

    from membership.models import GrowthEntry, LevelChange, Member, SettlementRun
    from membership.selectors import growth_window_bounds, program_active_get, program_levels
    from membership.services import settlement_decide

    program = program_active_get()
    levels = program_levels(program=program)
    by_id = {level.pk: level for level in levels}
    start, end = growth_window_bounds(program=program, month=MONTH)
    started = time.perf_counter()
    with transaction.atomic():
        run = SettlementRun.objects.create(program=program, month=date(2099, 1, 1), trigger="benchmark")
        for member in Member.objects.order_by("pk")[:sample]:
            growth = GrowthEntry.objects.filter(member=member, effective_at__gte=start, effective_at__lt=end).aggregate(s=Sum("amount"))["s"] or 0
            current = by_id.get(member.level_id, levels[0])
            decision = settlement_decide(levels=levels, current=current, valid_until=member.level_valid_until, growth=growth, month=MONTH)
            if decision:
                member.level, member.level_valid_until, reason = decision
                member.save(update_fields=["level", "level_valid_until", "updated_at"])
                LevelChange.objects.create(
                    member=member, run=run, from_level=current, to_level=member.level, valid_until=member.level_valid_until,
                    window_growth=growth, reason=reason,
                )
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def parallel_settle(workers: int, env: dict) -> tuple[float, float]:
    """Plan the run, then let ``workers`` processes take its chunks, as Celery workers would."""
    from membership.services import settlement_run_start

    started = time.perf_counter()
    run = settlement_run_start(month=MONTH, trigger="benchmark").run
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup()\n"
        "from django.db import transaction\n"
        "from membership.models import SettlementChunk\n"
        "from membership.services import settlement_chunk_execute\n"
        "while True:\n"
        "    with transaction.atomic():\n"
        f"        chunk = SettlementChunk.objects.select_for_update(skip_locked=True).filter(run_id={run.pk}, status='pending').order_by('pk').first()\n"
        "        if chunk is None: break\n"
        "        settlement_chunk_execute(chunk_id=chunk.pk)\n"
    )
    processes = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env) for _ in range(workers)]
    peak = 0.0
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)
        peak = max(peak, usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("a settlement worker failed")
    from membership.services import settlement_run_finish

    settlement_run_finish(run_id=run.pk)
    return time.perf_counter() - started, peak


def events_again() -> tuple[int, float]:
    """The cost of the settlement's events, measured in the same run: the outbound events it wrote,
    inserted into the outbox table once more (its indexes and the writing transaction's id, as the
    settlement writes them), in one transaction that is then rolled back."""
    from django.db import connection, transaction

    from membership.models import OutboxEvent

    table = OutboxEvent._meta.db_table
    count = OutboxEvent.objects.count()
    with connection.cursor() as cursor:
        transaction.set_autocommit(False)
        try:
            started = time.perf_counter()
            cursor.execute(
                f"INSERT INTO {table} (type, member_ref, key, occurred_at, data, created_at) "
                f"SELECT type, member_ref, NULL, occurred_at, data, created_at FROM {table}"
            )
            elapsed = time.perf_counter() - started
        finally:
            transaction.rollback()
            transaction.set_autocommit(True)
    return count, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=12_000_000)
    parser.add_argument("--sample", type=int, default=10_000, help="members for the per-member ORM loop")
    parser.add_argument("--workers", type=int, default=1, help="processes settling chunks at once")
    args = parser.parse_args()

    configured = os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'db.sqlite3'}")
    with tempfile.TemporaryDirectory(prefix="bench-settle-") as tmp:
        url, drop = throwaway_database(configured, Path(tmp))
        try:
            env = django_on(url)
            from django.db import connection

            from membership.models import SettlementRun

            started = time.perf_counter()
            make_data(args.members, args.entries)
            print(f"made {args.members:,} members and {args.entries:,} growth entries over 24 months in {time.perf_counter() - started:.0f} s "
                  f"({connection.vendor})")

            floor = bare_aggregate()
            floor_writes = bare_writes() if connection.vendor == "postgresql" else None
            sample = min(args.sample, args.members)
            loop = orm_loop(sample)
            if args.workers > 1:
                seconds, memory = parallel_settle(args.workers, env)
                summary = SettlementRun.objects.get(month=MONTH)
                summary = f"evaluated {summary.members_evaluated}, up {summary.members_up}"
                label = f"settle, {args.workers} processes:"
            else:
                seconds, memory, summary = run_command(["settle", f"{MONTH:%Y-%m}"], env)
                label = "settle (one process):"
            print(f"{label:<30} {seconds:8.1f} s  peak {memory:,.0f} MB  {args.members / seconds:>10,.0f} members/s  [{summary}]")
            print(f"{'bare SQL aggregate (floor):':<30} {floor:8.1f} s  (settle takes {seconds / floor:.1f}x)")
            if floor_writes is not None:
                print(f"{'the same and its writes, bare:':<30} {floor_writes:8.1f} s  (settle takes {seconds / floor_writes:.1f}x; "
                      "the settlement's member, history and grant writes into tables with no index or key, one statement)")
            if connection.vendor == "postgresql":
                events, written = events_again()
                share = written / max(args.workers, 1)
                print(f"{'its events written again:':<30} {written:8.1f} s  (the settlement's {events:,} outbound events inserted into the outbox "
                      f"once more, one connection, rolled back; over {args.workers} processes as the settlement spreads them, "
                      f"{share:.1f} s: {share / (seconds - share):.0%} over the settlement without them)")
            extrapolated = loop / sample * args.members
            print(f"{'per-member ORM loop:':<30} {loop:8.1f} s for {sample:,} members, extrapolated {extrapolated:,.0f} s "
                  f"({extrapolated / 60:,.0f} min) for {args.members:,}; settle is {extrapolated / seconds:,.0f}x faster")
            again, _, summary_again = run_command(["settle", f"{MONTH:%Y-%m}"], env)
            print(f"{'settle again (nothing to do):':<30} {again:8.1f} s  [{summary_again}]")
        finally:
            drop()


if __name__ == "__main__":
    main()
