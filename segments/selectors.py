"""Reading member lists: who is on them, who names them, which ones a member is on."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _

from membership.models import EarningRule, Member

from .models import Segment, SegmentMember


def segment_users(*, segment: Segment) -> list[str]:
    """The rules (campaigns' included) that name ``segment`` in their condition, as sentences' parts."""
    key = segment.condition
    rules = EarningRule.objects.filter(program_id=segment.program_id, params__when=key).values_list("code", flat=True)
    return [_("rule %(code)s") % {"code": code} for code in rules.order_by("code")]


def segment_member_q(*, code: str, program) -> Q:
    """The members on ``program``'s list ``code``, as a condition over Member rows."""
    return Q(pk__in=SegmentMember.objects.filter(segment__program=program, segment__code=code).values("member_id"))


def segments_choices() -> list[tuple[str, str]]:
    """Every list, as (code, label), for the rule forms' conditions."""
    return [(code, _("on the member list %(name)s") % {"name": name}) for code, name in Segment.objects.order_by("code").values_list("code", "name").distinct()]


def segment_known(*, code: str, program=None) -> bool:
    lists = Segment.objects.filter(code=code)
    if program is not None and getattr(program, "pk", None):
        lists = lists.filter(program=program)
    return lists.exists()


def member_segments(*, member: Member) -> list[Segment]:
    """The lists ``member`` is on."""
    return list(Segment.objects.filter(members__member=member).order_by("code"))
