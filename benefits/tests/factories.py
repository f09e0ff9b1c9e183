"""Helpers of the benefits tests."""

from datetime import timedelta

from django.utils import timezone

from riskcontrol.models import ListEntry


def blacklist(member, scope=ListEntry.Scope.BENEFITS, **fields):
    return ListEntry.objects.create(
        member=member, kind=ListEntry.Kind.BLACK, scope=scope, reason="reselling benefits",
        starts_at=fields.pop("starts_at", timezone.now() - timedelta(days=1)), **fields,
    )


def at_level(member, level):
    member.level = level
    member.save(update_fields=["level"])
    return member
