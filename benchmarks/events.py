"""Benchmark: webhook deliveries from Celery workers to a receiver on the loopback address.

    .venv/bin/python benchmarks/events.py [--events 20000] [--members 5000] [--workers 2] [--rate 20] [--seconds 60]

Needs PostgreSQL and Redis (DATABASE_URL, CELERY_BROKER_URL). Makes its own throwaway database, a
receiver on 127.0.0.1 (a threaded HTTP server in its own process that checks each signature and
answers 200) subscribed to every event type, and a Celery worker with ``--workers`` processes on
a queue of its own (each sending from WEBHOOK_SENDERS threads); this process stands for the beat, sending the deliveries task every 5 seconds
as the "Webhook deliveries" schedule does. Reports, in the same run:

- **throughput**: E events committed at once over M members (as a settlement writes them), the
  workers all busy from the start: deliveries per second until the last one arrived, beside the
  floor, the same signed bodies POSTed to the same receiver by as many processes and threads with
  no database;
- **lag**: events committed one per transaction at R a second for S seconds (as redemptions through
  the API are), delivered as the schedule runs: the time from each commit to its arrival at the
  receiver, p50 and p99 (the 5-second schedule is most of it).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import django_on, throwaway_database  # noqa: E402

SECRET = "bench-secret-0123456789"
TICK = 5.0

RECEIVER = """
import hashlib, hmac, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
secret, log, lock = sys.argv[1].encode(), open(sys.argv[2], "a", buffering=1), threading.Lock()
class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        t, v1 = (part.split("=", 1)[1] for part in self.headers["X-Signature"].split(","))
        good = hmac.compare_digest(v1, hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest())
        with lock:
            log.write(f"{self.headers['X-Event-Id']} {time.time()} {int(good)}\\n")
        self.send_response(200 if good else 400)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer.request_queue_size = 1024  # a listen backlog as a production server's
server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

FLOOR = """
import hashlib, hmac, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, path, secret, threads = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
def post(line):
    event_id, body = line.rstrip(b"\\n").split(b" ", 1)
    t = int(time.time())
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Event-Id": event_id.decode(),
        "X-Signature": f"t={t},v1={hmac.new(secret, f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
with ThreadPoolExecutor(threads) as pool:
    list(pool.map(post, open(path, "rb")))
"""


def arrivals(log: Path) -> dict[int, float]:
    """Event id → first arrival time, from the receiver's log; every signature must have verified."""
    seen = {}
    for line in log.read_text().splitlines():
        event_id, at, good = line.split()
        if good != "1":
            raise SystemExit(f"the receiver got a bad signature for event {event_id}")
        seen.setdefault(int(event_id), float(at))
    return seen


def make_events(members: int, count: int) -> list[int]:
    """``count`` member.level_changed events over ``members`` members, committed at once."""
    from django.db import transaction
    from django.utils import timezone

    from membership.models import Member, OutboxEvent
    from membership.services.outbox import event_new

    refs = [f"E{n:07d}" for n in range(members)]
    Member.objects.bulk_create([Member(member_id=ref) for ref in refs], batch_size=5000, ignore_conflicts=True)
    now = timezone.now()
    data = {"from": "V0", "to": "V1", "valid_until": None, "month": "2026-10", "reason": "upgrade"}
    with transaction.atomic():
        rows = OutboxEvent.objects.bulk_create(
            [event_new(type="member.level_changed", member_ref=refs[n % members], data=data, at=now) for n in range(count)], batch_size=5000
        )
    return [row.pk for row in rows]


def wait_delivered(log: Path, ids: set[int], timeout: float, beat) -> float:
    """Wait until every event of ``ids`` arrived, sending the task every TICK seconds; the time of the last arrival."""
    deadline, next_tick = time.monotonic() + timeout, time.monotonic() + TICK
    while time.monotonic() < deadline:
        seen = arrivals(log)
        if ids <= seen.keys():
            return max(seen[i] for i in ids)
        if time.monotonic() >= next_tick:
            beat()
            next_tick += TICK
        time.sleep(0.2)
    raise SystemExit(f"{len(ids - arrivals(log).keys())} events not delivered in {timeout:.0f} s")


def floor(events: list[int], url: str, workers: int, directory: Path) -> float:
    """The same signed bodies POSTed by ``workers`` processes of WEBHOOK_SENDERS threads each, no database: seconds."""
    from django.conf import settings

    from membership.models import OutboxEvent
    from membership.selectors import outbox_event_body

    parts = [directory / f"bodies{n}" for n in range(workers)]
    handles = [open(p, "wb") for p in parts]
    for n, event in enumerate(OutboxEvent.objects.filter(pk__in=events).order_by("pk").iterator()):
        body = json.dumps(outbox_event_body(event), ensure_ascii=False, separators=(",", ":")).encode()
        handles[n % workers].write(str(event.pk).encode() + b" " + body + b"\n")
    for h in handles:
        h.close()
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-c", FLOOR, url, str(p), SECRET, str(settings.WEBHOOK_SENDERS)], cwd=ROOT) for p in parts]
    if any(p.wait() for p in processes):
        raise SystemExit("a floor process failed")
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="events committed a second in the lag test")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the lag test commits events")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("benchmarks/events.py needs PostgreSQL (DATABASE_URL=postgres://…): the workers share its database")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        db_url, drop = throwaway_database(url, directory)
        processes = []
        try:
            env = django_on(db_url)
            from django.conf import settings
            log = directory / "arrivals.log"
            log.touch()
            receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, SECRET, str(log)], stdout=subprocess.PIPE, text=True)
            processes.append(receiver)
            hook = f"http://127.0.0.1:{receiver.stdout.readline().strip()}/hook"

            from membership.models import OutboxEvent
            from webhooks.models import WebhookDelivery
            from webhooks.services import webhook_create
            from webhooks.tasks import deliver

            webhook_create(name="bench", url=hook, event_types=["*"], secret=SECRET, actor=None)
            queue = f"bench-{uuid.uuid4().hex[:8]}"
            worker_env = {**env, "CELERY_TASK_ALWAYS_EAGER": "false", "SETTLEMENT_CATCH_UP_ON_START": "false"}
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "-c", str(args.workers), "-Q", queue,
                 "-n", f"{queue}@%h", "--loglevel=WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
                cwd=ROOT, env=worker_env,
            )
            processes.append(worker)

            def beat():
                deliver.apply_async(queue=queue)

            print(f"events: {args.events:,} over {args.members:,} members; {args.workers} worker processes; PostgreSQL; "
                  f"the deliveries task every {TICK:.0f} s")

            # Throughput: a backlog, every worker busy from the start.
            ids = make_events(args.members, args.events)
            committed = time.time()
            for _ in range(args.workers):
                beat()
            last = wait_delivered(log, set(ids), timeout=3600, beat=beat)
            elapsed = last - committed
            sent = WebhookDelivery.objects.filter(status="sent").count()
            floor_seconds = floor(ids, hook, args.workers, directory)
            print(f"throughput: {args.events / elapsed:,.0f} deliveries/s ({args.events:,} in {elapsed:.1f} s, {sent:,} recorded sent); "
                  f"floor, the same POSTs from {args.workers} processes of {settings.WEBHOOK_SENDERS} threads without a database: {args.events / floor_seconds:,.0f}/s "
                  f"({floor_seconds:.1f} s); ratio {elapsed / floor_seconds:.1f}x")

            # Lag: a steady trickle, one event a transaction, the schedule running as in production.
            from django.db import transaction
            from django.utils import timezone

            from membership.services.outbox import outbox_publish

            commits: dict[int, float] = {}
            started, next_tick, n = time.monotonic(), time.monotonic() + TICK, 0
            while time.monotonic() - started < args.seconds:
                due = started + n / args.rate
                if time.monotonic() < due:
                    time.sleep(due - time.monotonic())
                with transaction.atomic():
                    event = outbox_publish(type="points.expired", member_ref=f"E{n % args.members:07d}", data={"amount": 10, "month": "2026-10"},
                                           occurred_at=timezone.now())
                commits[event.pk] = time.time()
                n += 1
                if time.monotonic() >= next_tick:
                    beat()
                    next_tick += TICK
            wait_delivered(log, set(commits), timeout=600, beat=beat)
            seen = arrivals(log)
            lags = sorted(seen[pk] - at for pk, at in commits.items())
            print(f"lag from commit to arrival, {len(lags):,} events at {args.rate:g}/s for {args.seconds:g} s: "
                  f"p50 {percentile(lags, 50):.2f} s, p99 {percentile(lags, 99):.2f} s, max {lags[-1]:.2f} s")
            assert OutboxEvent.objects.count() == len(seen), "every event arrived"
        finally:
            for process in processes:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            drop()


if __name__ == "__main__":
    main()
