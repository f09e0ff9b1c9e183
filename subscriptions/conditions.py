"""Conditions on paid membership for the time-based rules (``membership.hooks.member_condition``).

A member is subscribed on a day when one of their subscriptions (a free trial included) covers
it: ``starts_on`` ≤ day ≤ ``ends_on`` (a cancelled subscription ends the day it was cancelled).
"""

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from membership.hooks import member_condition

from .models import Subscription


def _covering(day):
    return Subscription.objects.filter(starts_on__lte=day, ends_on__gte=day)


@member_condition("subscribed", label=_("a paid member that day (a free trial included)"))
def subscribed(*, program, day) -> Q:
    return Q(pk__in=_covering(day).values("member_id"))


@member_condition("subscribed_annual", label=_("on a paid plan of a year or more that day"))
def subscribed_annual(*, program, day) -> Q:
    return Q(pk__in=_covering(day).filter(is_trial=False, plan__term_months__gte=12).values("member_id"))


@member_condition("not_subscribed", label=_("not a paid member that day"))
def not_subscribed(*, program, day) -> Q:
    return ~Q(pk__in=_covering(day).values("member_id"))
