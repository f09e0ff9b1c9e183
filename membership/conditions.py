"""Conditions on a member for a day, named by the time-based rules (``rules.DailyStrategy``).

A condition is a function ``(*, program, day) -> Q`` over ``Member`` rows, so a daily rule selects
every member it applies to in one query. Membership registers ``any``; paid membership registers
``subscribed``, ``subscribed_annual`` and ``not_subscribed`` in its ``ready``.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q


@dataclass(frozen=True)
class MemberCondition:
    key: str
    label: str
    q: Callable[..., Q]


MEMBER_CONDITIONS: dict[str, MemberCondition] = {}


def member_condition(key: str, *, label: str):
    """Register ``q(*, program, day) -> Q`` as the condition ``key``."""

    def register(q):
        MEMBER_CONDITIONS[key] = MemberCondition(key=key, label=label, q=q)
        return q

    return register


@member_condition("any", label="every active member")
def _any(*, program, day) -> Q:
    return Q()
