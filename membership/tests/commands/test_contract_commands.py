"""The command-line contract (CONTRACT.md): imports, export, program loading and bad input."""

import csv
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from membership.models import EarningRule, GrowthEntry, Level, Member, Order, Program
from points.models import PointsEntry

pytestmark = pytest.mark.django_db

ORDER_HEADER = "order_id,member_id,paid_at,status,goods_amount,discount_amount,shipping_amount,refunded_amount,category,shop_id"


def run(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        return 0, out.getvalue(), err.getvalue()
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    return str(path)


def test_load_program_default_twice_changes_nothing(db):
    code, out, _ = run("load_program", "default")
    assert code == 0 and "loaded program default" in out
    program = Program.objects.get(is_active=True)
    assert list(program.levels.values_list("code", "threshold")) == [
        ("V0", 0), ("V1", 1000), ("V2", 5000), ("V3", 20000), ("V4", 50000)
    ]
    assert program.growth_window_months == 12 and program.daily_growth_cap == 20000
    counts = (Program.objects.count(), Level.objects.count(), EarningRule.objects.count())
    code, out, _ = run("load_program", "default")
    assert code == 0 and "nothing changed" in out
    assert (Program.objects.count(), Level.objects.count(), EarningRule.objects.count()) == counts


def test_load_program_unknown_name_is_a_clear_error(db):
    code, _, err = run("load_program", "nope")
    assert code == 1 and "unknown program preset 'nope'" in err


def test_load_program_leaves_members_and_ledgers_alone(program, tmp_path):
    run("import_members", write(tmp_path / "m.csv", "member_id\nA\n"))
    run("import_orders", write(tmp_path / "o.csv", f"{ORDER_HEADER}\nO1,A,2026-01-05,completed,100,,,,,\n"))
    before = (Member.objects.count(), GrowthEntry.objects.count(), PointsEntry.objects.count())
    program.daily_growth_cap = 5
    program.save()
    run("load_program", "default")
    assert Program.objects.get().daily_growth_cap == 20000
    assert (Member.objects.count(), GrowthEntry.objects.count(), PointsEntry.objects.count()) == before


def test_import_members_updates_and_never_duplicates(program, tmp_path):
    path = write(tmp_path / "m.csv", "member_id,name,phone,birthday,joined_at\nA,张三,13800000000,1990-05-17,2024-01-02\nB,,,,\n")
    code, out, _ = run("import_members", path)
    assert code == 0 and out.strip().endswith("read 2, created 2, changed 0, unchanged 0, rejected 0")
    path = write(tmp_path / "m.csv", "member_id,name\nA,张三丰\nB,\n")
    code, out, _ = run("import_members", path)
    assert "created 0, changed 1, unchanged 1" in out
    a = Member.objects.get(member_id="A")
    assert (a.name, a.phone, str(a.birthday)) == ("张三丰", "13800000000", "1990-05-17")
    assert Member.objects.count() == 2


def test_import_members_gb18030_and_bom(program, tmp_path):
    code, _, err = run("import_members", write(tmp_path / "g.csv", "member_id,name\nG1,王小明\n", "gb18030"), "--encoding", "gb18030")
    assert code == 0, err
    assert Member.objects.get(member_id="G1").name == "王小明"
    code, _, err = run("import_members", write(tmp_path / "b.csv", "member_id,name\nB1,李雷\n", "utf-8-sig"))
    assert code == 0, err
    assert Member.objects.get(member_id="B1").name == "李雷"


def test_gb18030_file_read_as_utf8_names_the_row_and_the_fix(program, tmp_path):
    code, _, err = run("import_members", write(tmp_path / "g.csv", "member_id,name\nG1,王小明\n", "gb18030"))
    assert code == 2
    assert "row 2" in err and "--encoding gb18030" in err
    assert Member.objects.count() == 0


def test_import_orders_books_by_the_rules_and_reimport_changes_nothing(program, tmp_path):
    run("import_members", write(tmp_path / "m.csv", "member_id\nA\nB\n"))
    path = write(
        tmp_path / "o.csv",
        f"{ORDER_HEADER}\n"
        "O1,A,2026-01-05T10:00:00,completed,300.99,50.5,20,0,数码,S1\n"
        "O2,A,2026-01-05 11:00,PAID,100,,,,,\n"
        "O3,B,2026-01-06,completed,12000,,,,,\n",
    )
    code, out, err = run("import_orders", path)
    assert code == 0, err
    assert out.strip().endswith("read 3, created 3, changed 0, unchanged 0, rejected 0, capped 0")
    assert GrowthEntry.objects.filter(member__member_id="A").get().amount == 250
    assert GrowthEntry.objects.filter(member__member_id="B").get().amount == 10000
    assert PointsEntry.objects.filter(member__member_id="B").get().amount == 12000
    code, out, _ = run("import_orders", path)
    assert "created 0, changed 0, unchanged 3" in out
    assert GrowthEntry.objects.count() == 2


def test_import_orders_reimport_with_refund_books_only_the_difference(program, tmp_path):
    run("import_members", write(tmp_path / "m.csv", "member_id\nA\n"))
    run("import_orders", write(tmp_path / "o.csv", f"{ORDER_HEADER}\nO1,A,2026-01-05,completed,800,,,,,\n"))
    code, out, _ = run("import_orders", write(tmp_path / "o.csv", f"{ORDER_HEADER}\nO1,A,2026-01-05,completed,800,,,300,,\n"))
    assert "changed 1" in out
    assert list(GrowthEntry.objects.order_by("pk").values_list("kind", "amount")) == [("credit", 800), ("reversal", -300)]


def test_import_orders_applies_rows_in_paid_at_then_order_id_order_for_caps(program, tmp_path):
    run("import_members", write(tmp_path / "m.csv", "member_id\nA\n"))
    path = write(
        tmp_path / "o.csv",
        f"{ORDER_HEADER}\n"
        "O9,A,2026-01-05 12:00,completed,10000,,,,,\n"
        "O2,A,2026-01-05 09:00,completed,10000,,,,,\n"
        "O1,A,2026-01-05 09:00,completed,10000,,,,,\n",
    )
    code, out, _ = run("import_orders", path)
    assert "capped 1" in out
    capped = GrowthEntry.objects.get(source_ref="O9")
    assert (capped.amount, capped.capped) == (0, 10000)


def test_import_orders_naive_times_are_shanghai_time(program, tmp_path):
    run("import_members", write(tmp_path / "m.csv", "member_id\nA\n"))
    run("import_orders", write(tmp_path / "o.csv", f"{ORDER_HEADER}\nO1,A,2026-01-05 00:30,completed,10,,,,,\nO2,A,2026-01-05T00:30:00+00:00,completed,10,,,,,\n"))
    o1, o2 = Order.objects.get(order_id="O1"), Order.objects.get(order_id="O2")
    assert o1.paid_at.isoformat() == "2026-01-04T16:30:00+00:00"
    assert o2.paid_at.isoformat() == "2026-01-05T00:30:00+00:00"


def test_import_orders_rejects_bad_rows_with_row_column_reason_and_keeps_the_good_ones(program, tmp_path):
    run("import_members", write(tmp_path / "m.csv", "member_id\nA\n"))
    path = write(
        tmp_path / "o.csv",
        f"{ORDER_HEADER}\n"
        "O1,A,2026-01-05,completed,100,,,,,\n"
        "O2,NOPE,2026-01-05,completed,100,,,,,\n"
        "O3,A,2026-13-05,completed,100,,,,,\n"
        "O4,A,2026-01-05,completed,-1,,,,,\n"
        "O5,A,2026-01-05,shipped,100,,,,,\n"
        "O6,A,2026-01-05,completed,100,,10,200,,\n"
        "O1,A,2026-01-05,completed,100,,,,,\n"
        "O7,A,2026-01-05,completed,1.005,,,,,\n"
        ",A,2026-01-05,completed,1,,,,,\n",
    )
    code, out, err = run("import_orders", path)
    assert code == 1
    assert "read 9, created 1, changed 0, unchanged 0, rejected 8" in out
    assert "row 3, column member_id: unknown member 'NOPE'" in err
    assert "row 4, column paid_at:" in err
    assert "row 5, column goods_amount:" in err and "negative" in err
    assert "row 6, column status: unknown status 'shipped'" in err
    assert "row 7, column refunded_amount:" in err and "larger than what was paid" in err
    assert "row 8, column order_id: order O1 already appears in row 2" in err
    assert "row 9, column goods_amount:" in err and "more than 2 decimals" in err
    assert "row 10, column order_id: order_id is required" in err
    with open(f"{path}.rejected.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["order_id"] for r in rows] == ["O2", "O3", "O4", "O5", "O6", "O1", "O7", ""]
    assert all(r["error"] for r in rows)
    assert Order.objects.count() == 1


def test_import_orders_dry_run_writes_nothing(program, tmp_path):
    run("import_members", write(tmp_path / "m.csv", "member_id\nA\n"))
    path = write(tmp_path / "o.csv", f"{ORDER_HEADER}\nO1,A,2026-01-05,completed,100,,,,,\nO2,X,2026-01-05,completed,100,,,,,\n")
    code, out, _ = run("import_orders", path, "--dry-run")
    assert code == 1 and "dry run" in out and "rejected 1" in out
    assert Order.objects.count() == 0 and GrowthEntry.objects.count() == 0
    assert not (tmp_path / "o.csv.rejected.csv").exists()


def test_import_orders_no_points_credits_growth_only(program, tmp_path):
    run("import_members", write(tmp_path / "m.csv", "member_id\nA\n"))
    run("import_orders", write(tmp_path / "o.csv", f"{ORDER_HEADER}\nO1,A,2026-01-05,completed,100,,,,,\n"), "--no-points")
    assert GrowthEntry.objects.count() == 1 and PointsEntry.objects.count() == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ("order_id,member_id,status,goods_amount\nO1,A,completed,1\n", "row 1: missing required column paid_at"),
        ("", "the file is empty"),
    ],
)
def test_import_orders_bad_file_is_one_sentence_and_exit_code_2(program, tmp_path, content, message):
    code, _, err = run("import_orders", write(tmp_path / "o.csv", content))
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_file_is_named(program, tmp_path):
    code, _, err = run("import_orders", str(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv: no such file" in err


def test_binary_garbage_and_a_wrong_encoding_exit_2_from_the_shell(tmp_path):
    import subprocess
    import sys

    from django.conf import settings

    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 40)
    chinese = tmp_path / "gbk.csv"
    chinese.write_bytes("member_id,name\nG1,张三\n".encode("gb18030"))
    for path, expected in ((garbage, "garbage.csv: row 1: this is not a text file (it holds NUL bytes); save it from Excel as CSV"), (chinese, "gbk.csv: row 2: the text is not valid utf-8; for Excel files in Chinese try --encoding gb18030")):
        done = subprocess.run(
            [sys.executable, "manage.py", "import_members", str(path)], cwd=settings.BASE_DIR, capture_output=True, text=True,
            env={**__import__("os").environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
        )
        assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr


def test_export_members_columns_and_values(program, tmp_path):
    run("import_members", write(tmp_path / "m.csv", "member_id\nA\nB\n"))
    run("import_orders", write(tmp_path / "o.csv", f"{ORDER_HEADER}\nO1,A,2025-11-05,completed,1500.8,,,,,\nO2,A,2025-11-06,completed,100,,,,,\nO2X,A,2025-11-06,refunded,100,,,100,,\n"))
    run("settle", "2025-11")
    out = tmp_path / "export.csv"
    code, text, _ = run("export_members", str(out))
    assert code == 0 and "exported 2 members" in text
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["member_id", "level", "level_valid_until", "growth_total", "points_balance"]
    assert rows == [
        {"member_id": "A", "level": "V1", "level_valid_until": "2026-11-30", "growth_total": "1600", "points_balance": "1600"},
        {"member_id": "B", "level": "V0", "level_valid_until": "", "growth_total": "0", "points_balance": "0"},
    ]


def test_settle_command_says_when_already_settled_and_refuses_earlier_months(program):
    assert run("settle", "2026-02")[0] == 0
    code, out, _ = run("settle", "2026-02")
    assert code == 0 and "already settled" in out
    code, _, err = run("settle", "2026-01")
    assert code == 1 and "before the latest settled month 2026-02" in err
    code, _, err = run("settle", "2026/02")
    assert code == 1 and "YYYY-MM" in err


def test_commands_without_a_program_say_what_to_do(db, tmp_path):
    code, _, err = run("settle", "2026-02")
    assert code == 1 and "load_program default" in err


def test_a_file_that_breaks_off_midway_writes_nothing(program, tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("member_id,name\nA,张三\nB,李四\n".encode() + "C,王五\n".encode("gb18030"))
    code, _, err = run("import_members", str(path))
    assert code == 2 and "row 4" in err
    assert Member.objects.count() == 0
    run("import_members", write(tmp_path / "mm.csv", "member_id\nA\n"))
    path = tmp_path / "o.csv"
    path.write_bytes(f"{ORDER_HEADER}\nO1,A,2026-01-05,completed,100,,,,,\n".encode() + "O2,A,2026-01-05,completed,100,,,,王五,\n".encode("gb18030"))
    code, _, err = run("import_orders", str(path))
    assert code == 2 and "row 3" in err
    assert Order.objects.count() == 0 and GrowthEntry.objects.count() == 0


def test_check_ledgers_reports_agreement_and_disagreement(program, tmp_path):
    from points.models import PointsAccount

    run("import_members", write(tmp_path / "m.csv", "member_id\nA\n"))
    run("import_orders", write(tmp_path / "o.csv", f"{ORDER_HEADER}\nO1,A,2026-01-05,completed,100,,,,,\n"))
    code, out, _ = run("check_ledgers")
    assert code == 0 and "ledgers agree" in out
    PointsAccount.objects.update(balance=7)  # the account row is not a ledger; corrupt it to prove the check looks
    code, _, err = run("check_ledgers")
    assert code == 1 and "balance 7 but entries sum to 100" in err


def test_a_database_not_migrated_yet_is_one_sentence_not_a_traceback(tmp_path):
    import os
    import subprocess
    import sys

    from django.conf import settings

    done = subprocess.run(
        [sys.executable, "manage.py", "load_program", "default"], cwd=settings.BASE_DIR, capture_output=True, text=True,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"},
    )
    assert done.returncode == 1 and "has no tables yet: run `python manage.py migrate` first." in done.stderr
    assert "Traceback" not in done.stderr
