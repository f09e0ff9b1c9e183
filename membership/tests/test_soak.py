"""A soak test (PostgreSQL, ``SOAK_SECONDS``, 40 by default): for that long, at once and in random
order, order files are imported by ``import_orders --workers 2`` (some killed with SIGKILL midway
and run again), months are settled by ``settle`` (some killed and run again), orders are booked
and revised through the API, points are spent and refunded in the mall, and adjustments are made.

At the end the ledgers must reconcile (``check_ledgers``), every order must be stored once with
the facts it was last sent with, and every member's growth and points must be what booking the
same operations one after another in one process gives: each order's final facts through the
program's rules, plus the adjustments booked, less the points of the redemptions not cancelled.
(The soak's amounts stay under every cap, so the order the operations arrive in does not change
what they earn.) Nothing lost, nothing twice."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from api.services import api_key_create
from api.tests.conftest import ApiClient
from mall.models import Redemption
from mall.services import redemption_cancel, redemption_create
from mall.tests.factories import item
from membership.models import EarningRule, GrowthEntry, LevelChange, Member, Order, SettlementRun
from membership.rules import OrderFacts, strategy_for
from membership.selectors import order_credits_reconcile
from membership.tests.factories import database_url
from points.models import PointsAccount
from points.selectors import points_reconcile
from riskcontrol.models import ManualAdjustment
from riskcontrol.services import adjustment_request

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.soak,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="processes and threads sharing one database server"),
    pytest.mark.django_db(transaction=True),
]

SECONDS = int(os.environ.get("SOAK_SECONDS", "40"))
MEMBERS = 300
TZ = ZoneInfo("Asia/Shanghai")
HEADER = "order_id,member_id,paid_at,status,goods_amount,discount_amount,shipping_amount,refunded_amount,category,shop_id"


def facts_row(facts: dict) -> str:
    return ",".join([facts["order_id"], facts["member_id"], facts["paid_at"], facts["status"], facts["goods"], "0", "0", facts["refunded"], "food", "s1"])


class Soak:
    def __init__(self, seed: int, directory: Path):
        self.rng = random.Random(seed)
        self.directory = directory
        self.final: dict[str, dict] = {}  # order id -> the facts it was last sent with (and accepted)
        self.adjusted = defaultdict(lambda: {"growth": 0, "points": 0})
        self.spent: dict[int, tuple[str, int]] = {}  # redemption pk -> (member id, points), while not cancelled
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.files = 0

    def order(self, prefix: str, n: int, rng: random.Random) -> dict:
        day = datetime(2026, 1, 1, 10, tzinfo=TZ) + timedelta(days=rng.randrange(300), minutes=rng.randrange(600))
        return {
            "order_id": f"{prefix}{n:06d}", "member_id": f"K{rng.randrange(MEMBERS):04d}", "paid_at": day.strftime("%Y-%m-%d %H:%M:%S"),
            "status": rng.choice(["completed", "completed", "completed", "paid"]), "goods": f"{rng.randint(1, 300)}.{rng.randint(0, 99):02d}",
            "refunded": "0",
        }

    def revised(self, facts: dict, rng: random.Random) -> dict:
        """A later version of an order: paid becomes completed, or part of it is refunded."""
        if facts["status"] == "paid":
            return {**facts, "status": "completed"}
        return {**facts, "refunded": f"{Decimal(facts['goods']) * Decimal(rng.choice(['0.5', '1'])):.2f}"}

    def next_file(self) -> Path:
        """A file of new orders and revisions of orders of earlier files."""
        self.files += 1
        rows = [self.order(f"F{self.files}-", n, self.rng) for n in range(2500)]
        with self.lock:  # the API thread adds its orders meanwhile
            earlier = [facts for order_id, facts in self.final.items() if order_id.startswith("F")]
        rows += [self.revised(facts, self.rng) for facts in self.rng.sample(earlier, min(len(earlier), 300))]
        path = self.directory / f"orders-{self.files}.csv"
        path.write_text("\n".join([HEADER, *map(facts_row, rows)]) + "\n", encoding="utf-8")
        return path, rows

    # the threads

    def api_orders(self, key: str):
        api, rng, sent = ApiClient(key), random.Random(1), {}
        try:
            while not self.stop.is_set():
                if sent and rng.random() < 0.25:
                    facts = self.revised(sent[rng.choice(list(sent))], rng)
                else:
                    facts = self.order("A", len(sent), rng)
                body = {"member_id": facts["member_id"], "paid_at": facts["paid_at"], "status": facts["status"], "goods_amount": facts["goods"],
                        "refunded_amount": facts["refunded"]}
                response = api.call("PUT", f"orders/{facts['order_id']}", body)
                if response.status_code not in (200, 201):
                    self.failures.append(f"PUT /orders/{facts['order_id']}: {response.status_code} {response.content[:300]}")
                    return
                sent[facts["order_id"]] = facts
                with self.lock:
                    self.final[facts["order_id"]] = facts
        finally:
            connection.close()

    def spend(self, mall_item, staff):
        rng, n = random.Random(2), 0
        try:
            while not self.stop.is_set():
                n += 1
                member = Member.objects.get(member_id=f"K{rng.randrange(MEMBERS):04d}")
                if self.spent and rng.random() < 0.3:
                    pk = rng.choice(list(self.spent))
                    redemption_cancel(redemption=Redemption.objects.get(pk=pk), actor=staff, reason="soak")
                    with self.lock:
                        del self.spent[pk]
                    continue
                try:
                    redemption = redemption_create(member=member, item=mall_item, key=f"soak-{n}")
                except ValidationError:  # not enough points yet
                    continue
                with self.lock:
                    self.spent[redemption.pk] = (member.member_id, redemption.points)
                time.sleep(0.01)
        except Exception as exc:  # reported by the test
            self.failures.append(f"spend: {exc!r}")
        finally:
            connection.close()

    def adjust(self, staff):
        rng = random.Random(3)
        try:
            while not self.stop.is_set():
                member = Member.objects.get(member_id=f"K{rng.randrange(MEMBERS):04d}")
                currency, amount = rng.choice(["growth", "points"]), rng.choice([5, 10, 20])
                adjustment = adjustment_request(member=member, currency=currency, amount=amount, reason_code="goodwill", reason="soak", actor=staff)
                if adjustment.status == ManualAdjustment.Status.BOOKED:
                    with self.lock:
                        self.adjusted[member.member_id][currency] += amount
                time.sleep(0.02)
        except Exception as exc:  # reported by the test
            self.failures.append(f"adjust: {exc!r}")
        finally:
            connection.close()


def command(args, env, kill_after=None):
    """Run ``manage.py args``; with ``kill_after``, SIGKILL it after that many seconds if still running."""
    process = subprocess.Popen([sys.executable, "manage.py", *args], cwd=Path(settings.BASE_DIR), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def test_imports_settlements_bookings_spends_and_kills_at_once_lose_nothing_and_book_nothing_twice(program, tmp_path):
    Member.objects.bulk_create(Member(member_id=f"K{n:04d}") for n in range(MEMBERS))
    staff = get_user_model().objects.create_superuser("soak", "soak@example.com", "pw")
    _, key = api_key_create(name="soak", scopes=["ingest"], actor=None)
    mall_item = item(program, code="soak-item", prices={code: 10 for code in ("V0", "V1", "V2", "V3", "V4")})
    soak = Soak(int(os.environ.get("SOAK_SEED", "2026")), tmp_path)
    env = {**os.environ, "SCRATCH_DIR": str(tmp_path / "scratch"),
           "DATABASE_URL": database_url()}

    threads = [
        threading.Thread(target=soak.api_orders, args=(key,), name="api"),
        threading.Thread(target=soak.spend, args=(mall_item, staff), name="spend"),
        threading.Thread(target=soak.adjust, args=(staff,), name="adjust"),
    ]
    for thread in threads:
        thread.start()
    started, month, rng = time.monotonic(), 1, random.Random(4)
    try:
        while time.monotonic() - started < SECONDS or soak.files < 2 or month < 3:
            path, rows = soak.next_file()
            killed = rng.random() < 0.4
            code, out, err = command(["import_orders", str(path), "--workers", "2", "--batch-size", "300"], env, kill_after=rng.uniform(1, 4) if killed else None)
            if code != 0:
                assert code == -signal.SIGKILL and killed, err
                code, out, err = command(["import_orders", str(path), "--workers", "2", "--batch-size", "300"], env)
            assert code == 0, err
            with soak.lock:
                for facts in rows:
                    soak.final[facts["order_id"]] = facts
            if month <= 10:
                killed = rng.random() < 0.4
                args = ["settle", f"2026-{month:02d}", "--chunk-size", "40"]
                code, out, err = command(args, env, kill_after=rng.uniform(0.5, 2) if killed else None)
                if code != 0:
                    assert code == -signal.SIGKILL and killed, err
                    code, out, err = command(args, env)
                assert code == 0 and f"2026-{month:02d}" in out, err
                month += 1
            assert not soak.failures, soak.failures
    finally:
        soak.stop.set()
        for thread in threads:
            thread.join(60)
    assert not soak.failures, soak.failures

    # The ledgers reconcile, every settlement finished once.
    out = StringIO()
    call_command("check_ledgers", stdout=out)
    assert "ledgers agree" in out.getvalue()
    assert points_reconcile() == [] and order_credits_reconcile() == []
    assert SettlementRun.objects.filter(status="done").count() == SettlementRun.objects.count() == month - 1
    assert LevelChange.objects.values("member", "run").distinct().count() == LevelChange.objects.count()

    # Every order once, with the facts it was last sent with.
    stored = {o.order_id: o for o in Order.objects.select_related("member")}
    assert set(stored) == set(soak.final)
    for order_id, facts in soak.final.items():
        o = stored[order_id]
        assert (o.member.member_id, o.status, o.goods_amount, o.refunded_amount) == (
            facts["member_id"], facts["status"], Decimal(facts["goods"]), Decimal(facts["refunded"])
        ), order_id

    # Growth and points as booking the same operations one by one gives.
    rules = list(EarningRule.objects.filter(program=program))
    expected = defaultdict(lambda: {"growth": 0, "points": 0})
    for facts in soak.final.values():
        paid = datetime.strptime(facts["paid_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=TZ)
        order_facts = OrderFacts(
            order_id=facts["order_id"], member_id=facts["member_id"], paid_at=paid, status=facts["status"],
            goods_amount=Decimal(facts["goods"]), refunded_amount=Decimal(facts["refunded"]),
        )
        for rule in rules:
            expected[facts["member_id"]][rule.currency] += strategy_for(rule).entitlement(order_facts)
    for member_id, amounts in soak.adjusted.items():
        for currency, amount in amounts.items():
            expected[member_id][currency] += amount
    for member_id, points in soak.spent.values():
        expected[member_id]["points"] -= points
    growth = dict(GrowthEntry.objects.values("member__member_id").annotate(s=Sum("amount")).values_list("member__member_id", "s"))
    balances = dict(PointsAccount.objects.values_list("member__member_id", "balance"))
    for n in range(MEMBERS):
        member_id = f"K{n:04d}"
        assert (growth.get(member_id, 0), balances.get(member_id, 0)) == (expected[member_id]["growth"], expected[member_id]["points"]), member_id
    assert len(soak.final) > 5000 and soak.spent and soak.adjusted
