"""The member page's invitations section: the member's code and link, who invited them, whom they invited."""

from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from common.timeutil import shown

from .models import Invitation, InviteCode


def member_invitations_render(*, member, request) -> str:
    code = InviteCode.objects.filter(member=member).first()
    invited_by = Invitation.objects.filter(invitee=member).select_related("inviter").first()
    sent = list(Invitation.objects.filter(inviter=member).select_related("invitee").order_by("-accepted_at")[:20])
    parts = [
        format_html("<p>{}: {}</p>", _("Invite code"), format_html('{} (<a href="{}">{}</a>)', code.code, code.link, code.link) if code else "—"),
        format_html("<p>{}: {}</p>", _("Invited by"), invited_by.inviter if invited_by else "—"),
    ]
    if sent:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((shown(i.accepted_at, with_time=False), i.invitee, _("yes") if i.rewarded else _("no"), i.note) for i in sent),
        )
        parts.append(format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("Accepted"), _("New member"), _("Rewarded"), _("Note"), rows,
        ))
    return format_html("{}" * len(parts), *parts)
