"""Property test: random growth histories and settlement sequences against a model of CONTRACT.md's rules."""

import calendar
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from membership.models import LevelChange, Member
from membership.services import growth_adjust, settlement_run_execute

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
THRESHOLDS = [0, 1000, 5000, 20000, 50000]  # V0..V4
MEMBERS = 4


def month_of(index: int) -> date:
    """Month 0 is 2025-01."""
    return date(2025 + index // 12, index % 12 + 1, 1)


def last_day(index: int) -> date:
    m = month_of(index)
    return date(m.year, m.month, calendar.monthrange(m.year, m.month)[1])


class Model:
    """CONTRACT.md, "Settlement of month M", written out plainly."""

    def __init__(self):
        self.rank = [0] * MEMBERS
        self.valid = [None] * MEMBERS

    def settle(self, index, growth_by_month):
        for m in range(MEMBERS):
            growth = sum(amount for (member, month), amount in growth_by_month.items() if member == m and index - 11 <= month <= index)
            target = max((r for r, t in enumerate(THRESHOLDS) if growth >= t), default=0)
            renewal = last_day(index + 12)
            if target >= self.rank[m]:
                if target > 0:
                    self.rank[m], self.valid[m] = target, renewal
            elif self.valid[m] is not None and self.valid[m] > last_day(index):
                pass
            else:
                self.rank[m] -= 1
                self.valid[m] = renewal if target >= self.rank[m] and self.rank[m] > 0 else None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    grants=st.lists(
        st.tuples(st.integers(0, MEMBERS - 1), st.integers(0, 23), st.sampled_from([300, 1000, 2500, 5000, 16000, 40000, -800])),
        max_size=25,
    ),
    months=st.lists(st.integers(0, 22), min_size=1, max_size=8, unique=True).map(sorted),  # 2025-01 to 2026-11: months that have ended
    chunk=st.integers(1, 3),
)
def test_random_histories_settle_as_the_model_says_and_resettling_changes_nothing(program, django_user_model, grants, months, chunk):
    with transaction.atomic():
        staff = django_user_model.objects.create_user("ops-settle")
        members = [Member.objects.create(member_id=f"S{m}") for m in range(MEMBERS)]
        growth_by_month = {}
        for n, (m, month, amount) in enumerate(grants):
            when = datetime(month_of(month).year, month_of(month).month, 1 + n % 28, 12, tzinfo=SHANGHAI)
            growth_adjust(member=members[m], amount=amount, reason="test", actor=staff, effective_at=when)
            growth_by_month[(m, month)] = growth_by_month.get((m, month), 0) + amount
        model = Model()
        for index in months:
            settlement_run_execute(month=month_of(index), chunk_size=chunk)
            model.settle(index, growth_by_month)
            for m, member in enumerate(members):
                member.refresh_from_db()
                assert (member.level.rank if member.level else 0, member.level_valid_until) == (model.rank[m], model.valid[m]), (index, m)
            changes = LevelChange.objects.count()
            assert settlement_run_execute(month=month_of(index), chunk_size=chunk).already_done
            assert LevelChange.objects.count() == changes
        transaction.set_rollback(True)
