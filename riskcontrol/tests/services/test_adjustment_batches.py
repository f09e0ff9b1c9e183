"""Adjustments from a file: each row through the same threshold and approval, once per batch."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from membership.tests.factories import MemberFactory
from points.selectors import points_balance_get
from riskcontrol.models import ManualAdjustment

pytestmark = pytest.mark.django_db

TEXT = (
    "member_id,amount,reason,currency,reason_code,reference\n"
    "B1,200,late parcel,,compensation,T-1\n"
    "B2,5000,lost parcel,points,compensation,T-2\n"
    "B1,300,birthday gift missed,growth,,\n"
    "NOBODY,10,x,,,\n"
    "B2,abc,x,,,\n"
    "B2,10,,,,\n"
)


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("batchop", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    return django_user_model.objects.get(pk=user.pk)


def test_a_batch_books_within_the_threshold_queues_above_it_and_runs_once(program, operator, tmp_path):
    b1, b2 = MemberFactory(member_id="B1"), MemberFactory(member_id="B2")
    path = tmp_path / "batch.csv"
    path.write_text(TEXT, encoding="utf-8")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="3 row"):
        call_command("import_adjustments", str(path), "--batch", "2026-11-comp", "--as", "batchop", stdout=out, stderr=err)
    assert out.getvalue().strip() == "read 6, booked 2, pending 1, unchanged 0, rejected 3"
    errors = err.getvalue()
    assert f"{path}: row 5, column member_id: unknown member 'NOBODY'" in errors
    assert f"{path}: row 6, column amount: amount 'abc' is not a whole number" in errors
    assert f"{path}: row 7, column reason: reason is required: say why" in errors
    assert points_balance_get(member=b1) == 200 and points_balance_get(member=b2) == 0
    pending = ManualAdjustment.objects.get(status="pending")
    assert (pending.member, pending.amount, pending.requested_by, pending.reference) == (b2, 5000, operator, "T-2")

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("import_adjustments", str(path), "--batch", "2026-11-comp", "--as", "batchop", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "read 6, booked 0, pending 0, unchanged 3, rejected 3"
    assert ManualAdjustment.objects.count() == 3


def test_someone_without_the_permission_cannot_import_a_batch(program, django_user_model, tmp_path):
    django_user_model.objects.create_user("viewer1").groups.add(Group.objects.get(name="Viewer"))
    path = tmp_path / "batch.csv"
    path.write_text(TEXT, encoding="utf-8")
    with pytest.raises(CommandError, match="may not request manual adjustments"):
        call_command("import_adjustments", str(path), "--batch", "b", "--as", "viewer1", stdout=StringIO(), stderr=StringIO())
    assert not ManualAdjustment.objects.exists()


def test_a_batch_from_the_admin(client, program, operator, settings, tmp_path):
    settings.SCRATCH_DIR = str(tmp_path)
    MemberFactory(member_id="B1")
    MemberFactory(member_id="B2")
    client.force_login(operator)
    assert client.get(reverse("admin:riskcontrol_manualadjustment_batch")).status_code == 200
    upload = SimpleUploadedFile("comp.csv", TEXT.encode("gb18030"))
    response = client.post(reverse("admin:riskcontrol_manualadjustment_batch"), {"file": upload, "batch": "nov"}, follow=True)
    page = response.content.decode().lower()  # the admin capitalizes its messages
    assert "read 6, booked 2, pending 1, unchanged 0, rejected 3" in page
    assert "comp.csv: row 5, column member_id: unknown member" in page
    assert ManualAdjustment.objects.count() == 3
    assert list((tmp_path / "membership-scratch").iterdir()) == []  # neither the upload nor its rejected rows are kept


@pytest.fixture
def eager_celery():
    from config.celery_app import app as celery_app

    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_a_large_batch_from_the_admin_becomes_a_job_that_books_the_same(
    client, program, operator, settings, tmp_path, eager_celery, django_capture_on_commit_callbacks
):
    from membership.models import ImportJob

    settings.IMPORT_IN_REQUEST_MAX_BYTES = 100
    settings.MEDIA_ROOT = tmp_path / "media"
    MemberFactory(member_id="B1")
    MemberFactory(member_id="B2")
    client.force_login(operator)
    upload = SimpleUploadedFile("comp.csv", TEXT.encode("gb18030"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:riskcontrol_manualadjustment_batch"), {"file": upload, "batch": "nov"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:membership_importjob_change", args=[job.pk])
    assert (job.kind, job.options, job.status, job.created_by) == ("adjustments", {"batch": "nov"}, "done", operator)
    assert job.counts == {"read": 6, "booked": 2, "pending": 1, "unchanged": 0, "rejected": 3}
    assert ManualAdjustment.objects.count() == 3 and set(ManualAdjustment.objects.values_list("batch_key", flat=True)) == {"nov:2", "nov:3", "nov:4"}
    assert "comp.csv: row 5, column member_id: unknown member" in job.rejected_file.read().decode("gb18030")
    page = client.get(response["Location"]).content.decode()
    assert "Adjustments" in page and "comp.csv" in page


def test_a_large_list_file_from_the_admin_becomes_a_job(admin_client, program, settings, tmp_path, eager_celery, django_capture_on_commit_callbacks):
    from membership.models import ImportJob
    from riskcontrol.models import ListEntry

    settings.IMPORT_IN_REQUEST_MAX_BYTES = 10
    settings.MEDIA_ROOT = tmp_path / "media"
    MemberFactory(member_id="B1")
    upload = SimpleUploadedFile("black.csv", b"member_id,kind,scope,reason\nB1,black,all,resold coupons\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:riskcontrol_listentry_upload"), {"file": upload})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and (job.kind, job.options, job.status) == ("lists", {"remove": False}, "done")
    assert ListEntry.objects.filter(member__member_id="B1", kind="black").count() == 1
