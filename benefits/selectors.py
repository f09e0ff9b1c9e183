from membership.models import Level

from .models import Benefit


def benefits_for_level(*, level: Level):
    """The active benefits a member at ``level`` enjoys: those of this level and every level below."""
    return Benefit.objects.filter(program_id=level.program_id, is_active=True, min_level__rank__lte=level.rank).select_related("min_level")
