from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RiskControlConfig(AppConfig):
    name = "riskcontrol"
    verbose_name = _("Risk control")

    def ready(self):
        from membership import hooks

        from . import sections
        from .admin import suspend_benefits
        from .guard import BlacklistGuard
        from .services import anomaly_check_after_booking

        hooks.earning_guard(BlacklistGuard())
        hooks.on_booking_committed("anomaly check")(anomaly_check_after_booking)
        hooks.member_section("risk", title=_("Risk control"), order=60)(sections.member_risk_render)
        hooks.member_admin_action(suspend_benefits)
