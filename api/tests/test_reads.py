"""Member reads: the member with the meanings of export_members and the member page's forecast,
the ledgers newest first in cursor pages, benefit grants, and the event feed."""

import csv
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from api.tests.conftest import ApiClient
from benefits.models import Benefit, BenefitGrant
from membership.selectors import program_active_get, settlement_next_get
from membership.services import growth_adjust, settlement_run_execute
from membership.tests.factories import MemberFactory, local

pytestmark = pytest.mark.django_db

ORDER = {"paid_at": "2026-03-01 10:00", "status": "completed", "goods_amount": "1500"}


def test_a_member_reads_as_the_export_file_and_the_member_page_say(api, tmp_path, admin_user):
    api.call("PUT", "members/M1", {"name": "王五"})
    api.call("PUT", "orders/O1", {**ORDER, "member_id": "M1"})
    growth_adjust(member=MemberFactory._meta.model.objects.get(member_id="M1"), amount=4000, reason="migration", actor=admin_user)
    body = api.call("GET", "members/M1").json()
    call_command("export_members", str(tmp_path / "m.csv"))
    exported = next(csv.DictReader(open(tmp_path / "m.csv", encoding="utf-8")))
    assert {k: str(body[k]) if body[k] is not None else "" for k in ("member_id", "level", "growth_total", "points_balance")} == {
        k: exported[k] for k in ("member_id", "level", "growth_total", "points_balance")
    }
    assert body["level_valid_until"] is None and body["points"]["available"] == 1500 and body["points"]["expiring"][0]["amount"] == 1500
    assert (body["next_level"], body["next_settlement"]) == ("V1", f"{settlement_next_get(program=program_active_get())[0]:%Y-%m}")


def test_the_ledgers_page_newest_first_and_every_entry_comes_once(api):
    api.call("PUT", "members/M1", {})
    orders = [{**ORDER, "member_id": "M1", "order_id": f"O{n}", "goods_amount": str(10 + n), "paid_at": f"2026-03-{1 + n:02d} 10:00"} for n in range(7)]
    api.call("POST", "orders/batch", {"orders": orders})
    seen, cursor = [], ""
    while True:
        page = api.call("GET", f"members/M1/points-entries?limit=3&cursor={cursor}").json()
        seen += page["results"]
        if not page["next"]:
            break
        cursor = page["next"]
    assert [e["amount"] for e in seen] == [16, 15, 14, 13, 12, 11, 10]
    assert len({e["id"] for e in seen}) == 7
    bad = api.call("GET", "members/M1/growth-entries?cursor=nonsense")
    assert bad.status_code == 400 and "cursor" in bad.json()["errors"]
    assert api.call("GET", "members/M1/growth-entries?limit=0").status_code == 400


def test_benefit_grants_are_listed(api, program):
    member = MemberFactory(member_id="G1")
    benefit = Benefit.objects.create(
        program=program, code="birthday", name="生日礼", kind="coupon", trigger="birthday", min_level=program.levels.get(code="V0")
    )
    BenefitGrant.objects.create(member=member, benefit=benefit, period="2026", status="granted", granted_at=timezone.now())
    grants = api.call("GET", "members/G1/benefit-grants").json()
    assert [(g["benefit"], g["period"], g["status"]) for g in grants] == [("birthday", "2026", "granted")]


@pytest.mark.django_db(transaction=True)
def test_the_feed_gives_each_level_change_of_a_settlement_once(program, admin_user, make_key):
    _, key = make_key(scopes=("read",), name="warehouse")
    client = ApiClient(key)
    members = [MemberFactory() for _ in range(5)]
    for member in members:
        growth_adjust(member=member, amount=1500, reason="migration", actor=admin_user, effective_at=local(2025, 5, 1))
    settlement_run_execute(month=date(2025, 5, 1), chunk_size=2)
    events, after = [], ""
    for _ in range(10):
        page = client.call("GET", f"events?after={after}&limit=2&type=member.level_changed").json()
        events += page["events"]
        if not page["events"]:
            break
        after = page["next"]
    assert sorted(e["member_id"] for e in events) == sorted(m.member_id for m in members)
    assert {(e["type"], e["data"]["from"], e["data"]["to"], e["data"]["month"]) for e in events} == {("member.level_changed", "V0", "V1", "2025-05")}
    assert client.call("GET", f"events?after={after}&type=member.level_changed").json() == {"events": [], "next": after}
    one = client.call("GET", f"events?member_id={members[0].member_id}").json()["events"]
    assert [(e["member_id"], e["type"]) for e in one] == [(members[0].member_id, "member.level_changed"), (members[0].member_id, "benefit.granted")]
    assert client.call("GET", "events?after=garbage").status_code == 400
    assert timezone.now() - timedelta(minutes=5) < timezone.datetime.fromisoformat(events[0]["occurred_at"])
