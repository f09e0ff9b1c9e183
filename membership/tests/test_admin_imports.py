"""Imports and exports in the admin: preview then confirm through the import services; large files as jobs."""

import pytest
from django.urls import reverse

from config.celery_app import app as celery_app
from membership.models import GrowthEntry, ImportJob, Member, Order
from membership.tests.factories import MemberFactory
from points.models import PointsEntry

pytestmark = pytest.mark.django_db

HEADER = "order_id,member_id,paid_at,status,goods_amount,discount_amount,shipping_amount,refunded_amount,category,shop_id"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def eager_celery():
    """Celery runs tasks in the calling process, as in the local console."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def upload(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    return open(path, "rb")


def preview(client, url, handle):
    response = client.post(url, {"import_file": handle, "format": 0, "resource": 0})
    assert response.status_code == 200
    return response


def test_order_import_previews_exactly_then_books_on_confirm(admin_client, program, tmp_path):
    MemberFactory(member_id="A1")
    text = f"{HEADER}\nAO1,A1,2026-03-01 10:00:00,completed,120.50,0,0,0,数码,S1\nAO2,A1,2026-03-02 10:00:00,paid,80,0,0,0,,\n"
    response = preview(admin_client, reverse("admin:membership_order_import"), upload(tmp_path, "orders.csv", text))
    result = response.context["result"]
    assert [row.import_type for row in result.rows] == ["new", "new"], [e.error for r in result.rows for e in r.errors]
    assert not Order.objects.exists() and not GrowthEntry.objects.exists()  # the preview wrote nothing

    confirm = response.context["confirm_form"]
    response = admin_client.post(reverse("admin:membership_order_process_import"), confirm.initial)
    assert response.status_code == 302
    assert Order.objects.count() == 2
    assert list(GrowthEntry.objects.values_list("source_ref", "amount")) == [("AO1", 120)]
    assert list(PointsEntry.objects.values_list("source_ref", "amount")) == [("AO1", 120)]

    # The same file again: every row unchanged, nothing booked.
    response = preview(admin_client, reverse("admin:membership_order_import"), upload(tmp_path, "orders.csv", text))
    assert [row.import_type for row in response.context["result"].rows] == ["skip", "skip"]


def test_order_import_lists_each_bad_row_with_its_reason_and_books_the_valid_ones_on_confirm(admin_client, program, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    MemberFactory(member_id="A1")
    text = f"{HEADER}\nBO1,A1,2026-03-01 10:00:00,completed,120.50,0,0,0,,\nBO2,NOBODY,2026-03-01 10:00:00,completed,1,0,0,0,,\nBO3,A1,yesterday,completed,1,0,0,0,,\n"
    response = preview(admin_client, reverse("admin:membership_order_import"), upload(tmp_path, "bad.csv", text))
    invalid = {row.number: row.error_dict for row in response.context["result"].invalid_rows}
    assert invalid == {
        3: {"member_id": ["unknown member 'NOBODY'"]},
        4: {"paid_at": ["paid_at 'yesterday' is not an ISO 8601 date or time (e.g. 2026-11-22 10:30:00)"]},
    }
    page = response.content.decode()
    assert "<td>3</td><td>member_id</td><td>unknown member &#x27;NOBODY&#x27;</td>" in page  # in plain sight, not behind a badge
    assert "Confirming imports the other 1 row(s)" in page
    assert not Order.objects.exists()  # the preview wrote nothing

    response = admin_client.post(reverse("admin:membership_order_process_import"), response.context["confirm_form"].initial)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:membership_importjob_change", args=[job.pk])
    assert list(Order.objects.values_list("order_id", flat=True)) == ["BO1"]
    assert (job.kind, job.status, job.counts["created"], job.counts["rejected"]) == ("orders", "done", 1, 2)
    rejected = admin_client.get(reverse("admin:membership_importjob_rejected", args=[job.pk]))
    content = b"".join(rejected.streaming_content).decode("utf-8-sig")
    assert "bad.csv: row 3, column member_id: unknown member 'NOBODY'" in content and "BO3" in content and "BO1" not in content


def test_an_import_whose_every_row_is_bad_offers_no_confirm(admin_client, program, tmp_path):
    text = f"{HEADER}\nBO2,NOBODY,2026-03-01 10:00:00,completed,1,0,0,0,,\n"
    response = preview(admin_client, reverse("admin:membership_order_import"), upload(tmp_path, "bad.csv", text))
    assert "confirm_form" not in response.context and "No row can be imported" in response.content.decode()


def test_member_import_reads_gb18030_and_excel_exports_members(admin_client, program, tmp_path):
    text = "member_id,name,phone\nG1,张三,13800000001\nG2,李四,13800000002\n"
    response = preview(admin_client, reverse("admin:membership_member_import"), upload(tmp_path, "members.csv", text, "gb18030"))
    response = admin_client.post(reverse("admin:membership_member_process_import"), response.context["confirm_form"].initial)
    assert response.status_code == 302
    assert dict(Member.objects.values_list("member_id", "name")) == {"G1": "张三", "G2": "李四"}

    from import_export.forms import SelectableFieldsExportForm

    from membership.resources import MemberExportResource

    selected = {SelectableFieldsExportForm.create_boolean_field_name(MemberExportResource, f): "on" for f in MemberExportResource().get_export_order()}
    response = admin_client.post(reverse("admin:membership_member_export"), {"format": 0, "resource": 0, **selected})
    assert response.status_code == 200
    body = response.content.decode("utf-8-sig") if isinstance(response.content, bytes) else response.content
    assert body.splitlines()[0].startswith("member_id,name,phone")
    assert "G1,张三,13800000001" in body


def test_a_large_upload_becomes_a_job_that_a_worker_runs_and_keeps(admin_client, admin_user, program, tmp_path, settings, eager_celery, django_capture_on_commit_callbacks):
    settings.IMPORT_IN_REQUEST_MAX_BYTES = 100
    MemberFactory(member_id="A1")
    text = HEADER + "\n" + "".join(f"JO{n},A1,2026-03-01 10:00:00,completed,10,0,0,0,,\n" for n in range(20)) + "JO98,A1,2026-03-01,completed,1,0,0,5,,\nJO99,NOBODY,2026-03-01,completed,1,0,0,0,,\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:membership_order_import"), {"import_file": upload(tmp_path, "big.csv", text), "format": 0, "resource": 0})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:membership_importjob_change", args=[job.pk])
    assert (job.kind, job.status, job.created_by, job.rows_done, job.rows_total) == ("orders", "done", admin_user, 21, 21)
    assert job.counts == {"read": 22, "created": 20, "changed": 0, "unchanged": 0, "rejected": 2, "capped": 0}
    assert Order.objects.count() == 20

    page = admin_client.get(reverse("admin:membership_importjob_change", args=[job.pk])).content.decode()
    assert "20 / 21" not in page and "21 / 21 (100%)" in page
    rejected = admin_client.get(reverse("admin:membership_importjob_rejected", args=[job.pk]))
    content = b"".join(rejected.streaming_content).decode("utf-8-sig")
    assert "big.csv: row 22, column refunded_amount: refunded_amount 5 is larger than what was paid (1)" in content
    assert "big.csv: row 23, column member_id: unknown member 'NOBODY'" in content


def test_opening_balances_import_as_a_job_from_the_job_page(admin_client, program, tmp_path, eager_celery, django_capture_on_commit_callbacks):
    MemberFactory(member_id="A1")
    text = "member_id,points,earned_on,growth,growth_on\nA1,500,2026-01-05,1200,2026-01-05\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:membership_importjob_add"), {"kind": "balances", "file": upload(tmp_path, "balances.csv", text), "book_points": "on"}
        )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == "done" and job.counts["created"] == 1
    assert PointsEntry.objects.get().kind == "opening" and GrowthEntry.objects.get().amount == 1200
