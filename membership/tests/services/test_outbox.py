"""Outbound events: a settlement writes one ``member.level_changed`` per member whose level code it
changed, in the chunk's transaction, on either settlement path; the feed returns each event once."""

from datetime import date

import pytest

from membership.models import LevelChange, Member, OutboxEvent
from membership.selectors import BadCursor, outbox_cursor_parse, outbox_events_after
from membership.services import growth_adjust, settlement_run_execute
from membership.tests.factories import MemberFactory, local

pytestmark = pytest.mark.django_db


def grant(member, amount, at, actor):
    growth_adjust(member=member, amount=amount, reason="test", actor=actor, effective_at=at)


def events_as_changes() -> set:
    return {
        (e.member_ref, e.data["from"], e.data["to"], e.data["valid_until"], e.data["month"], e.data["reason"])
        for e in OutboxEvent.objects.filter(type="member.level_changed")
    }


def changes_of_code() -> set:
    rows = LevelChange.objects.select_related("member", "from_level", "to_level", "run")
    return {
        (c.member.member_id, c.from_level.code, c.to_level.code, c.valid_until.isoformat() if c.valid_until else None, f"{c.run.month:%Y-%m}", c.reason)
        for c in rows
        if c.from_level.code != c.to_level.code
    }


def test_a_settlement_tells_of_every_level_code_it_changed_and_of_nothing_else(program, admin_user):
    up, stays, idle = MemberFactory(), MemberFactory(), MemberFactory()
    grant(up, 6000, local(2025, 3, 1), admin_user)
    grant(stays, 1200, local(2025, 3, 1), admin_user)
    settlement_run_execute(month=date(2025, 3, 1), chunk_size=2)
    assert events_as_changes() == {
        (up.member_id, "V0", "V2", "2026-03-31", "2025-03", "upgrade"),
        (stays.member_id, "V0", "V1", "2026-03-31", "2025-03", "upgrade"),
    }
    grant(stays, 1000, local(2026, 2, 1), admin_user)  # 1,000 in the window of 2026-03: V1 renewed, no event
    settlement_run_execute(month=date(2026, 3, 1))
    settlement_run_execute(month=date(2026, 4, 1))  # up's 6,000 is out of the window and V2 has ended: V2 → V1 → V0
    assert LevelChange.objects.filter(member=stays, reason="renewal").exists()
    assert events_as_changes() == changes_of_code()
    assert {(up.member_id, "V2", "V1", None, "2026-03", "downgrade"), (up.member_id, "V1", "V0", None, "2026-04", "downgrade")} <= events_as_changes()
    assert not OutboxEvent.objects.filter(member_ref=idle.member_id).exists()
    count = OutboxEvent.objects.count()
    settlement_run_execute(month=date(2026, 4, 1))  # settled: nothing again
    assert OutboxEvent.objects.count() == count


@pytest.mark.django_db(transaction=True)  # the feed shows what other transactions committed
def test_following_the_feed_from_the_start_returns_every_event_once_in_order(program, admin_user):
    members = [MemberFactory() for _ in range(7)]
    for member in members:
        grant(member, 1500, local(2025, 5, 1), admin_user)
    settlement_run_execute(month=date(2025, 5, 1), chunk_size=3)
    seen, cursor = [], outbox_cursor_parse("")
    while True:
        page, following = outbox_events_after(cursor=cursor, limit=2)
        if not page:
            assert following == f"{cursor[0]}-{cursor[1]}"
            break
        seen.extend(page)
        cursor = outbox_cursor_parse(following)
    kinds = ("benefit.granted", "member.level_changed")  # each member reaches V1 and gets its monthly coupon
    assert sorted((e.type, e.member_ref) for e in seen) == sorted((t, m.member_id) for m in members for t in kinds)
    assert [(e.xid, e.pk) for e in seen] == sorted((e.xid, e.pk) for e in seen)
    assert len({e.pk for e in seen}) == 14
    only, _ = outbox_events_after(cursor=outbox_cursor_parse(""), limit=10, member_ref=members[3].member_id)
    assert sorted(e.type for e in only) == list(kinds) and {e.member_ref for e in only} == {members[3].member_id}


@pytest.mark.parametrize("text", ["abc", "1", "1-2-3", "-5-1", "99999999999999999999-1"])
def test_a_cursor_that_the_feed_did_not_give_is_refused(text):
    with pytest.raises(BadCursor):
        outbox_cursor_parse(text)


def test_members_keep_their_ids_in_the_events(program, admin_user):
    member = MemberFactory(member_id="会员-001")
    grant(member, 1000, local(2025, 6, 1), admin_user)
    settlement_run_execute(month=date(2025, 6, 1))
    assert list(OutboxEvent.objects.order_by("pk").values_list("type", "member_ref")) == [("member.level_changed", "会员-001"), ("benefit.granted", "会员-001")]
    assert Member.objects.get(member_id="会员-001").level.code == "V1"
