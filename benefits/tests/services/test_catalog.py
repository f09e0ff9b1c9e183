import pytest

from benefits.models import Benefit
from benefits.selectors import benefit_quantities, benefits_for_level
from membership.services import program_load

pytestmark = pytest.mark.django_db


def test_default_program_benefits_are_gated_by_level(program):
    levels = {level.code: level for level in program.levels.all()}
    assert {b.code for b in benefits_for_level(level=levels["V0"])} == set()
    assert {b.code for b in benefits_for_level(level=levels["V2"])} == {"birthday-coupon", "monthly-coupon", "free-shipping"}
    assert len(benefits_for_level(level=levels["V4"])) == 6


def test_loading_the_preset_again_keeps_the_catalog(program):
    count = Benefit.objects.count()
    _, changes = program_load(name="default")
    assert changes == 0 and Benefit.objects.count() == count


def test_quantities_per_level_or_one_from_the_lowest_level_up(program):
    monthly = Benefit.objects.get(program=program, code="monthly-coupon")
    assert benefit_quantities(benefit=monthly) == {1: 1, 2: 2, 3: 3, 4: 4}
    shipping = Benefit.objects.get(program=program, code="free-shipping")
    assert benefit_quantities(benefit=shipping) == {2: 1, 3: 1, 4: 1}
    assert (monthly.trigger, shipping.trigger) == ("monthly", "level")


def test_the_daily_benefits_schedule_is_created_once(program):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Daily benefits")
    assert task.task == "benefits.daily" and task.crontab.timezone.key == "Asia/Shanghai"
    program_load(name="default")
    assert PeriodicTask.objects.filter(task="benefits.daily").count() == 1
