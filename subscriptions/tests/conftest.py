import pytest

from subscriptions.presets import SUBSCRIPTION_PRESETS
from subscriptions.services import plan_catalog_sync


@pytest.fixture
def plans(program):
    plan_catalog_sync(program=program, specs=SUBSCRIPTION_PRESETS["jd-plus"] + SUBSCRIPTION_PRESETS["edu-paid"])
    return {plan.code: plan for plan in program.plans.all()}
