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


def database_url() -> str:
    """The URL of the database this test runs on, for the commands and workers it starts in processes of their own."""
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


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


def staff_signed_in(django_user_model, name, *roles):
    """A staff user with the console's ``roles`` (groups), and a test client signed in as them."""
    from django.contrib.auth.models import Group
    from django.test import Client

    user = django_user_model.objects.create_user(name, is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=roles))
    client = Client()
    client.force_login(user)
    return django_user_model.objects.get(pk=user.pk), client
