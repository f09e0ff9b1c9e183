"""Fixtures of the console's cross-app tests."""

import pytest
from django.utils import timezone

from membership.tests.factories import MemberFactory


@pytest.fixture
def one_of_each(program, admin_user):
    """One row of every model staff edit in the console, with times to the microsecond."""
    from benefits.models import Benefit, BenefitLevel
    from invitations.models import InvitationPolicy
    from mall.models import CashOffsetException, CashOffsetPolicy, Lottery, LotteryPrize
    from mall.tests.factories import item
    from riskcontrol.models import AnomalyRule
    from subscriptions.presets import SUBSCRIPTION_PRESETS
    from subscriptions.services import plan_catalog_sync

    moment = timezone.now().replace(microsecond=654321)
    MemberFactory(member_id="EACH", joined_at=moment)
    cup = item(program, code="cup", prices={"V1": 100}, available_from=moment)
    lottery = Lottery.objects.create(program=program, code="spin", name="spin", cost=10, starts_at=moment)
    LotteryPrize.objects.create(lottery=lottery, name="cup", kind="item", item=cup, weight=1)
    policy = CashOffsetPolicy.objects.create(program=program)
    CashOffsetException.objects.create(policy=policy, category="books", excluded=True)
    coupon = Benefit.objects.create(program=program, code="b1", name="coupon", kind="coupon", trigger="monthly", min_level=program.levels.first(), starts_at=moment)
    BenefitLevel.objects.create(benefit=coupon, level=program.levels.last(), quantity=2)
    InvitationPolicy.objects.create(program=program, inviter_points=100, monthly_limit=2)
    AnomalyRule.objects.create(code="phones", name="Shared phones", kind="shared_phone", params={"min_members": 2})
    plan_catalog_sync(program=program, specs=SUBSCRIPTION_PRESETS["edu-paid"])
    program.rules.update(valid_from=moment)



@pytest.fixture
def console_data(one_of_each, admin_user):
    """Besides ``one_of_each``: an order booked, an adjustment asked for, a month settled, an API
    key and a webhook subscription, so that most of the console's lists have a row."""
    from datetime import date

    from api.services import api_key_create
    from membership.services import order_book, settlement_run_execute
    from membership.tests.factories import local, order
    from riskcontrol.services import adjustment_request
    from webhooks.services import webhook_create

    member = MemberFactory(member_id="WALK")
    order_book(facts=order("W1", member, local(2026, 3, 1), goods="5000"))
    adjustment_request(member=member, currency="points", amount=10, reason_code="goodwill", reason="late parcel", actor=admin_user)
    settlement_run_execute(month=date(2026, 3, 1))
    api_key_create(name="shop", scopes=["read"], actor=None)
    webhook_create(name="crm", url="http://127.0.0.1:9/hook", event_types=["*"], secret="a-secret-of-the-platform", actor=None)
