"""One campaign budget spent at once by an import in two processes and by live bookings in
threads (PostgreSQL): the sum credited never passes the budget, and what it refused is recorded."""

import contextlib
import io
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign, CampaignMember
from campaigns.services import campaign_approve, campaign_save, campaign_submit
from membership.models import Member
from membership.rules import OrderFacts
from membership.services import order_book
from membership.tests.factories import local
from points.models import PointsEntry
from points.selectors import points_reconcile

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="booking processes share a database server"),
    pytest.mark.django_db(transaction=True),
]

BUDGET = 20_000


def test_an_import_in_two_processes_and_live_bookings_never_pass_one_budget(program, django_user_model, tmp_path):
    maker = django_user_model.objects.create_user("maker", is_staff=True)
    maker.groups.add(Group.objects.get(name="Program admin"))
    approver = django_user_model.objects.create_user("approver", is_staff=True)
    approver.groups.add(Group.objects.get(name="Approver"))
    maker, approver = (django_user_model.objects.get(pk=u.pk) for u in (maker, approver))
    campaign = Campaign(program=program, code="double11", name="Double 11", params={"rate": 1}, budget=BUDGET,
                        starts_at=local(2026, 6, 1), ends_at=timezone.now() + timedelta(days=30))
    campaign_save(campaign=campaign, actor=maker)
    campaign_submit(campaign=campaign, actor=maker)
    campaign_approve(campaign=campaign, actor=approver)
    Member.objects.bulk_create([Member(member_id=f"F{n}") for n in range(40)])

    lines = ["order_id,member_id,paid_at,status,goods_amount,discount_amount,shipping_amount,refunded_amount,category,shop_id"]
    lines += [f"FO{n:03d},F{n % 30},2026-06-{1 + n % 18:02d} 10:{n % 60:02d}:00,completed,{150 + n % 7},0,0,0,," for n in range(240)]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    live = [
        OrderFacts(order_id=f"LO{t}-{n}", member_id=f"F{30 + t}", paid_at=local(2026, 6, 10, 9) + timedelta(minutes=n), status="completed", goods_amount=Decimal(120))
        for t in range(4) for n in range(25)
    ]
    failures = []

    def book_live(part):
        try:
            for fact in part:
                order_book(facts=fact)
        except Exception as exc:  # reported below: a thread's exception would be lost
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=book_live, args=(live[t::4],)) for t in range(4)]
    for thread in threads:
        thread.start()
    with contextlib.redirect_stdout(io.StringIO()):
        call_command("import_orders", str(path), "--batch-size", "20", "--workers", "2", stdout=io.StringIO(), stderr=io.StringIO())
    for thread in threads:
        thread.join()
    assert failures == []

    campaign.refresh_from_db()
    given = PointsEntry.objects.filter(rule_id=campaign.rule_id).aggregate(s=Sum("amount"))["s"]
    asked = sum(150 + n % 7 for n in range(240)) + 120 * len(live)
    assert given == campaign.credited == BUDGET
    assert campaign.refused == asked - BUDGET
    members = CampaignMember.objects.filter(campaign=campaign).aggregate(c=Sum("credited"), r=Sum("refused"))
    assert (members["c"], members["r"]) == (BUDGET, asked - BUDGET)
    assert points_reconcile() == []
