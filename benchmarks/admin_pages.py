"""Benchmark: the console's busiest pages on big tables.

    .venv/bin/python benchmarks/admin_pages.py [--members 1000000] [--entries 10000000]

Makes its own data in a throwaway database on the server that DATABASE_URL names: M members,
G growth entries and as many points entries (spread over the members; one member has 10,000 of
each), written by SQL. Then it times, through Django's test client signed in as a superuser,
the pages operations staff open all day: the member and ledger lists (plain, searched, filtered)
the member page (its timeline, sections and buttons), the approvals inbox (10,000 adjustments
wait, which every page's header counts), and the streamed downloads of the ledgers (the time to
their first rows, their pace, the memory they take). Each page is opened three times; the best
time is shown.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import django_on, throwaway_database  # noqa: E402


def make_data(members: int, entries: int):
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark seeds with PostgreSQL's generate_series: set DATABASE_URL to a PostgreSQL server")
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "INSERT INTO membership_member (member_id, name, phone, status, joined_at, created_at, updated_at, base_score) "
            "SELECT 'B' || lpad(g::text, 8, '0'), '会员' || g, '139' || lpad(g::text, 8, '0'), 'active', "
            "  now() - (g %% 1500) * interval '1 day', now(), now(), 0 FROM generate_series(1, %s) g",
            [members],
        )
        cursor.execute("SELECT min(id) FROM membership_member")
        first = cursor.fetchone()[0]
        cursor.execute("UPDATE membership_member SET level_id = l.id FROM membership_level l WHERE l.code = 'V1' AND membership_member.id % 5 = 0")
        for table in ("membership_growthentry", "points_pointsentry"):
            # One member with 10,000 entries, the rest spread evenly.
            cursor.execute(
                f"INSERT INTO {table} (member_id, kind, amount, capped, effective_at, booked_at, source, source_ref, idempotency_key, reason) "
                "SELECT CASE WHEN g <= 10000 THEN %s ELSE %s + (g %% %s) END, "
                "  CASE WHEN g %% 10 = 0 THEN 'reversal' ELSE 'credit' END, CASE WHEN g %% 10 = 0 THEN -50 ELSE 100 END, 0, "
                "  now() - (g %% 730) * interval '1 day', now() - (g %% 730) * interval '1 day', 'order', 'O' || g, %s || g, '' "
                "FROM generate_series(1, %s) g",
                [first, first, members, f"bench:{table}:", entries],
            )
        cursor.execute("ANALYZE")
    return first


def pending_adjustments(member: int, requester: int, count: int) -> int:
    """``count`` adjustments waiting for approval: every page's header counts them for an approver."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO riskcontrol_manualadjustment (member_id, currency, amount, reason_code, reason, reference, status, requested_by_id, requested_at, decision_note) "
            "SELECT %s + g, 'points', 5000, 'compensation', 'bench', '', 'pending', %s, now(), '' FROM generate_series(1, %s) g",
            [member, requester, count],
        )
        cursor.execute("ANALYZE riskcontrol_manualadjustment")
    return count


def download_start(client, url: str, params=None, rows: int = 200_000) -> tuple[float, float, float]:
    """A streamed download: seconds to its first rows, rows a second over ``rows`` rows, and how much
    the process's peak memory grew meanwhile (MB)."""
    import resource

    from common.exports import CHUNK_ROWS

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = client.get(url, params or {})
    chunks = iter(response.streaming_content)
    next(chunks), next(chunks)  # the header, then the first rows
    first = time.perf_counter() - started
    read = CHUNK_ROWS
    for _ in chunks:
        read += CHUNK_ROWS
        if read >= rows:
            break
    rate = read / (time.perf_counter() - started - first)
    response.close()
    return first, rate, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024


def timed(client, url: str, params=None) -> float:
    best = None
    for _ in range(3):
        started = time.perf_counter()
        response = client.get(url, params or {})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10_000_000)
    args = parser.parse_args()

    configured = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="bench-admin-") as tmp:
        url, drop = throwaway_database(configured, Path(tmp))
        try:
            django_on(url)
            from django.conf import settings
            from django.contrib.auth import get_user_model
            from django.test import Client
            from django.urls import reverse

            settings.ALLOWED_HOSTS = ["*"]
            started = time.perf_counter()
            busy = make_data(args.members, args.entries)
            print(f"made {args.members:,} members, {args.entries:,} growth and {args.entries:,} points entries in {time.perf_counter() - started:.0f} s")
            user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
            requester = get_user_model().objects.create_user("requester", is_staff=True)
            waiting = pending_adjustments(busy, requester.pk, 10_000)
            print(f"{waiting:,} adjustments wait for approval")
            client = Client()
            client.force_login(user)
            pages = [
                ("members", reverse("admin:membership_member_changelist"), None),
                ("members, search by member id", reverse("admin:membership_member_changelist"), {"q": "B00500000"}),
                ("members, search by phone", reverse("admin:membership_member_changelist"), {"q": "13900500000"}),
                ("members, phone's last 4 digits", reverse("admin:membership_member_changelist"), {"q": "0042"}),
                ("members, beginning of an id", reverse("admin:membership_member_changelist"), {"q": "B0050000"}),
                ("members, part of a name", reverse("admin:membership_member_changelist"), {"q": "员50000"}),
                ("members, filter by level", reverse("admin:membership_member_changelist"), {"level__id__exact": "2"}),
                ("member page (10,000 entries)", reverse("admin:membership_member_change", args=[busy]), None),
                ("growth ledger", reverse("admin:membership_growthentry_changelist"), None),
                ("growth ledger, one member", reverse("admin:membership_growthentry_changelist"), {"q": "B00000001"}),
                ("growth ledger, by kind", reverse("admin:membership_growthentry_changelist"), {"kind__exact": "reversal"}),
                ("points ledger", reverse("admin:points_pointsentry_changelist"), None),
                ("points ledger, one member, by kind", reverse("admin:points_pointsentry_changelist"), {"q": "B00000001", "kind__exact": "credit"}),
                ("adjustments waiting for me (inbox)", reverse("admin:riskcontrol_manualadjustment_changelist"), {"approval": "waiting"}),
                ("dashboard (figures cached)", reverse("admin:index"), None),
            ]
            for name, page, params in pages:
                print(f"{name + ':':<40} {timed(client, page, params) * 1000:8.0f} ms")
                if os.environ.get("BENCH_SQL"):
                    from django.db import connection

                    spent = []

                    def wrapper(execute, sql, params_, many, context):
                        started = time.perf_counter()
                        try:
                            return execute(sql, params_, many, context)
                        finally:
                            spent.append((time.perf_counter() - started, sql))

                    with connection.execute_wrapper(wrapper):
                        client.get(page, params or {})
                    for seconds, sql in sorted(spent, reverse=True)[:2]:
                        print(f"    {seconds * 1000:6.0f} ms  {sql[:300]}")
            for name, url, params in (
                ("growth ledger download, CSV", reverse("admin:membership_growthentry_download", args=["csv"]), None),
                ("growth ledger download, Excel", reverse("admin:membership_growthentry_download", args=["xlsx"]), None),
                ("points ledger download, one kind, CSV", reverse("admin:points_pointsentry_download", args=["csv"]), {"kind__exact": "reversal"}),
            ):
                first, rate, grown = download_start(client, url, params)
                print(f"{name + ' (first rows):':<40} {first * 1000:8.0f} ms; then {rate:,.0f} rows/s, memory +{grown:.0f} MB")
            settings.DASHBOARD_CACHE_SECONDS = 0
            print(f"{'dashboard (computed, no monthly totals):':<40} {timed(client, reverse('admin:index')) * 1000:8.0f} ms")
            from datetime import timedelta

            from django.utils import timezone

            from membership.totals import ledger_totals_refresh

            started = time.perf_counter()
            ledger_totals_refresh(time_zone="Asia/Shanghai", now=timezone.now() + timedelta(hours=1))
            print(f"{'monthly totals, first refresh:':<40} {(time.perf_counter() - started) * 1000:8.0f} ms")
            print(f"{'dashboard (computed from the totals):':<40} {timed(client, reverse('admin:index')) * 1000:8.0f} ms")
        finally:
            drop()


if __name__ == "__main__":
    main()
