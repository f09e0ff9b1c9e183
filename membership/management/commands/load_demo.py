"""Load a demo data set: members with Chinese names and a year of orders, settled month by month.

Members are spread over spending tiers so that, after the settlements, every level of the
default program is populated as a pyramid. Everything goes through the booking and settlement
services, exactly as imports and the monthly schedule would. Loading it twice changes nothing.
"""

import random
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from common.bulk import rows_insert
from common.timeutil import add_months
from membership.models import Member
from membership.rules import OrderFacts
from membership.selectors import NoActiveProgram, program_active_get, program_levels, settlement_latest_month
from membership.services import orders_book_batch, settlement_run_execute

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鑫浩宇轩然子涵欣怡梓萱一诺思远晨阳嘉怡雨桐俊杰志强建华晓东海燕春梅丹丹佳琪文博"
CATEGORIES = ["数码", "服饰", "食品", "家居", "美妆", "图书", "母婴", "运动"]
# (share of members, yearly growth range): a pyramid over V0..V4 of the default program.
TIERS = [(0.55, (0, 900)), (0.25, (1100, 4600)), (0.12, (5600, 18000)), (0.06, (21500, 46000)), (0.02, (56000, 90000))]
DEMO_PREFIX = "DEMO"


class Command(BaseCommand):
    help = "Load the demo data set (members, a year of orders, six monthly settlements), once."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=3000)
        parser.add_argument("--seed", type=int, default=20261122)

    def handle(self, *args, members, seed, **options):
        try:
            program = program_active_get()
        except NoActiveProgram as exc:
            raise CommandError(str(exc)) from None
        existing = Member.objects.filter(member_id__startswith=DEMO_PREFIX).count()
        rng = random.Random(seed)
        tz = ZoneInfo(program.time_zone)
        this_month = timezone.now().astimezone(tz).date().replace(day=1)
        first_day = add_months(this_month, -12)
        orders = 0
        if not existing:
            with transaction.atomic():
                orders = self._load(rng, program, members, first_day, (this_month - first_day).days, tz)
        settled = []
        latest = settlement_latest_month()
        for back in range(6, 0, -1):
            month = add_months(this_month, -back)
            if latest is None or month > latest:
                settlement_run_execute(month=month, trigger="demo")
                settled.append(month)
        self._progress("")
        levels = program_levels(program=program)
        counts = dict(Member.objects.values_list("level_id").annotate(n=Count("pk")).values_list("level_id", "n"))
        spread = ", ".join(
            f"{level.code} {counts.get(level.pk, 0) + (counts.get(None, 0) if level.rank == levels[0].rank else 0)}"
            for level in levels
        )
        if existing:
            self.stdout.write(f"demo data already loaded: {existing} members, {len(settled)} months settled now; levels {spread}")
        else:
            self.stdout.write(f"demo data loaded: {members} members, {orders} orders, {len(settled)} months settled; levels {spread}")

    def _load(self, rng, program, members, first_day, days, tz) -> int:
        people, first, later, seen = [], [], [], set()
        for number in range(1, members + 1):
            member = self._member(rng, number)
            people.append(member)
            for facts in self._orders(rng, member, first_day, days, tz):
                # A second state of an order (refunded, cancelled…) is a later re-import of it.
                (later if facts.order_id in seen else first).append(facts)
                seen.add(facts.order_id)
        rows_insert(Member, people)
        booked = 0
        for wave in (first, later):
            wave.sort(key=lambda f: (f.paid_at, f.order_id))
            for start in range(0, len(wave), 5000):
                batch = wave[start : start + 5000]
                orders_book_batch(facts=batch, program=program)
                booked += len(batch)
                self._progress(_("%(n)s orders booked") % {"n": booked})
        return booked

    def _member(self, rng, number) -> Member:
        joined = timezone.now() - timedelta(days=rng.randint(400, 1500), seconds=rng.randint(0, 86399))
        return Member(
            member_id=f"{DEMO_PREFIX}{number:06d}",
            name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2)))),
            phone="1" + rng.choice("3578") + "".join(rng.choice("0123456789") for _ in range(9)),
            birthday=date(rng.randint(1960, 2005), rng.randint(1, 12), rng.randint(1, 28)),
            joined_at=joined,
        )

    def _orders(self, rng, member, first_day, days, tz):
        weights = [share for share, _ in TIERS]
        low, high = rng.choices([growth for _, growth in TIERS], weights=weights)[0]
        target = rng.randint(low, high)
        per_order = rng.randint(150, 900) if target < 5000 else rng.randint(2500, 9000)
        count = max(1, round(target / per_order)) if target else rng.randint(0, 2)
        order_days = rng.sample(range(days), min(count, days))
        left = target
        for index, offset in enumerate(sorted(order_days)):
            paid_at = datetime.combine(first_day + timedelta(days=offset), time(rng.randint(8, 23), rng.randint(0, 59)), tzinfo=tz)
            share = left if index == len(order_days) - 1 else min(left, max(1, round(target / len(order_days) * rng.uniform(0.6, 1.4))))
            left -= share
            goods = Decimal(max(share, rng.randint(20, 300)) if target else rng.randint(20, 800)) + Decimal(rng.randint(0, 99)) / 100
            discount = (goods * Decimal(rng.choice((0, 0, 0, 5, 10))) / 100).quantize(Decimal("0.01"))
            yield OrderFacts(
                order_id=f"{member.member_id}-{index:03d}",
                member_id=member.member_id,
                paid_at=paid_at,
                status="completed",
                goods_amount=goods,
                discount_amount=discount,
                shipping_amount=Decimal(rng.choice((0, 0, 6, 10))),
                category=rng.choice(CATEGORIES),
                shop_id=f"S{rng.randint(1, 60):03d}",
            )
        # Orders that earn nothing or are taken back: still paid, cancelled, refunded, partly refunded.
        for extra in range(rng.choice((0, 0, 1, 2))):
            paid_at = datetime.combine(first_day + timedelta(days=rng.randrange(days)), time(rng.randint(8, 23)), tzinfo=tz)
            goods = Decimal(rng.randint(30, 1500))
            status = rng.choice(("paid", "cancelled", "refunded", "partial"))
            facts = dict(
                order_id=f"{member.member_id}-X{extra}", member_id=member.member_id, paid_at=paid_at, goods_amount=goods,
                category=rng.choice(CATEGORIES), shop_id=f"S{rng.randint(1, 60):03d}",
            )
            yield OrderFacts(status="completed", **facts)
            if status == "partial":
                yield OrderFacts(status="completed", refunded_amount=(goods / 3).quantize(Decimal("0.01")), **facts)
            elif status != "paid":
                yield OrderFacts(status=status, refunded_amount=goods if status == "refunded" else Decimal(0), **facts)

    def _progress(self, text):
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{text:<60}")
            sys.stderr.flush()
