"""Benchmark: the platform API over HTTP, against the same bookings in-process.

    .venv/bin/python benchmarks/api.py [--members 2000] [--orders 3000] [--clients 1,8,32] [--batches 10]
        [--redemptions R] [--server-workers W] [--server-threads 1]

Makes its own data in a throwaway database on the server that DATABASE_URL names (a temporary
file for SQLite): the default program, N members (in bulk, as an import makes them), points for up
to 1,000 of them, one mall item priced for every member and an API key with every scope. Then it
starts the production server, gunicorn, in a process of its own on that database (W workers,
2 × CPUs + 1 but at most 5, one on SQLite, which has a single writer; T threads each), and
reports, in the same run:
- ``PUT /api/v1/orders/{order_id}``, a new order a request, from 1, 8 and 32 clients at once:
  orders/s (requests answered / wall time) and the p50 and p99 of the requests' latency;
- ``POST /api/v1/orders/batch``, 1,000 new orders a request, from 1 client: orders/s;
- ``POST /api/v1/members/{id}/redemptions`` with an ``Idempotency-Key``, from 8 clients: R
  redemptions (as many as --orders unless given) over up to 1,000 members, each redeeming the item
  once or a few times (all of them wait, as they must, for the one item's row lock):
  redemptions/s, p50, p99;
- the same bookings in this process, with the server stopped and no HTTP: ``order_book`` one order
  at a time, and ``orders_book_batch`` 1,000 orders at a time (fresh orders, as many as over HTTP);
- the ratios of the two, against the targets: PUT at 8 clients at least 300 orders/s with a p99
  under 100 ms, and the batch endpoint at least 0.8 times ``orders_book_batch``.

Each client is a thread of this process with one ``http.client`` connection, kept alive when the
server allows it (gunicorn's sync worker, one thread, closes it after every answer; with threads
the gthread worker keeps it); every body is made before the clock starts. The clients share the
machine's CPUs with the server and the database, as a benchmark on one machine must. Any answer
that is not 2xx, or an order of a batch that was not booked, fails the run (the first few bodies
are printed); ``check_ledgers`` runs at the end.
"""

import argparse
import http.client
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import django_on, throwaway_database  # noqa: E402

ITEM = "bench"
PRICE = 10  # points a redemption costs
POINTS = 1000  # points each redeeming member gets: 100 redemptions' worth
BATCH = 1000  # orders a batch request (the endpoint's most)
SHOWN_ERRORS = 3


# ---------------------------------------------------------------- data


def make_data(members: int, redeemers: int):
    """The members (in bulk), points for the first ``redeemers`` of them, the item, the key.
    Returns (member ids, the redeemers' member ids, the key's row, the key)."""
    from django.db import transaction

    from api.services import api_key_create
    from mall.catalog import mall_item_upsert
    from membership.models import Member
    from membership.selectors import program_active_get
    from membership.services import members_upsert_batch
    from points.services import points_credit

    program = program_active_get()
    ids = [f"B{n:07d}" for n in range(members)]
    for start in range(0, members, 1000):
        result = members_upsert_batch(rows=[{"member_id": m, "name": f"会员{m}", "phone": f"139{m[1:]:0>8}"} for m in ids[start : start + 1000]])
        refused = [o for o in result.outcomes if getattr(o, "outcome", None) != "created"]
        if refused:
            raise SystemExit(f"making the members failed: {refused[0]}")
    lowest = program.levels.order_by("rank").first()
    mall_item_upsert(program=program, spec={"code": ITEM, "name": ITEM, "kind": "privilege", "prices": {lowest.code: PRICE}, "stock": None})
    earned = datetime.now(timezone.utc) - timedelta(days=1)
    with transaction.atomic():
        for member in Member.objects.filter(member_id__in=ids[:redeemers]).order_by("pk"):
            points_credit(program=program, member=member, amount=POINTS, effective_at=earned, source="event", idempotency_key=f"bench:{member.pk}")
    api_key, key = api_key_create(name="benchmark", scopes=["ingest", "read", "spend"], actor=None, rate_per_minute=10_000_000)
    return ids, ids[:redeemers], api_key, key


class Orders:
    """New orders: each a unique id, spread over the members, paid within the last 180 days,
    completed, for a random amount of 15 to 2,000 yuan."""

    def __init__(self, member_ids: list[str], seed: int = 11):
        self.member_ids, self.rng, self.now = member_ids, random.Random(seed), datetime.now(timezone.utc)

    def make(self, prefix: str, count: int) -> list[dict]:
        rows = []
        for n in range(count):
            paid = self.now - timedelta(seconds=self.rng.randint(3600, 180 * 86400))
            rows.append({
                "order_id": f"{prefix}{n:07d}", "member_id": self.rng.choice(self.member_ids), "paid_at": paid.isoformat(timespec="seconds"),
                "status": "completed", "goods_amount": f"{self.rng.randint(1500, 200000) / 100:.2f}",
            })
        return rows


def facts_of(row: dict):
    from membership.rules import OrderFacts

    return OrderFacts(
        order_id=row["order_id"], member_id=row["member_id"], paid_at=datetime.fromisoformat(row["paid_at"]), status=row["status"],
        goods_amount=Decimal(row["goods_amount"]),
    )


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn serving ``config.wsgi`` from the repository root, in a process (group) of its own."""

    def __init__(self, env: dict, port: int, workers: int, threads: int, log: Path):
        self.port, self.log_path = port, log
        env = {**env, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "ERROR"}
        args = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers), "--threads", str(threads)]
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def tail(self, size: int = 3000) -> str:
        return self.log_path.read_bytes()[-size:].decode(errors="replace")

    def wait_ready(self, timeout: float = 90) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/api/v1/schema/")
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer GET /api/v1/schema/ with 200 within {timeout:.0f} s:\n{self.tail()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # a graceful stop: the master stops its workers
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- the clients


class Client:
    """One connection, kept alive while the server keeps it; a request sent on a connection the
    server had already closed (between two requests) is sent again once on a new one."""

    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Accept": "application/json"}
        self.opened = 0

    def send(self, method: str, path: str, body: bytes, headers: dict | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            fresh = self.conn.sock is None
            self.opened += fresh
            try:
                self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        self.conn.close()


class Level:
    """What one load level measured: answers, latencies, failures."""

    def __init__(self, clients: int, requests: int):
        self.clients, self.requests = clients, requests
        self.latencies: list[float] = []
        self.failures = 0
        self.bodies: list[str] = []
        self.connections = 0
        self.seconds = 0.0
        self.lock = threading.Lock()

    def fail(self, text: str, count: int = 1):
        with self.lock:
            self.failures += count
            if len(self.bodies) < SHOWN_ERRORS:
                self.bodies.append(text[:500])

    def rate(self, units_per_request: int = 1) -> float:
        return len(self.latencies) * units_per_request / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000


def load(port: int, key: str, requests: list[tuple], clients: int, check=None) -> Level:
    """Send ``requests`` (method, path, body bytes, extra headers) from ``clients`` threads, each
    taking the next request when its last is answered. ``check(body)`` may return failures found
    in a 2xx answer (a batch's orders not booked): (count, text)."""
    level = Level(clients, len(requests))
    taken = iter(range(len(requests)))
    take = threading.Lock()
    start = threading.Barrier(clients + 1)

    def work():
        client = Client(port, key)
        start.wait()
        mine = []
        try:
            while True:
                with take:
                    n = next(taken, None)
                if n is None:
                    break
                method, path, body, headers = requests[n]
                began = time.perf_counter()
                try:
                    status, answer = client.send(method, path, body, headers)
                except (OSError, http.client.HTTPException) as exc:
                    level.fail(f"{method} {path}: {type(exc).__name__}: {exc}")
                    continue
                mine.append(time.perf_counter() - began)
                try:
                    if not 200 <= status < 300:
                        level.fail(f"{method} {path} -> {status}: {answer.decode(errors='replace')}")
                    elif check is not None and (found := check(answer)):
                        level.fail(f"{method} {path} -> {status}: {found[1]}", found[0])
                except ValueError as exc:  # an answer that is not the JSON it should be
                    level.fail(f"{method} {path} -> {status}: {type(exc).__name__}: {exc}: {answer[:200]!r}")
        finally:
            client.close()
            with level.lock:
                level.latencies.extend(mine)
                level.connections += client.opened

    pool = [threading.Thread(target=work) for _ in range(clients)]
    for thread in pool:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    level.seconds = time.perf_counter() - started
    return level


def batch_unbooked(answer: bytes):
    results = json.loads(answer)["results"]
    refused = [r for r in results if "error" in r or r.get("outcome") != "created"]
    return (len(refused), json.dumps(refused[0], ensure_ascii=False)) if refused else None


def encode(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------- in-process


def book_one_by_one(rows: list[dict], actor) -> Level:
    from django.db import transaction

    from membership.selectors import program_active_get
    from membership.services import order_book

    level = Level(1, len(rows))
    facts = [facts_of(row) for row in rows]
    started = time.perf_counter()
    for fact in facts:
        began = time.perf_counter()
        result = order_book(facts=fact, program=program_active_get(), actor=actor)
        level.latencies.append(time.perf_counter() - began)
        if result.outcome != "created":
            level.fail(f"order_book({fact.order_id}): {result.outcome}")
    level.seconds = time.perf_counter() - started
    assert transaction.get_autocommit()
    return level


def book_batches(batches: list[list[dict]], actor) -> Level:
    from membership.selectors import program_active_get
    from membership.services import BookingResult, orders_book_batch

    level = Level(1, len(batches))
    facts = [[facts_of(row) for row in rows] for rows in batches]
    started = time.perf_counter()
    for batch in facts:
        began = time.perf_counter()
        result = orders_book_batch(facts=batch, program=program_active_get(), actor=actor)
        level.latencies.append(time.perf_counter() - began)
        refused = [o for o in result.outcomes if not isinstance(o, BookingResult) or o.outcome != "created"]
        if refused:
            level.fail(f"orders_book_batch: {refused[0]}", len(refused))
    level.seconds = time.perf_counter() - started
    return level


# ---------------------------------------------------------------- report


def line(label: str, level: Level, unit: str, per_request: int = 1, extra: str = "", calls: str = "requests") -> str:
    figures = f"{level.rate(per_request):>9,.0f} {unit}/s  p50 {level.percentile(0.5):7.1f} ms  p99 {level.percentile(0.99):7.1f} ms"
    notes = f"{level.requests:,} {calls}"
    if level.connections:
        notes += f", {level.connections:,} connections"
    if level.failures:
        notes += f", {level.failures:,} FAILED"
    return f"{label:<46} {figures}  ({notes}{extra})"


def database_name(connection) -> str:
    if connection.vendor == "postgresql":
        version = connection.pg_version
        return f"postgresql {version // 10000}.{version % 10000}"
    import sqlite3

    return f"{connection.vendor} {sqlite3.sqlite_version}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=3000, help="PUT requests at each client level, and orders booked one by one in-process")
    parser.add_argument("--clients", default="1,8,32", help="client levels for PUT /orders, comma-separated")
    parser.add_argument("--batches", type=int, default=10, help=f"batch requests of {BATCH:,} orders, and in-process batches")
    parser.add_argument("--redemptions", type=int, default=None, help="redemptions over up to 1,000 members with points (default: --orders)")
    parser.add_argument("--redeem-clients", type=int, default=8)
    parser.add_argument("--server-workers", type=int, default=None, help="gunicorn workers (default 2 x CPUs + 1, at most 5; 1 on SQLite)")
    parser.add_argument("--server-threads", type=int, default=1, help="gunicorn threads a worker")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    args = parser.parse_args()
    args.redemptions = args.orders if args.redemptions is None else args.redemptions
    levels = [int(part) for part in args.clients.split(",") if part.strip()]
    cpus = os.cpu_count() or 1

    configured = os.environ.get("DATABASE_URL", "")
    measured, server, ok = [], None, False
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        directory = Path(tmp)
        url, drop = throwaway_database(configured, directory)
        try:
            env = django_on(url)
            from django.db import connection, connections

            started = time.perf_counter()
            redeemers = min(args.members, 1000, max(1, args.redemptions))
            member_ids, redeeming, api_key, key = make_data(args.members, redeemers)
            vendor = connection.vendor
            workers = args.server_workers or (1 if vendor == "sqlite" else min(2 * cpus + 1, 5))
            print(f"database: {database_name(connection)} ({url.rsplit('/', 1)[-1]}); {cpus} CPUs")
            print(f"made {args.members:,} members ({redeemers:,} with {POINTS:,} points), one item at {PRICE} points and an API key "
                  f"in {time.perf_counter() - started:.1f} s")
            connections.close_all()

            orders = Orders(member_ids)
            port = args.port or free_port()
            server = Server(env, port, workers, args.server_threads, directory / "gunicorn.log")
            ready = server.wait_ready()
            kind = "gthread" if args.server_threads > 1 else "sync"
            print(f"server: gunicorn, {workers} worker(s) x {args.server_threads} thread(s) ({kind}), answering after {ready:.1f} s")
            print()

            results = {}
            for clients in levels:
                rows = orders.make(f"H{clients}-", args.orders)
                requests = [("PUT", f"/api/v1/orders/{row['order_id']}", encode({k: v for k, v in row.items() if k != "order_id"}), None) for row in rows]
                results[("put", clients)] = level = load(port, key, requests, clients)
                print(line(f"PUT /orders/{{id}}, {clients} client(s)", level, "orders"), flush=True)
                measured.append(level)

            batches = [orders.make(f"HB{b:03d}-", BATCH) for b in range(args.batches)]
            requests = [("POST", "/api/v1/orders/batch", encode({"orders": rows}), None) for rows in batches]
            results["batch"] = level = load(port, key, requests, 1, check=batch_unbooked)
            print(line(f"POST /orders/batch ({BATCH:,} a request), 1 client", level, "orders", BATCH), flush=True)
            measured.append(level)

            body = encode({"item": ITEM, "quantity": 1})
            requests = [
                ("POST", f"/api/v1/members/{redeeming[n % len(redeeming)]}/redemptions", body, {"Idempotency-Key": f"bench-{n}"})
                for n in range(args.redemptions)
            ]
            results["redeem"] = level = load(port, key, requests, args.redeem_clients)
            times = math.ceil(args.redemptions / len(redeeming))
            print(line(f"POST /members/{{id}}/redemptions, {args.redeem_clients} clients", level, "redemptions",
                       extra=f", {len(redeeming):,} members, up to {times} each"), flush=True)
            measured.append(level)

            server.stop()
            tail = server.tail()
            server = None

            actor = type(api_key).objects.select_related("user").get(pk=api_key.pk).user
            results["one"] = level = book_one_by_one(orders.make("P-", args.orders), actor)
            print(line("order_book in-process, one at a time", level, "orders", calls="calls"), flush=True)
            measured.append(level)
            results["many"] = level = book_batches([orders.make(f"PB{b:03d}-", BATCH) for b in range(args.batches)], actor)
            print(line(f"orders_book_batch in-process ({BATCH:,} a batch)", level, "orders", BATCH, calls="calls"), flush=True)
            measured.append(level)

            print()
            one, many, batch = results["one"].rate(), results["many"].rate(BATCH), results["batch"].rate(BATCH)
            put8 = results.get(("put", 8))
            if put8 is not None:
                rate, p99 = put8.rate(), put8.percentile(0.99)
                met = rate >= 300 and p99 < 100 and not put8.failures
                print(f"HTTP PUT at 8 clients vs in-process order_book:     {rate / one:5.2f}x  ({rate:,.0f} against {one:,.0f} orders/s); "
                      f"target >= 300 orders/s with p99 < 100 ms: {rate:,.0f} orders/s, p99 {p99:.1f} ms: {'met' if met else 'MISSED'}")
            else:
                print("HTTP PUT at 8 clients vs in-process order_book:     not measured (8 is not among --clients)")
            met = batch >= 0.8 * many and not results["batch"].failures
            print(f"batch endpoint vs in-process orders_book_batch:     {batch / many:5.2f}x  ({batch:,.0f} against {many:,.0f} orders/s); "
                  f"target >= 0.80x: {'met' if met else 'MISSED'}")

            check = subprocess.run([sys.executable, "manage.py", "check_ledgers"], cwd=ROOT, env=env, capture_output=True, text=True)
            print(f"check_ledgers: {((check.stdout or check.stderr).strip().splitlines() or [''])[-1]}")

            bad = [level for level in measured if level.failures]
            for level in bad:
                for text in level.bodies:
                    print(f"  failure: {text}")
            if bad and tail.strip():
                print(f"server log (end):\n{tail}")
            ok = not bad and check.returncode == 0
            if not ok:
                print("FAILED: " + ("some requests or bookings failed" if bad else "the ledgers disagree"))
        finally:
            if server is not None:
                failing_tail = server.tail()
                server.stop()
                if not ok:
                    print(f"server log (end):\n{failing_tail}", file=sys.stderr)
            drop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
