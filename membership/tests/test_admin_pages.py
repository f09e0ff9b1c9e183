"""Every admin page opens: changelists, add forms, change forms, with data in them."""

from datetime import date

import re

import pytest
from django.contrib import admin
from django.urls import reverse

from membership.models import Member
from membership.services import event_record, order_book, settlement_run_execute
from membership.tests.factories import SHANGHAI, MemberFactory, local, order
from riskcontrol.services import adjustment_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(program, admin_user):

    from membership.models import EarningRule

    EarningRule.objects.create(program=program, code="check-in", name="check-in", kind="event_fixed", currency="growth", params={"event_type": "check_in", "amount": 5})
    m = MemberFactory()
    order_book(facts=order("O1", m, local(2026, 3, 1), goods="5000"))
    event_record(member_id=m.member_id, event_type="check_in", occurred_at=local(2026, 3, 1), event_id="e1")
    adjustment_request(member=m, currency="points", amount=10, reason_code="goodwill", reason="x", actor=admin_user)
    settlement_run_execute(month=date(2026, 3, 1))
    return m


def test_every_registered_admin_page_opens(admin_client, data):
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        changelist = admin_client.get(reverse("admin:%s_%s_changelist" % info))
        assert changelist.status_code == 200, info
        add = admin_client.get(reverse("admin:%s_%s_add" % info))
        assert add.status_code in (200, 403), info
        obj = model_admin.get_queryset(changelist.wsgi_request).first()
        if obj is not None:
            change = admin_client.get(reverse("admin:%s_%s_change" % info, args=[obj.pk]))
            assert change.status_code == 200, info


def test_member_search_by_id_phone_and_name(admin_client, data):
    data.phone, data.name = "13912345678", "王小明"
    data.save()
    url = reverse("admin:membership_member_changelist")
    for query in (data.member_id, "13912345678", "小明"):
        assert data.member_id in admin_client.get(url, {"q": query}).content.decode()


def test_customer_service_finds_a_member_by_the_phones_last_digits_the_ids_beginning_or_the_name(program):
    from membership.selectors import members_search

    caller = MemberFactory(member_id="JD-2026-0042", name="王小明", phone="+86 139-1234-5678")
    neighbour = MemberFactory(member_id="JD-2025-7777", name="李雷", phone="13900005678")
    other = MemberFactory(member_id="TB-1", name="韩梅梅", phone="13800001234")

    def found(term):
        return set(members_search(Member.objects.all(), term).values_list("member_id", flat=True))

    assert found("5678") == {caller.member_id, neighbour.member_id}  # the last four digits, formatting ignored
    assert found("45678") == {caller.member_id}
    assert found("1234-5678") == {caller.member_id}  # written as the caller says it
    assert found("678") == set()  # fewer than four digits: no phone matches
    assert found("JD-2026") == {caller.member_id}  # the beginning of an id
    assert found("JD-") == {caller.member_id, neighbour.member_id}
    assert found("2026-0042") == set()  # an id's middle is not its beginning
    assert found("小明") == {caller.member_id}  # part of a name
    assert found("13800001234") == {other.member_id}  # a whole phone: that member only
    assert found("TB-1") == {other.member_id}  # a whole id, though it begins others' ids too
    assert found("  ") == {caller.member_id, neighbour.member_id, other.member_id}
    other.phone = ""
    other.save()
    assert found("1234") == set()  # the key follows the phone



def program_form_data(client, program):
    """The program change form as the browser would post it back, unchanged."""
    page = client.get(reverse("admin:membership_program_change", args=[program.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k != "is_active"}
    data["is_active"] = "on"
    prefixes = {}
    for inline in page.context["inline_admin_formsets"]:
        fs = inline.formset
        prefixes[fs.model._meta.model_name] = fs.prefix
        data.update({f"{fs.prefix}-TOTAL_FORMS": len(fs.forms), f"{fs.prefix}-INITIAL_FORMS": len(fs.forms), f"{fs.prefix}-MIN_NUM_FORMS": 0, f"{fs.prefix}-MAX_NUM_FORMS": 1000})
        for i, f in enumerate(fs.forms):
            for name, field in f.fields.items():
                value = f.initial.get(name, "")
                if name == "id":
                    value = f.instance.pk
                elif name == fs.fk.name:
                    value = program.pk
                elif name == "params":
                    value = field.prepare_value(value)
                data[f"{fs.prefix}-{i}-{name}"] = "" if value is None else value
    return data, prefixes


def test_program_admin_saves_an_unchanged_form(admin_client, program):
    data, _ = program_form_data(admin_client, program)
    response = admin_client.post(reverse("admin:membership_program_change", args=[program.pk]), data)
    errors = response.context and [response.context["adminform"].form.errors, [fs.formset.errors for fs in response.context["inline_admin_formsets"]]]
    assert response.status_code == 302, errors


def test_an_earning_rule_is_edited_through_the_typed_fields_of_its_type(admin_client, program):
    from django.core.exceptions import ValidationError

    from membership.models import EarningRule

    rule = EarningRule.objects.filter(program=program, kind="order_amount").first()
    url = reverse("admin:membership_earningrule_change", args=[rule.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="order_amount__rate"' in page and 'name="event_fixed__event_type"' in page and 'name="params"' not in page
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if not name.startswith(("event_fixed__", "daily__"))}  # as the page shows them
    data = {k: v for k, v in data.items() if v is not None and v is not False}
    data.update({"is_active": "on", "order_amount__rate": "-3"})
    refused = admin_client.post(url, data)
    assert refused.status_code == 200 and "Ensure this value is greater than or equal to 0." in refused.content.decode()
    data.update({"order_amount__rate": "1.5", "order_amount__per_order_cap": "800", "order_amount__categories": "food, books"})
    assert admin_client.post(url, data).status_code == 302
    rule.refresh_from_db()
    assert rule.params == {"rate": 1.5, "per_order_cap": 800, "statuses": ["completed"], "categories": ["food", "books"]}
    assert "rate=1.5" in admin_client.get(reverse("admin:membership_program_change", args=[program.pk])).content.decode()

    # Every door: a parameter the rule type does not read is refused, named.
    rule.params = {"rate": 1, "min_order_value": 10}
    with pytest.raises(ValidationError, match="unknown parameter min_order_value: this rule type takes rate, per_order_cap"):
        rule.full_clean()


def test_program_admin_refuses_thresholds_that_do_not_rise(admin_client, program):
    data, prefixes = program_form_data(admin_client, program)
    data[f"{prefixes['level']}-2-threshold"] = "900"  # V2 below V1's 1,000
    response = admin_client.post(reverse("admin:membership_program_change", args=[program.pk]), data)
    assert response.status_code == 200 and b"is not above V1 (1000)" in response.content
    assert program.levels.get(code="V2").threshold == 5000


@pytest.mark.parametrize(
    "levels, message",
    [
        ([("V0", 0, 0), ("V1", 1, 1000), ("V2", 2, 1000)], "V2 (1000) is not above V1 (1000)"),
        ([("V0", 0, 10), ("V1", 1, 1000)], "lowest level V0 must have threshold 0"),
        ([("V1", 1, 500), ("V0", 0, 0), ("V2", 2, 400)], "V2 (400) is not above V1 (500)"),
    ],
)
def test_level_thresholds_must_rise_with_rank(levels, message):
    from django.core.exceptions import ValidationError

    from membership.services import levels_validate

    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        levels_validate(levels)


def test_console_switches_to_chinese(admin_client, program):
    response = admin_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/admin/"})
    assert response.status_code == 302
    page = admin_client.get(reverse("admin:index"))
    assert page.status_code == 200
    content = page.content.decode()
    # Django's own strings and ours: the branding, the apps and the ledgers are in Chinese.
    for text in ("会员运营后台", "会员计划", "成长值流水", "积分流水", "结算批次", "手工调整"):
        assert text in content, text
    MemberFactory()
    members = admin_client.get(reverse("admin:membership_member_changelist")).content.decode()
    assert "会员编号" in members and "等级" in members


def settle_the_month_before():
    """The month before is settled: the next settlement is this month's (its window holds today)."""
    from django.utils import timezone

    from common.timeutil import add_months
    from membership.services import settlement_run_execute

    settlement_run_execute(month=add_months(timezone.localdate().replace(day=1), -1))


def test_member_page_explains_the_level_and_the_distance_to_the_next(admin_client, program):
    from django.utils import timezone

    from membership.services import order_book as book

    settle_the_month_before()
    m = MemberFactory()
    book(facts=order("ORECENT", m, timezone.now() - timezone.timedelta(days=1), goods="1500"))
    page = admin_client.get(reverse("admin:membership_member_change", args=[m.pk])).content.decode()
    assert "1,500 growth in the window" in page
    assert "reaches V1 or higher at the next settlement" in page  # still V0 until a settlement places them
    assert "1,500 available" in page


def test_the_front_page_dashboard_shows_the_pyramid_the_months_and_the_liability(admin_client, program, settings):
    settings.DASHBOARD_CACHE_SECONDS = 0
    import json
    import re

    from django.contrib.staticfiles import finders
    from django.utils import timezone

    from membership.services import order_book as book
    from membership.services import settlement_run_execute

    from common.timeutil import add_months

    members = [MemberFactory() for _ in range(3)]
    last_month = add_months(timezone.localdate().replace(day=1), -1)  # a month that has ended can be settled
    paid = timezone.now() - (timezone.localdate() - last_month)
    book(facts=order("D1", members[0], paid, goods="1500"))
    book(facts=order("D2", members[1], paid, goods="6000.50"))
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboard-members" data-value="3"><a href="/admin/membership/member/">3<' in page
    assert 'id="dashboard-outstanding" data-value="7500"><a href="/admin/points/pointsaccount/">7,500<' in page and "¥75.00" in page
    pyramid = json.loads(re.search(r'id="dashboard-pyramid" type="application/json">(.*?)</script>', page).group(1))
    assert [(level["code"], level["members"]) for level in pyramid] == [("V0", 3), ("V1", 0), ("V2", 0), ("V3", 0), ("V4", 0)]
    series = json.loads(re.search(r'id="dashboard-series" type="application/json">(.*?)</script>', page).group(1))
    assert series["growth"][-2] == 7500 and series["points_issued"][-2] == 7500
    assert "chart-4.4.7.umd.js" in page and finders.find("membership/vendor/chart-4.4.7.umd.js")
    settlement_run_execute(month=last_month)
    page = admin_client.get(reverse("admin:index")).content.decode()
    pyramid = json.loads(re.search(r'id="dashboard-pyramid" type="application/json">(.*?)</script>', page).group(1))
    assert [level["members"] for level in pyramid] == [1, 1, 1, 0, 0]


def test_member_page_forecasts_the_next_level_and_warns_of_a_downgrade(admin_client, program):
    from django.utils import timezone

    from common.timeutil import add_months, month_last_day
    from membership.models import Level, Member
    from membership.services import order_book as book

    settle_the_month_before()
    today = timezone.localdate()
    climber = MemberFactory()
    two_months_ago = timezone.now() - timezone.timedelta(days=62)
    book(facts=order("F1", climber, two_months_ago, goods="3000"))
    Member.objects.filter(pk=climber.pk).update(level=Level.objects.get(code="V1"), level_valid_until=month_last_day(add_months(today, 6)))
    page = admin_client.get(reverse("admin:membership_member_change", args=[climber.pk])).content.decode()
    assert "about 2 month(s) at the pace of the last 3 months (1,000 a month)" in page
    assert "2,000 more to reach V2" in page and "Warning" not in page

    lapsing = MemberFactory()
    Member.objects.filter(pk=lapsing.pk).update(level=Level.objects.get(code="V2"), level_valid_until=month_last_day(today))
    page = admin_client.get(reverse("admin:membership_member_change", args=[lapsing.pk])).content.decode()
    assert f"the settlement of {today:%Y-%m} drops this member to V1 unless 5,000 more growth is earned this month" in page
    Member.objects.filter(pk=lapsing.pk).update(level_valid_until=month_last_day(add_months(today, 1)))
    page = admin_client.get(reverse("admin:membership_member_change", args=[lapsing.pk])).content.decode()
    assert "drops this member" not in page


def test_member_page_lists_the_latest_ledger_entries_and_links_the_whole_ledger(admin_client, program):
    member = MemberFactory(member_id="LEDGER1")
    for n in range(12):
        order_book(facts=order(f"L{n}", member, local(2026, 1, 1 + n), goods=str(100 + n)))
    page = admin_client.get(reverse("admin:membership_member_change", args=[member.pk])).content.decode()
    assert "+111" in page and "+102" in page and "+101" not in page  # the ten newest
    assert f'{reverse("admin:membership_growthentry_changelist")}?q=LEDGER1' in page
    ledger = admin_client.get(reverse("admin:membership_growthentry_changelist"), {"q": "LEDGER1", "kind__exact": "credit"})
    assert ledger.status_code == 200 and ledger.context["cl"].result_count == 12


def test_what_if_shows_how_other_thresholds_move_members_and_saves_nothing(admin_client, program):
    from django.utils import timezone

    from membership.models import Level
    from membership.services import order_book as book

    settle_the_month_before()
    for n, goods in enumerate(("1200", "4000", "6000")):
        book(facts=order(f"W{n}", MemberFactory(), timezone.now(), goods=goods))
    url = reverse("admin:membership_program_whatif", args=[program.pk])
    assert url in admin_client.get(reverse("admin:membership_program_change", args=[program.pk])).content.decode()
    response = admin_client.post(url, {"V0": 0, "V1": 1000, "V2": 3000, "V3": 20000, "V4": 50000})
    rows = {level.code: (now, proposed) for level, now, proposed, _ in response.context["rows"]}
    assert rows["V1"] == (2, 1) and rows["V2"] == (1, 2)
    assert Level.objects.get(program=program, code="V2").threshold == 5000  # nothing saved
    response = admin_client.post(url, {"V0": 0, "V1": 6000, "V2": 5000, "V3": 20000, "V4": 50000})
    assert "thresholds must rise with rank" in response.content.decode()


def test_every_admin_action_runs(admin_client, data):
    """Each action of each admin, on the first object of its list: it answers, never fails."""
    ran = []
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        changelist = admin_client.get(reverse("admin:%s_%s_changelist" % info))
        actions = model_admin.get_actions(changelist.wsgi_request)
        obj = model_admin.get_queryset(changelist.wsgi_request).first()
        if obj is None:
            continue
        for name in actions:
            response = admin_client.post(
                reverse("admin:%s_%s_changelist" % info), {"action": name, "_selected_action": [obj.pk], "index": 0}
            )
            assert response.status_code in (200, 302), (info, name, response.status_code)
            ran.append(f"{info[1]}.{name}")
    assert "manualadjustment.approve_adjustments" in ran and "manualadjustment.reject_adjustments" in ran


def test_member_page_renders_the_sections_other_apps_register(admin_client, program):
    from django.utils.html import format_html

    from membership.hooks import MEMBER_SECTIONS, member_section

    m = MemberFactory()
    member_section("probe", title="Probe section", order=1)(lambda *, member, request: format_html("<b>{}</b>", member.member_id))
    try:
        page = admin_client.get(reverse("admin:membership_member_change", args=[m.pk])).content.decode()
    finally:
        MEMBER_SECTIONS.pop("probe")
    assert "Probe section" in page and f"<b>{m.member_id}</b>" in page


def test_the_dashboard_reads_monthly_totals_and_adds_what_was_booked_since(program, settings):
    from datetime import timedelta

    from django.utils import timezone

    from membership.models import LedgerMonthTotal
    from membership.selectors import dashboard_get
    from membership.totals import ledger_totals_refresh

    this_month = timezone.now().astimezone(SHANGHAI)
    member = MemberFactory()
    order_book(facts=order("T1", member, this_month - timedelta(days=40), goods="300"))
    order_book(facts=order("T2", member, this_month, goods="200"))
    from_ledgers = dashboard_get()["series"]
    later = timezone.now() + timedelta(hours=1)
    assert ledger_totals_refresh(time_zone="Asia/Shanghai", now=later) == 4  # 2 growth + 2 points entries
    assert ledger_totals_refresh(time_zone="Asia/Shanghai", now=later) == 0
    assert LedgerMonthTotal.objects.filter(series="growth").count() == 2
    assert dashboard_get()["series"] == from_ledgers
    order_book(facts=order("T2", member, this_month, status="refunded", goods="200", refunded="200"))
    after = dashboard_get()["series"]  # the reversal is not summed yet: read from the ledger
    assert after["growth"][-1] == 0 and after["points_reversed"][-1] == 200
    ledger_totals_refresh(time_zone="Asia/Shanghai", now=later + timedelta(hours=1))
    assert dashboard_get()["series"] == after


def test_the_member_lists_level_filter_offers_the_active_programs_levels(admin_client, program):
    from membership.services import program_load

    program_load(name="jd-growth")  # loaded, not active
    page = admin_client.get(reverse("admin:membership_member_changelist")).content.decode()
    start = page.index('data-filter-title="level"') if 'data-filter-title="level"' in page else page.index("By level")
    offered = re.findall(r"level__id__exact=(\d+)", page[start : page.index("</details>", start)])
    assert [int(pk) for pk in offered] == list(program.levels.order_by("rank").values_list("pk", flat=True))


@pytest.mark.parametrize("field, value, message", [
    ("phone", "abc-not-a-phone", "abc-not-a-phone is not a phone number: digits, with an optional + in front, 5 to 20 of them."),
    ("phone", "1234", "1234 is not a phone number: digits, with an optional + in front, 5 to 20 of them."),
    ("birthday", date(2099, 1, 1), "2099-01-01 is not a birthday: it must be a day between 1900-01-01 and today."),
    ("birthday", date(1850, 5, 1), "1850-05-01 is not a birthday: it must be a day between 1900-01-01 and today."),
])
def test_a_phone_or_birthday_that_cannot_be_is_refused_in_a_sentence_by_every_door(program, field, value, message):
    from django.core.exceptions import ValidationError

    from membership.services import member_upsert, members_upsert_batch

    with pytest.raises(ValidationError) as refused:
        member_upsert(member_id="BAD1", **{field: value})
    assert refused.value.message_dict == {field: [message]}
    (outcome,) = members_upsert_batch(rows=[{"member_id": "BAD2", field: value}]).outcomes
    assert (outcome.field, outcome.message) == (field, message)
    assert not Member.objects.filter(member_id__in=["BAD1", "BAD2"]).exists()


def test_a_written_phone_and_a_past_birthday_are_taken(program):
    from membership.services import member_upsert

    member, outcome = member_upsert(member_id="OK1", phone="+86 139-0000-0000", birthday=date(1990, 2, 28))
    assert outcome == "created" and member.phone == "+86 139-0000-0000"


def test_the_member_page_warns_when_the_phone_is_shared(admin_client, program):
    from membership.tests.factories import MemberFactory

    shared = [MemberFactory(phone="13900000001") for _ in range(3)]
    alone = MemberFactory(phone="13900000002")
    page = admin_client.get(reverse("admin:membership_member_change", args=[shared[0].pk])).content.decode()
    assert "Phone 13900000001 is also the phone of 2 other members: check that they are not the same person." in page
    page = admin_client.get(reverse("admin:membership_member_change", args=[alone.pk])).content.decode()
    assert "is also the phone of" not in page


def test_the_dashboard_groups_big_figures_and_money_in_both_languages(admin_client, program, settings):
    from django.utils import timezone

    from membership.models import Source
    from points.services import points_credit

    settings.DASHBOARD_CACHE_SECONDS = 0
    for n in range(3):
        points_credit(program=program, member=MemberFactory(), amount=1_234_567, effective_at=timezone.now(), source=Source.EVENT, idempotency_key=f"big-{n}")
    page = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert ">3,703,701<" in page and "¥37,037.01" in page
    page = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">3,703,701<" in page and "37,037.01" in page


def test_in_english_levels_show_their_english_names(admin_client, program):
    from membership.models import Level

    Level.objects.filter(program=program, code="V1").update(name="白银会员", name_en="Silver")
    member = MemberFactory(level=Level.objects.get(program=program, code="V1"))
    english = admin_client.get(reverse("admin:membership_member_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = admin_client.get(reverse("admin:membership_member_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "V1 Silver" in english and "V1 白银会员" in chinese
    assert member.member_id in english
