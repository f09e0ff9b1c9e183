from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory

from membership.models import Member
from membership.rules import OrderFacts

SHANGHAI = ZoneInfo("Asia/Shanghai")


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    member_id = factory.Sequence(lambda n: f"M{n:06d}")
    name = factory.Sequence(lambda n: f"会员{n}")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def order(order_id, member, paid_at, status="completed", goods="0", discount="0", shipping="0", refunded="0", category=""):
    return OrderFacts(
        order_id=order_id,
        member_id=member.member_id if hasattr(member, "member_id") else member,
        paid_at=paid_at,
        status=status,
        goods_amount=Decimal(goods),
        discount_amount=Decimal(discount),
        shipping_amount=Decimal(shipping),
        refunded_amount=Decimal(refunded),
        category=category,
    )
