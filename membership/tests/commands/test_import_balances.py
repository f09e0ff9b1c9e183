"""Opening balances from a previous system: once per member, points as a lot that expires by the policy."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from membership.models import GrowthEntry
from membership.selectors import growth_window_total
from membership.tests.factories import MemberFactory
from points.models import PointsEntry, PointsLot
from points.selectors import points_balance_get, points_reconcile

from .test_contract_commands import run, write

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = "member_id,points,earned_on,growth,growth_on"


def test_opening_points_are_a_lot_earned_on_earned_on_and_growth_is_dated_growth_on(program, tmp_path):
    member = MemberFactory(member_id="OB1")
    MemberFactory(member_id="OB2")
    path = write(tmp_path / "balances.csv", f"{HEADER}\nOB1,1500,2025-06-30,8000,2025-12-15\nOB2,,,300,2026-01-02\n")
    code, out, _ = run("import_balances", path)
    assert code == 0 and out.strip().endswith("read 2, created 2, unchanged 0, rejected 0")
    lot = PointsLot.objects.get(member=member)
    assert (lot.amount, lot.earned_at) == (1500, datetime(2025, 6, 30, tzinfo=SHANGHAI))
    assert lot.expires_at == datetime(2027, 1, 1, tzinfo=SHANGHAI)  # earned in 2025: the end of 2026
    assert points_balance_get(member=member) == 1500
    growth = GrowthEntry.objects.get(member=member)
    assert (growth.kind, growth.source, growth.amount, growth.effective_at) == ("opening", "opening", 8000, datetime(2025, 12, 15, tzinfo=SHANGHAI))
    assert growth_window_total(program=program, member=member, month=datetime(2026, 11, 1).date()) == 8000
    assert growth_window_total(program=program, member=member, month=datetime(2026, 12, 1).date()) == 0
    assert not PointsEntry.objects.filter(member__member_id="OB2").exists()
    assert points_reconcile() == []


def test_opening_balances_are_booked_once_and_a_different_one_is_refused(program, tmp_path):
    MemberFactory(member_id="OB1")
    path = write(tmp_path / "balances.csv", f"{HEADER}\nOB1,1500,2025-06-30,8000,2025-12-15\n")
    assert run("import_balances", path)[0] == 0
    code, out, _ = run("import_balances", path)
    assert code == 0 and "created 0, unchanged 1" in out
    changed = write(tmp_path / "changed.csv", f"{HEADER}\nOB1,2000,2025-06-30,8000,2025-12-15\n")
    code, out, err = run("import_balances", changed)
    assert code == 1
    assert (
        f"{changed}: row 2, column points: member OB1 already has an opening points balance of 1500 on 2025-06-30; "
        "correct it with a manual adjustment" in err
    )
    assert PointsEntry.objects.count() == 1 and GrowthEntry.objects.count() == 1


def test_bad_opening_balance_rows_name_row_and_column_and_the_rest_import(program, tmp_path):
    MemberFactory(member_id="OB1")
    MemberFactory(member_id="OB2")
    path = write(
        tmp_path / "balances.csv",
        f"{HEADER}\nOB1,-5,2025-06-30,,\nOB1,10,,,\nNOBODY,10,2025-01-01,,\nOB2,10,2025-01-01,12.5,2025-01-01\nOB2,10,2025-01-01,,\nOB1,10,2025-01-01,,\nOB1,5,2025-01-01,,\n",
    )
    code, out, err = run("import_balances", path)
    assert code == 1
    for expected in (
        "row 2, column points: points '-5' is not a whole number of 0 or more",
        "row 3, column earned_on: earned_on is required when points are given",
        "row 4, column member_id: unknown member 'NOBODY'",
        "row 5, column growth: growth '12.5' is not a whole number of 0 or more",
        "row 8, column member_id: member OB1 already appears in row 7",
    ):
        assert f"{path}: {expected}" in err
    assert "read 7, created 2, unchanged 0, rejected 5" in out
    assert (tmp_path / "balances.csv.rejected.csv").read_text(encoding="utf-8-sig").count("\n") == 6
