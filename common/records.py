"""Rows of a queryset as plain dicts, for exports that list what is held (a member's data export)."""


def rows(queryset, *fields: str) -> list[dict]:
    """The rows of ``queryset`` as dicts of ``fields`` (``a__b`` follows a relation), in the queryset's order."""
    return [dict(zip(fields, values)) for values in queryset.values_list(*fields)]
