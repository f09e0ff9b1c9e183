"""The configuration rows that a settlement's or a booking's rows name (levels, the run, benefits,
earning rules) carry no foreign key per row; the database still keeps the guarantee: such a row
cannot be deleted while a member, a level change, a grant, an order's credit or a ledger entry
names it, and a writer holds the rows it names until it commits."""

from datetime import date

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from benefits.models import Benefit, BenefitGrant
from common.references import references_hold
from membership.models import EarningRule, GrowthEntry, Level, LevelChange, Member, Order, OrderCredit, SettlementRun
from membership.services import growth_adjust, order_book, orders_book_batch, settlement_run_execute
from membership.tests.factories import MemberFactory, database_url, local, order
from points.models import PointsEntry

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the delete guard is a PostgreSQL trigger")


@pytest.fixture
def settled(program, django_user_model):
    staff = django_user_model.objects.create_user("ops", password="pw")
    member = MemberFactory()
    growth_adjust(member=member, amount=20000, reason="test", actor=staff, effective_at=local(2025, 11, 15))
    settlement_run_execute(month=date(2025, 11, 1))
    member.refresh_from_db()
    change = LevelChange.objects.get(member=member)
    grant = BenefitGrant.objects.filter(member=member, run__isnull=False).first()
    assert member.level_id and grant is not None
    return member, change, grant


def _delete_at_commit(table: str, pk: int) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the checks a commit makes


@pytest.fixture
def spare(program):
    """A level that no benefit, price or rule names."""
    return Level.objects.create(program=program, code="SPARE", name="spare", rank=99, threshold=10**9)


@postgres_only
@pytest.mark.django_db
def test_a_level_a_member_is_at_cannot_be_deleted(settled, spare):
    member, _change, _grant = settled
    Member.objects.filter(pk=member.pk).update(level=spare)
    with pytest.raises(IntegrityError, match="membership_member.level_id"):
        _delete_at_commit("membership_level", spare.pk)
    assert Level.objects.filter(pk=spare.pk).exists()


@postgres_only
@pytest.mark.django_db
def test_a_level_in_the_history_cannot_be_deleted_once_no_member_is_at_it(settled, spare):
    _member, change, _grant = settled
    LevelChange.objects.create(
        member=MemberFactory(), run_id=change.run_id, from_level=None, to_level=spare, window_growth=0, reason=LevelChange.Reason.UPGRADE
    )
    with pytest.raises(IntegrityError, match="membership_levelchange.to_level_id"):
        _delete_at_commit("membership_level", spare.pk)


@postgres_only
@pytest.mark.django_db
def test_a_run_and_a_benefit_that_rows_name_cannot_be_deleted(settled, program):
    member, _change, grant = settled
    # Rows that nothing else names (no chunk, no benefit level), so only these guards stand.
    named_by_history, named_by_grant = (SettlementRun.objects.create(program=program, month=date(2030, m, 1)) for m in (1, 2))
    LevelChange.objects.create(member=member, run=named_by_history, to_level=member.level, window_growth=0, reason=LevelChange.Reason.RENEWAL)
    benefit = Benefit.objects.create(
        program=program, code="SPARE", name="spare", kind=Benefit.Kind.COUPON, trigger="claim", min_level=member.level
    )
    BenefitGrant.objects.create(
        member=member, benefit=benefit, period="x", quantity=1, status=BenefitGrant.Status.GRANTED, run=named_by_grant, granted_at=grant.granted_at
    )
    with pytest.raises(IntegrityError, match="membership_levelchange.run_id"):
        _delete_at_commit("membership_settlementrun", named_by_history.pk)
    with pytest.raises(IntegrityError, match="benefits_benefitgrant.run_id"):
        _delete_at_commit("membership_settlementrun", named_by_grant.pk)
    with pytest.raises(IntegrityError, match="benefits_benefitgrant.benefit_id"):
        _delete_at_commit("benefits_benefit", benefit.pk)
    assert SettlementRun.objects.filter(pk__in=[named_by_history.pk, named_by_grant.pk]).count() == 2
    assert Benefit.objects.filter(pk=benefit.pk).exists()


@postgres_only
@pytest.mark.django_db
def test_a_level_nothing_names_is_deleted(spare):
    _delete_at_commit("membership_level", spare.pk)
    assert not Level.objects.filter(pk=spare.pk).exists()


@pytest.mark.django_db
def test_a_writer_naming_a_row_that_is_gone_is_refused(program):
    level = program.levels.order_by("rank").first()
    references_hold(Level, [level.pk, None])  # there: nothing happens
    with pytest.raises(IntegrityError, match="level 987654 was deleted"):
        references_hold(Level, [level.pk, 987654])


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_row_held_by_a_writer_cannot_be_deleted_until_it_commits(spare):
    level = spare
    with transaction.atomic():
        references_hold(Level, [level.pk])
        with psycopg.connect(database_url(), autocommit=True) as other:
            other.execute("SET lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("DELETE FROM membership_level WHERE id = %s", [level.pk])
            other.execute("UPDATE membership_level SET name = 'renamed' WHERE id = %s", [level.pk])  # edits go on
    Level.objects.filter(pk=level.pk).delete()
    with pytest.raises(DatabaseError):
        references_hold(Level, [level.pk])


# ------------------------------------------------------------ the earning rules the ledgers name


@pytest.fixture
def booked(program):
    """A member with an order booked under the program's rules."""
    member = MemberFactory()
    order_book(facts=order(f"RO{member.pk}", member, local(2026, 3, 2, 10), goods="300"))
    return member


@pytest.fixture
def spare_rule(program):
    return EarningRule.objects.create(program=program, code="spare", kind="order_amount", currency="points", params={"rate": 1}, is_active=False)


@postgres_only
@pytest.mark.django_db
@pytest.mark.parametrize("named_by", ["membership_ordercredit", "membership_growthentry", "points_pointsentry"])
def test_a_rule_that_a_credit_or_an_entry_names_cannot_be_deleted(booked, spare_rule, named_by):
    member = booked
    entry = {"membership_growthentry": GrowthEntry, "points_pointsentry": PointsEntry}.get(named_by)
    if entry is None:
        OrderCredit.objects.create(order=Order.objects.get(member=member), rule=spare_rule)
    else:
        entry.objects.create(
            member=member, kind="credit", amount=1, effective_at=local(2026, 3, 2), source="order", source_ref="x", rule=spare_rule,
            idempotency_key=f"spare:{named_by}",
        )
    with pytest.raises(IntegrityError, match=f"{named_by}.rule_id"):
        _delete_at_commit("membership_earningrule", spare_rule.pk)
    assert EarningRule.objects.filter(pk=spare_rule.pk).exists()


@postgres_only
@pytest.mark.django_db
def test_a_rule_nothing_names_is_deleted(spare_rule):
    _delete_at_commit("membership_earningrule", spare_rule.pk)
    assert not EarningRule.objects.filter(pk=spare_rule.pk).exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["one by one", "batch"])
def test_a_booking_holds_the_rules_its_rows_name_until_it_commits(program, path):
    member = MemberFactory()
    facts = order("HO1", member, local(2026, 3, 2, 10), goods="300")
    rule = EarningRule.objects.get(program=program, code="order-points")
    with transaction.atomic():
        if path == "batch":
            orders_book_batch(facts=[facts], program=program)
        else:
            order_book(facts=facts)
        with psycopg.connect(database_url(), autocommit=True) as other:
            other.execute("SET lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("DELETE FROM membership_earningrule WHERE id = %s", [rule.pk])
    assert PointsEntry.objects.filter(rule=rule, member=member).exists()
