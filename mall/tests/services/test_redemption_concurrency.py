"""Parallel redemptions on PostgreSQL: each thread its own connection; no overdraft, no overselling."""

import threading

import pytest
from django.db import connection

from mall.models import MallItem, Redemption
from mall.services import MallRefused, redemption_create
from membership.models import OutboxEvent
from membership.tests.factories import MemberFactory, local
from points.models import PointsEntry
from points.selectors import points_balance_get, points_reconcile

from ..factories import at_level, earn, item

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

NOW = local(2026, 6, 15, 12)


def run_parallel(calls):
    """Run each call in its own thread (its own connection), all released together; returns outcomes."""
    start = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def worker(index, call):
        from django.db import connection as own

        try:
            start.wait()
            outcomes[index] = call()
        except MallRefused as exc:
            outcomes[index] = exc
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_parallel_redemptions_never_overdraw_a_balance(program):
    member = at_level(MemberFactory(), "V4")
    earn(program, member, 1000, local(2025, 3, 1), "a")
    earn(program, member, 3500, local(2026, 3, 1), "b")  # 4,500: three units at 1,500
    unlimited = item(program)
    outcomes = run_parallel([lambda n=n: redemption_create(member=member, item=unlimited, key=f"k{n}", at=NOW) for n in range(8)])
    assert sum(isinstance(o, Redemption) for o in outcomes) == 3
    assert all(isinstance(o, Redemption) or "points available" in str(o) for o in outcomes)
    assert points_balance_get(member=member) == 0 and points_reconcile() == []


def test_parallel_redemptions_never_oversell_stock(program):
    members = [at_level(MemberFactory(), "V4") for _ in range(8)]
    for member in members:
        earn(program, member, 3000, local(2026, 3, 1), f"e{member.pk}")
    limited = item(program, stock=5)
    calls = [lambda m=m: redemption_create(member=m, item=limited, key=f"s{m.pk}", at=NOW) for m in members]
    calls += [lambda m=members[0]: redemption_create(member=m, item=limited, key=f"s{m.pk}", at=NOW)]  # a retry of the same key
    outcomes = run_parallel(calls)
    assert Redemption.objects.filter(status="done").count() == 5
    assert MallItem.objects.get(pk=limited.pk).stock == 0
    assert sum(points_balance_get(member=m) for m in members) == 8 * 3000 - 5 * 1500
    assert all(isinstance(o, Redemption) or "out of stock" in str(o) for o in outcomes)
    assert points_reconcile() == []
    # the stock is taken last, unlocked until then: a refusal there keeps none of what it wrote before
    assert PointsEntry.objects.filter(kind="spend").count() == 5
    assert OutboxEvent.objects.filter(type="redemption.created").count() == 5


def test_parallel_draws_never_give_more_prizes_than_in_stock(program):
    from mall.models import Lottery, LotteryDraw, LotteryPrize
    from mall.services import lottery_draw

    lottery = Lottery.objects.create(program=program, code="race", name="Race", cost=100)
    prize = LotteryPrize.objects.create(lottery=lottery, name="300 points", kind="points", weight=1, stock=3, points=300)
    members = [MemberFactory() for _ in range(6)]
    for member in members:
        earn(program, member, 100, local(2026, 3, 1), f"d{member.pk}")
    outcomes = run_parallel([lambda m=m: lottery_draw(member=m, lottery=lottery, key=f"draw{m.pk}", at=NOW) for m in members])
    assert sum(isinstance(o, LotteryDraw) for o in outcomes) == 3 and LotteryPrize.objects.get(pk=prize.pk).stock == 0
    assert all(isinstance(o, LotteryDraw) or "no prize left" in str(o) for o in outcomes)
    assert sum(points_balance_get(member=m) for m in members) == 6 * 100 + 3 * (300 - 100)
    assert points_reconcile() == []
