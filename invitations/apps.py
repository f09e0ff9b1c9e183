from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = _("Invitations")

    def ready(self):
        from membership import hooks

        from .sections import member_invitations_render
        from .services import member_invitations_data, member_invite_erase

        hooks.personal_data("invitations", export=member_invitations_data, erase=member_invite_erase)
        hooks.member_section("invitations", title=_("Invitations"), order=50)(member_invitations_render)
