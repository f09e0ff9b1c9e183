import pytest

from benefits.models import Benefit
from benefits.selectors import benefits_for_level
from membership.services import program_load

pytestmark = pytest.mark.django_db


def test_default_program_benefits_are_gated_by_level(program):
    levels = {level.code: level for level in program.levels.all()}
    assert {b.code for b in benefits_for_level(level=levels["V0"])} == set()
    assert {b.code for b in benefits_for_level(level=levels["V2"])} == {"birthday-coupon", "free-shipping"}
    assert len(benefits_for_level(level=levels["V4"])) == 5


def test_loading_the_preset_again_keeps_the_catalog(program):
    count = Benefit.objects.count()
    _, changes = program_load(name="default")
    assert changes == 0 and Benefit.objects.count() == count
