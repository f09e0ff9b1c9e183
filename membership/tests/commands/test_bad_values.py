"""Values no column can hold, and files that are not what they seem: each refused in a sentence
naming the file, row and column, identically on SQLite and PostgreSQL, and never at the cost of
the good rows beside it (they are booked in the same batch)."""

import codecs

import pytest
from django.contrib.auth import get_user_model

from membership.models import GrowthEntry, Member, Order
from points.selectors import points_reconcile
from riskcontrol.models import ManualAdjustment

from .test_contract_commands import ORDER_HEADER, run, write

pytestmark = pytest.mark.django_db

GOOD = "G1,PM1,2026-03-01 10:00:00,completed,100,0,0,0,,"

ORDERS = {
    "paid_at 9999-12-31 23:00:00 is outside the years 1900 to 2999": "B1,PM1,9999-12-31 23:00:00,completed,100,0,0,0,,",
    "paid_at 0001-01-01 is outside the years 1900 to 2999": "B2,PM1,0001-01-01,completed,100,0,0,0,,",
    "goods_amount '²' is not an amount in yuan": "B3,PM1,2026-03-01 10:00:00,completed,²,0,0,0,,",
    "category is longer than 64 characters": f"B4,PM1,2026-03-01 10:00:00,completed,100,0,0,0,{'C' * 65},",
    "shop_id is longer than 64 characters": f"B5,PM1,2026-03-01 10:00:00,completed,100,0,0,0,,{'S' * 65}",
    "order_id is longer than 64 characters": f"{'O' * 65},PM1,2026-03-01 10:00:00,completed,100,0,0,0,,",
    "goods_amount 99999999999999.99 is too large: at most 999,999,999,999.99 yuan": "B6,PM1,2026-03-01 10:00:00,completed,99999999999999.99,0,0,0,,",
    "goods_amount 3000000000: rule order-growth would credit 3,000,000,000 growth for this order, more than one ledger entry holds (2,147,483,647); check the amount":
        "B7,PM1,2026-03-01 10:00:00,completed,3000000000,0,0,0,,",
    "goods_amount 'NaN' is not a number: give an amount in yuan, such as 128.50": "B8,PM1,2026-03-01 10:00:00,completed,NaN,0,0,0,,",
    "goods_amount 'Infinity' is not a number: give an amount in yuan, such as 128.50": "B9,PM1,2026-03-01 10:00:00,completed,Infinity,0,0,0,,",
    "goods_amount '1e30' is written with an exponent: write the amount in digits, such as 128.50": "B10,PM1,2026-03-01 10:00:00,completed,1e30,0,0,0,,",
    "goods_amount '1.005' has more than 2 decimals": "B11,PM1,2026-03-01 10:00:00,completed,1.005,0,0,0,,",
    "discount_amount 20 is larger than goods_amount 10": "B12,PM1,2026-03-01 10:00:00,completed,10,20,0,0,,",
}


@pytest.fixture
def member(program):
    return Member.objects.create(member_id="PM1")


def test_each_out_of_range_order_value_is_refused_and_the_good_rows_beside_it_are_booked(member, tmp_path):
    path = write(tmp_path / "orders.csv", "\n".join([ORDER_HEADER, GOOD, *ORDERS.values(), GOOD.replace("G1", "G2")]) + "\n")
    code, out, err = run("import_orders", path, "--batch-size", "100")
    assert code == 1
    for number, message in enumerate(ORDERS, 3):
        column = message.split(" ")[0]
        assert f"{path}: row {number}, column {column}: {message}" in err
    assert "created 2" in out and sorted(Order.objects.values_list("order_id", flat=True)) == ["G1", "G2"]
    assert points_reconcile() == []


def test_out_of_range_balances_members_and_adjustments_are_refused_in_sentences(member, tmp_path):
    balances = write(
        tmp_path / "balances.csv",
        "member_id,points,earned_on,growth,growth_on\nPM1,99999999999,2026-01-01,0,\nPM1,²,2026-01-01,0,\nPM1,0,,5,9999-12-31\n",
    )
    code, _, err = run("import_balances", balances)
    assert code == 1
    assert "row 2, column points: points 99,999,999,999 is too large: at most 2,147,483,647" in err
    assert "row 3, column points: points '²' is not a whole number of 0 or more" in err
    assert "row 4, column growth_on: growth_on 9999-12-31 is outside the years 1900 to 2999" in err

    members = write(tmp_path / "members.csv", "member_id,name,joined_at,base_score\nPM2,A,9999-12-31 23:00:00,\nPM3,B,,²\nPM4,C,,\n")
    code, _, err = run("import_members", members)
    assert "row 2, column joined_at: joined_at 9999-12-31 23:00:00 is outside the years 1900 to 2999" in err
    assert "row 3, column base_score: base_score '²' is not a whole number of 0 or more" in err
    assert list(Member.objects.order_by("member_id").values_list("member_id", flat=True)) == ["PM1", "PM4"]


def test_a_bad_adjustment_row_in_the_middle_does_not_stop_the_rows_after_it(member, tmp_path):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    path = write(
        tmp_path / "adjustments.csv",
        "member_id,amount,reason,currency\n"
        "PM1,10,first,growth\n"
        "PM1,3000000000,too big,growth\n"
        "PM1,²,odd digit,growth\n"
        f"PM1,5,{'X' * 240},growth\n"
        "PM1,-10,more than the balance,points\n"
        "PM1,7,last,growth\n",
    )
    for attempt in range(2):
        code, out, err = run("import_adjustments", path, "--batch", "nov", "--as", "boss")
        assert code == 1
        assert "row 3, column amount: amount 3,000,000,000 is too large: at most 2,147,483,647" in err
        assert "row 4, column amount: amount '²' is not a whole number" in err
        assert "row 5, column reason: the explanation is 240 characters long: at most" in err
        assert "row 6, column amount: " in err
        assert out.strip().endswith(f"booked {0 if attempt else 2}, pending 0, unchanged {2 if attempt else 0}, rejected 4")
    assert sorted(GrowthEntry.objects.values_list("amount", flat=True)) == [7, 10]
    assert ManualAdjustment.objects.count() == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (
            f'{ORDER_HEADER}\n"Q1,PM1,2026-03-01 10:00:00,completed,10,0,0,0,,\n{GOOD}\n'.encode(),
            'row 2: a quoted value opened in this row is never closed (a " is missing), so every row after it would be read into that one value',
        ),
        (
            codecs.BOM_UTF16_LE + f"{ORDER_HEADER}\n{GOOD}\n".encode("utf-16-le"),
            'the file is UTF-16 text (what Excel\'s "Unicode text" writes), not CSV in UTF-8 or GB18030',
        ),
    ],
    ids=["unterminated quote", "UTF-16"],
)
def test_a_file_that_is_not_what_it_seems_is_refused_whole(member, tmp_path, content, message):
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    code, _, err = run("import_orders", str(path))
    assert code == 2 and message in err
    assert not Order.objects.exists()


def test_an_orders_file_may_say_what_was_paid_with_points_and_too_much_is_refused_naming_the_column(member, tmp_path):
    header = f"{ORDER_HEADER},offset_amount"
    path = write(tmp_path / "orders.csv", f"{header}\n{GOOD},30\nB1,PM1,2026-03-01 10:00:00,completed,100,0,0,0,,,100.50\nB2,PM1,2026-03-01 10:00:00,completed,100,0,0,0,,,abc\n")
    code, _, err = run("import_orders", path)
    assert code == 1
    assert f"{path}: row 3, column offset_amount: offset_amount 100.50 is larger than what was paid (100)" in err
    assert f"{path}: row 4, column offset_amount: offset_amount 'abc' is not an amount in yuan" in err
    assert Order.objects.get(order_id="G1").offset_amount == 30
