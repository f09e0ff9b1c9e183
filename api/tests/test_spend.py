"""Spending on a member's behalf: every POST has an Idempotency-Key; the same key and body replay the
first answer and spend nothing more, another body is 409; the rules' refusals are 409."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mall.models import CashOffset, MallItem, Redemption
from mall.services import cash_offset_policy_sync
from mall.tests.factories import at_level, earn, item
from mall.presets import MALL_PRESETS
from membership.tests.factories import MemberFactory
from points.selectors import points_available_get, points_reconcile
from riskcontrol.models import ListEntry
from riskcontrol.services import list_entry_add
from subscriptions.presets import SUBSCRIPTION_PRESETS
from subscriptions.services import plan_catalog_sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich(program):
    """A diamond member with 10,000 points, and the Youku VIP (1,500 at V4) with 3 in stock."""
    member = at_level(MemberFactory(member_id="RICH"), "V4")
    earn(program, member, 10000, timezone.now() - timedelta(days=30), "earned")
    item(program, stock=3)
    return member


def redeem(api, key, item="youku-vip", quantity=1, member="RICH"):
    return api.call("POST", f"members/{member}/redemptions", {"item": item, "quantity": quantity}, **{"Idempotency-Key": key})


def test_a_redemption_is_201_and_its_replay_200_spending_once(api, rich):
    first = redeem(api, "r-1")
    assert first.status_code == 201
    body = first.json()
    assert (body["item"], body["quantity"], body["points"], body["status"]) == ("youku-vip", 1, 1500, "done")
    replay = redeem(api, "r-1")
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (200, body, "true")
    assert points_available_get(member=rich) == 8500 and Redemption.objects.count() == 1
    assert Redemption.objects.get().created_by == api.api_key.user


def test_the_same_key_with_another_body_is_409_and_a_key_is_required(api, rich):
    assert redeem(api, "r-2").status_code == 201
    other = redeem(api, "r-2", quantity=2)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["errors"]
    missing = api.call("POST", "members/RICH/redemptions", {"item": "youku-vip"})
    assert missing.status_code == 400 and missing.json()["errors"] == {"Idempotency-Key": ["required"]}
    assert points_available_get(member=rich) == 8500


def test_the_rules_refusals_are_409_and_keep_nothing(api, rich, program):
    assert redeem(api, "r-3", quantity=7).json()["detail"] == "member RICH has 10000 points available; youku-vip ×7 costs 10500."
    assert redeem(api, "r-3", quantity=7).status_code == 409
    assert redeem(api, "r-4", quantity=3).status_code == 201
    out = redeem(api, "r-5")
    assert out.status_code == 409 and "out of stock" in out.json()["detail"]
    gold = at_level(MemberFactory(member_id="GOLD"), "V2")
    earn(program, gold, 10000, timezone.now() - timedelta(days=1), "gold")
    assert "not available to members at level V2" in redeem(api, "r-6", member="GOLD").json()["detail"]
    unknown = redeem(api, "r-7", item="nothing")
    assert unknown.status_code == 422 and unknown.json()["errors"] == {"item": ["unknown item 'nothing'"]}
    assert redeem(api, "r-8", member="NOBODY").status_code == 404


def test_a_blacklisted_member_is_refused_409(api, rich):
    list_entry_add(member=rich, kind=ListEntry.Kind.BLACK, scope=ListEntry.Scope.REDEMPTION, reason="reselling", actor=None)
    refused = redeem(api, "r-9")
    assert refused.status_code == 409 and "blacklisted" in refused.json()["detail"]
    assert Redemption.objects.get().status == "blocked" and points_available_get(member=rich) == 10000


def test_a_redemption_is_cancelled_once(api, rich):
    redemption = redeem(api, "r-10").json()
    path = f"members/RICH/redemptions/{redemption['id']}/cancel"
    cancelled = api.call("POST", path, {"reason": "ordered by mistake"}, **{"Idempotency-Key": "c-1"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.call("POST", path, {"reason": "again"}, **{"Idempotency-Key": "c-2"}).json()["status"] == "cancelled"
    assert points_available_get(member=rich) == 10000 and MallItem.objects.get().stock == 3
    assert api.call("POST", "members/RICH/redemptions/999999/cancel", {"reason": "x"}, **{"Idempotency-Key": "c-3"}).status_code == 404
    assert points_reconcile() == []


def test_the_catalogue_shows_the_members_prices(api, rich, program):
    item(program, code="coupon", prices={"V0": 100, "V4": 50})
    items = {row["item"]: row["points"] for row in api.call("GET", "members/RICH/mall-items").json()}
    assert items == {"coupon": 50, "youku-vip": 1500}


def test_cash_offset_quote_apply_and_reverse(api, rich, program):
    cash_offset_policy_sync(program=program, specs=MALL_PRESETS["jd-beans"]["cash_offset"])
    quote = api.call("GET", "members/RICH/cash-offset-quote?order_amount=300").json()
    assert (quote["points"], quote["yuan"]) == (10000, "100.00")
    applied = api.call("POST", "members/RICH/cash-offsets", {"order_ref": "SO1", "order_amount": "300", "points": 3000}, **{"Idempotency-Key": "o-1"})
    assert applied.status_code == 201 and applied.json()["yuan"] == "30.00"
    assert api.call("POST", "members/RICH/cash-offsets", {"order_ref": "SO1", "order_amount": "300", "points": 3000}, **{"Idempotency-Key": "o-1"}).status_code == 200
    odd = api.call("POST", "members/RICH/cash-offsets", {"order_ref": "SO2", "order_amount": "300", "points": 1500}, **{"Idempotency-Key": "o-2"})
    assert odd.status_code == 409
    offset = CashOffset.objects.get(order_ref="SO1")
    reversed_ = api.call("POST", f"members/RICH/cash-offsets/{offset.pk}/reverse", {"reason": "refunded"}, **{"Idempotency-Key": "o-3"})
    assert reversed_.status_code == 200 and reversed_.json()["status"] == "reversed"
    assert points_available_get(member=rich) == 10000


def test_a_subscription_started_renewed_extended_and_cancelled(api, program):
    plan_catalog_sync(program=program, specs=SUBSCRIPTION_PRESETS["edu-paid"])
    member = MemberFactory(member_id="EDU")
    earn(program, member, 5000, timezone.now() - timedelta(days=1), "edu")
    started = api.call("POST", "members/EDU/subscriptions", {"plan": "edu-month", "amount": "30"}, **{"Idempotency-Key": "s-1"})
    assert started.status_code == 201 and started.json()["status"] == "active"
    sid = started.json()["id"]
    trial = api.call("POST", "members/EDU/subscriptions", {"plan": "edu-month", "trial": True}, **{"Idempotency-Key": "s-2"})
    assert trial.status_code == 409
    renewed = api.call("POST", f"members/EDU/subscriptions/{sid}/renew", {"amount": "30"}, **{"Idempotency-Key": "s-3"})
    assert renewed.status_code == 200 and renewed.json()["renewals"] == 1
    extended = api.call("POST", f"members/EDU/subscriptions/{sid}/extend-with-points", None, **{"Idempotency-Key": "s-4"})
    assert extended.status_code == 200 and points_available_get(member=member) == 2000
    listed = api.call("GET", "members/EDU/subscriptions").json()
    assert [s["id"] for s in listed] == [sid]
    cancelled = api.call("POST", f"members/EDU/subscriptions/{sid}/cancel", {"reason": "moved away"}, **{"Idempotency-Key": "s-5"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_an_invitation_is_accepted_once(api, program):
    inviter = MemberFactory(member_id="HOST")
    MemberFactory(member_id="GUEST")
    code = api.call("GET", "members/HOST/invite-code").json()["code"]
    assert api.call("GET", "members/HOST/invite-code").json()["code"] == code
    accepted = api.call("POST", "members/GUEST/invitations", {"code": code}, **{"Idempotency-Key": "i-1"})
    assert accepted.status_code == 201 and accepted.json()["inviter"] == inviter.member_id
    itself = api.call("POST", "members/HOST/invitations", {"code": code}, **{"Idempotency-Key": "i-2"})
    assert itself.status_code == 409


def test_spending_needs_the_spend_scope(make_key, rich):
    from api.tests.conftest import ApiClient

    _, key = make_key(scopes=("read",), name="reader")
    refused = ApiClient(key).call("POST", "members/RICH/redemptions", {"item": "youku-vip"}, **{"Idempotency-Key": "x"})
    assert refused.status_code == 403
