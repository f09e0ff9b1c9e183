"""The API through its production server (gunicorn, several worker processes) on PostgreSQL:
parallel spends of one member never overdraw, parallel orders of one member book as if one
after the other."""

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from api.services import api_key_create
from mall.models import Redemption
from mall.tests.factories import earn, item
from membership.models import GrowthEntry
from membership.tests.factories import MemberFactory
from membership.selectors import order_credits_reconcile
from points.models import PointsEntry
from points.selectors import points_available_get, points_reconcile

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="several server processes share a database server"),
    pytest.mark.django_db(transaction=True),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(program):
    """gunicorn with four worker processes on the test database, for the duration of a test."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "ERROR", "API_RATE_PER_MINUTE": "1000000"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "4", "--log-level", "error"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError(f"gunicorn did not start: {process.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.2)
    yield port
    process.terminate()
    process.wait(timeout=10)


def call(port: int, key: str, method: str, path: str, body=None, **headers) -> tuple[int, dict]:
    http = HTTPConnection("127.0.0.1", port, timeout=60)
    payload = json.dumps(body).encode() if body is not None else None
    http.request(method, f"/api/v1/{path}", payload, {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers})
    response = http.getresponse()
    data = json.loads(response.read() or b"{}")
    http.close()
    return response.status, data


def test_32_parallel_redemptions_whose_points_cover_five_redeem_five(server, program):
    member = MemberFactory(member_id="FLASH")
    earn(program, member, 5500, timezone.now() - timedelta(days=1), "flash")
    item(program, code="phone", prices={"V0": 1000})
    key = api_key_create(name="app", scopes=["spend"], actor=None)[1]
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(
            lambda n: call(server, key, "POST", "members/FLASH/redemptions", {"item": "phone"}, **{"Idempotency-Key": f"tap-{n}"}), range(32)
        ))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * 5 + [409] * 27, answers
    assert Redemption.objects.filter(status="done").count() == 5 and points_available_get(member=member) == 500
    assert points_reconcile() == []


def test_parallel_orders_of_one_member_book_as_one_after_the_other(server, program):
    MemberFactory(member_id="PAR")
    MemberFactory(member_id="SEQ")
    key = api_key_create(name="orders", scopes=["ingest"], actor=None)[1]
    # 24 orders of 3,000 over three days: 8 a day, 24,000 a day against the cap of 20,000.
    orders = [
        {"paid_at": f"2026-03-0{1 + n % 3} {10 + n // 3}:00", "status": "completed", "goods_amount": "3000"} for n in range(24)
    ]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda n: call(server, key, "PUT", f"orders/P{n}", {**orders[n], "member_id": "PAR"}), range(24)))
    assert {status for status, _ in answers} == {201}
    for n, order in enumerate(orders):
        assert call(server, key, "PUT", f"orders/S{n}", {**order, "member_id": "SEQ"})[0] == 201
    # Again, in parallel: every order is unchanged, nothing is booked twice.
    with ThreadPoolExecutor(16) as pool:
        again = list(pool.map(lambda n: call(server, key, "PUT", f"orders/P{n}", {**orders[n], "member_id": "PAR"}), range(24)))
    assert {data["outcome"] for _, data in again} == {"unchanged"}

    def ledger(member_id):
        growth = GrowthEntry.objects.filter(member__member_id=member_id)
        by_day = sorted(
            (row["effective_at__date"], row["s"])
            for row in growth.values("effective_at__date").annotate(s=Sum("amount")).values("effective_at__date", "s")
        )
        points = PointsEntry.objects.filter(member__member_id=member_id)
        return by_day, growth.aggregate(c=Sum("capped"))["c"], growth.count(), points.aggregate(s=Sum("amount"))["s"], points.count()

    assert ledger("PAR") == ledger("SEQ")
    assert ledger("PAR")[1] == 3 * 4000 and ledger("PAR")[3] == 72000
    assert points_reconcile() == [] and order_credits_reconcile() == []
