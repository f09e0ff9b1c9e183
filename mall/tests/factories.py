from datetime import datetime

from membership.models import Level, Member, Program, Source
from points.services import points_credit

from ..catalog import mall_item_upsert
from ..models import MallItem


def at_level(member: Member, code: str) -> Member:
    Member.objects.filter(pk=member.pk).update(level=Level.objects.get(program__is_active=True, code=code))
    member.refresh_from_db()
    return member


def earn(program: Program, member: Member, amount: int, when: datetime, key: str):
    return points_credit(program=program, member=member, amount=amount, effective_at=when, source=Source.EVENT, idempotency_key=key)


def item(program: Program, code: str = "youku-vip", prices=None, **fields) -> MallItem:
    """Alipay's Youku monthly VIP by default: not for V2 (gold) and below, 2,250 at V3, 1,500 at V4."""
    spec = {"code": code, "name": code, "kind": "privilege", "prices": prices if prices is not None else {"V3": 2250, "V4": 1500}, **fields}
    mall_item_upsert(program=program, spec=spec)
    return MallItem.objects.get(program=program, code=code)
