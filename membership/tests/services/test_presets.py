"""Program presets: each real program's published rules, checked through the services and the settlement;
switching the active program keeps members and ledgers and the next settlement uses the new rules."""

from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.urls import reverse

from membership.models import GrowthEntry, Level, LevelChange, Member, Program
from membership.presets import PRESETS
from membership.services import (
    event_record,
    growth_adjust,
    order_book,
    program_activate,
    program_load,
    program_switch_preview,
    settlement_run_execute,
)
from membership.tests.factories import MemberFactory, local, order
from points.models import PointsEntry
from points.selectors import points_available_get, points_balance_get

pytestmark = pytest.mark.django_db


def load(name) -> Program:
    program, _ = program_load(name=name, activate=True)
    return program


def growth(member) -> int:
    return GrowthEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0


def settle(month: str):
    return settlement_run_execute(month=date.fromisoformat(month + "-01"))


def level_of(member) -> str:
    member.refresh_from_db()
    return member.level.code if member.level else None


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_loads_once_with_chinese_and_english_level_names(name):
    program, changes = program_load(name=name)
    assert changes > 0
    assert program_load(name=name) == (program, 0)
    levels = list(program.levels.order_by("rank"))
    assert levels[0].threshold == 0 and all(level.name and level.name_en for level in levels)


def test_alipay_four_levels_on_a_rolling_year_points_capped_monthly_and_cleared_at_year_end(db, django_user_model):
    load("alipay")
    member = MemberFactory()
    staff = django_user_model.objects.create_user("alipay-ops")
    assert event_record(member_id=member.member_id, event_type="first_transfer", occurred_at=local(2025, 3, 1), event_id="t1").growth == 100
    assert event_record(member_id=member.member_id, event_type="first_transfer", occurred_at=local(2025, 4, 1), event_id="t2").growth == 0
    order_book(facts=order("A1", member, local(2025, 3, 5, 10), goods="1900"))
    settle("2025-03")
    assert level_of(member) == "gold"  # 2,000 growth in the window
    growth_adjust(member=member, amount=16000, reason="campaign", actor=staff, effective_at=local(2025, 4, 2))
    settle("2025-04")
    assert level_of(member) == "diamond"
    # Points: 1 per yuan, at most 4,650 in a calendar month; what is over is recorded as capped.
    order_book(facts=order("A2", member, local(2025, 5, 3), goods="4000"))
    order_book(facts=order("A3", member, local(2025, 5, 20), goods="1000"))
    may = PointsEntry.objects.filter(member=member, source_ref__in=["A2", "A3"])
    assert may.aggregate(s=Sum("amount"))["s"] == 4650 and may.aggregate(s=Sum("capped"))["s"] == 350
    # Points are cleared at the end of the year they were earned.
    settle("2025-12")
    assert points_balance_get(member=member) == 0
    assert points_available_get(member=member, at=local(2025, 12, 31, 23)) == 0


def test_jd_growth_counts_lifetime_growth_and_never_drops_a_level(db):
    load("jd-growth")
    member = MemberFactory()
    order_book(facts=order("J1", member, local(2020, 1, 10), goods="12000"))
    settle("2020-01")
    assert level_of(member) == "gold"
    settle("2024-06")  # years later with no new growth: lifetime growth still counts
    assert level_of(member) == "gold"
    order_book(facts=order("J2", member, local(2024, 7, 1), goods="18000"))
    settle("2024-07")
    assert level_of(member) == "diamond"


def test_vipshop_v_value_is_five_times_the_qualified_amount_and_returns_earn_nothing(db):
    load("vipshop")
    member = MemberFactory()
    result = order_book(facts=order("V1", member, local(2026, 3, 1), goods="200", discount="20", shipping="10"))
    assert result.growth == 900
    order_book(facts=order("V2", member, local(2026, 3, 2), goods="300"))
    assert growth(member) == 2400
    order_book(facts=order("V2", member, local(2026, 3, 2), status="refunded", goods="300", refunded="300"))
    assert growth(member) == 900
    order_book(facts=order("V3", member, local(2026, 3, 3), status="paid", goods="1000"))
    assert growth(member) == 900


def test_netease_news_experience_never_decays_and_coins_never_expire(db):
    load("netease-news")
    member = MemberFactory()
    for day in range(1, 21):
        event_record(member_id=member.member_id, event_type="check_in", occurred_at=local(2021, 1, day, 8), event_id=f"c{day}")
        event_record(member_id=member.member_id, event_type="check_in", occurred_at=local(2021, 1, day, 9), event_id=f"c{day}-again")
    for n in range(15):
        event_record(member_id=member.member_id, event_type="read_article", occurred_at=local(2021, 1, 5, 10, n), event_id=f"r{n}")
    assert growth(member) == 20 * 5 + 10
    assert points_balance_get(member=member) == 20 * 10 + 15 * 2
    settle("2021-01")
    assert level_of(member) == "Lv2"  # 110 experience
    settle("2026-01")  # five years on: experience and coins are all still there
    assert level_of(member) == "Lv2" and points_balance_get(member=member) == 230


def test_switching_programs_keeps_members_and_ledgers_and_the_next_settlement_uses_the_new_rules(program, django_user_model):
    staff = django_user_model.objects.create_user("switch-ops")
    high, middle, low = MemberFactory(), MemberFactory(), MemberFactory()
    growth_adjust(member=high, amount=60000, reason="history", actor=staff, effective_at=local(2026, 1, 5))
    growth_adjust(member=middle, amount=19000, reason="history", actor=staff, effective_at=local(2026, 1, 5))
    growth_adjust(member=low, amount=1500, reason="history", actor=staff, effective_at=local(2026, 1, 5))
    settle("2026-01")
    assert [level_of(m) for m in (high, middle, low)] == ["V4", "V2", "V1"]
    alipay, _ = program_load(name="alipay")
    ledgers = (GrowthEntry.objects.count(), list(Member.objects.order_by("pk").values_list("level_id", "level_valid_until")))

    preview = program_switch_preview(program=alipay, month=date(2026, 2, 1))
    assert preview["proposed"]["levels_after"] == {"regular": 0, "gold": 1, "platinum": 0, "diamond": 2}
    assert preview["proposed"]["up"] == 1 and preview["now"]["up"] == 0
    assert (GrowthEntry.objects.count(), list(Member.objects.order_by("pk").values_list("level_id", "level_valid_until"))) == ledgers

    program_activate(program=alipay, actor=None)
    assert list(Program.objects.filter(is_active=True)) == [alipay]
    assert (GrowthEntry.objects.count(), list(Member.objects.order_by("pk").values_list("level_id", "level_valid_until"))) == ledgers
    settle("2026-02")
    # 19,000 reaches alipay's diamond (18,000); 60,000 keeps the top rank; 1,500 is below gold (2,000) but
    # the silver it holds is valid until 2027-01-31, so it keeps rank 1 under alipay. All are on alipay's levels now.
    assert [level_of(m) for m in (high, middle, low)] == ["diamond", "diamond", "gold"]
    changes = dict(LevelChange.objects.filter(run__month=date(2026, 2, 1)).values_list("member_id", "reason"))
    assert changes == {high.pk: "renewal", middle.pk: "upgrade", low.pk: "switch"}
    assert LevelChange.objects.get(member=middle, run__month=date(2026, 2, 1)).from_level.code == "V2"


def test_a_member_still_valid_keeps_their_rank_after_a_switch(program, django_user_model):
    staff = django_user_model.objects.create_user("switch-ops2")
    member = MemberFactory()
    growth_adjust(member=member, amount=25000, reason="history", actor=staff, effective_at=local(2025, 3, 5))
    settle("2025-03")
    assert level_of(member) == "V3"
    alipay, _ = program_load(name="alipay", activate=True)
    growth_adjust(member=member, amount=-24000, reason="correction", actor=staff, effective_at=local(2025, 3, 6))
    settle("2025-04")  # below every threshold but V3 is valid until 2026-03-31: rank 3 under alipay, same validity
    member.refresh_from_db()
    assert (member.level.code, member.level_valid_until) == ("diamond", date(2026, 3, 31))


def test_only_a_program_admin_switches_and_the_page_shows_the_comparison(program, client, django_user_model):
    alipay, _ = program_load(name="alipay")
    operator = django_user_model.objects.create_user("switch-operator", password="pw", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    with pytest.raises(PermissionDenied):
        program_activate(program=alipay, actor=django_user_model.objects.get(pk=operator.pk))
    client.force_login(operator)
    url = reverse("admin:membership_program_activate", args=[alipay.pk])
    page = client.get(url)
    assert page.status_code == 200 and b"switch-proposed" in page.content and b"<form" not in page.content.split(b'id="content"')[1]
    assert client.post(url).status_code == 403
    admin = django_user_model.objects.create_user("switch-admin", password="pw", is_staff=True)
    admin.groups.add(Group.objects.get(name="Program admin"))
    client.force_login(admin)
    assert client.post(url).status_code == 302
    assert Program.objects.get(is_active=True) == alipay


def test_taobao_taoqi_adds_the_imported_base_score_caps_each_order_day_and_month_and_updates_monthly(db, tmp_path):
    from django.core.management import call_command

    load("taobao-taoqi")
    path = tmp_path / "members.csv"
    path.write_text("member_id,name,base_score\nTB1,淘宝用户,800\n", encoding="utf-8")
    call_command("import_members", str(path))
    member = Member.objects.get(member_id="TB1")
    assert member.base_score == 800
    # Purchase score: 1 per 10 yuan, at most 50 an order, 100 a day, 300 a month.
    for n in range(3):
        order_book(facts=order(f"T1-{n}", member, local(2026, 3, 1, 10 + n), goods="600"))
    assert growth(member) == 100
    for day in range(2, 6):
        for n in range(2):
            order_book(facts=order(f"T{day}-{n}", member, local(2026, 3, day, 10 + n), goods="600"))
    assert growth(member) == 300
    event_record(member_id="TB1", event_type="quality_review", occurred_at=local(2026, 4, 2, 9), event_id="rv1")
    settle("2026-03")
    assert level_of(member) == "super"  # 300 + 800 base
    member.refresh_from_db()
    assert member.level_valid_until == date(2026, 4, 30)
    member.base_score = 0
    member.save()
    settle("2026-04")  # 305 without the base score: the level lasted one month
    assert level_of(member) == "regular"


def test_a_base_score_that_is_not_a_whole_number_is_rejected_with_its_row(program, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    path = tmp_path / "members.csv"
    path.write_text("member_id,base_score\nB1,12\nB2,-5\n", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("import_members", str(path))
    assert Member.objects.get(member_id="B1").base_score == 12 and not Member.objects.filter(member_id="B2").exists()
    assert "row 3, column base_score: base_score '-5' is not a whole number of 0 or more" in (tmp_path / "members.csv.rejected.csv").read_text(encoding="utf-8-sig")


def test_jd_jingxiang_settles_on_the_2nd_and_gives_each_month_the_coupons_of_the_new_level():
    from benefits.models import BenefitGrant
    from django_celery_beat.models import PeriodicTask

    program = load("jd-jingxiang")
    assert PeriodicTask.objects.get(name="Monthly settlement").crontab.day_of_month == "2"
    member = MemberFactory()
    order_book(facts=order("JX1", member, local(2025, 9, 10), goods="3000"))  # capped at 2,000 an order
    order_book(facts=order("JX2", member, local(2025, 12, 10), goods="1500"))
    order_book(facts=order("JX3", member, local(2026, 2, 10), goods="3500"))
    settle("2026-02")
    member.refresh_from_db()
    assert member.level.code == "gold"  # 2,000 + 1,500 + 2,000 over the 12 months
    coupons = dict(BenefitGrant.objects.filter(member=member, period="2026-02").values_list("benefit__code", "quantity"))
    assert coupons == {"monthly-coupons": 3, "shipping-coupons": 2}
    settle("2026-02")
    assert BenefitGrant.objects.filter(member=member).count() == 2  # once a month
    # September 2025 leaves the window: 3,500 left, silver; a level falls one step a settlement.
    settle("2026-09")
    member.refresh_from_db()
    assert member.level.code == "silver"
    coupons = dict(BenefitGrant.objects.filter(member=member, period="2026-09").values_list("benefit__code", "quantity"))
    assert coupons == {"monthly-coupons": 2, "shipping-coupons": 1}
    assert program.levels.get(code="gold").name == "金牌会员"


def test_weibo_members_gain_10_a_day_15_on_a_yearly_plan_and_200_per_year_bought():
    from membership.services import daily_rules_run
    from subscriptions.models import Plan
    from subscriptions.services import subscription_renew, subscription_start

    program = load("weibo")
    yearly, monthly, lapsed = MemberFactory(), MemberFactory(), MemberFactory()
    year_plan, month_plan = Plan.objects.get(program=program, code="weibo-year"), Plan.objects.get(program=program, code="weibo-month")
    subscription_start(member=yearly, plan=year_plan, reference="W1", at=local(2026, 3, 1, 10))
    monthly_subscription = subscription_start(member=monthly, plan=month_plan, reference="W2", at=local(2026, 3, 1, 10))
    assert (growth(yearly), growth(monthly)) == (200, 0)  # 200 for the year bought, nothing for a month
    for day in (1, 2, 3):
        daily_rules_run(day=date(2026, 3, day))
    assert (growth(yearly), growth(monthly), growth(lapsed)) == (200 + 3 * 15, 3 * 10, 0)
    daily_rules_run(day=date(2026, 3, 3))  # a day is booked once
    assert growth(yearly) == 245
    subscription_renew(subscription=monthly_subscription, reference="W3", at=local(2026, 3, 20))
    assert growth(monthly) == 30  # a month bought is not a year
    daily_rules_run(day=date(2026, 4, 30))  # the renewed month covers April
    assert growth(monthly) == 40
    daily_rules_run(day=date(2026, 5, 1))
    assert growth(monthly) == 40


def test_tencent_video_growth_decays_while_not_a_member_never_below_zero_and_coins_buy_in_the_mall():
    from mall.models import MallItem
    from mall.services import redemption_create
    from membership.services import daily_rules_run
    from subscriptions.models import Plan
    from subscriptions.services import subscription_start

    program = load("tencent-video")
    member = MemberFactory()
    subscription_start(member=member, plan=Plan.objects.get(program=program, code="tv-month"), reference="T1", at=local(2026, 3, 1, 9))
    for day in range(1, 32):
        daily_rules_run(day=date(2026, 3, day))
        event_record(member_id=member.member_id, event_type="check_in", occurred_at=local(2026, 3, day, 8), event_id=f"c{day}")
    event_record(member_id=member.member_id, event_type="watch_film", occurred_at=local(2026, 3, 31, 21), event_id="w1")
    assert growth(member) == 31 * 10 + 5
    for day in range(1, 23):  # April: no longer a member
        daily_rules_run(day=date(2026, 4, day))
    assert growth(member) == 0  # 315 − 21 × 15 = 0; the 22nd day takes nothing
    assert GrowthEntry.objects.filter(member=member, kind="decay").count() == 21
    settle("2026-03")
    assert points_balance_get(member=member) == 310  # V-coins from 31 check-ins, which never expire
    redemption_create(member=member, item=MallItem.objects.get(program=program, code="movie-ticket"), key="R1", at=local(2026, 4, 5))
    assert points_balance_get(member=member) == 10


def test_edu_paid_one_7_day_trial_per_account_and_points_pay_for_another_month():
    from django.core.exceptions import ValidationError

    from subscriptions.models import Plan
    from subscriptions.services import subscription_extend_with_points, subscription_start

    program = load("edu-paid")
    plan = Plan.objects.get(program=program, code="edu-month")
    member = MemberFactory()
    trial = subscription_start(member=member, plan=plan, reference="E1", trial=True, at=local(2026, 3, 1, 9))
    assert (trial.starts_on, trial.ends_on) == (date(2026, 3, 1), date(2026, 3, 7))
    paid = subscription_start(member=member, plan=plan, reference="E2", at=local(2026, 3, 5, 9))
    assert subscription_start(member=MemberFactory(), plan=plan, reference="E3", trial=True, at=local(2026, 3, 5)).is_trial
    with pytest.raises(ValidationError, match="already had a free trial"):
        subscription_start(member=member, plan=plan, reference="E4", trial=True, at=local(2026, 6, 1))
    for day in range(1, 7):  # 5 lessons a day earn points; 6 days → 3,000 points
        for n in range(6):
            event_record(member_id=member.member_id, event_type="lesson_completed", occurred_at=local(2026, 3, day, 10 + n), event_id=f"l{day}-{n}")
    assert points_balance_get(member=member) == 3000
    before = paid.ends_on
    extended = subscription_extend_with_points(subscription=paid, reference="E5", at=local(2026, 3, 10))
    assert extended.ends_on > before and points_balance_get(member=member) == 0
    with pytest.raises(ValidationError):
        subscription_extend_with_points(subscription=paid, reference="E6", at=local(2026, 3, 11))


def test_jd_plus_cashback_in_beans_frozen_during_the_trial_released_by_buying_none_on_special_invoices():
    from dataclasses import replace

    from points.selectors import points_frozen_get
    from subscriptions.models import Cashback, Plan
    from subscriptions.services import subscription_start

    program = load("jd-plus")
    plan = Plan.objects.get(program=program, code="plus-year")
    member = MemberFactory()
    subscription_start(member=member, plan=plan, reference="P1", trial=True, at=local(2026, 3, 1, 9))
    order_book(facts=order("PO1", member, local(2026, 3, 2), goods="1000"))
    assert Cashback.objects.get(order__order_id="PO1").points == 2000  # 2% of 1,000 yuan, 100 beans a yuan
    assert points_frozen_get(member=member) == 2000
    subscription_start(member=member, plan=plan, reference="P2", at=local(2026, 3, 20, 9))
    assert points_frozen_get(member=member) == 0
    order_book(facts=replace(order("PO2", member, local(2026, 3, 21), goods="1000"), special_invoice=True))
    assert not Cashback.objects.filter(order__order_id="PO2").exists()
    order_book(facts=order("PO3", member, local(2026, 3, 22), goods="4000000"))
    assert Cashback.objects.get(order__order_id="PO3").points == 50000 - 2000  # at most 50,000 a year and over the term


def test_jd_beans_pay_at_most_half_an_order_in_thousands_from_a_balance_of_1000_and_come_back_on_refund():
    from decimal import Decimal

    from mall.selectors import offset_quote
    from mall.services import offset_apply, offset_reverse

    load("jd-beans")
    member, poor = MemberFactory(), MemberFactory()
    order_book(facts=order("B1", member, local(2026, 3, 1), goods="8600"))  # 8,600 beans
    order_book(facts=order("B2", poor, local(2026, 3, 1), goods="999"))  # 999 beans
    at = local(2026, 3, 2)
    quote = offset_quote(member=member, order_amount=Decimal("100"), at=at)
    assert (quote.points, quote.yuan) == (5000, Decimal("50.00"))  # half of 100 yuan, 100 beans a yuan
    assert offset_quote(member=member, order_amount=Decimal("75"), at=at).points == 3000  # 37.50 yuan → 3,750 → thousands
    assert offset_quote(member=poor, order_amount=Decimal("100"), at=at).points == 0  # under the minimum balance
    assert offset_quote(member=member, order_amount=Decimal("100"), category="game-cards", at=at).points == 2000  # 20% over 50 yuan
    offset = offset_apply(member=member, order_ref="JD-1", order_amount="100", points=5000, key="K1", at=at)
    assert points_balance_get(member=member) == 3600
    offset_reverse(offset=offset, reason="order refunded", at=local(2026, 3, 3))
    assert points_balance_get(member=member) == 8600


def test_alipay_exchange_is_level_gated_and_level_priced():
    from django.core.exceptions import ValidationError

    from mall.models import MallItem
    from mall.services import redemption_create

    program = load("alipay")
    item = MallItem.objects.get(program=program, code="youku-monthly-vip")
    assert dict(item.prices.values_list("level__code", "points")) == {"platinum": 2250, "diamond": 1500}
    gold, diamond = MemberFactory(), MemberFactory()
    for member, amount, ref in ((gold, 2500, "A1"), (diamond, 20000, "A2")):
        order_book(facts=order(ref, member, local(2026, 3, 1), goods=str(amount)))
    settle("2026-03")  # ``gold`` and ``diamond`` were read before: the redemption reads the level now
    assert [Member.objects.get(pk=m.pk).level.code for m in (gold, diamond)] == ["gold", "diamond"]
    with pytest.raises(ValidationError, match="not available to members at level gold"):
        redemption_create(member=gold, item=item, key="R-gold", at=local(2026, 4, 2))
    redemption_create(member=diamond, item=item, key="R-diamond", at=local(2026, 4, 2))
    assert points_available_get(member=diamond, at=local(2026, 4, 2)) == 4650 - 1500  # points capped at 4,650 a month


def test_making_a_program_active_schedules_every_app_s_daily_work_in_its_time_zone_and_reloading_changes_nothing():
    from django_celery_beat.models import PeriodicTask

    program_load(name="default")
    weibo, changes = program_load(name="weibo", activate=True)
    assert weibo.is_active and changes
    names = set(PeriodicTask.objects.filter(enabled=True).values_list("name", flat=True))
    assert {"Monthly settlement", "Daily rules", "Daily benefits", "Daily paid membership", "Dashboard ledger totals"} <= names
    assert program_load(name="weibo") == (weibo, 0)


def test_after_a_switch_every_page_and_file_shows_the_level_the_member_holds_under_the_new_program(program, client, django_user_model, tmp_path):
    from django.core.management import call_command

    from membership.selectors import dashboard_get, member_export_rows

    staff = django_user_model.objects.create_superuser("switch-viewer", password="pw")
    high, middle, never = MemberFactory(member_id="SW-HIGH"), MemberFactory(member_id="SW-MID"), MemberFactory(member_id="SW-NEW")
    growth_adjust(member=high, amount=60000, reason="history", actor=staff, effective_at=local(2026, 1, 5))
    growth_adjust(member=middle, amount=6000, reason="history", actor=staff, effective_at=local(2026, 1, 5))
    settle("2026-01")
    former = Level.objects.get(program=program, code="V4")
    alipay, _ = program_load(name="alipay", activate=True)
    diamond, platinum, regular = (alipay.levels.get(code=code) for code in ("diamond", "platinum", "regular"))

    assert {row["member_id"]: row["level"] for row in member_export_rows()} == {"SW-HIGH": "diamond", "SW-MID": "platinum", "SW-NEW": "regular"}
    call_command("export_members", str(tmp_path / "members.csv"))
    assert "SW-HIGH,diamond," in (tmp_path / "members.csv").read_text()
    pyramid = {row["code"]: row["members"] for row in dashboard_get()["pyramid"]}
    assert pyramid == {"regular": 1, "gold": 0, "platinum": 1, "diamond": 1}

    client.force_login(staff)
    listing = client.get(reverse("admin:membership_member_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert str(diamond) in listing and str(platinum) in listing and f">{former}<" not in listing
    only_diamond = client.get(reverse("admin:membership_member_changelist"), {"level__id__exact": diamond.pk}).content.decode()
    assert "SW-HIGH" in only_diamond and "SW-MID" not in only_diamond
    only_regular = client.get(reverse("admin:membership_member_changelist"), {"level__id__exact": regular.pk}).content.decode()
    assert "SW-NEW" in only_regular and "SW-HIGH" not in only_regular
    assert client.get(reverse("admin:membership_member_changelist"), {"level__id__exact": "x"}).status_code in (200, 302)
    page = client.get(reverse("admin:membership_member_change", args=[high.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert str(diamond) in page and "before the switch" in page

    exported = client.post(reverse("admin:membership_member_export"), {"format": "0", "resource": "0", "export_items": [], **{
        f"memberexportresource_{name}": "on" for name in ("member_id", "level")}})
    assert exported.status_code == 200 and b"SW-HIGH,diamond" in exported.content
