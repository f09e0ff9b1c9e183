"""Lottery draws: cost in points, prizes by weight among those in stock, the seed recorded and replayable."""

import pytest

from mall.models import Lottery, LotteryDraw, LotteryPrize
from mall.selectors import lottery_draw_replay, lottery_pick
from mall.services import MallRefused, MemberBlocked, lottery_draw
from membership.tests.factories import MemberFactory, local
from points.models import PointsEntry
from points.selectors import points_balance_get, points_reconcile
from riskcontrol.models import ListEntry
from riskcontrol.services import list_entry_add

from ..factories import earn, item

pytestmark = pytest.mark.django_db

NOW = local(2026, 6, 15, 12)


@pytest.fixture
def lottery(program):
    lottery = Lottery.objects.create(program=program, code="spin", name="Spin", cost=10)
    LotteryPrize.objects.create(lottery=lottery, name="500 points", kind="points", weight=1, stock=1, points=500)
    LotteryPrize.objects.create(lottery=lottery, name="Youku", kind="item", weight=1, stock=1, item=item(program))
    LotteryPrize.objects.create(lottery=lottery, name="Thanks", kind="nothing", weight=8)
    return lottery


def test_the_pick_is_a_pure_function_of_the_prizes_and_the_seed():
    prizes = [(1, 1), (2, 0), (3, 9)]
    picks = [lottery_pick(prizes, seed) for seed in range(2000)]
    assert picks == [lottery_pick(prizes, seed) for seed in range(2000)]
    assert 2 not in picks and 150 < picks.count(1) < 250  # weight 1 of 10
    assert lottery_pick([(1, 0)], 7) is None and lottery_pick([], 7) is None


def test_a_draw_spends_the_cost_credits_a_points_prize_and_can_be_replayed(program, lottery):
    member = MemberFactory()
    earn(program, member, 100, local(2026, 1, 1), "earn")
    seed = next(s for s in range(1000) if lottery_pick([(p.pk, p.weight) for p in lottery.prizes.order_by("pk")], s) == lottery.prizes.get(kind="points").pk)
    draw = lottery_draw(member=member, lottery=lottery, key="d1", seed=seed, at=NOW)
    assert draw.prize.kind == "points" and draw.seed == seed and lottery_draw_replay(draw=draw) == draw.prize_id
    assert (draw.points_entry.amount, draw.points_entry.source) == (-10, "lottery")
    assert (draw.prize_entry.amount, draw.prize_entry.source) == (500, "lottery")
    assert points_balance_get(member=member) == 590
    assert lottery_draw(member=member, lottery=lottery, key="d1", at=NOW).pk == draw.pk  # the same key twice draws once
    assert points_balance_get(member=member) == 590 and LotteryPrize.objects.get(kind="points").stock == 0
    assert points_reconcile() == []


def test_prizes_out_of_stock_are_not_drawn_and_stock_never_goes_below_zero(program, lottery):
    member = MemberFactory()
    earn(program, member, 1000, local(2026, 1, 1), "earn")
    draws = [lottery_draw(member=member, lottery=lottery, key=f"d{n}", seed=n, at=NOW) for n in range(40)]
    assert sum(d.prize.kind == "points" for d in draws) <= 1 and sum(d.prize.kind == "item" for d in draws) <= 1
    assert not LotteryPrize.objects.filter(stock__lt=0).exists()
    for d in draws:
        assert lottery_draw_replay(draw=d) == d.prize_id
        in_pool = {pk for pk, _w in d.pool}
        assert d.prize_id in in_pool
    assert points_balance_get(member=member) == 1000 - 400 + 500 * sum(d.prize.kind == "points" for d in draws)


def test_a_draw_without_enough_points_or_prizes_or_outside_its_period_is_refused(program, lottery):
    member = MemberFactory()
    earn(program, member, 9, local(2026, 1, 1), "earn")
    with pytest.raises(MallRefused, match="has 9 points available; a draw in spin costs 10"):
        lottery_draw(member=member, lottery=lottery, key="poor", at=NOW)
    earn(program, member, 100, local(2026, 1, 2), "more")
    Lottery.objects.filter(pk=lottery.pk).update(ends_at=local(2026, 6, 1))
    with pytest.raises(MallRefused, match="not open at this time"):
        lottery_draw(member=member, lottery=lottery, key="late", at=NOW)
    empty = Lottery.objects.create(program=program, code="empty", name="Empty", cost=0)
    LotteryPrize.objects.create(lottery=empty, name="gone", kind="nothing", weight=1, stock=0)
    with pytest.raises(MallRefused, match="no prize left"):
        lottery_draw(member=member, lottery=empty, key="empty", at=NOW)
    assert not LotteryDraw.objects.exists() and points_balance_get(member=member) == 109


def test_a_blacklisted_member_cannot_draw_and_the_refusal_is_recorded(program, lottery, admin_user):
    member = MemberFactory()
    earn(program, member, 100, local(2026, 1, 1), "earn")
    entry = list_entry_add(member=member, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.REDEMPTION, reason="bot", actor=admin_user, starts_at=local(2026, 1, 1))
    with pytest.raises(MemberBlocked) as refused:
        lottery_draw(member=member, lottery=lottery, key="b", at=NOW)
    assert (refused.value.record.status, refused.value.record.block_entry) == (LotteryDraw.Status.BLOCKED, entry)
    assert points_balance_get(member=member) == 100 and not PointsEntry.objects.filter(source="lottery").exists()
