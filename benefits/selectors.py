from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from common.records import rows
from membership.models import Level, Member, Program

from .models import Benefit, BenefitGrant


def benefits_for_level(*, level: Level):
    """The active benefits a member at ``level`` enjoys: those of this level and every level below."""
    return Benefit.objects.filter(program_id=level.program_id, is_active=True, min_level__rank__lte=level.rank).select_related("min_level")


def benefits_available(*, program: Program, trigger: str, at: datetime | None = None) -> QuerySet[Benefit]:
    """The program's active benefits granted by ``trigger`` and available at ``at`` (now)."""
    at = at or timezone.now()
    return (
        Benefit.objects.filter(program=program, trigger=trigger, is_active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=at), Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .select_related("min_level")
        .order_by("pk")
    )


def benefit_quantities(*, benefit: Benefit) -> dict[int, int]:
    """Level rank → how many units a member at that level gets (levels that get none are left out).

    With quantities per level, those; otherwise one unit from ``min_level`` up. Keyed by rank so a
    member still on a level of a previous program (same rank) is served until the next settlement.
    """
    rows = list(benefit.levels.select_related("level"))
    if rows:
        return {row.level.rank: row.quantity for row in rows if row.quantity > 0}
    return {
        rank: 1
        for rank in Level.objects.filter(program_id=benefit.program_id, rank__gte=benefit.min_level.rank).values_list("rank", flat=True)
    }


def member_level_rank(*, member: Member) -> int:
    """The rank of the member's level (no level = the lowest, rank 0)."""
    return member.level.rank if member.level_id else 0


def member_grants(*, member: Member, limit: int = 20) -> QuerySet[BenefitGrant]:
    """The member's latest grants, blocked ones included."""
    return BenefitGrant.objects.filter(member=member).select_related("benefit", "list_entry").order_by("-granted_at", "-pk")[:limit]


def member_benefits_data(*, member) -> list[dict]:
    """The benefits granted to ``member``, for their data export."""
    return rows(
        BenefitGrant.objects.filter(member=member).order_by("granted_at", "pk"), "benefit__code", "period", "quantity", "status",
        "granted_at", "valid_until", "claimed_at",
    )
