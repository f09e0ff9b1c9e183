"""Paid membership in the console and the optional special_invoice column of the order import."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from membership.models import Order
from membership.services import order_book
from membership.tests.factories import MemberFactory, local, order
from subscriptions.models import Subscription
from subscriptions.services import subscription_start

pytestmark = pytest.mark.django_db


def test_the_member_page_shows_subscriptions_and_cashback(admin_client, plans):
    m = MemberFactory()
    subscription_start(member=m, plan=plans["plus-year"], reference="p", at=local(2026, 3, 1))
    order_book(facts=order("O1", m, local(2026, 3, 2), goods="1000"))
    page = admin_client.get(reverse("admin:membership_member_change", args=[m.pk])).content.decode()
    assert "PLUS 年卡" in page and "2,000" in page
    for name in ("subscription", "cashback", "plan"):
        assert admin_client.get(reverse(f"admin:subscriptions_{name}_changelist")).status_code == 200


def test_staff_cancel_a_subscription_from_the_list(admin_client, plans):
    s = subscription_start(member=MemberFactory(), plan=plans["plus-year"], reference="p")
    admin_client.post(reverse("admin:subscriptions_subscription_changelist"), {"action": "cancel", "_selected_action": [s.pk]})
    s.refresh_from_db()
    assert s.status == "cancelled" and "console" in s.cancel_reason
    assert admin_client.get(reverse("admin:subscriptions_subscription_add")).status_code == 403


def test_the_order_file_may_flag_special_invoices(program, tmp_path, capsys):
    m = MemberFactory(member_id="A1")
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,member_id,paid_at,status,goods_amount,special_invoice\n"
        "O1,A1,2026-03-02 10:00,completed,100,1\n"
        "O2,A1,2026-03-02 11:00,completed,100,\n"
        "O3,A1,2026-03-02 12:00,completed,100,maybe\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="1 row"):
        call_command("import_orders", str(path))
    assert dict(Order.objects.filter(member=m).values_list("order_id", "special_invoice")) == {"O1": True, "O2": False}
    rejected = (tmp_path / "orders.csv.rejected.csv").read_text(encoding="utf-8")
    assert "special_invoice" in rejected and "maybe" in rejected


def test_the_contract_order_columns_still_import(program, tmp_path):
    MemberFactory(member_id="A1")
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,member_id,paid_at,status,goods_amount,discount_amount,shipping_amount,refunded_amount,category,shop_id\n"
        "O1,A1,2026-03-02 10:00,completed,100,0,0,0,book,S1\n",
        encoding="utf-8",
    )
    call_command("import_orders", str(path))
    assert Order.objects.get().special_invoice is False and not Subscription.objects.exists()
