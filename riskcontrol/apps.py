from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RiskControlConfig(AppConfig):
    name = "riskcontrol"
    verbose_name = _("Risk control")

    def ready(self):
        from django.contrib import admin

        from membership.models import Member
        from membership.sections import member_section

        from . import sections
        from .admin import suspend_benefits

        member_section("risk", title=_("Risk control"), order=60)(sections.member_risk_render)
        # The members list gets the "suspend benefits" action without membership knowing risk control.
        member_admin = admin.site._registry.get(Member)
        if member_admin is not None and suspend_benefits not in (member_admin.actions or []):
            member_admin.actions = [*(member_admin.actions or []), suspend_benefits]
