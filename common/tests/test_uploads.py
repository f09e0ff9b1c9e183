"""No upload beyond ``UPLOAD_MAX_BYTES``: it is stopped as it arrives, and every upload page says why."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from membership.models import ImportJob, Order
from riskcontrol.models import ManualAdjustment

pytestmark = pytest.mark.django_db

ROWS = "member_id,amount,reason\n" + "M1,10,a reason long enough to make the file large\n" * 200


@pytest.mark.parametrize(
    "url, fields",
    [
        ("admin:riskcontrol_manualadjustment_batch", {"batch": "nov"}),
        ("admin:riskcontrol_listentry_upload", {}),
        ("admin:membership_order_import", {"format": 0, "resource": 0}),
        ("admin:membership_importjob_add", {"kind": "orders"}),
    ],
)
def test_an_upload_larger_than_the_limit_is_refused_with_a_sentence(admin_client, program, settings, url, fields):
    settings.UPLOAD_MAX_BYTES = 4096
    name = "import_file" if url.endswith("order_import") else "file"
    upload = SimpleUploadedFile("big.csv", ROWS.encode())
    response = admin_client.post(reverse(url), {**fields, name: upload})
    assert response.status_code == 302 and response["Location"] == reverse(url)
    page = admin_client.get(response["Location"]).content.decode().lower()  # the admin capitalizes its messages
    assert "big.csv is larger than the 4 kb an upload may be: split the file, or import it with the command on the server." in page
    assert not ManualAdjustment.objects.exists() and not Order.objects.exists() and not ImportJob.objects.exists()


def test_an_upload_within_the_limit_goes_through(admin_client, program, settings):
    settings.UPLOAD_MAX_BYTES = 1 << 20
    upload = SimpleUploadedFile("small.csv", ROWS.encode())
    response = admin_client.post(reverse("admin:riskcontrol_manualadjustment_batch"), {"batch": "nov", "file": upload}, follow=True)
    assert "read 200" in response.content.decode().lower()
