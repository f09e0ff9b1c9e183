"""Writing many rows at once: every row gets its own new primary key, in increasing order, also
when other sessions take keys of the same table meanwhile; the garbage collector of a bulk job."""

import gc

import pytest
from django.db import connection

from common.bulk import keys_take, new_row, rows_insert
from common.collector import BULK_THRESHOLDS, few_collections
from membership.models import Member

pytestmark = pytest.mark.django_db


def test_rows_insert_gives_each_row_a_new_key_in_the_order_of_the_rows():
    before = Member.objects.create(member_id="K0")
    rows = [new_row(Member, member_id=f"K{n}", name="", phone="") for n in range(1, 6)]
    rows_insert(Member, rows)
    keys = [row.pk for row in rows]
    assert keys == sorted(keys) and len(set(keys)) == 5 and keys[0] > before.pk
    assert dict(Member.objects.filter(member_id__startswith="K").values_list("member_id", "pk")) == {"K0": before.pk, **{r.member_id: r.pk for r in rows}}


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's sequences")
def test_keys_taken_with_gaps_come_back_one_by_one():
    """Keys another session took meanwhile leave gaps: the keys are then sent back themselves
    (a sequence stepping by 3 leaves the same gaps)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('membership_member', 'id')")
        sequence = cursor.fetchone()[0]
        first = keys_take(cursor, "membership_member", "id", 4)
        assert isinstance(first, range) and len(first) == 4
        cursor.execute(f"ALTER SEQUENCE {sequence} INCREMENT BY 3")
        gapped = keys_take(cursor, "membership_member", "id", 4)
        cursor.execute(f"ALTER SEQUENCE {sequence} INCREMENT BY 1")
    assert list(gapped) == [first[-1] + 3 * n for n in range(1, 5)]


def test_a_bulk_job_runs_the_collector_less_often_and_leaves_it_as_it_was():
    before = gc.get_threshold()
    with few_collections():
        assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what was alive before is left out of the passes
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
