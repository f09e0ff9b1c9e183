from django.db import transaction

from membership.models import Program

from .models import Benefit


@transaction.atomic
def benefit_catalog_sync(*, program: Program, specs: list[dict]) -> int:
    """Make the program's catalog hold the benefits in ``specs`` (matched by code); returns rows changed."""
    levels = {level.code: level for level in program.levels.all()}
    changed = 0
    for spec in specs:
        values = {**{k: v for k, v in spec.items() if k not in ("code", "min_level")}, "min_level_id": levels[spec["min_level"]].pk}
        benefit = Benefit.objects.filter(program=program, code=spec["code"]).first() or Benefit(program=program, code=spec["code"])
        differs = [k for k, v in values.items() if getattr(benefit, k) != v]
        if differs or benefit.pk is None:
            for k, v in values.items():
                setattr(benefit, k, v)
            benefit.full_clean()
            benefit.save()
            changed += 1
    return changed
