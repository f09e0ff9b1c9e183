"""Campaigns: only an approved campaign gives, decided by someone else; its budget and its limit
per member are never passed, on the single and the batch path; exclusive campaigns do not stack."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign, CampaignMember
from campaigns.selectors import campaign_phase, campaigns_waiting_count
from campaigns.services import campaign_approve, campaign_end, campaign_reject, campaign_revise, campaign_save, campaign_submit
from membership.models import OrderCredit
from membership.rules import OrderFacts
from membership.services import order_book, orders_book_batch
from membership.tests.factories import MemberFactory, local
from points.models import PointsEntry
from points.selectors import points_reconcile

pytestmark = pytest.mark.django_db

WINDOW = (local(2026, 6, 1), local(2026, 6, 19))


@pytest.fixture
def staff(django_user_model):
    def make(name, *roles):
        user = django_user_model.objects.create_user(name, is_staff=True)
        user.groups.add(*Group.objects.filter(name__in=roles))
        return django_user_model.objects.get(pk=user.pk)

    return {"maker": make("maker", "Program admin"), "approver": make("approver", "Approver"), "viewer": make("viewer", "Viewer")}


def approved(program, staff, code="618", **fields):
    """A campaign made by the maker and approved by the approver."""
    values = {"name": f"Campaign {code}", "params": {"rate": 1}, "starts_at": WINDOW[0], "ends_at": WINDOW[1], **fields}
    campaign = campaign_save(campaign=Campaign(program=program, code=code, **values), actor=staff["maker"])
    campaign_submit(campaign=campaign, actor=staff["maker"])
    return campaign_approve(campaign=campaign, actor=staff["approver"])


def facts(order_id, member, goods, at=None, **more):
    return OrderFacts(order_id=order_id, member_id=member.member_id, paid_at=at or local(2026, 6, 10, 12), status="completed", goods_amount=Decimal(goods), **more)


def given_by(campaign, member=None):
    entries = PointsEntry.objects.filter(rule_id=campaign.rule_id)
    if member is not None:
        entries = entries.filter(member=member)
    return entries.aggregate(s=Sum("amount"))["s"] or 0


@pytest.fixture(autouse=True)
def _before_the_window(monkeypatch):
    """Approvals happen before the window opens (the campaigns are approved 'now')."""
    monkeypatch.setattr(timezone, "now", lambda: local(2026, 5, 20, 9))


def test_a_campaign_gives_only_once_another_staff_member_approved_it_and_every_step_is_recorded(program, staff):
    m = MemberFactory()
    draft = campaign_save(
        campaign=Campaign(program=program, code="618", name="618", params={"rate": 1}, starts_at=WINDOW[0], ends_at=WINDOW[1]), actor=staff["maker"],
    )
    order_book(facts=facts("O1", m, "100"))
    assert draft.rule is None and PointsEntry.objects.filter(member=m).aggregate(s=Sum("amount"))["s"] == 100  # the program's own rule only

    campaign_submit(campaign=draft, actor=staff["maker"])
    with pytest.raises(PermissionDenied):
        campaign_approve(campaign=draft, actor=staff["maker"])  # Program admins make; they do not approve
    with pytest.raises(PermissionDenied):
        campaign_approve(campaign=draft, actor=staff["viewer"])
    assert campaigns_waiting_count(user=staff["approver"]) == 1 and campaigns_waiting_count(user=staff["maker"]) == 0
    campaign = campaign_approve(campaign=draft, actor=staff["approver"], note="budget agreed")
    assert campaign_phase(campaign) == "scheduled"
    assert campaign_phase(campaign, now=local(2026, 6, 2)) == "live"
    assert (campaign.rule.code, campaign.rule.limited, campaign.rule.valid_from, campaign.rule.valid_until) == ("campaign-618", True, *WINDOW)

    order_book(facts=facts("O2", m, "100"))
    order_book(facts=facts("O3", m, "100", at=local(2026, 6, 20)))  # after the window
    assert given_by(campaign, m) == 100
    steps = list(campaign.transitions.values_list("from_status", "to_status", "actor__username", "note"))
    assert steps == [("", "draft", "maker", ""), ("draft", "submitted", "maker", ""), ("submitted", "approved", "approver", "budget agreed")]
    with pytest.raises(ValidationError):
        campaign_save(campaign=campaign, actor=staff["maker"])  # an approved campaign no longer changes


def test_a_rejection_needs_a_note_and_sends_the_campaign_back_to_its_maker(program, staff):
    campaign = campaign_save(campaign=Campaign(program=program, code="c1", name="c1", starts_at=WINDOW[0], ends_at=WINDOW[1]), actor=staff["maker"])
    campaign_submit(campaign=campaign, actor=staff["maker"])
    with pytest.raises(ValidationError):
        campaign_reject(campaign=campaign, actor=staff["approver"], note=" ")
    campaign_reject(campaign=campaign, actor=staff["approver"], note="budget too large")
    campaign.refresh_from_db()
    assert campaign.status == "rejected" and campaign.rule is None
    campaign.budget = 1000
    campaign_save(campaign=campaign, actor=staff["maker"])
    assert campaign_submit(campaign=campaign, actor=staff["maker"]).status == "submitted"


def test_the_budget_is_never_passed_and_what_it_could_not_pay_is_recorded(program, staff):
    campaign = approved(program, staff, budget=250)
    members = [MemberFactory() for _ in range(3)]
    for n, member in enumerate(members):
        order_book(facts=facts(f"O{n}", member, "100"))
    campaign.refresh_from_db()
    assert [given_by(campaign, m) for m in members] == [100, 100, 50]
    assert (campaign.credited, campaign.refused) == (250, 50)
    # the entry is what was paid; the order's credit shows what the budget refused
    assert list(PointsEntry.objects.filter(rule_id=campaign.rule_id, member=members[2]).values_list("amount", "capped")) == [(50, 0)]
    credit = OrderCredit.objects.get(order__order_id="O2", rule_id=campaign.rule_id)
    assert (credit.entitlement, credit.credited) == (100, 50)
    order_book(facts=facts("O3", members[2], "100"))  # the budget is spent: no entry, the credit keeps the refusal
    assert not PointsEntry.objects.filter(rule_id=campaign.rule_id, source_ref="O3").exists()
    assert OrderCredit.objects.filter(order__order_id="O3", rule_id=campaign.rule_id, entitlement=100, credited=0).exists()
    campaign.refresh_from_db()
    assert (campaign.credited, campaign.refused) == (250, 150)
    # A refund gives the budget back; a new order may spend it.
    order_book(facts=facts("O0", members[0], "100", refunded_amount=Decimal("40")))
    order_book(facts=facts("O9", members[1], "100"))
    campaign.refresh_from_db()
    assert (campaign.credited, given_by(campaign)) == (250, 250)
    assert given_by(campaign, members[1]) == 140
    assert points_reconcile() == []


def test_an_import_spends_a_budget_first_come_first_served_across_members(program, staff, tmp_path):
    campaign = approved(program, staff, budget=250)
    members = {code: MemberFactory(member_id=code) for code in ("A", "B", "Z")}
    # B's orders come last in time; booked member by member, B (the first member's share) would take the budget.
    rows = [("Z1", "Z", 10), ("A1", "A", 11), ("Z2", "Z", 12), ("B1", "B", 13), ("B2", "B", 14)]
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,member_id,paid_at,status,goods_amount,discount_amount,shipping_amount,refunded_amount,category,shop_id\n"
        + "".join(f"{order},{member},2026-06-10 {hour}:00:00,completed,100,0,0,0,,\n" for order, member, hour in rows),
        encoding="utf-8",
    )
    call_command("import_orders", str(path), "--batch-size", "2", "--workers", "1", stdout=io.StringIO(), stderr=io.StringIO())
    assert {code: given_by(campaign, m) for code, m in members.items()} == {"Z": 150, "A": 100, "B": 0}
    campaign.refresh_from_db()
    assert (campaign.credited, campaign.refused) == (250, 250)


def test_a_member_gets_no_more_than_the_limit_per_member(program, staff):
    campaign = approved(program, staff, member_limit=150)
    m = MemberFactory()
    for n in range(3):
        order_book(facts=facts(f"O{n}", m, "100"))
    assert given_by(campaign, m) == 150
    assert CampaignMember.objects.get(campaign=campaign, member=m).refused == 150


def test_the_batch_path_spends_the_budget_as_booking_one_by_one_does(program, staff):
    one = approved(program, staff, "one", budget=700, member_limit=300, params={"rate": 2, "categories": ["ONE"]})
    batch = approved(program, staff, "bat", budget=700, member_limit=300, params={"rate": 2, "categories": ["BAT"]})
    orders = {}
    for prefix in ("ONE", "BAT"):
        members = [MemberFactory(member_id=f"{prefix}{n}") for n in range(3)]
        orders[prefix] = [
            facts(f"{prefix}O{n:02d}", members[n % 3], str(40 + 10 * n), at=local(2026, 6, 10, 8) + timedelta(minutes=n), category=prefix)
            for n in range(12)
        ]
    for fact in orders["ONE"]:
        order_book(facts=fact)
    for start in range(0, 12, 5):
        orders_book_batch(facts=orders["BAT"][start : start + 5], program=program)
    for campaign in (one, batch):
        campaign.refresh_from_db()
    assert (one.credited, one.refused) == (batch.credited, batch.refused) == (700, sum(2 * (40 + 10 * n) for n in range(12)) - 700)
    rows = lambda c: sorted((r.member.member_id[3:], r.credited, r.refused) for r in c.members.select_related("member"))  # noqa: E731
    assert rows(one) == rows(batch)
    entries = lambda p: list(PointsEntry.objects.filter(source_ref__startswith=p, rule__code__startswith="campaign").order_by("source_ref").values_list("amount", "capped"))  # noqa: E731
    assert entries("ONE") == entries("BAT")


def test_exclusive_campaigns_do_not_stack_and_the_others_add_up(program, staff):
    high = approved(program, staff, "high", priority=200, exclusive=True, params={"rate": 3, "categories": ["food"]})
    low = approved(program, staff, "low", priority=100, exclusive=True, params={"rate": 2})
    extra = approved(program, staff, "extra", params={"rate": 1})
    m = MemberFactory()
    order_book(facts=facts("O1", m, "100", category="food"))
    order_book(facts=facts("O2", m, "100", category="books"))  # the high one gives nothing here: the low one does
    assert [given_by(c, m) for c in (high, low, extra)] == [300, 200, 200]


def test_ending_a_campaign_closes_its_window_now(program, staff, monkeypatch):
    campaign = approved(program, staff)
    monkeypatch.setattr(timezone, "now", lambda: local(2026, 6, 5))
    with pytest.raises(ValidationError):
        campaign_end(campaign=campaign, actor=staff["maker"], note="")
    campaign_end(campaign=campaign, actor=staff["maker"], note="stock ran out")
    m = MemberFactory()
    order_book(facts=facts("O1", m, "100", at=local(2026, 6, 4)))
    order_book(facts=facts("O2", m, "100", at=local(2026, 6, 6)))
    assert given_by(campaign, m) == 100
    campaign.refresh_from_db()
    assert campaign_phase(campaign) == "ended"


def test_presets_lay_out_their_campaigns_as_drafts_once(db):
    from membership.services import program_load

    jd, _ = program_load(name="jd-beans")
    drafts = {c.code: c for c in Campaign.objects.filter(program=jd)}
    assert set(drafts) == {"618", "double11"} and {c.status for c in drafts.values()} == {"draft"}
    assert (drafts["618"].starts_at, drafts["618"].ends_at) == (local(2026, 6, 1), local(2026, 6, 20))  # 'now' is 2026-05-20 here
    assert (drafts["double11"].starts_at, drafts["double11"].budget) == (local(2026, 11, 1), 150_000_000)
    _, changes = program_load(name="jd-beans")
    assert changes == 0
    default, _ = program_load(name="default")
    comeback = Campaign.objects.get(program=default, code="comeback")
    assert comeback.params["stages"] == ["dormant", "lost"] and comeback.ends_at - comeback.starts_at == timedelta(days=365)
    taoqi, _ = program_load(name="taobao-taoqi")
    assert set(Campaign.objects.filter(program=taoqi).values_list("currency", flat=True)) == {"growth"}


def test_the_forecast_replays_past_orders_through_the_campaign_by_level_and_day(program, staff):
    from campaigns.forecast import campaign_forecast
    from membership.models import Level, Member

    levels = {level.code: level for level in Level.objects.filter(program=program)}
    low, high = MemberFactory(), MemberFactory()
    Member.objects.filter(pk=high.pk).update(level=levels["V4"])
    history = [(low, "100", local(2026, 3, 1, 10)), (low, "50", local(2026, 3, 1, 11)), (high, "100", local(2026, 3, 2, 10)),
               (high, "300", local(2026, 4, 2, 10)), (low, "20", local(2026, 4, 3, 10)), (high, "100", local(2024, 1, 1, 10))]
    for n, (member, goods, at) in enumerate(history):
        order_book(facts=facts(f"H{n}", Member.objects.get(pk=member.pk), goods, at=at))
    campaign = Campaign(program=program, code="f", name="f", params={"rate": 1, "min_amount": 30, "level_multipliers": {"V4": 2}},
                        starts_at=WINDOW[0], ends_at=WINDOW[1], budget=700, member_limit=500)
    forecast = campaign_forecast(campaign=campaign, months=12)
    # low: 100 + 50 (20 is below the minimum); high: 200 + 600 at V4, limited to 500; the 2024 order is too old.
    assert {row["level"]: (row["points"], row["orders"], row["members"]) for row in forecast["by_level"] if row["points"]} == {"V0": (150, 2, 1), "V4": (500, 2, 1)}
    assert [(d["day"], d["points"]) for d in forecast["days"]] == [("2026-03-01", 150), ("2026-03-02", 200), ("2026-04-02", 300)]
    assert (forecast["points"], forecast["cash"], forecast["budget_runs_out"]) == (650, 6.5, None)
    campaign.budget, campaign.member_limit = 300, None
    forecast = campaign_forecast(campaign=campaign, months=12)
    assert (forecast["wanted"], forecast["points"], forecast["over_budget"], forecast["budget_runs_out"]) == (950, 300, 650, "2026-03-02")
    assert forecast["members"] == 2 and forecast["orders"] == 4


def test_changing_an_approved_campaign_makes_a_new_version_whose_approval_ends_the_one_before(program, staff, monkeypatch):
    first = approved(program, staff, budget=1000)
    m = MemberFactory()
    monkeypatch.setattr(timezone, "now", lambda: local(2026, 6, 5))
    order_book(facts=facts("O1", m, "100", at=local(2026, 6, 4)))
    second = campaign_revise(campaign=first, actor=staff["maker"])
    assert (second.code, second.version, second.status, second.budget, second.previous) == ("618-v2", 2, "draft", 900, first)
    with pytest.raises(ValidationError):
        campaign_revise(campaign=first, actor=staff["maker"])
    second.params = {"rate": 3}
    campaign_save(campaign=second, actor=staff["maker"])
    campaign_submit(campaign=second, actor=staff["maker"])
    assert campaign_phase(Campaign.objects.get(pk=first.pk)) == "live"  # until the new version is approved
    campaign_approve(campaign=second, actor=staff["approver"])
    first.refresh_from_db()
    assert first.status == "ended" and first.transitions.last().note == "replaced by version 2"
    order_book(facts=facts("O2", m, "100", at=local(2026, 6, 4, 13)))  # paid before the change: the first version's
    order_book(facts=facts("O3", m, "100", at=local(2026, 6, 6)))  # after it: the second's
    second.refresh_from_db()
    assert (given_by(first, m), given_by(second, m)) == (200, 300)


def test_a_budget_another_booking_spent_meanwhile_makes_a_batch_run_again_with_it_locked(program, staff, monkeypatch):
    from django.db.models import F

    from campaigns.limits import CampaignLimits

    campaign = approved(program, staff, budget=100)
    real_init, real_flush, runs = CampaignLimits.__init__, CampaignLimits.flush, []

    def spend_60():  # another booking's credit (this test's savepoint rolls it back with the first attempt)
        Campaign.objects.filter(pk=campaign.pk).update(credited=F("credited") + 60)

    def opened(self, **kwargs):
        runs.append(kwargs["locked"])
        if kwargs["locked"]:
            spend_60()  # the other booking, committed: the retry sees it
        real_init(self, **kwargs)

    def another_booking_first(self):
        if len(runs) == 1:  # between this booking's read and its flush, another spends 60
            spend_60()
        return real_flush(self)

    monkeypatch.setattr(CampaignLimits, "__init__", opened)
    monkeypatch.setattr(CampaignLimits, "flush", another_booking_first)
    m = MemberFactory()
    orders_book_batch(facts=[facts("O1", m, "100")], program=program)
    campaign.refresh_from_db()
    assert runs == [False, True]  # optimistic, then the retry with the budget locked
    assert (given_by(campaign, m), campaign.credited, campaign.refused) == (40, 100, 60)
    assert PointsEntry.objects.filter(source_ref="O1").count() == 2 and points_reconcile() == []


def test_a_fixed_bonus_per_qualifying_order_booked_and_forecast_alike(program, staff):
    from campaigns.forecast import campaign_forecast

    campaign = approved(program, staff, "bonus", params={"rate": 0, "fixed": 50, "min_amount": 20})
    m = MemberFactory()
    order_book(facts=facts("O1", m, "100"))
    order_book(facts=facts("O2", m, "10"))  # below the minimum
    order_book(facts=facts("O3", m, "30", refunded_amount=Decimal("30")))  # nothing left of it
    assert given_by(campaign, m) == 50
    history = Campaign(program=program, code="f", name="f", params=campaign.params, starts_at=WINDOW[0], ends_at=WINDOW[1])
    assert campaign_forecast(campaign=history, months=1, now=local(2026, 6, 30))["wanted"] == 50


def test_a_behaviour_campaigns_forecast_replays_its_events_within_its_limits(program, staff):
    from campaigns.forecast import campaign_forecast
    from membership.services import event_record

    a, b = MemberFactory(), MemberFactory()
    for n, (member, at) in enumerate([
        (a, local(2026, 5, 3, 9)), (a, local(2026, 5, 3, 10)), (a, local(2026, 5, 3, 11)),  # three a day: two earn
        (a, local(2026, 5, 4, 9)), (b, local(2026, 5, 4, 9)), (b, local(2026, 4, 1, 9)),
    ]):
        event_record(member_id=member.member_id, event_type="check_in", occurred_at=at, event_id=f"E{n}")
    event_record(member_id=b.member_id, event_type="review", occurred_at=local(2026, 5, 4, 9), event_id="R1")
    campaign = Campaign(program=program, code="f", name="f", kind="event_fixed", params={"event_type": "check_in", "amount": 10, "per_day": 2},
                        starts_at=WINDOW[0], ends_at=WINDOW[1], budget=45)
    forecast = campaign_forecast(campaign=campaign, months=3, now=local(2026, 5, 31))
    assert (forecast["facts"], forecast["wanted"], forecast["orders"], forecast["members"]) == ("events", 50, 5, 2)
    assert [(d["day"], d["wanted"], d["points"]) for d in forecast["days"]] == [("2026-04-01", 10, 10), ("2026-05-03", 20, 20), ("2026-05-04", 20, 15)]
    assert forecast["budget_runs_out"] == "2026-05-04"
    campaign.params, campaign.budget, campaign.member_limit = {"event_type": "check_in", "amount": 10, "once": True}, None, None
    assert campaign_forecast(campaign=campaign, months=3, now=local(2026, 5, 31))["wanted"] == 20  # each member's first
    campaign.params, campaign.member_limit = {"event_type": "check_in", "amount": 10}, 30
    forecast = campaign_forecast(campaign=campaign, months=3, now=local(2026, 5, 31))
    assert (forecast["wanted"], forecast["members"]) == (50, 2)  # a: 4 events, limited to 30; b: 2 events
