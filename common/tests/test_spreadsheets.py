"""No file the product writes holds a cell that a spreadsheet would run as a formula; numbers stay
numbers (CSV and XLSX of the admin's exports, export_members, the rejected-rows files)."""

import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from import_export.forms import SelectableFieldsExportForm

from common.spreadsheets import cell_safe
from membership.models import Member
from membership.resources import MemberExportResource, OrderExportResource
from membership.services import order_book
from membership.tests.factories import local, order

pytestmark = pytest.mark.django_db

ATTACKS = ["=cmd|'/C calc'!A0", "=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("value", ATTACKS)
def test_a_cell_that_would_start_a_formula_is_text(value):
    assert cell_safe(value) == "'" + value


@pytest.mark.parametrize("value", [-500, 12, Decimal("-1.50"), "-500", "+12.5", "张三", "a=b", "", None])
def test_numbers_and_plain_text_are_left_alone(value):
    assert cell_safe(value) == value


@pytest.fixture
def hostile(program):
    member = Member.objects.create(member_id="=HYPERLINK(\"http://evil\")", name="=cmd|'/C calc'!A0", phone="@SUM(A1)")
    order_book(facts=order("=1+1", member, local(2026, 3, 1), goods="100", category="+evil"))
    return member


def export(admin_client, resource, url_name, fmt: int):
    fields = {SelectableFieldsExportForm.create_boolean_field_name(resource, f): "on" for f in resource().get_export_order()}
    response = admin_client.post(reverse(url_name), {"format": fmt, "resource": 0, **fields})
    assert response.status_code == 200
    return response.content


def test_the_admin_csv_exports_neutralise_formulas(admin_client, hostile):
    members = export(admin_client, MemberExportResource, "admin:membership_member_export", 0).decode("utf-8-sig")
    row = next(r for r in csv.reader(io.StringIO(members)) if r and "HYPERLINK" in r[0])
    assert row[0].startswith("'=") and row[1].startswith("'=") and row[2].startswith("'@")
    orders = export(admin_client, OrderExportResource, "admin:membership_order_export", 0).decode("utf-8-sig")
    assert "'=1+1" in orders and "'+evil" in orders and ",=1+1" not in orders


def test_the_admin_xlsx_exports_hold_text_where_formulas_were_and_numbers_as_numbers(admin_client, hostile):
    book = openpyxl.load_workbook(io.BytesIO(export(admin_client, OrderExportResource, "admin:membership_order_export", 1)))
    cells = [cell for row in book.active.iter_rows() for cell in row]
    assert not any(cell.data_type == "f" for cell in cells)
    values = [cell.value for cell in cells]
    assert "'=1+1" in values and "'+evil" in values
    assert any(isinstance(v, (int, float)) and v == 100 for v in values)


def test_export_members_neutralises_formulas(hostile, tmp_path):
    call_command("export_members", str(tmp_path / "m.csv"), stdout=io.StringIO())
    row = next(csv.DictReader(open(tmp_path / "m.csv", encoding="utf-8")))
    assert row["member_id"] == "'=HYPERLINK(\"http://evil\")" and row["growth_total"] == "100"


def test_rejected_rows_files_neutralise_formulas(program, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,member_id,paid_at,status,goods_amount,discount_amount,shipping_amount,refunded_amount,category,shop_id\n"
        "=1+1,@SUM(A1),2026-03-01,completed,10,0,0,0,-cat,+shop\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError):
        call_command("import_orders", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    row = next(csv.DictReader(open(f"{path}.rejected.csv", encoding="utf-8-sig")))
    assert (row["order_id"], row["member_id"], row["category"], row["shop_id"]) == ("'=1+1", "'@SUM(A1)", "'-cat", "'+shop")
