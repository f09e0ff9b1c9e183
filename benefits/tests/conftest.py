import pytest

from benefits.models import Benefit, BenefitLevel


@pytest.fixture
def levels(program):
    return {level.code: level for level in program.levels.all()}


@pytest.fixture
def make_benefit(program, levels):
    def make(code, *, trigger="claim", min_level="V1", quantities=None, **fields):
        benefit = Benefit.objects.create(
            program=program, code=code, name=code, kind=Benefit.Kind.COUPON, trigger=trigger, min_level=levels[min_level], **fields
        )
        for level_code, quantity in (quantities or {}).items():
            BenefitLevel.objects.create(benefit=benefit, level=levels[level_code], quantity=quantity)
        return benefit

    return make

