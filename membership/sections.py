"""Sections of the member page (the 360 view) contributed by the other apps.

Membership does not know the benefit catalog, the points mall or risk control; each of those apps
registers what it shows about a member with ``member_section`` in its ``ready``, and the member
page renders every registered section, in order, below the member's own fields.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class MemberSection:
    key: str
    title: str  # a lazy translation
    render: Callable  # render(*, member, request) -> safe HTML (format_html and friends)
    order: int = 100


MEMBER_SECTIONS: dict[str, MemberSection] = {}


def member_section(key: str, *, title, order: int = 100):
    """Register ``render(*, member, request)`` as the member page's ``key`` section."""

    def register(render):
        MEMBER_SECTIONS[key] = MemberSection(key=key, title=title, render=render, order=order)
        return render

    return register


def member_sections_render(*, member, request) -> list[tuple[str, str]]:
    """(title, html) of every registered section for ``member``, in order."""
    sections = sorted(MEMBER_SECTIONS.values(), key=lambda s: (s.order, s.key))
    return [(s.title, s.render(member=member, request=request)) for s in sections]
