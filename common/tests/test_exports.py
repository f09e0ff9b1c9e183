"""Downloads of the long lists: as filtered and searched, streamed, CSV and Excel, no formula."""

import csv
import io

import openpyxl
import pytest
from django.contrib import admin
from django.urls import reverse

from common import exports
from common.exports import StreamedExportMixin
from membership.services import order_book
from membership.tests.factories import MemberFactory, local, order
from riskcontrol.services import adjustment_request

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def read_csv(response) -> list[list[str]]:
    text = body(response).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads the Chinese right
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.fixture
def ledger(program, admin_user):
    first, second = MemberFactory(member_id="X1"), MemberFactory(member_id="X2")
    for n in range(3):
        order_book(facts=order(f"O{n}", first, local(2026, 3, 1 + n), goods="100"))
    order_book(facts=order("P1", second, local(2026, 3, 5), goods="50"))
    adjustment_request(member=first, currency="growth", amount=7, reason_code="goodwill", reason="=HYPERLINK(\"http://x\")", actor=admin_user)
    return first, second


def test_a_ledger_downloads_as_searched_and_filtered_with_its_headers_and_no_formula(admin_client, ledger):
    url = reverse("admin:membership_growthentry_download", args=["csv"])
    rows = read_csv(admin_client.get(url, {"q": "X1"}))
    assert rows[0][:4] == ["effective at", "member", "kind", "amount"]
    assert [r[1] for r in rows[1:]] == ["X1"] * 4  # the searched member only, newest first as the list
    assert [r[6] for r in rows[1:]][1:] == ["O2", "O1", "O0"]
    assert rows[1][8] == "Goodwill gesture: =HYPERLINK(\"http://x\")"  # mid-text, harmless
    assert rows[2][0] == "2026-03-03 00:00:00"  # local time
    adjusted = read_csv(admin_client.get(url, {"source__exact": "adjustment"}))
    assert len(adjusted) == 2 and adjusted[1][2] == "Adjustment"  # kinds by their labels

    page = admin_client.get(reverse("admin:membership_growthentry_changelist"), {"q": "X1"}).content.decode()
    assert f'href="{url}?q=X1" class="download"' in page  # the list's links keep its filters


def test_the_excel_download_holds_numbers_as_numbers_and_texts_safe(admin_client, program, admin_user):
    member = MemberFactory(member_id="=cmd|'/C calc'!A0")
    adjustment_request(member=member, currency="points", amount=9, reason_code="goodwill", reason="ok", actor=admin_user)
    response = admin_client.get(reverse("admin:riskcontrol_manualadjustment_download", args=["xlsx"]))
    assert response["Content-Disposition"].startswith('attachment; filename="ManualAdjustment-')
    sheet = openpyxl.load_workbook(io.BytesIO(body(response))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("requested at", "member", "currency", "amount")
    assert rows[1][1] == "'=cmd|'/C calc'!A0" and rows[1][3] == 9 and rows[1][7] == "Booked"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_downloads_are_streamed_a_chunk_at_a_time_and_a_sheet_says_when_it_is_full(admin_client, ledger, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_ROWS", 2)
    response = admin_client.get(reverse("admin:membership_growthentry_download", args=["csv"]))
    assert len(list(response.streaming_content)) >= 3  # the header, then every 2 rows
    monkeypatch.setattr(exports, "XLSX_MAX_DATA_ROWS", 2)
    response = admin_client.get(reverse("admin:membership_growthentry_download", args=["xlsx"]))
    rows = list(openpyxl.load_workbook(io.BytesIO(body(response))).active.iter_rows(values_only=True))
    assert len(rows) == 4 and rows[3][0].startswith("The list has more rows than a sheet holds")


def test_the_headers_in_chinese(admin_client, ledger):
    admin_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/admin/"})
    rows = read_csv(admin_client.get(reverse("admin:points_pointsentry_download", args=["csv"])))
    assert rows[0][:4] == ["生效时间", "会员", "类型", "数额"] and "发放" in {r[2] for r in rows[1:]}


def test_every_streamed_list_downloads_and_needs_the_right_to_view_it(admin_client, client, django_user_model, ledger):
    streamed = [m for m, model_admin in admin.site._registry.items() if isinstance(model_admin, StreamedExportMixin)]
    names = {m._meta.model_name for m in streamed}
    assert {"growthentry", "pointsentry", "levelchange", "redemption", "alert", "blockedcredit", "listentry", "manualadjustment"} <= names
    nobody = django_user_model.objects.create_user("nobody", is_staff=True)
    client.force_login(nobody)
    for model in streamed:
        for file_format in ("csv", "xlsx"):
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_download", args=[file_format])
            assert admin_client.get(url).status_code == 200, url
            assert client.get(url).status_code == 403, url
    assert admin_client.get(reverse("admin:membership_growthentry_download", args=["pdf"])).status_code == 404
    unknown = admin_client.get(reverse("admin:membership_growthentry_download", args=["csv"]), {"effective_at__gte": "not a date"})
    assert unknown.status_code == 302 and unknown.url.endswith("?e=1")  # as the list answers it


def test_a_workbook_leaves_out_what_xml_cannot_hold():
    data = b"".join(exports.xlsx_stream(["name", "n"], [["bell\x07 tab\t line\r\nend", 3], ["=1+1", 4.5]]))
    rows = list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    assert rows == [("name", "n"), ("bell tab\t line\r\nend", 3), ("=1+1", 4.5)]  # cells are made safe before (export_rows)
