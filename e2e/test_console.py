"""The console in a real browser: Playwright driving Chromium, headless, against a live server.

Each test keeps a screenshot under ``artifacts/``.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from membership.models import Order, SettlementRun
from membership.tests.factories import MemberFactory
from riskcontrol.models import ManualAdjustment

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)"), pytest.mark.django_db(transaction=True)]
# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def staff(django_user_model, program):
    def make(name, *roles):
        user = django_user_model.objects.create_user(name, password="pw-" + name, is_staff=True)
        user.groups.set(Group.objects.filter(name__in=roles))
        return user

    return make


_CONTEXTS = []


@pytest.fixture(autouse=True)
def _browser_contexts_closed():
    """Each test's browser contexts are closed after it: a context left open keeps its HTTP
    connections to the live server alive, and with them a server thread and its database
    connection (PostgreSQL runs out of connections after a couple of dozen tests)."""
    yield
    while _CONTEXTS:
        _CONTEXTS.pop().close()


def signed_in(browser, live_server, username, locale="en-US"):
    context = browser.new_context(locale=locale)
    _CONTEXTS.append(context)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-" + username)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return page


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_sign_in_and_find_a_member(browser, live_server, staff):
    staff("viewer", "Viewer")
    MemberFactory(member_id="E2E0001", name="张三")
    page = signed_in(browser, live_server, "viewer")
    assert page.locator("#dashboard").is_visible()
    page.goto(f"{live_server.url}/admin/membership/member/")
    page.fill("#searchbar", "E2E0001")
    page.press("#searchbar", "Enter")
    page.click("text=E2E0001")
    page.wait_for_selector(".field-level_progress")
    assert "张三" in page.content()
    shot(page, "find-a-member")


def test_an_adjustment_above_the_threshold_is_approved_by_a_second_person(browser, live_server, staff):
    staff("operator", "Operator")
    staff("approver", "Approver")
    MemberFactory(member_id="E2E0002")
    page = signed_in(browser, live_server, "operator")
    page.goto(f"{live_server.url}/admin/riskcontrol/manualadjustment/add/")
    page.click(".field-member .select2-selection")
    page.fill(".select2-search__field", "E2E0002")
    page.click(".select2-results__option:has-text('E2E0002')")
    page.select_option("#id_currency", "points")
    page.fill("#id_amount", "5000")
    page.select_option("#id_reason_code", "compensation")
    page.fill("#id_reason", "parcel lost twice")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    assert "waits for another staff member" in page.content()
    assert ManualAdjustment.objects.get().status == "pending"

    page = signed_in(browser, live_server, "approver")
    page.goto(f"{live_server.url}/admin/riskcontrol/manualadjustment/")
    page.check("input.action-select")
    page.select_option("select[name=action]", "approve_adjustments")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert ManualAdjustment.objects.get().status == "booked"
    shot(page, "adjustment-approved")


def test_import_a_small_csv_with_its_preview(browser, live_server, staff, tmp_path):
    staff("operator", "Operator")
    MemberFactory(member_id="E2E0003")
    path = tmp_path / "orders.csv"
    path.write_text("order_id,member_id,paid_at,status,goods_amount\nE1,E2E0003,2026-03-01 10:00,completed,120.50\nE2,E2E0003,2026-03-02 10:00,paid,80\n")
    page = signed_in(browser, live_server, "operator")
    page.goto(f"{live_server.url}/admin/membership/order/import/")
    page.set_input_files("#id_import_file", str(path))
    page.select_option("#id_format", index=1)
    page.click("input[type=submit]")
    page.wait_for_selector("table.import-preview")
    shot(page, "import-preview")
    assert not Order.objects.exists()
    page.click("input[name=confirm]")
    page.wait_for_selector(".messagelist")
    assert Order.objects.count() == 2
    shot(page, "import-done")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_an_import_with_rejected_rows_books_the_valid_ones_and_keeps_the_rejected(browser, live_server, staff, tmp_path, settings, locale):
    settings.MEDIA_ROOT = tmp_path / "media"
    staff("operator", "Operator")
    MemberFactory(member_id="E2E0005")
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,member_id,paid_at,status,goods_amount\nR1,E2E0005,2026-03-01 10:00,completed,120.50\n"
        "R2,NOBODY,2026-03-02 10:00,paid,80\nR3,E2E0005,yesterday,paid,80\n"
    )
    page = signed_in(browser, live_server, "operator", locale)
    page.goto(f"{live_server.url}/admin/membership/order/import/")
    page.set_input_files("#id_import_file", str(path))
    page.select_option("#id_format", index=1)
    page.click("input[type=submit]")
    page.wait_for_selector("#rejected-rows")
    rows = page.inner_text("#rejected-rows")
    if locale == "zh-CN":  # the reasons in the page's language
        assert "未知会员 'NOBODY'" in rows and "paid_at 'yesterday' 不是 ISO 8601 格式" in rows and "unknown member" not in rows
    else:
        assert "unknown member 'NOBODY'" in rows and "paid_at 'yesterday' is not an ISO 8601 date" in rows
    shot(page, f"import-rejected-rows-{locale}")
    page.click("input[name=confirm]")
    page.wait_for_selector(".messagelist")
    assert list(Order.objects.values_list("order_id", flat=True)) == ["R1"]
    assert page.locator("a[href$='/rejected/']").count() == 1  # the rejected-rows file, on the job's page
    shot(page, f"import-rejected-rows-kept-{locale}")


def test_a_settlement_dry_run(browser, live_server, staff):
    staff("programadmin", "Program admin")
    MemberFactory(member_id="E2E0004")
    page = signed_in(browser, live_server, "programadmin")
    page.goto(f"{live_server.url}/admin/membership/settlementrun/")
    page.click("text=Settle a month")
    page.fill("#id_month", "2026-10")
    page.click("input[name=preview]")
    page.wait_for_selector("#preview-up")
    assert page.inner_text("#preview-up") == "0"
    assert not SettlementRun.objects.exists()
    shot(page, "settlement-dry-run")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_settlement_is_previewed_then_confirmed(browser, live_server, staff, locale):
    from datetime import date

    from config.celery_app import app as celery_app
    from membership.services import growth_adjust
    from membership.tests.factories import local

    boss = staff("programadmin", "Program admin")
    member = MemberFactory(member_id="E2E0006")
    growth_adjust(member=member, amount=6000, reason="e2e", actor=boss, effective_at=local(2026, 10, 5))
    page = signed_in(browser, live_server, "programadmin", locale)
    page.goto(f"{live_server.url}/admin/membership/settlementrun/settle/")
    page.fill("#id_month", "2026-10")
    page.click("input[name=preview]")
    page.wait_for_selector("#preview-up")
    assert page.inner_text("#preview-up") == "1" and not SettlementRun.objects.exists()
    shot(page, f"settlement-confirmation-{locale}")
    celery_app.conf.task_always_eager = True  # the workers' task, run in the server for the test
    try:
        page.click("input[name=run]")
        page.wait_for_selector(".messagelist")
    finally:
        celery_app.conf.task_always_eager = False
    run = SettlementRun.objects.get()
    assert (run.month, run.status, run.members_up, run.started_by) == (date(2026, 10, 1), "done", 1, boss)
    shot(page, f"settlement-started-{locale}")


def test_an_export_reopened_in_a_spreadsheet_runs_no_formula(browser, live_server, staff, tmp_path):
    import openpyxl

    staff("viewer", "Viewer")
    MemberFactory(member_id="=HYPERLINK(\"http://x\")", name="=cmd|'/C calc'!A0", phone="+86 139 0000 0001")
    page = signed_in(browser, live_server, "viewer")
    page.goto(f"{live_server.url}/admin/membership/member/export/")
    page.select_option("#id_format", label="xlsx")
    with page.expect_download() as download:
        page.click("input[type=submit]")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    shot(page, "export-members")
    sheet = openpyxl.load_workbook(path).active
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row if cell.value is not None]
    assert cells and all(cell.data_type != "f" for cell in cells)  # no formula anywhere
    values = {cell.value for cell in cells}
    assert "'=cmd|'/C calc'!A0" in values and "'=HYPERLINK(\"http://x\")" in values


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_an_adjustment_asked_from_the_member_page_waits_in_the_approvers_inbox(browser, live_server, staff, program, locale):
    program.adjustment_approval_threshold = 100
    program.save()
    staff("operator", "Operator", "Viewer")
    approver = staff("approver", "Approver", "Viewer")
    member = MemberFactory(member_id="E2E0010")
    page = signed_in(browser, live_server, "operator", locale)
    page.goto(f"{live_server.url}/admin/membership/member/{member.pk}/change/")
    page.click("a.member-tool[href*='currency=points']")
    page.wait_for_selector("#id_amount")
    assert page.locator(".field-member .select2-selection").inner_text().startswith("E2E0010")  # filled in from the member page
    page.fill("#id_amount", "5000")
    page.select_option("#id_reason_code", "compensation")
    page.fill("#id_reason", "parcel lost twice")
    page.click("input[name=_save]")
    page.wait_for_selector("#member-timeline")  # back on the member page
    assert page.url.endswith(f"/admin/membership/member/{member.pk}/change/")
    assert ManualAdjustment.objects.get().status == "pending"
    shot(page, f"adjustment-asked-from-member-page-{locale}")

    page = signed_in(browser, live_server, "approver", locale)
    waiting = page.inner_text("#approvals-waiting").lower()  # the header shows its links in capitals
    assert ("1 waits for your approval" if locale == "en-US" else "1 项等待您审批") in waiting
    shot(page, f"approvals-inbox-front-page-{locale}")
    page.click("#approvals-waiting")
    page.click("#result_list tbody tr th a")
    page.wait_for_selector("#decision")
    page.fill("#decision #id_note", "parcel confirmed lost")
    shot(page, f"approvals-decision-{locale}")
    page.click("#decision input[name=approve]")
    page.wait_for_selector(".messagelist")
    adjustment = ManualAdjustment.objects.get()
    assert (adjustment.status, adjustment.decided_by, adjustment.decision_note) == ("booked", approver, "parcel confirmed lost")
    assert page.locator("#approvals-waiting").count() == 0

    page = signed_in(browser, live_server, "operator", locale)
    decided = page.inner_text("#decided")
    assert "approver" in decided and "parcel confirmed lost" in decided
    shot(page, f"approvals-outcome-for-the-requester-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_customer_service_finds_a_caller_by_the_phones_last_digits_and_redeems_for_them(browser, live_server, staff, program, locale):
    from datetime import timedelta

    from django.utils import timezone

    from mall.models import Redemption
    from mall.tests.factories import at_level, earn, item
    from membership.services import order_book
    from membership.tests.factories import order

    operator = staff("operator", "Operator", "Viewer")
    member = at_level(MemberFactory(member_id="E2E0011", name="王小明", phone="+86 139-1234-5678"), "V4")
    MemberFactory(member_id="E2E0012", phone="13900001111")
    order_book(facts=order("E2E-O1", member, timezone.now() - timedelta(days=2), goods="300"))
    earn(program, member, 5000, timezone.now() - timedelta(days=1), "earned")
    item(program, code="youku", stock=10)
    page = signed_in(browser, live_server, "operator", locale)
    page.goto(f"{live_server.url}/admin/membership/member/")
    page.fill("#searchbar", "5678")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    shot(page, f"member-found-by-phone-suffix-{locale}")
    page.click("text=E2E0011")
    page.wait_for_selector("#member-timeline")
    assert "E2E-O1" in page.inner_text("#member-timeline")
    page.click("a.member-tool[href*='/redeem/']")
    page.wait_for_selector("#redeem")
    shot(page, f"redeem-for-the-member-{locale}")
    page.check("#redeem input[type=radio]")
    page.click("#redeem input[type=submit]")
    page.wait_for_selector("#member-timeline")
    redemption = Redemption.objects.get()
    assert (redemption.member, redemption.points, redemption.created_by) == (member, 1500, operator)
    assert "youku" in page.inner_text("#member-timeline")
    shot(page, f"member-timeline-after-redemption-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_benefits_are_suspended_from_the_member_page(browser, live_server, staff, locale):
    from riskcontrol.models import ListEntry

    operator = staff("operator", "Operator", "Viewer")
    member = MemberFactory(member_id="E2E0013")
    page = signed_in(browser, live_server, "operator", locale)
    page.goto(f"{live_server.url}/admin/membership/member/{member.pk}/change/")
    page.click("a.member-tool[href*='/suspend/']")
    page.wait_for_selector("#id_reason")
    page.fill("#id_reason", "reselling coupons")
    page.click("input[name=apply]")
    page.wait_for_selector("#member-timeline")
    entry = ListEntry.objects.get()
    assert (entry.member, entry.scope, entry.added_by) == (member, "benefits", operator)
    assert "reselling coupons" in page.inner_text("#member-timeline")
    shot(page, f"benefits-suspended-from-member-page-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_preset_is_loaded_and_the_switch_previewed_then_thresholds_applied(browser, live_server, staff, program, locale):
    from membership.models import Level, Program

    staff("programadmin", "Program admin", "Viewer")
    page = signed_in(browser, live_server, "programadmin", locale)
    page.goto(f"{live_server.url}/admin/membership/program/")
    page.click(f"a[href$='/admin/membership/program/presets/']")
    page.wait_for_selector("#preset-alipay")
    shot(page, f"presets-{locale}")
    page.click("#preset-alipay input[type=submit]")
    page.wait_for_selector(".messagelist")
    alipay = Program.objects.get(code="alipay")
    assert page.url.endswith(f"/admin/membership/program/{alipay.pk}/activate/") and not alipay.is_active
    shot(page, f"preset-loaded-switch-preview-{locale}")

    page.goto(f"{live_server.url}/admin/membership/program/{program.pk}/whatif/")
    page.fill("#id_V1", "800")
    page.click("input.default")
    page.wait_for_selector("#whatif-apply")
    assert Level.objects.get(program=program, code="V1").threshold == 1000
    page.click("#whatif-apply")
    page.wait_for_selector(".messagelist")
    assert Level.objects.get(program=program, code="V1").threshold == 800
    assert page.locator("#whatif").is_visible()  # the next settlement, under the saved thresholds
    shot(page, f"thresholds-applied-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_shared_phone_alert_is_worked_as_a_case(browser, live_server, staff, program, locale):
    from membership.tests.factories import local
    from riskcontrol.models import Alert, AnomalyRule
    from riskcontrol.services import anomaly_scan

    staff("operator", "Operator", "Viewer")
    AnomalyRule.objects.create(code="phones", name="Shared phones", kind="shared_phone", params={"min_members": 3})
    for n in range(3):
        MemberFactory(member_id=f"FARM{n}", phone="13900009999")
    anomaly_scan(since=local(2026, 3, 1), until=local(2026, 3, 2))
    alert = Alert.objects.get(member__member_id="FARM0")
    page = signed_in(browser, live_server, "operator", locale)
    page.goto(f"{live_server.url}/admin/riskcontrol/alert/")
    page.click(f"#result_list a[href$='/{alert.pk}/change/']")
    page.wait_for_selector("#alert-case")
    case = page.inner_text("#alert-case")
    assert "FARM1" in case and "FARM2" in case and "13900009999" in case
    shot(page, f"alert-case-{locale}")
    page.click("#alert-moves button[value=investigating]")
    page.wait_for_selector(".messagelist")
    page.fill("#alert-moves #id_note", "one household")
    page.click("#alert-moves button[value=resolved]")
    page.wait_for_selector(".messagelist")
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.events.order_by("pk").last().note == "one household"
    shot(page, f"alert-resolved-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_dashboard_shows_a_range_and_drills_down_to_the_lists(browser, live_server, staff, program, settings, locale):
    from datetime import timedelta

    from django.utils import timezone

    from membership.services import order_book
    from membership.tests.factories import order

    settings.DASHBOARD_CACHE_SECONDS = 0
    staff("viewer", "Viewer")
    member = MemberFactory(member_id="E2E0020", joined_at=timezone.now() - timedelta(days=3))
    order_book(facts=order("E2E-D1", member, timezone.now() - timedelta(days=1), goods="1200"))
    page = signed_in(browser, live_server, "viewer", locale)
    page.wait_for_selector("#chart-liability")
    month = f"{timezone.localdate():%Y-%m}"
    page.fill("#id_since", month)
    page.fill("#id_until", month)
    page.click("#dashboard-range input[type=submit]")
    page.wait_for_selector("#dashboard-rates")
    assert page.locator("#dashboard-rates thead th").count() == 2  # the row label and the one month
    shot(page, f"dashboard-one-month-{locale}")
    page.click("#dashboard-lifecycle a[href$='lifecycle=new']")
    page.wait_for_selector("#result_list")
    assert "E2E0020" in page.inner_text("#result_list")
    shot(page, f"dashboard-drilled-to-new-members-{locale}")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_an_anomaly_rule_is_set_up_with_the_fields_of_its_type(browser, live_server, staff, locale):
    from riskcontrol.models import AnomalyRule

    staff("programadmin", "Program admin", "Viewer")
    page = signed_in(browser, live_server, "programadmin", locale)
    page.goto(f"{live_server.url}/admin/riskcontrol/anomalyrule/add/")
    page.fill("#id_code", "refunds")
    page.fill("#id_name", "Serial refunders")
    page.select_option("#id_kind", "refund_rate")
    assert page.locator("fieldset.params-refund_rate").is_visible() and not page.locator("fieldset.params-earning_velocity").is_visible()
    page.fill("#id_refund_rate__rate", "0.6")
    page.fill("#id_refund_rate__min_orders", "4")
    shot(page, f"anomaly-rule-typed-form-{locale}")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    rule = AnomalyRule.objects.get()
    assert (rule.kind, rule.params) == ("refund_rate", {"rate": 0.6, "min_orders": 4})


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_ledger_downloads_as_filtered_and_opens_without_formulas(browser, live_server, staff, program, tmp_path, locale):
    import openpyxl

    from riskcontrol.services import adjustment_request

    boss = staff("operator", "Operator", "Viewer")
    member, other = MemberFactory(member_id="E2E0030"), MemberFactory(member_id="E2E0031")
    adjustment_request(member=member, currency="growth", amount=50, reason_code="goodwill", reason="=HYPERLINK(\"http://x\")", actor=boss)
    adjustment_request(member=other, currency="growth", amount=60, reason_code="goodwill", reason="other", actor=boss)
    page = signed_in(browser, live_server, "operator", locale)
    page.goto(f"{live_server.url}/admin/membership/growthentry/")
    page.fill("#searchbar", "E2E0030")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    with page.expect_download() as download:
        page.click("a.download[href*='/download/xlsx/']")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    shot(page, f"ledger-download-{locale}")
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert [row[1] for row in rows[1:]] == ["E2E0030"]  # the searched member only
    assert rows[0][1] == ("member" if locale == "en-US" else "会员")  # the headers in the page's language
    assert rows[1][3] == 50 and all(not str(cell).startswith("=") for row in rows for cell in row if cell is not None)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_an_earning_rule_is_added_with_the_fields_of_its_type(browser, live_server, staff, program, locale):
    from membership.models import EarningRule

    staff("programadmin", "Program admin", "Viewer")
    page = signed_in(browser, live_server, "programadmin", locale)
    page.goto(f"{live_server.url}/admin/membership/program/{program.pk}/change/")
    page.click(".object-tools a[href*='/admin/membership/earningrule/add/?program=']")
    page.wait_for_selector("#id_code")
    page.fill("#id_code", "review")
    page.fill("#id_name", "Reviews: 20 points, 3 a day")
    page.select_option("#id_kind", "event_fixed")
    page.select_option("#id_currency", "points")
    assert page.locator("fieldset.params-event_fixed").is_visible() and not page.locator("fieldset.params-order_amount").is_visible()
    page.fill("#id_event_fixed__event_type", "review")
    page.fill("#id_event_fixed__amount", "20")
    page.fill("#id_event_fixed__per_day", "3")
    shot(page, f"earning-rule-typed-form-{locale}")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    rule = EarningRule.objects.get(code="review")
    assert (rule.program, rule.kind, rule.params) == (program, "event_fixed", {"event_type": "review", "amount": 20, "per_day": 3})
