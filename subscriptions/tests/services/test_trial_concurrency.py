"""Two trial starts for the same member at the same moment on PostgreSQL: one trial, one clear refusal."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from membership.tests.factories import MemberFactory
from subscriptions.models import Subscription
from subscriptions.presets import SUBSCRIPTION_PRESETS
from subscriptions.services import plan_catalog_sync, subscription_start

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions need a database server")


def test_parallel_trials_for_one_member_give_one_trial(transactional_db, program):
    plan_catalog_sync(program=program, specs=SUBSCRIPTION_PRESETS["edu-paid"])
    plan = program.plans.get()
    member = MemberFactory()
    barrier = threading.Barrier(4)
    outcomes = []

    def start(n):
        try:
            barrier.wait()
            subscription_start(member=member, plan=plan, reference=f"trial-{n}", trial=True)
            outcomes.append("started")
        except ValidationError as exc:
            outcomes.append(exc.messages[0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("started") == 1 and Subscription.objects.filter(member=member).count() == 1
    assert all("already" in outcome for outcome in outcomes if outcome != "started")
