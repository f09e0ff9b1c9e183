"""The hourly scan task through a real Celery worker process on the Redis broker and PostgreSQL."""

import time

from membership.tests.factories import MemberFactory
from membership.tests.test_celery_worker import pytestmark, worker  # noqa: F401 - the same markers and worker fixture
from riskcontrol.models import Alert, AnomalyRule
from riskcontrol.tasks import scan


def test_the_scan_task_raises_alerts_on_a_worker_and_a_second_run_raises_none(worker):  # noqa: F811
    AnomalyRule.objects.create(code="phones", name="Shared phones", kind="shared_phone", params={"min_members": 2})
    MemberFactory(phone="13977778888"), MemberFactory(phone="13977778888")
    first = scan.apply_async(queue=worker).get(timeout=90)
    assert (first["found"], first["raised"]) == (2, 2)
    second = scan.apply_async(queue=worker).get(timeout=90)
    assert (second["found"], second["raised"]) == (2, 0)
    deadline = time.monotonic() + 10
    while Alert.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert Alert.objects.count() == 2
