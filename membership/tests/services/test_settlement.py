"""The default program's settlement rules (CONTRACT.md, "Settlement of month M", "Points expiry")."""

from datetime import date

import pytest

from membership.models import GrowthEntry, LevelChange, Member
from membership.services import SettlementRefused, growth_adjust, order_book, settlement_run_execute
from membership.tests.factories import MemberFactory, local, order
from points.selectors import points_available_get, points_balance_get, points_reconcile

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", password="pw")


def grant(member, amount, when, staff):
    growth_adjust(member=member, amount=amount, reason="test", actor=staff, effective_at=when)


def settle(month):
    return settlement_run_execute(month=date.fromisoformat(month + "-01"))


def level(member):
    member.refresh_from_db()
    return (member.level.code if member.level else "V0"), member.level_valid_until


def test_upgrade_takes_the_highest_level_reached_valid_until_renewal(program, staff):
    m = MemberFactory()
    grant(m, 20000, local(2025, 11, 15), staff)
    settle("2025-11")
    assert level(m) == ("V3", date(2026, 11, 30))
    change = LevelChange.objects.get(member=m)
    assert (change.reason, change.window_growth) == ("upgrade", 20000)


def test_window_is_the_12_months_ending_with_the_settled_month(program, staff):
    m = MemberFactory()
    grant(m, 600, local(2024, 12, 1, 0, 0), staff)  # first instant of the window of 2025-11
    grant(m, 400, local(2025, 11, 30, 23, 59), staff)  # last minute of it
    grant(m, 5000, local(2025, 12, 1, 0, 0), staff)  # after the window
    grant(m, 5000, local(2024, 11, 30, 23, 59), staff)  # before the window
    settle("2025-11")
    assert level(m)[0] == "V1"


def test_confirming_a_level_renews_it(program, staff):
    m = MemberFactory()
    grant(m, 5000, local(2025, 1, 10), staff)
    settle("2025-01")
    assert level(m) == ("V2", date(2026, 1, 31))
    settle("2025-06")
    assert level(m) == ("V2", date(2026, 6, 30))
    assert LevelChange.objects.filter(member=m, reason="renewal").count() == 1


def test_lower_target_keeps_a_level_that_is_still_valid(program, staff):
    m = MemberFactory()
    grant(m, 20000, local(2025, 1, 10), staff)
    settle("2025-01")
    assert level(m) == ("V3", date(2026, 1, 31))
    grant(m, -19000, local(2025, 2, 10), staff)
    settle("2025-02")  # target V1, but V3 is valid until after 2025-02-28
    assert level(m) == ("V3", date(2026, 1, 31))
    settle("2026-01")  # validity ends 2026-01-31, not after E: one level down, no validity left
    assert level(m) == ("V2", None)


def test_soft_downgrade_drops_one_level_per_settlement(program, staff):
    m = MemberFactory()
    grant(m, 50000, local(2025, 1, 10), staff)
    settle("2025-01")
    assert level(m) == ("V4", date(2026, 1, 31))
    settle("2026-01")
    assert level(m) == ("V3", None)
    settle("2026-02")
    assert level(m) == ("V2", None)
    settle("2026-03")
    assert level(m) == ("V1", None)
    settle("2026-04")
    assert level(m) == ("V0", None)
    settle("2026-05")
    assert level(m) == ("V0", None)
    assert list(LevelChange.objects.filter(member=m).values_list("reason", flat=True).order_by("run__month")) == [
        "upgrade", "downgrade", "downgrade", "downgrade", "downgrade"
    ]


def test_downgraded_level_still_reached_is_valid_until_renewal(program, staff):
    m = MemberFactory()
    grant(m, 50000, local(2025, 1, 10), staff)
    settle("2025-01")
    grant(m, 6000, local(2025, 12, 10), staff)  # the windows of 2026-01..2026-03 hold 6000: target V2
    settle("2026-01")
    assert level(m) == ("V3", None)  # V4 ran out; one level down; target V2 does not reach V3
    settle("2026-02")
    assert level(m) == ("V2", date(2027, 2, 28))  # one more level down; target reaches V2: valid until renewal


def test_settling_twice_changes_nothing_and_earlier_months_are_refused(program, staff):
    m = MemberFactory()
    grant(m, 1000, local(2025, 11, 15), staff)
    first = settle("2025-11")
    again = settle("2025-11")
    assert again.already_done and again.run.pk == first.run.pk
    assert LevelChange.objects.count() == 1
    with pytest.raises(SettlementRefused, match="before the latest settled month"):
        settle("2025-10")
    settle("2026-02")  # skipping months is allowed


def test_lowest_level_has_no_validity(program):
    m = MemberFactory()
    settle("2025-11")
    assert level(m) == ("V0", None)
    assert LevelChange.objects.count() == 0


def test_december_settlement_expires_points_earned_the_year_before(program):
    m = MemberFactory()
    order_book(facts=order("O2024", m, local(2024, 5, 1), goods="300"))
    order_book(facts=order("O2025", m, local(2025, 5, 1), goods="200"))
    settle("2025-11")
    assert points_balance_get(member=m) == 500
    run = settle("2025-12").run
    assert run.points_expired == 300
    assert points_balance_get(member=m) == 200
    assert points_reconcile() == []
    settle("2026-01")
    assert points_balance_get(member=m) == 200


def test_points_past_their_end_are_not_available_before_the_expiry_is_booked(program):
    m = MemberFactory()
    order_book(facts=order("O2024", m, local(2024, 5, 1), goods="300"))
    assert points_available_get(member=m, at=local(2025, 12, 31, 23, 59)) == 300
    assert points_available_get(member=m, at=local(2026, 1, 1, 0, 0)) == 0


def test_spending_uses_the_oldest_points_first(program):
    from points.services import points_debit

    m = MemberFactory()
    order_book(facts=order("O2024", m, local(2024, 5, 1), goods="300"))
    order_book(facts=order("O2025", m, local(2025, 5, 1), goods="200"))
    points_debit(member=m, amount=250, kind="spend", effective_at=local(2025, 6, 1), source="redemption", idempotency_key="s")
    lots = {lot.entry.source_ref: lot.remaining for lot in m.points_lots.select_related("entry")}
    assert lots == {"O2024": 50, "O2025": 200}
    run = settle("2025-12").run
    assert run.points_expired == 50


def test_a_failed_run_is_finished_by_running_it_again(program, staff, monkeypatch):
    from membership.services import settlement as services

    members = [MemberFactory() for _ in range(5)]
    for m in members:
        grant(m, 1000, local(2025, 11, 1), staff)
    calls = {"n": 0}
    original = services.settlement_chunk_execute

    def crash_after_first_chunk(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost")
        return original(**kwargs)

    monkeypatch.setattr(services, "settlement_chunk_execute", crash_after_first_chunk)
    with pytest.raises(RuntimeError):
        settlement_run_execute(month=date(2025, 11, 1), chunk_size=2)
    assert LevelChange.objects.count() == 2
    monkeypatch.setattr(services, "settlement_chunk_execute", original)
    run = settlement_run_execute(month=date(2025, 11, 1), chunk_size=2).run
    assert run.status == "done" and run.members_up == 5
    assert LevelChange.objects.count() == 5
    assert all(level(m)[0] == "V1" for m in Member.objects.all())
    assert GrowthEntry.objects.count() == 5
