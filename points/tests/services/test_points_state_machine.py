"""A Hypothesis state machine over earning, freezing, release, clearing, spending, reversal and expiry:
after every step the points books agree with themselves (``points_reconcile``) and with a plain model."""

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from membership.models import Source
from membership.tests.factories import MemberFactory, local
from points.models import PointsEntry, PointsLot
from points.selectors import points_available_get, points_balance_get, points_frozen_get, points_reconcile
from points.services import (
    InsufficientPoints,
    points_credit,
    points_debit,
    points_expire_due,
    points_lot_clear,
    points_lot_release,
)

pytestmark = pytest.mark.django_db

KEYS = itertools.count()


class PointsBooks(RuleBasedStateMachine):
    program = None

    @initialize()
    def start(self):
        self.member = MemberFactory()
        self.now = local(2025, 1, 10, 12)
        self.balance = 0

    def key(self):
        return f"sm:{next(KEYS)}"

    def lots(self, **filters):
        return list(PointsLot.objects.filter(member=self.member, **filters).order_by("pk"))

    @rule(amount=st.integers(1, 500), frozen=st.booleans())
    def earn(self, amount, frozen):
        points_credit(program=self.program, member=self.member, amount=amount, effective_at=self.now, source=Source.ORDER,
                      idempotency_key=self.key(), frozen=frozen)
        self.balance += amount

    @rule(share=st.floats(0, 1))
    def spend(self, share):
        available = points_available_get(member=self.member, at=self.now)
        amount = int(available * share)
        if amount <= 0:
            with pytest.raises((InsufficientPoints, ValueError)):
                points_debit(member=self.member, amount=max(amount, 0) or available + 1, kind=PointsEntry.Kind.SPEND,
                             effective_at=self.now, source=Source.REDEMPTION, idempotency_key=self.key())
            return
        points_debit(member=self.member, amount=amount, kind=PointsEntry.Kind.SPEND, effective_at=self.now,
                     source=Source.REDEMPTION, idempotency_key=self.key())
        self.balance -= amount

    @rule(amount=st.integers(1, 300))
    def reverse(self, amount):
        points_debit(member=self.member, amount=amount, kind=PointsEntry.Kind.REVERSAL, effective_at=self.now,
                     source=Source.ORDER, idempotency_key=self.key(), allow_negative=True)
        self.balance -= amount

    @precondition(lambda self: PointsLot.objects.filter(member=self.member, frozen=True).exists())
    @rule(pick=st.integers(0, 20), data=st.data())
    def release_or_clear(self, pick, data):
        frozen = self.lots(frozen=True)
        lot = frozen[pick % len(frozen)]
        if data.draw(st.booleans(), label="release"):
            points_lot_release(lot=lot)
            points_lot_release(lot=lot)
        else:
            held = PointsLot.objects.get(pk=lot.pk).remaining
            points_lot_clear(lot=lot, effective_at=self.now, reason="trial ended")
            points_lot_clear(lot=lot, effective_at=self.now, reason="trial ended")
            self.balance -= held

    @rule(days=st.integers(1, 400))
    def time_passes_and_expiry_runs(self, days):
        self.now += timedelta(days=days)
        before = points_balance_get(member=self.member)
        points_expire_due(until=self.now)
        self.balance -= before - points_balance_get(member=self.member)

    @invariant()
    def books_agree(self):
        if not hasattr(self, "member"):
            return
        assert points_reconcile(members=[self.member]) == []
        assert points_balance_get(member=self.member) == self.balance
        frozen = points_frozen_get(member=self.member)
        assert frozen == sum(lot.remaining for lot in self.lots(frozen=True))
        if self.balance >= 0:
            assert points_available_get(member=self.member, at=self.now) <= self.balance - frozen


def test_points_books_hold_under_any_mix_of_operations(program):
    PointsBooks.program = program
    run_state_machine_as_test(
        PointsBooks,
        settings=settings(max_examples=40, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]),
    )
